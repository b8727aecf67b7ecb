//! Amazon Resource Names, read for validation before any call:
//! `arn:<partition>:<service>:<region>:<account-id>:<resource>`.

/// The parts of an ARN (borrowed from its text). The resource is everything after the fifth
/// `:` (it may hold more `:`, e.g. Lambda's `function:name:alias`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// `sns`, `lambda`, ...
    pub service: &'a str,
    /// The region (empty for a global service).
    pub region: &'a str,
    /// The account id (empty for some resources, e.g. S3 buckets).
    pub account: &'a str,
    /// The resource: `my-topic`, `function:my-function`, ...
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// The parts of `text`, if it is an ARN: six `:`-separated fields, the first `arn`, the
    /// partition `aws` or `aws-...`, a service and a resource.
    ///
    /// ```
    /// let arn = drkit_aws::Arn::parse("arn:aws:sns:us-east-1:123456789012:dr-team").unwrap();
    /// assert_eq!((arn.service, arn.region, arn.resource), ("sns", "us-east-1", "dr-team"));
    /// assert!(drkit_aws::Arn::parse("dr-team").is_none());
    /// ```
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Self {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        let partition_ok = arn.partition == "aws"
            || arn.partition.strip_prefix("aws-").is_some_and(|rest| {
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            });
        (partition_ok && !arn.service.is_empty() && !arn.resource.is_empty()).then_some(arn)
    }
}

/// Whether `id` is an AWS account id: 12 digits.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())
}

/// Whether `name` looks like an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`):
/// lowercase words joined by `-`, the first of two letters, ending in a number. A typo caught
/// here is refused before any call, instead of failing later as an unreachable endpoint (which
/// looks retryable).
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && words[0].len() == 2
        && (1..=2).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_split_into_their_parts() {
        let arn =
            Arn::parse("arn:aws:lambda:us-west-2:123456789012:function:mint-drain:live").unwrap();
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.service, "lambda");
        assert_eq!(arn.region, "us-west-2");
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.resource, "function:mint-drain:live");
        let gov = Arn::parse("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t").unwrap();
        assert_eq!(gov.partition, "aws-us-gov");
        assert_eq!(
            Arn::parse("arn:aws:s3:::bucket").map(|a| (a.region, a.account)),
            Some(("", ""))
        );
        for bad in [
            "",
            "dr-team",
            "arn:aws:sns:us-east-1:123456789012",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:gcp:sns:us-east-1:123456789012:t",
            "arn:aws-:sns:us-east-1:123456789012:t",
            "arn:aws::us-east-1:123456789012:t",
            "urn:aws:sns:us-east-1:123456789012:t",
        ] {
            assert!(Arn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn account_ids_and_region_names() {
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("12345678901a"));
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-7",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east1",
            "useast-1",
            "US-EAST-1",
            "us-east-",
            "u-east-1",
            "us-east-123",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
