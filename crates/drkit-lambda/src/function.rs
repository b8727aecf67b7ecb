//! The forms of a function's name that `Invoke` accepts, read before any call.

use drkit_aws::{Arn, is_account_id, is_region_name};

/// `Invoke`'s longest `FunctionName` (a full ARN with a qualifier).
const MAX_LEN: usize = 170;
/// The longest function name.
const MAX_NAME: usize = 64;
/// The longest qualifier (an alias name; a version is a number).
const MAX_QUALIFIER: usize = 128;

/// A function as `Invoke`'s `FunctionName` names it: `name`, `account:function:name` or
/// `arn:<partition>:lambda:<region>:<account>:function:name`, each with an optional
/// `:version` or `:alias`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FunctionName<'a> {
    /// The region, when a full ARN names one.
    pub(crate) region: Option<&'a str>,
    /// The function's name.
    pub(crate) name: &'a str,
    /// The version or alias, when given after the name.
    pub(crate) qualifier: Option<&'a str>,
}

impl<'a> FunctionName<'a> {
    /// Reads `text`, or says why it is not a function Lambda can invoke.
    pub(crate) fn parse(text: &'a str) -> Result<Self, String> {
        const FORMS: &str = "give a name (`mint-drain`), an ARN \
            (`arn:aws:lambda:us-east-1:123456789012:function:mint-drain`) or a partial ARN \
            (`123456789012:function:mint-drain`), each optionally with `:version` or `:alias`";
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(format!(
                "`{text}` is not a function: 1 to {MAX_LEN} characters; {FORMS}"
            ));
        }
        let (region, rest) = match Arn::parse(text) {
            Some(arn) if arn.service == "lambda" => {
                if !is_region_name(arn.region) {
                    return Err(format!("`{text}`: `{}` is not a region", arn.region));
                }
                if !is_account_id(arn.account) {
                    return Err(format!(
                        "`{text}`: `{}` is not an account id (12 digits)",
                        arn.account
                    ));
                }
                let Some(rest) = arn.resource.strip_prefix("function:") else {
                    return Err(format!("`{text}` is not a function's ARN; {FORMS}"));
                };
                (Some(arn.region), rest)
            }
            Some(_) => return Err(format!("`{text}` is not a Lambda ARN; {FORMS}")),
            None if text.starts_with("arn:") => {
                return Err(format!("`{text}` is not an ARN; {FORMS}"));
            }
            None => match text.split_once(":function:") {
                Some((account, rest)) if is_account_id(account) => (None, rest),
                Some(_) => {
                    return Err(format!(
                        "`{text}`: a partial ARN starts with an account id (12 digits); {FORMS}"
                    ));
                }
                None => (None, text),
            },
        };
        let (name, qualifier) = match rest.split_once(':') {
            Some((name, qualifier)) => (name, Some(qualifier)),
            None => (rest, None),
        };
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(format!(
                "`{text}`: the function name `{name}` must be 1 to {MAX_NAME} letters, digits, \
                 `-`, `_` or `.`; {FORMS}"
            ));
        }
        if let Some(q) = qualifier {
            qualifier_problem(q).map_or(Ok(()), Err)?;
        }
        Ok(Self {
            region,
            name,
            qualifier,
        })
    }
}

/// Why `qualifier` is not a version or alias, if it is not: `$LATEST`, or 1 to 128 letters,
/// digits, `-` and `_`.
pub(crate) fn qualifier_problem(qualifier: &str) -> Option<String> {
    let ok = qualifier == "$LATEST"
        || (!qualifier.is_empty()
            && qualifier.len() <= MAX_QUALIFIER
            && qualifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')));
    (!ok).then(|| {
        format!(
            "`{qualifier}` is not a version or alias (`$LATEST`, a version number, or an alias \
             name: 1 to {MAX_QUALIFIER} letters, digits, `-` and `_`)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Option<&str>, &str, Option<&str>) {
        let f = FunctionName::parse(text).unwrap();
        (f.region, f.name, f.qualifier)
    }

    #[test]
    fn the_three_forms_invoke_accepts() {
        assert_eq!(parsed("mint-drain"), (None, "mint-drain", None));
        assert_eq!(
            parsed("mint_drain:live"),
            (None, "mint_drain", Some("live"))
        );
        assert_eq!(
            parsed("mint-drain:$LATEST"),
            (None, "mint-drain", Some("$LATEST"))
        );
        assert_eq!(
            parsed("123456789012:function:mint-drain:7"),
            (None, "mint-drain", Some("7"))
        );
        assert_eq!(
            parsed("arn:aws:lambda:us-west-2:123456789012:function:mint-drain"),
            (Some("us-west-2"), "mint-drain", None)
        );
        assert_eq!(
            parsed("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:prod"),
            (Some("us-gov-west-1"), "f", Some("prod"))
        );
        // Lambda@Edge replicas are named `<region>.<name>`.
        assert_eq!(
            parsed("us-east-1.edge-auth"),
            (None, "us-east-1.edge-auth", None)
        );
    }

    #[test]
    fn other_forms_are_refused_saying_why() {
        for (bad, why) in [
            ("", "1 to 170"),
            ("mint drain", "letters, digits"),
            (&"f".repeat(65), "1 to 64"),
            ("f:", "not a version or alias"),
            ("f:v1:extra", "not a version or alias"),
            ("f:v/1", "not a version or alias"),
            ("1234:function:f", "account id"),
            (
                "arn:aws:lambda:us-west-2:123456789012:layer:l",
                "not a function's ARN",
            ),
            (
                "arn:aws:sns:us-west-2:123456789012:topic",
                "not a Lambda ARN",
            ),
            (
                "arn:aws:lambda:uswest2:123456789012:function:f",
                "not a region",
            ),
            (
                "arn:aws:lambda:us-west-2:1234:function:f",
                "not an account id",
            ),
            ("arn:aws:lambda", "not an ARN"),
        ] {
            let e = FunctionName::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long = format!(
            "arn:aws:lambda:us-west-2:123456789012:function:{}:{}",
            "f".repeat(64),
            "a".repeat(60)
        );
        assert!(FunctionName::parse(&long).unwrap_err().contains("1 to 170"));
    }
}
