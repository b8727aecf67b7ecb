//! Readiness: can the plan run now? (`drkit check`). Between disasters a plan rots —
//! replication switched off, a role's permission removed, a standby node group shrunk — and
//! the day of the outage is the wrong day to find out. [`Runner::readiness`](crate::Runner)
//! evaluates, without changing anything, every step that can be evaluated now:
//!
//! - a step with no change before it (no mutating step among its ancestors, no output of a
//!   step that changes): its `check` in a dry-run context. A mutating step is **ready** when
//!   its check says ready (or done already); a read-only step when its check holds (done).
//!   Anything else — blocked, a failed check, an unknown outcome — is **not ready**, with why;
//! - a step after a change (a mutating ancestor, or outputs of one): **after** that step, not
//!   evaluated and not a failure (its check would see the world before the change);
//! - a step the run's conditions skip (its mode, an impaired region): **skipped**, no request.
//!
//! Only `check`s are called, each with `Context::is_dry_run` set: no mutating request, no
//! journal, no approval.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use drkit_core::{CancellationToken, Check, Context, Outputs};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::conditions::Conditions;
use crate::phases::layer;
use crate::plan::{ActionSource, Plan, StepInputs};

/// Evaluates every step of `plan` that can be evaluated now, under `conditions` (see the
/// module docs). Only dry-run `check`s are called.
pub(crate) async fn evaluate(
    plan: &Plan,
    conditions: &Conditions,
    cancel: &CancellationToken,
) -> ReadinessReport {
    let at = SystemTime::now();
    let inner = &plan.inner;
    let n = inner.steps.len();
    let mut lines: Vec<Option<StepReadiness>> = vec![None; n];
    // The step whose change comes before each step (itself when it mutates), if any.
    let mut changed_by: Vec<Option<String>> = vec![None; n];
    let mut known: Vec<Option<Outputs>> = vec![None; n];
    let mut skipped: Vec<Option<String>> = vec![None; n];
    for &i in &inner.topo {
        let step = &inner.steps[i];
        let line = |kind: Option<String>, mutates: Option<bool>, readiness, outputs, took| {
            Some(StepReadiness {
                id: step.id.clone(),
                kind,
                mutates,
                readiness,
                outputs,
                took,
            })
        };
        if let Some(reason) = crate::conditions::skip_reason(inner, conditions, i, &skipped) {
            lines[i] = line(
                None,
                None,
                Readiness::Skipped {
                    reason: reason.clone(),
                },
                BTreeMap::new(),
                Duration::ZERO,
            );
            skipped[i] = Some(reason);
            known[i] = Some(Outputs::new());
            continue;
        }
        // After a change: a mutating ancestor, or one a used output comes from.
        let before = inner.inputs[i]
            .iter()
            .chain(&inner.deps[i])
            .find_map(|&d| changed_by[d].clone());
        if let Some(first) = before {
            lines[i] = line(
                None,
                None,
                Readiness::After {
                    step: first.clone(),
                },
                BTreeMap::new(),
                Duration::ZERO,
            );
            changed_by[i] = Some(first);
            continue;
        }
        let inputs: BTreeMap<String, Outputs> = inner.inputs[i]
            .iter()
            .filter_map(|&d| known[d].clone().map(|o| (inner.steps[d].id.clone(), o)))
            .collect();
        let action = match &step.source {
            ActionSource::Ready(a) => Ok(Arc::clone(a)),
            ActionSource::Deferred { build, .. } => build(&StepInputs::new(&step.id, &inputs)),
        };
        let action = match action {
            Ok(action) => action,
            Err(e) => {
                lines[i] = line(
                    None,
                    None,
                    Readiness::NotReady {
                        reason: format!("cannot be built: {e}"),
                    },
                    BTreeMap::new(),
                    Duration::ZERO,
                );
                continue;
            }
        };
        let (kind, mutates) = (Some(action.kind().to_owned()), action.mutates());
        if mutates {
            changed_by[i] = Some(step.id.clone());
        }
        let ctx = Context::new()
            .with_step(step.id.as_str())
            .with_dry_run(true)
            .with_cancellation(cancel.clone())
            .with_outputs(inputs)
            .with_impaired_regions(conditions.impaired_regions.iter().cloned());
        let ctx = match step.policy.timeout {
            Some(t) => ctx.with_timeout(t),
            None => ctx,
        };
        let started = Instant::now();
        let checked = layer(action, &step.policy).check(&ctx).await;
        let took = started.elapsed();
        let (readiness, outputs) = match checked {
            Ok(Check::Done { detail, outputs }) => {
                known[i] = Some(outputs.clone());
                let found = outputs
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect();
                let detail = if mutates {
                    format!("already done: {detail}")
                } else {
                    detail
                };
                (Readiness::Ready { detail }, found)
            }
            Ok(Check::Ready { change }) if mutates => (
                Readiness::Ready {
                    detail: format!("can {change}"),
                },
                BTreeMap::new(),
            ),
            Ok(Check::Ready { change }) => (
                Readiness::NotReady {
                    reason: format!("does not hold yet: {change}"),
                },
                BTreeMap::new(),
            ),
            Ok(Check::Blocked { reason }) => (Readiness::NotReady { reason }, BTreeMap::new()),
            Ok(Check::Unknown { question }) => (
                Readiness::NotReady {
                    reason: format!("an earlier outcome is unknown: {question}"),
                },
                BTreeMap::new(),
            ),
            Err(e) => (
                Readiness::NotReady {
                    reason: format!("the check failed: {e}"),
                },
                BTreeMap::new(),
            ),
        };
        lines[i] = line(kind, Some(mutates), readiness, outputs, took);
    }
    ReadinessReport {
        plan: plan.name().to_owned(),
        at,
        conditions: conditions.clone(),
        steps: lines.into_iter().flatten().collect(),
        permissions: None,
    }
}

/// A step's readiness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Readiness {
    /// Its check passes: a mutating step can make its change (or has made it), a read-only
    /// one holds.
    Ready {
        /// What the check said.
        detail: String,
    },
    /// It cannot run now, or does not hold.
    NotReady {
        /// Why.
        reason: String,
    },
    /// Evaluated only after an earlier change: not checked now, not a failure.
    After {
        /// The step whose change comes first.
        step: String,
    },
    /// Not run under the run's conditions (mode, impaired region): not checked.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Readiness {
    /// `ready`, `not_ready`, `after` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
            Self::NotReady { .. } => "not_ready",
            Self::After { .. } => "after",
            Self::Skipped { .. } => "skipped",
        }
    }
}

/// One step's line of a [`ReadinessReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReadiness {
    /// The step.
    pub id: String,
    /// Its action kind, when it was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether it changes anything, when it was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutates: Option<bool>,
    /// Its readiness.
    #[serde(flatten)]
    pub readiness: Readiness,
    /// What the check found (its `Done` outputs), for drift between two checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// How long the check took (zero when not evaluated).
    #[serde(with = "crate::clock::secs")]
    pub took: Duration,
}

/// What a readiness check found: every step, in plan order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadinessReport {
    /// The plan.
    pub plan: String,
    /// When the check started.
    #[serde(with = "crate::clock::rfc3339")]
    pub at: SystemTime,
    /// The conditions it was evaluated under.
    pub conditions: Conditions,
    /// Every step.
    pub steps: Vec<StepReadiness>,
    /// Whether the caller may do what the steps need ([`ReadinessReport::apply_permissions`]);
    /// `None` when not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
}

/// Whether the caller's identity may do what the plan's steps need (the actions of
/// `drkit iam-policy`), as IAM's policy simulator answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Permissions {
    /// Every action was simulated for `principal`.
    Checked {
        /// The principal simulated (a role or user ARN).
        principal: String,
        /// How many actions were simulated.
        actions: usize,
        /// The actions not allowed, with IAM's decision (`implicitDeny`, `explicitDeny`).
        denied: BTreeMap<String, String>,
    },
    /// Not simulated: the permissions are not known (not granted either).
    NotChecked {
        /// Why.
        reason: String,
    },
    /// No step to run needs an AWS permission.
    NotNeeded,
}

impl Permissions {
    /// One line for the readiness table.
    pub fn summary(&self) -> String {
        match self {
            Self::Checked {
                principal,
                actions,
                denied,
            } if denied.is_empty() => format!(
                "Permissions: all {actions} actions the plan needs are allowed for `{principal}` \
                 (IAM policy simulator, for every resource; service control policies, resource \
                 policies and conditions are not simulated)."
            ),
            Self::Checked {
                principal, denied, ..
            } => format!(
                "Permissions: **DENIED** for `{principal}`: {}.",
                denied_list(denied.iter())
            ),
            Self::NotChecked { reason } => format!("Permissions: not checked: {reason}."),
            Self::NotNeeded => "Permissions: no step to run calls AWS.".to_owned(),
        }
    }
}

/// `a (implicitDeny), b (explicitDeny)`.
fn denied_list<'a>(denied: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    denied
        .map(|(a, d)| format!("{a} ({d})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ReadinessReport {
    /// Whether no step is not ready.
    pub fn is_ready(&self) -> bool {
        self.not_ready().next().is_none()
    }

    /// The steps that are not ready.
    pub fn not_ready(&self) -> impl Iterator<Item = &StepReadiness> {
        self.steps
            .iter()
            .filter(|s| matches!(s.readiness, Readiness::NotReady { .. }))
    }

    /// The action kinds of the steps that would run (not skipped), whose permissions matter.
    pub fn kinds_to_run(&self) -> std::collections::BTreeSet<&str> {
        self.steps
            .iter()
            .filter(|s| !matches!(s.readiness, Readiness::Skipped { .. }))
            .filter_map(|s| s.kind.as_deref())
            .collect()
    }

    /// Records `permissions`; when actions are denied, every step to run whose kind needs one
    /// (`needs(kind)`: the kind's IAM actions) becomes not ready, naming them.
    pub fn apply_permissions(
        &mut self,
        permissions: Permissions,
        needs: impl Fn(&str) -> Vec<String>,
    ) {
        if let Permissions::Checked {
            principal, denied, ..
        } = &permissions
            && !denied.is_empty()
        {
            for s in &mut self.steps {
                if matches!(s.readiness, Readiness::Skipped { .. }) {
                    continue;
                }
                let Some(kind) = s.kind.as_deref() else {
                    continue;
                };
                let needed = needs(kind);
                let missing: Vec<(&String, &String)> =
                    denied.iter().filter(|(a, _)| needed.contains(a)).collect();
                if missing.is_empty() {
                    continue;
                }
                let why = format!("`{principal}` may not {}", denied_list(missing.into_iter()));
                s.readiness = match &s.readiness {
                    Readiness::NotReady { reason } => Readiness::NotReady {
                        reason: format!("{reason}; and {why}"),
                    },
                    _ => Readiness::NotReady { reason: why },
                };
            }
        }
        self.permissions = Some(permissions);
    }

    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&StepReadiness> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// How many steps are in `state` (see [`Readiness::name`]).
    pub fn count(&self, state: &str) -> usize {
        self.steps
            .iter()
            .filter(|s| s.readiness.name() == state)
            .count()
    }

    /// The readiness table (Markdown), failing steps first named in the summary.
    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "# Readiness of plan `{}`: {}\n\n{} ready, {} not ready, {} after an earlier change, \
             {} skipped ({} mode{}).\n\n| Step | Kind | State | Detail | Check |\n|---|---|---|---|---|\n",
            self.plan,
            if self.is_ready() {
                "READY"
            } else {
                "NOT READY"
            },
            self.count("ready"),
            self.count("not_ready"),
            self.count("after"),
            self.count("skipped"),
            self.conditions.mode,
            if self.conditions.impaired_regions.is_empty() {
                String::new()
            } else {
                format!(
                    ", impaired: {}",
                    self.conditions
                        .impaired_regions
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        for s in &self.steps {
            let (state, detail) = match &s.readiness {
                Readiness::Ready { detail } => ("ready", detail.clone()),
                Readiness::NotReady { reason } => ("**NOT READY**", reason.clone()),
                Readiness::After { step } => ("after", format!("evaluated after `{step}`")),
                Readiness::Skipped { reason } => ("skipped", reason.clone()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                s.id,
                s.kind.as_deref().unwrap_or("-"),
                state,
                detail.replace('|', "\\|").replace('\n', " "),
                if s.took.is_zero() {
                    "-".to_owned()
                } else {
                    format!("{:.2}s", s.took.as_secs_f64())
                }
            );
        }
        if let Some(p) = &self.permissions {
            let _ = writeln!(md, "\n{}", p.summary());
        }
        md
    }

    /// The result in the OpenMetrics text format, for a node-exporter textfile collector or any
    /// Prometheus scrape: per evaluated step `drkit_step_ready` (1/0) and
    /// `drkit_step_check_seconds`; per plan `drkit_plan_ready`, `drkit_plan_steps{state}` and
    /// `drkit_check_timestamp_seconds`.
    pub fn to_openmetrics(&self) -> String {
        let plan = label(&self.plan);
        let mut m = String::new();
        m.push_str("# TYPE drkit_plan_ready gauge\n# HELP drkit_plan_ready 1 when every evaluated step of the plan is ready.\n");
        let _ = writeln!(
            m,
            "drkit_plan_ready{{plan=\"{plan}\"}} {}",
            u8::from(self.is_ready())
        );
        m.push_str("# TYPE drkit_plan_steps gauge\n# HELP drkit_plan_steps Steps of the plan by readiness state.\n");
        for state in ["ready", "not_ready", "after", "skipped"] {
            let _ = writeln!(
                m,
                "drkit_plan_steps{{plan=\"{plan}\",state=\"{state}\"}} {}",
                self.count(state)
            );
        }
        m.push_str("# TYPE drkit_check_timestamp_seconds gauge\n# HELP drkit_check_timestamp_seconds When the readiness check ran (Unix time).\n");
        let at = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let _ = writeln!(
            m,
            "drkit_check_timestamp_seconds{{plan=\"{plan}\"}} {at:.3}"
        );
        m.push_str("# TYPE drkit_step_ready gauge\n# HELP drkit_step_ready 1 when the step is ready, 0 when not (steps evaluated now only).\n");
        let evaluated = || {
            self.steps.iter().filter(|s| {
                matches!(
                    s.readiness,
                    Readiness::Ready { .. } | Readiness::NotReady { .. }
                )
            })
        };
        for s in evaluated() {
            let _ = writeln!(
                m,
                "drkit_step_ready{{plan=\"{plan}\",step=\"{}\",kind=\"{}\"}} {}",
                label(&s.id),
                label(s.kind.as_deref().unwrap_or("")),
                u8::from(matches!(s.readiness, Readiness::Ready { .. }))
            );
        }
        m.push_str("# TYPE drkit_step_check_seconds gauge\n# UNIT drkit_step_check_seconds seconds\n# HELP drkit_step_check_seconds How long the step's check took.\n");
        for s in evaluated() {
            let _ = writeln!(
                m,
                "drkit_step_check_seconds{{plan=\"{plan}\",step=\"{}\"}} {:.3}",
                label(&s.id),
                s.took.as_secs_f64()
            );
        }
        if let Some(p) = &self.permissions {
            m.push_str("# TYPE drkit_permissions_checked gauge\n# HELP drkit_permissions_checked 1 when the caller's permissions were simulated, 0 when they could not be.\n");
            let (checked, denied) = match p {
                Permissions::Checked { denied, .. } => (1, denied.len()),
                Permissions::NotNeeded => (1, 0),
                Permissions::NotChecked { .. } => (0, 0),
            };
            let _ = writeln!(m, "drkit_permissions_checked{{plan=\"{plan}\"}} {checked}");
            m.push_str("# TYPE drkit_permissions_denied gauge\n# HELP drkit_permissions_denied Actions the plan needs that the caller may not do.\n");
            let _ = writeln!(m, "drkit_permissions_denied{{plan=\"{plan}\"}} {denied}");
        }
        m.push_str("# EOF\n");
        m
    }

    /// What changed since `earlier` (a previous check of the same plan): steps whose state
    /// changed, and outputs that differ (a different writer, a different record).
    pub fn drift_since(&self, earlier: &ReadinessReport) -> Vec<String> {
        let mut drift = Vec::new();
        for s in &self.steps {
            let Some(before) = earlier.step(&s.id) else {
                drift.push(format!("`{}`: new step", s.id));
                continue;
            };
            if before.readiness.name() != s.readiness.name() {
                drift.push(format!(
                    "`{}`: was {}, now {}{}",
                    s.id,
                    before.readiness.name(),
                    s.readiness.name(),
                    match &s.readiness {
                        Readiness::NotReady { reason } => format!(" ({reason})"),
                        _ => String::new(),
                    }
                ));
            }
            for (name, value) in &s.outputs {
                match before.outputs.get(name) {
                    Some(old) if old != value => drift.push(format!(
                        "`{}`: output `{name}` was {old}, now {value}",
                        s.id
                    )),
                    _ => {}
                }
            }
        }
        drift
    }
}

/// `text` as an OpenMetrics label value (`\`, `"` and newlines escaped).
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(states: Vec<(&str, Readiness)>) -> ReadinessReport {
        ReadinessReport {
            plan: "mint".into(),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            conditions: Conditions::default(),
            steps: states
                .into_iter()
                .map(|(id, readiness)| StepReadiness {
                    id: id.into(),
                    kind: Some("demo.kind".into()),
                    mutates: Some(true),
                    readiness,
                    outputs: BTreeMap::new(),
                    took: Duration::from_millis(250),
                })
                .collect(),
            permissions: None,
        }
    }

    /// Denied actions make each step that needs one not ready, naming the action; skipped
    /// steps and steps needing nothing denied keep their state; the table and the metrics say
    /// what was simulated.
    #[test]
    fn denied_permissions_make_the_steps_that_need_them_not_ready() {
        let mut r = report(vec![
            (
                "db",
                Readiness::Ready {
                    detail: "ok".into(),
                },
            ),
            ("dns", Readiness::After { step: "db".into() }),
            (
                "s3",
                Readiness::NotReady {
                    reason: "replication off".into(),
                },
            ),
            (
                "old",
                Readiness::Skipped {
                    reason: "not in this mode".into(),
                },
            ),
            (
                "probe",
                Readiness::Ready {
                    detail: "ok".into(),
                },
            ),
        ]);
        for s in &mut r.steps {
            s.kind = Some(format!("k.{}", s.id));
        }
        assert_eq!(
            r.kinds_to_run().len(),
            4,
            "a skipped step's kind is left out"
        );
        let needs = |kind: &str| match kind {
            "k.db" => vec!["rds:SwitchoverGlobalCluster".to_owned()],
            "k.dns" | "k.old" => vec!["route53:ChangeResourceRecordSets".to_owned()],
            "k.s3" => vec!["s3:GetReplicationConfiguration".to_owned()],
            _ => vec!["ec2:DescribeRegions".to_owned()],
        };
        r.apply_permissions(
            Permissions::Checked {
                principal: "arn:aws:iam::123456789012:role/dr-operator".into(),
                actions: 5,
                denied: BTreeMap::from([
                    ("rds:SwitchoverGlobalCluster".into(), "implicitDeny".into()),
                    (
                        "route53:ChangeResourceRecordSets".into(),
                        "explicitDeny".into(),
                    ),
                    (
                        "s3:GetReplicationConfiguration".into(),
                        "implicitDeny".into(),
                    ),
                ]),
            },
            needs,
        );
        let reason = |id: &str| match &r.step(id).unwrap().readiness {
            Readiness::NotReady { reason } => reason.clone(),
            other => panic!("{id}: {other:?}"),
        };
        assert_eq!(
            reason("db"),
            "`arn:aws:iam::123456789012:role/dr-operator` may not \
             rds:SwitchoverGlobalCluster (implicitDeny)"
        );
        assert!(reason("dns").contains("route53:ChangeResourceRecordSets (explicitDeny)"));
        assert!(
            reason("s3").starts_with("replication off; and `arn:"),
            "{}",
            reason("s3")
        );
        assert_eq!(r.step("old").unwrap().readiness.name(), "skipped");
        assert_eq!(r.step("probe").unwrap().readiness.name(), "ready");
        assert!(!r.is_ready());
        let md = r.to_markdown();
        assert!(md.contains("Permissions: **DENIED** for `arn:aws:iam::123456789012:role/dr-operator`: rds:SwitchoverGlobalCluster (implicitDeny)"), "{md}");
        let m = r.to_openmetrics();
        assert!(
            m.contains("drkit_permissions_checked{plan=\"mint\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("drkit_permissions_denied{plan=\"mint\"} 3\n"),
            "{m}"
        );

        // Not checked: nothing changes, and the table says so.
        let mut r = report(vec![(
            "db",
            Readiness::Ready {
                detail: "ok".into(),
            },
        )]);
        r.apply_permissions(
            Permissions::NotChecked {
                reason: "the caller may not call iam:SimulatePrincipalPolicy".into(),
            },
            needs,
        );
        assert!(r.is_ready());
        assert!(
            r.to_markdown()
                .contains("Permissions: not checked: the caller may not")
        );
        assert!(
            r.to_openmetrics()
                .contains("drkit_permissions_checked{plan=\"mint\"} 0\n")
        );
    }

    #[test]
    fn openmetrics_has_every_family_and_ends_with_eof() {
        let r = report(vec![
            (
                "db",
                Readiness::Ready {
                    detail: "ok".into(),
                },
            ),
            (
                "s3",
                Readiness::NotReady {
                    reason: "replication off".into(),
                },
            ),
            ("dns", Readiness::After { step: "db".into() }),
        ]);
        let m = r.to_openmetrics();
        assert!(m.contains("drkit_plan_ready{plan=\"mint\"} 0\n"), "{m}");
        assert!(
            m.contains("drkit_step_ready{plan=\"mint\",step=\"db\",kind=\"demo.kind\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("drkit_step_ready{plan=\"mint\",step=\"s3\",kind=\"demo.kind\"} 0\n"),
            "{m}"
        );
        assert!(
            !m.contains("step=\"dns\""),
            "a step not evaluated has no sample: {m}"
        );
        assert!(
            m.contains("drkit_plan_steps{plan=\"mint\",state=\"after\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("drkit_step_check_seconds{plan=\"mint\",step=\"db\"} 0.250\n"),
            "{m}"
        );
        assert!(
            m.contains("drkit_check_timestamp_seconds{plan=\"mint\"} 1800000000.000\n"),
            "{m}"
        );
        assert!(m.ends_with("# EOF\n"));
        // Every sample line's family is declared before it.
        let mut declared = Vec::new();
        for line in m.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let family = line.split('{').next().unwrap();
                assert!(declared.iter().any(|d| d == family), "{line}");
            }
        }
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn drift_names_state_changes_and_changed_outputs() {
        let mut before = report(vec![
            (
                "db",
                Readiness::Ready {
                    detail: "ok".into(),
                },
            ),
            (
                "s3",
                Readiness::Ready {
                    detail: "ok".into(),
                },
            ),
        ]);
        before.steps[0]
            .outputs
            .insert("writer".into(), "east-1".into());
        let mut now = report(vec![
            (
                "db",
                Readiness::Ready {
                    detail: "ok".into(),
                },
            ),
            (
                "s3",
                Readiness::NotReady {
                    reason: "replication off".into(),
                },
            ),
        ]);
        now.steps[0]
            .outputs
            .insert("writer".into(), "east-2".into());
        assert_eq!(
            now.drift_since(&before),
            [
                "`db`: output `writer` was \"east-1\", now \"east-2\"",
                "`s3`: was ready, now not_ready (replication off)"
            ]
        );
        assert!(!now.is_ready());
        let md = now.to_markdown();
        assert!(
            md.contains("NOT READY") && md.contains("replication off"),
            "{md}"
        );
    }
}
