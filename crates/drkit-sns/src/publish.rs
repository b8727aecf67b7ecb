//! `sns.publish`: a notice to an SNS topic as a recovery step (the seed's communication plan:
//! "Email distribution: dr-team@…", an initial notice, then updates).

use async_trait::async_trait;
use drkit_aws::{Arn, is_account_id, is_region_name};
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;
use serde_json::Value;

use crate::port::{PublishRequest, Published, SnsApi};

/// SNS's largest message: 256 KB (262,144 bytes of UTF-8).
pub const MAX_MESSAGE: usize = 262_144;
/// A subject is shorter than this many characters.
const MAX_SUBJECT: usize = 100;
/// The longest topic name (a FIFO topic's `.fifo` included).
const MAX_TOPIC_NAME: usize = 256;
/// The longest `MessageGroupId` and `MessageDeduplicationId`.
const MAX_ID: usize = 128;
/// How long a FIFO topic remembers a `MessageDeduplicationId`.
const DEDUPLICATION_WINDOW: &str = "5 minutes";

/// The parameters of `sns.publish`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PublishParams {
    /// The topic's ARN, e.g. `arn:aws:sns:us-east-1:123456789012:dr-team` (a FIFO topic's name ends in `.fifo`); the call goes to its region.
    pub topic: String,
    /// The subject line of email notifications: under 100 characters, no line breaks or control characters.
    #[serde(default)]
    pub subject: Option<String>,
    /// The message (`${...}` references resolved): UTF-8 text, at most 256 KB.
    pub message: String,
    /// The message group (`MessageGroupId`): required for a FIFO topic; 1 to 128 letters, digits and punctuation.
    #[serde(default)]
    pub group: Option<String>,
    /// Publish again when an earlier attempt's answer was lost and whether SNS took the message is unknown (default false: a person decides). A duplicate notice is often less harmful than a lost one. A FIFO topic needs no such leave: SNS drops the duplicate itself.
    #[serde(default)]
    pub resend_if_unknown: bool,
}

impl PublishParams {
    /// `message` to `topic`.
    pub fn new(topic: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            subject: None,
            message: message.into(),
            group: None,
            resend_if_unknown: false,
        }
    }

    /// With `subject`.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// In message group `group` (FIFO topics).
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Publishes again after a lost answer.
    #[must_use]
    pub fn resend_if_unknown(mut self) -> Self {
        self.resend_if_unknown = true;
        self
    }
}

/// A topic, as its ARN names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Topic<'a> {
    region: &'a str,
    name: &'a str,
}

impl<'a> Topic<'a> {
    /// Reads a topic ARN, or says why it is not one.
    fn parse(text: &'a str) -> Result<Self, String> {
        const FORM: &str = "a topic ARN: arn:aws:sns:<region>:<account id>:<name>";
        let arn = Arn::parse(text)
            .filter(|a| a.service == "sns")
            .ok_or_else(|| format!("`{text}` is not {FORM}"))?;
        if !is_region_name(arn.region) {
            return Err(format!("`{text}`: `{}` is not a region", arn.region));
        }
        if !is_account_id(arn.account) {
            return Err(format!(
                "`{text}`: `{}` is not an account id (12 digits)",
                arn.account
            ));
        }
        let name = arn.resource;
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        let name_ok = !base.is_empty()
            && name.len() <= MAX_TOPIC_NAME
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !name_ok {
            return Err(format!(
                "`{text}`: the topic name `{name}` must be 1 to {MAX_TOPIC_NAME} letters, digits, \
                 `-` and `_` (a FIFO topic's ending in `.fifo`)"
            ));
        }
        Ok(Self {
            region: arn.region,
            name,
        })
    }

    fn is_fifo(self) -> bool {
        self.name.ends_with(".fifo")
    }
}

/// Why `id` is not a `MessageGroupId` / `MessageDeduplicationId`, if it is not: 1 to 128
/// letters, digits and ASCII punctuation.
fn id_problem(id: &str) -> Option<String> {
    let ok = !id.is_empty() && id.len() <= MAX_ID && id.chars().all(|c| c.is_ascii_graphic());
    (!ok).then(|| {
        format!("`{id}` must be 1 to {MAX_ID} letters, digits and punctuation (no spaces)")
    })
}

/// The deduplication id of this step in this run (`<run>/<step>`), the same on every attempt
/// and after a resume: characters SNS does not take become `_`; when too long, its end (the
/// run's start time and the step) is kept.
fn deduplication_id(run: &str, step: &str) -> String {
    let id: Vec<char> = format!("{run}/{step}")
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    id[id.len().saturating_sub(MAX_ID)..].iter().collect()
}

/// Publishes a message to an SNS topic, exactly once.
///
/// - `check`: ready — unless an earlier attempt of this step (this run, or the run a resume
///   continues) published it: a recorded message id -> done, with it; an answer that never
///   came -> for a FIFO topic, ready (sent again with the same deduplication id: SNS drops
///   the duplicate); with `resend_if_unknown`, ready (a duplicate notice may follow);
///   otherwise [`Check::Unknown`]: a person decides (an automatic approval refuses).
/// - `execute`: journals its intent, then `Publish` with one SDK attempt. A FIFO topic gets
///   `MessageGroupId = group` and `MessageDeduplicationId = <run>/<step>`. The message id is
///   journalled.
/// - `verify`: SNS accepted the message (its id is recorded). Delivery to the subscribers is
///   SNS's: drkit does not see the email arrive.
#[derive(Debug, HasBase)]
pub struct Publish {
    base: Base<Self>,
}

impl ActionKind for Publish {
    const KIND: &'static str = "sns.publish";
    const SUMMARY: &'static str =
        "Publish a message to an SNS topic (a notice to the DR team), exactly once";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &["sns:Publish"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("message_id", "the id SNS gave the message"),
        OutputDoc::new(
            "sequence_number",
            "its sequence number in the message group (FIFO topics only)",
        ),
    ];
    type Params = PublishParams;
    type Port = dyn SnsApi;
    type Ports = PortFactory<dyn SnsApi>;

    fn validate(p: &PublishParams) -> Result<(), ParamError> {
        let topic = Topic::parse(&p.topic).map_err(|e| ParamError::new("topic", e))?;
        if let Some(subject) = &p.subject {
            let chars = subject.chars().count();
            if chars == 0 || chars >= MAX_SUBJECT {
                return Err(ParamError::new(
                    "subject",
                    format!(
                        "{chars} characters: a subject has 1 to {} characters",
                        MAX_SUBJECT - 1
                    ),
                ));
            }
            if subject.chars().any(char::is_control) {
                return Err(ParamError::new(
                    "subject",
                    "a subject has no line breaks or control characters",
                ));
            }
        }
        if p.message.is_empty() {
            return Err(ParamError::new("message", "must not be empty"));
        }
        if p.message.len() > MAX_MESSAGE {
            return Err(ParamError::new(
                "message",
                format!(
                    "{} bytes: SNS takes at most 256 KB ({MAX_MESSAGE} bytes)",
                    p.message.len()
                ),
            ));
        }
        match (&p.group, topic.is_fifo()) {
            (None, true) => Err(ParamError::new(
                "group",
                format!("`{}` is a FIFO topic: give its message group", topic.name),
            )),
            (Some(group), _) => {
                id_problem(group).map_or(Ok(()), |e| Err(ParamError::new("group", e)))
            }
            (None, false) => Ok(()),
        }
    }

    fn build(step: StepSpec<PublishParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let topic = Topic::parse(&step.params.topic).map_err(|e| ParamError::new("topic", e))?;
        let target = Resource::new("sns", "topic", topic.name).in_region(Some(topic.region));
        let port = ports.get(Some(topic.region));
        Ok(Self {
            base: Base::new(step.id, step.params, target, port),
        })
    }
}

impl Publish {
    fn params(&self) -> &PublishParams {
        &self.base.params
    }

    fn is_fifo(&self) -> bool {
        self.params().topic.ends_with(".fifo")
    }

    /// What a dry run prints.
    fn change(&self) -> String {
        let p = self.params();
        let subject = p
            .subject
            .as_ref()
            .map(|s| format!(" \"{s}\""))
            .unwrap_or_default();
        format!(
            "publish{subject} ({} bytes) to {}",
            p.message.len(),
            self.base.target
        )
    }

    fn request(&self, ctx: &Context) -> PublishRequest {
        let p = self.params();
        let mut request = PublishRequest::new(p.topic.clone(), p.message.clone());
        request.subject.clone_from(&p.subject);
        request.group.clone_from(&p.group);
        if self.is_fifo() {
            request.deduplication_id = Some(deduplication_id(
                ctx.run_id().unwrap_or("no-run"),
                ctx.step().unwrap_or(&self.base.id),
            ));
        }
        request
    }

    fn outputs(published: &Published) -> Outputs {
        let mut outputs = Outputs::new().with("message_id", published.message_id.clone());
        if let Some(n) = &published.sequence_number {
            outputs.insert("sequence_number", n.clone());
        }
        outputs
    }

    /// SNS's error, with what to do about the common ones.
    fn explain(&self, e: ActionError) -> ActionError {
        let e = e.with_operation("Publish");
        let topic = &self.params().topic;
        match e.kind() {
            ErrorKind::NotFound => e.with_note(format!("no topic {topic} (check its ARN)")),
            ErrorKind::AccessDenied => e.with_note(format!(
                "the caller may not publish to {topic}: it needs sns:Publish on it (and \
                 kms:GenerateDataKey and kms:Decrypt on its key, for an encrypted topic)"
            )),
            _ => e,
        }
    }
}

#[async_trait]
impl Act for Publish {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let change = self.change();
        let Some(earlier) = ctx.intent() else {
            return Ok(Check::ready(change));
        };
        if let Some(id) = earlier.get_str("message_id") {
            let outputs = earlier
                .get("outputs")
                .cloned()
                .and_then(|o| serde_json::from_value(o).ok())
                .unwrap_or_default();
            return Ok(Check::Done {
                detail: format!("an earlier attempt published message {id}"),
                outputs,
            });
        }
        if self.is_fifo() {
            return Ok(Check::ready(format!(
                "{change} again, with the same MessageDeduplicationId: the earlier attempt's \
                 answer was lost, and SNS drops the message if that one arrived (within \
                 {DEDUPLICATION_WINDOW} of it)"
            )));
        }
        if self.params().resend_if_unknown {
            return Ok(Check::ready(format!(
                "{change} again: the earlier attempt's answer was lost, and resend_if_unknown \
                 accepts a duplicate notice"
            )));
        }
        Ok(Check::unknown(format!(
            "a Publish to {} was sent by an earlier attempt whose answer was lost: SNS may have \
             taken the message (and delivered it) or not, and drkit cannot read which. Publish \
             it again (the subscribers may get it twice)?",
            self.base.target
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let request = self.request(ctx);
        let mut intent = Outputs::new().with("topic", request.topic.clone());
        if let Some(id) = &request.deduplication_id {
            intent.insert("deduplication_id", id.clone());
        }
        let published = ctx
            .mutate(intent.clone(), self.base.port.publish(request))
            .await
            .map_err(|e| self.explain(e))?;
        let outputs = Self::outputs(&published);
        let answered = intent.with("message_id", published.message_id).with(
            "outputs",
            serde_json::to_value(&outputs).unwrap_or(Value::Null),
        );
        ctx.record_intent(answered).await?;
        Ok(outputs)
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        match ctx.intent().as_ref().and_then(|i| i.get_str("message_id")) {
            Some(id) => Ok(format!(
                "SNS accepted message {id} for {}; its delivery to the subscribers is SNS's, \
                 not seen by drkit",
                self.base.target
            )),
            None => Err(ActionError::postcondition(format!(
                "this step has published nothing to {}",
                self.base.target
            ))),
        }
    }
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
