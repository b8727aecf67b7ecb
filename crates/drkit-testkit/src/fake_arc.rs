//! A **fake** Route 53 ARC routing-control cluster (the `route53-recovery-cluster` data plane),
//! protocol-correct for the operations drkit uses: moto has no ARC, and no real cluster can run
//! here.
//!
//! It speaks the service's protocol, AWS JSON 1.0 (`X-Amz-Target: ToggleCustomerAPI.<op>`,
//! `application/x-amz-json-1.0`), for `GetRoutingControlState`, `UpdateRoutingControlState`,
//! `UpdateRoutingControlStates` (one transaction: all or nothing) and `ListRoutingControls`,
//! with the documented errors and their HTTP statuses: `ValidationException` (400, a state
//! other than `On`/`Off`, a missing ARN), `ResourceNotFoundException` (404, an unknown routing
//! control), `ConflictException` (409, an assertion safety rule the update would break and that
//! `SafetyRulesToOverride` does not name).
//!
//! It is served by the fault proxy ([`crate::faults::FaultConfig::arc`]): a request signed for
//! the `route53-recovery-cluster` service is answered by the fake instead of being forwarded,
//! after the proxy's faults (a dark region holds its endpoint's requests as for any regional
//! service). So a test or a drill gives ARC's five cluster endpoints as the proxy's URL with
//! five regions, and the proxy's dark region makes one of them dark.
//!
//! Not modelled: gating rules, control panels' own API (`route53-recovery-control-config`),
//! `ListRoutingControls` paging (one page), throttling (the proxy injects that).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The service name in the SigV4 credential scope of ARC's cluster endpoints.
pub const SERVICE: &str = "route53-recovery-cluster";

/// The path on the fault proxy that answers the fake's states as JSON (`{arn: "On"}`).
pub const STATES_PATH: &str = "/__fake-arc/states";

const TARGET_PREFIX: &str = "ToggleCustomerAPI.";

#[derive(Clone, Debug)]
struct Control {
    name: String,
    state: &'static str,
}

/// An assertion rule: at least `min_on` of `controls` must be On after any update.
#[derive(Clone, Debug)]
struct Assertion {
    arn: String,
    controls: Vec<String>,
    min_on: usize,
}

/// The fake cluster's state: its routing controls and assertion rules.
#[derive(Debug, Default)]
pub struct FakeArc {
    controls: Mutex<BTreeMap<String, Control>>,
    assertions: Vec<Assertion>,
    updates: Mutex<u64>,
}

fn state_name(text: &str) -> Option<&'static str> {
    match text {
        "On" => Some("On"),
        "Off" => Some("Off"),
        _ => None,
    }
}

/// An error answer in the JSON 1.0 shape.
fn error(status: StatusCode, code: &str, message: &str, extra: Value) -> Response {
    let mut body = json!({"__type": code, "message": message});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    json_answer(status, &body)
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

fn validation(message: &str, field: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        message,
        json!({"reason": "fieldValidationFailed", "fieldList": [{"name": field, "message": message}]}),
    )
}

fn not_found(arn: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &format!("The routing control {arn} was not found."),
        json!({"resourceId": arn, "resourceType": "RoutingControl"}),
    )
}

impl FakeArc {
    /// A cluster with no routing control.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the routing control `arn` in `state` (`On` or `Off`; anything else is `Off`). Its
    /// name is the ARN's last path segment.
    #[must_use]
    pub fn with_control(self, arn: impl Into<String>, state: &str) -> Self {
        let arn = arn.into();
        let name = arn.rsplit('/').next().unwrap_or_default().to_owned();
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                arn,
                Control {
                    name,
                    state: state_name(state).unwrap_or("Off"),
                },
            );
        self
    }

    /// Adds an assertion rule `rule_arn`: at least one of `controls` is On after every update
    /// (ARC's usual guard against failing open... or shut).
    #[must_use]
    pub fn with_at_least_one_on(mut self, rule_arn: impl Into<String>, controls: &[&str]) -> Self {
        self.assertions.push(Assertion {
            arn: rule_arn.into(),
            controls: controls.iter().map(|c| (*c).to_owned()).collect(),
            min_on: 1,
        });
        self
    }

    /// Parses `ARN=On` or `ARN=Off` (the fault proxy's `--arc-control`).
    pub fn parse_control(spec: &str) -> Result<(String, &'static str), String> {
        let (arn, state) = spec
            .rsplit_once('=')
            .ok_or_else(|| format!("`{spec}`: write ARN=On or ARN=Off"))?;
        let state = state_name(state).ok_or_else(|| format!("`{spec}`: the state is On or Off"))?;
        Ok((arn.to_owned(), state))
    }

    /// The state of `arn` (`On`/`Off`), if it exists.
    pub fn state(&self, arn: &str) -> Option<&'static str> {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(arn)
            .map(|c| c.state)
    }

    /// Every control's state.
    pub fn states(&self) -> BTreeMap<String, String> {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(arn, c)| (arn.clone(), c.state.to_owned()))
            .collect()
    }

    /// How many update requests were accepted.
    pub fn updates(&self) -> u64 {
        *self.updates.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one request: `target` is its `X-Amz-Target` header, `body` its JSON body.
    pub fn answer(&self, target: Option<&str>, body: &[u8]) -> Response {
        let Some(op) = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) else {
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                "missing or unknown X-Amz-Target",
                json!({}),
            );
        };
        let input: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    &e.to_string(),
                    json!({}),
                );
            }
        };
        match op {
            "GetRoutingControlState" => self.get(&input),
            "UpdateRoutingControlState" => {
                let entry = json!([{
                    "RoutingControlArn": input.get("RoutingControlArn"),
                    "RoutingControlState": input.get("RoutingControlState"),
                }]);
                self.update(&entry, input.get("SafetyRulesToOverride"))
            }
            "UpdateRoutingControlStates" => self.update(
                input
                    .get("UpdateRoutingControlStateEntries")
                    .unwrap_or(&Value::Null),
                input.get("SafetyRulesToOverride"),
            ),
            "ListRoutingControls" => self.list(),
            other => error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("{other} is not an operation of route53-recovery-cluster"),
                json!({}),
            ),
        }
    }

    fn get(&self, input: &Value) -> Response {
        let Some(arn) = input.get("RoutingControlArn").and_then(Value::as_str) else {
            return validation("RoutingControlArn is required", "RoutingControlArn");
        };
        let controls = self.controls.lock().unwrap_or_else(PoisonError::into_inner);
        match controls.get(arn) {
            None => not_found(arn),
            Some(c) => json_answer(
                StatusCode::OK,
                &json!({
                    "RoutingControlArn": arn,
                    "RoutingControlState": c.state,
                    "RoutingControlName": c.name,
                }),
            ),
        }
    }

    fn update(&self, entries: &Value, overrides: Option<&Value>) -> Response {
        let Some(entries) = entries.as_array().filter(|e| !e.is_empty()) else {
            return validation(
                "UpdateRoutingControlStateEntries is required",
                "UpdateRoutingControlStateEntries",
            );
        };
        let overridden: Vec<&str> = overrides
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut controls = self.controls.lock().unwrap_or_else(PoisonError::into_inner);
        // Validate everything first: the update is one transaction.
        let mut wanted = Vec::new();
        for entry in entries {
            let Some(arn) = entry.get("RoutingControlArn").and_then(Value::as_str) else {
                return validation("RoutingControlArn is required", "RoutingControlArn");
            };
            let state = entry
                .get("RoutingControlState")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(state) = state_name(state) else {
                return validation(
                    &format!(
                        "Value '{state}' at 'routingControlState' failed to satisfy constraint: Member must satisfy enum value set: [On, Off]"
                    ),
                    "RoutingControlState",
                );
            };
            if !controls.contains_key(arn) {
                return not_found(arn);
            }
            wanted.push((arn.to_owned(), state));
        }
        let after = |arn: &str| -> &str {
            wanted
                .iter()
                .rev()
                .find(|(a, _)| a == arn)
                .map(|(_, s)| *s)
                .or_else(|| controls.get(arn).map(|c| c.state))
                .unwrap_or("Off")
        };
        for rule in &self.assertions {
            let on = rule.controls.iter().filter(|c| after(c) == "On").count();
            if on < rule.min_on && !overridden.contains(&rule.arn.as_str()) {
                return error(
                    StatusCode::CONFLICT,
                    "ConflictException",
                    &format!(
                        "The update would break the safety rule {}: at least {} of its routing \
                         controls must be On",
                        rule.arn, rule.min_on
                    ),
                    json!({"resourceId": rule.arn, "resourceType": "SafetyRule"}),
                );
            }
        }
        for (arn, state) in wanted {
            if let Some(c) = controls.get_mut(&arn) {
                c.state = state;
            }
        }
        *self.updates.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        json_answer(StatusCode::OK, &json!({}))
    }

    fn list(&self) -> Response {
        let controls = self.controls.lock().unwrap_or_else(PoisonError::into_inner);
        let list: Vec<Value> = controls
            .iter()
            .map(|(arn, c)| {
                let panel = arn
                    .split_once("/routingcontrol/")
                    .map_or("", |(panel, _)| panel);
                json!({
                    "ControlPanelArn": panel,
                    "RoutingControlArn": arn,
                    "RoutingControlName": c.name,
                    "RoutingControlState": c.state,
                })
            })
            .collect();
        json_answer(StatusCode::OK, &json!({"RoutingControls": list}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/a";
    const B: &str =
        "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/b";

    async fn body(r: Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[allow(clippy::needless_pass_by_value)] // json!(...) at every call
    fn update(arc: &FakeArc, entries: Value, overrides: Value) -> Response {
        let input = json!({"UpdateRoutingControlStateEntries": entries, "SafetyRulesToOverride": overrides});
        arc.answer(
            Some("ToggleCustomerAPI.UpdateRoutingControlStates"),
            input.to_string().as_bytes(),
        )
    }

    #[tokio::test]
    async fn the_documented_errors_and_the_transaction() {
        let arc = FakeArc::new()
            .with_control(A, "On")
            .with_control(B, "Off")
            .with_at_least_one_on("arn:rule", &[A, B]);
        let (status, err) = body(update(
            &arc,
            json!([{"RoutingControlArn": A, "RoutingControlState": "ON"}]),
            json!([]),
        ))
        .await;
        assert_eq!(
            (status, err["__type"].as_str()),
            (400, Some("ValidationException"))
        );
        let (status, err) = body(update(
            &arc,
            json!([{"RoutingControlArn": B, "RoutingControlState": "On"}, {"RoutingControlArn": "arn:x/routingcontrol/none", "RoutingControlState": "On"}]),
            json!([]),
        ))
        .await;
        assert_eq!(
            (status, err["__type"].as_str()),
            (404, Some("ResourceNotFoundException"))
        );
        assert_eq!(arc.state(B), Some("Off"), "nothing applied");
        let (status, err) = body(update(
            &arc,
            json!([{"RoutingControlArn": A, "RoutingControlState": "Off"}]),
            json!([]),
        ))
        .await;
        assert_eq!(
            (status, err["__type"].as_str()),
            (409, Some("ConflictException"))
        );
        let (status, _) = body(update(
            &arc,
            json!([{"RoutingControlArn": A, "RoutingControlState": "Off"}]),
            json!(["arn:rule"]),
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(arc.state(A), Some("Off"));
        let (status, got) = body(arc.answer(
            Some("ToggleCustomerAPI.GetRoutingControlState"),
            json!({"RoutingControlArn": A}).to_string().as_bytes(),
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(got["RoutingControlState"], "Off");
        assert_eq!(got["RoutingControlName"], "a");
    }

    #[test]
    fn control_specs() {
        assert_eq!(
            FakeArc::parse_control(&format!("{A}=On")),
            Ok((A.to_owned(), "On"))
        );
        assert!(FakeArc::parse_control(&format!("{A}=on")).is_err());
        assert!(FakeArc::parse_control(A).is_err());
    }
}
