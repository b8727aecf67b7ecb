//! Recovery time and recovery point objectives.
//!
//! - **RTO**: each step has a [`Tier`]; each tier has a budget ([`RtoBudgets`], seed: critical
//!   1 h, non-critical 4 h, full recovery 8 h), measured from the incident start time given to
//!   the run. A tier is recovered when every step of that tier *and of the tiers before it* is
//!   done (so "full" means the whole plan).
//! - **RPO**: an action measures the data lost and returns it as outputs named
//!   [`RPO_SECONDS_OUTPUT`] (a number of seconds) and [`RPO_CLASS_OUTPUT`] (e.g. `database`);
//!   it is compared with the class's objective ([`RpoObjectives`], seed: database 5 min, files
//!   15 min, cache 1 h, configuration 24 h).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::since;

/// The output an action uses to report measured data loss, in seconds.
pub const RPO_SECONDS_OUTPUT: &str = "rpo_seconds";
/// The output naming the data class of [`RPO_SECONDS_OUTPUT`] (`database`, `files`, ...).
pub const RPO_CLASS_OUTPUT: &str = "rpo_class";
/// The output saying whether the measurement covered everything (`false`: it stopped early,
/// e.g. on a budget of requests, and [`RPO_SECONDS_OUTPUT`] is a lower bound, which can show a
/// breach but never that the objective is met). Absent: complete.
pub const RPO_COMPLETE_OUTPUT: &str = "rpo_complete";

/// How urgent a step is. Ordered: critical before non-critical before full recovery.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Must be back first (seed budget: 1 h).
    Critical,
    /// Back soon after (seed budget: 4 h).
    NonCritical,
    /// Everything else: full recovery (seed budget: 8 h). The default.
    #[default]
    Full,
}

impl Tier {
    /// All tiers, most urgent first.
    pub const ALL: [Tier; 3] = [Tier::Critical, Tier::NonCritical, Tier::Full];

    /// The serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::NonCritical => "non-critical",
            Self::Full => "full",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RTO budget per tier, from the incident start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RtoBudgets {
    /// Critical tier (seed: 1 h).
    #[serde(with = "humantime_serde")]
    pub critical: Duration,
    /// Non-critical tier (seed: 4 h). Written `non-critical` (the runbook's spelling).
    #[serde(
        with = "humantime_serde",
        rename = "non-critical",
        alias = "non_critical"
    )]
    pub non_critical: Duration,
    /// Full recovery (seed: 8 h).
    #[serde(with = "humantime_serde")]
    pub full: Duration,
}

impl Default for RtoBudgets {
    fn default() -> Self {
        Self {
            critical: Duration::from_secs(3600),
            non_critical: Duration::from_secs(4 * 3600),
            full: Duration::from_secs(8 * 3600),
        }
    }
}

impl RtoBudgets {
    /// The budget of `tier`.
    pub fn budget(&self, tier: Tier) -> Duration {
        match tier {
            Tier::Critical => self.critical,
            Tier::NonCritical => self.non_critical,
            Tier::Full => self.full,
        }
    }

    /// Sets the budget of `tier`.
    #[must_use]
    pub fn with(mut self, tier: Tier, budget: Duration) -> Self {
        match tier {
            Tier::Critical => self.critical = budget,
            Tier::NonCritical => self.non_critical = budget,
            Tier::Full => self.full = budget,
        }
        self
    }
}

/// RPO objective per data class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RpoObjectives(#[serde(with = "duration_map")] BTreeMap<String, Duration>);

impl Default for RpoObjectives {
    fn default() -> Self {
        Self(BTreeMap::from([
            ("database".to_owned(), Duration::from_secs(5 * 60)),
            ("files".to_owned(), Duration::from_secs(15 * 60)),
            ("cache".to_owned(), Duration::from_secs(3600)),
            ("configuration".to_owned(), Duration::from_secs(24 * 3600)),
        ]))
    }
}

impl RpoObjectives {
    /// No objective at all.
    pub fn none() -> Self {
        Self(BTreeMap::new())
    }

    /// Sets the objective of `class`.
    #[must_use]
    pub fn with(mut self, class: impl Into<String>, objective: Duration) -> Self {
        self.0.insert(class.into(), objective);
        self
    }

    /// The objective of `class`.
    pub fn objective(&self, class: &str) -> Option<Duration> {
        self.0.get(class).copied()
    }
}

mod duration_map {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        m: &BTreeMap<String, Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|(k, v)| (k, humantime::format_duration(*v).to_string()))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                humantime::parse_duration(&v)
                    .map(|d| (k, d))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// Whether an objective was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the objective.
    Met,
    /// Beyond the objective.
    Breached,
    /// Not reached (yet) and still within the budget, or no objective to compare with.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Met => "met",
            Self::Breached => "breached",
            Self::Unknown => "unknown",
        })
    }
}

/// The RTO verdict of one tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierVerdict {
    /// The tier.
    pub tier: Tier,
    /// Its budget.
    #[serde(with = "humantime_serde")]
    pub budget: Duration,
    /// Time from the incident start until the tier was recovered, if it was.
    #[serde(with = "humantime_serde")]
    pub recovered_after: Option<Duration>,
    /// Met, breached, or unknown (not recovered, budget not yet spent).
    pub verdict: Verdict,
    /// How many steps the tier (with the tiers before it) has.
    pub steps: usize,
    /// Once recovered: time from the incident start until its last change ended (its last
    /// mutating step that executed), if it made one.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_change_after: Option<Duration>,
    /// Once recovered: time from the incident start until its last read-only step (a health
    /// check) passed, if it has one: ARC's "actual recovery time" (the plan's run plus the time
    /// until the application is healthy again). `recovered_after` counts every step, so it is
    /// never earlier than this nor than `last_change_after`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub healthy_after: Option<Duration>,
    /// Once recovered: the chain of steps that decided `recovered_after`, head first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical_path: Vec<crate::report::PathStep>,
}

/// The RPO verdict of one measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpoVerdict {
    /// The step that measured it.
    pub step: String,
    /// The data class.
    pub class: String,
    /// The measured data loss.
    #[serde(with = "humantime_serde")]
    pub measured: Duration,
    /// The class's objective, when there is one.
    #[serde(with = "humantime_serde")]
    pub objective: Option<Duration>,
    /// Met, breached, or unknown (no objective for the class).
    pub verdict: Verdict,
}

/// What a done step counts as, beside its tier's recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepRole {
    /// A mutating step that executed: a change.
    Change,
    /// A read-only step that passed: a health check.
    HealthCheck,
    /// Neither (found done at check, skipped for the run's conditions, or not done).
    Other,
}

/// One step, as the RTO computation sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TierStep {
    pub(crate) tier: Tier,
    pub(crate) done_at: Option<SystemTime>,
    pub(crate) role: StepRole,
}

/// The RTO verdict of each tier that has steps (full recovery always).
pub(crate) fn rto_verdicts(
    budgets: &RtoBudgets,
    incident_start: SystemTime,
    now: SystemTime,
    steps: &[TierStep],
) -> Vec<TierVerdict> {
    let mut out = Vec::new();
    for tier in Tier::ALL {
        let members: Vec<&TierStep> = steps.iter().filter(|s| s.tier <= tier).collect();
        let own = steps.iter().filter(|s| s.tier == tier).count();
        if own == 0 && tier != Tier::Full {
            continue;
        }
        let budget = budgets.budget(tier);
        let recovered_at = members
            .iter()
            .map(|s| s.done_at)
            .try_fold(incident_start, |acc, t| t.map(|t| acc.max(t)));
        // The end of the tier's last step of `role`, once the tier is recovered.
        let last = |role| {
            recovered_at?;
            members
                .iter()
                .filter(|s| s.role == role)
                .filter_map(|s| s.done_at)
                .max()
                .map(|at| since(at, incident_start))
        };
        let (recovered_after, verdict) = match recovered_at {
            Some(at) => {
                let after = since(at, incident_start);
                (
                    Some(after),
                    if after <= budget {
                        Verdict::Met
                    } else {
                        Verdict::Breached
                    },
                )
            }
            None if since(now, incident_start) > budget => (None, Verdict::Breached),
            None => (None, Verdict::Unknown),
        };
        out.push(TierVerdict {
            tier,
            budget,
            recovered_after,
            verdict,
            steps: members.len(),
            last_change_after: last(StepRole::Change),
            healthy_after: last(StepRole::HealthCheck),
            critical_path: Vec::new(),
        });
    }
    out
}

/// The RPO verdict of a step's outputs, if they carry a measurement.
pub(crate) fn rpo_verdict(
    objectives: &RpoObjectives,
    step: &str,
    outputs: &drkit_core::Outputs,
) -> Option<RpoVerdict> {
    let secs = outputs.get(RPO_SECONDS_OUTPUT)?.as_f64()?;
    let measured = Duration::try_from_secs_f64(secs).ok()?;
    let class = outputs.get_str(RPO_CLASS_OUTPUT).unwrap_or("unclassified");
    let objective = objectives.objective(class);
    let complete = outputs
        .get(RPO_COMPLETE_OUTPUT)
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true);
    let verdict = match objective {
        Some(o) if measured > o => Verdict::Breached,
        Some(_) if complete => Verdict::Met,
        _ => Verdict::Unknown,
    };
    Some(RpoVerdict {
        step: step.to_owned(),
        class: class.to_owned(),
        measured,
        objective,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use drkit_core::Outputs;

    use super::*;

    #[test]
    fn seed_budgets_and_objectives() {
        let b = RtoBudgets::default();
        assert_eq!(b.budget(Tier::Critical), Duration::from_secs(3600));
        assert_eq!(b.budget(Tier::NonCritical), Duration::from_secs(4 * 3600));
        assert_eq!(b.budget(Tier::Full), Duration::from_secs(8 * 3600));
        let o = RpoObjectives::default();
        assert_eq!(o.objective("database"), Some(Duration::from_secs(300)));
        assert_eq!(o.objective("files"), Some(Duration::from_secs(900)));
        assert_eq!(o.objective("cache"), Some(Duration::from_secs(3600)));
        assert_eq!(
            o.objective("configuration"),
            Some(Duration::from_secs(86400))
        );
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["database"], "5m");
        let back: RpoObjectives = serde_json::from_value(json).unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn a_tier_counts_the_tiers_before_it() {
        let t0 = SystemTime::UNIX_EPOCH;
        let at = |s| Some(t0 + Duration::from_secs(s));
        let steps = [
            TierStep {
                tier: Tier::Critical,
                done_at: at(1800),
                role: StepRole::Change,
            },
            TierStep {
                tier: Tier::NonCritical,
                done_at: at(5 * 3600),
                role: StepRole::HealthCheck,
            },
            TierStep {
                tier: Tier::Full,
                done_at: None,
                role: StepRole::Other,
            },
        ];
        let v = rto_verdicts(
            &RtoBudgets::default(),
            t0,
            t0 + Duration::from_secs(6 * 3600),
            &steps,
        );
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].verdict, Verdict::Met);
        assert_eq!(v[0].recovered_after, Some(Duration::from_secs(1800)));
        assert_eq!(v[1].verdict, Verdict::Breached);
        assert_eq!(v[1].steps, 2);
        // The last change and the last health check, per tier, once it is recovered.
        assert_eq!(v[0].last_change_after, Some(Duration::from_secs(1800)));
        assert_eq!(v[0].healthy_after, None);
        assert_eq!(v[1].last_change_after, Some(Duration::from_secs(1800)));
        assert_eq!(v[1].healthy_after, Some(Duration::from_secs(5 * 3600)));
        assert_eq!((v[2].last_change_after, v[2].healthy_after), (None, None));
        // Full: not recovered, 6 h of 8 spent.
        assert_eq!(v[2].verdict, Verdict::Unknown);
        let v = rto_verdicts(
            &RtoBudgets::default(),
            t0,
            t0 + Duration::from_secs(9 * 3600),
            &steps,
        );
        assert_eq!(v[2].verdict, Verdict::Breached);
    }

    #[test]
    fn rpo_is_read_from_outputs() {
        let o = RpoObjectives::default();
        let out = Outputs::new()
            .with(RPO_SECONDS_OUTPUT, 120)
            .with(RPO_CLASS_OUTPUT, "database");
        let v = rpo_verdict(&o, "restore", &out).unwrap();
        assert_eq!(v.verdict, Verdict::Met);
        let out = Outputs::new()
            .with(RPO_SECONDS_OUTPUT, 1200.5)
            .with(RPO_CLASS_OUTPUT, "files");
        assert_eq!(
            rpo_verdict(&o, "s", &out).unwrap().verdict,
            Verdict::Breached
        );
        let out = Outputs::new().with(RPO_SECONDS_OUTPUT, 1);
        assert_eq!(
            rpo_verdict(&o, "s", &out).unwrap().verdict,
            Verdict::Unknown
        );
        // A lower bound (the measurement stopped early): a breach, or unknown, never met.
        let partial = |secs: u64| {
            Outputs::new()
                .with(RPO_SECONDS_OUTPUT, secs)
                .with(RPO_CLASS_OUTPUT, "files")
                .with(RPO_COMPLETE_OUTPUT, false)
        };
        assert_eq!(
            rpo_verdict(&o, "s", &partial(60)).unwrap().verdict,
            Verdict::Unknown
        );
        assert_eq!(
            rpo_verdict(&o, "s", &partial(1200)).unwrap().verdict,
            Verdict::Breached
        );
        let complete = Outputs::new()
            .with(RPO_SECONDS_OUTPUT, 60)
            .with(RPO_CLASS_OUTPUT, "files")
            .with(RPO_COMPLETE_OUTPUT, true);
        assert_eq!(
            rpo_verdict(&o, "s", &complete).unwrap().verdict,
            Verdict::Met
        );
        assert!(rpo_verdict(&o, "s", &Outputs::new()).is_none());
    }
}
