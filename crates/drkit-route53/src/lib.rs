//! # drkit-route53
//!
//! Route 53 recovery actions for drkit:
//!
//! | kind | what it does |
//! |---|---|
//! | `route53.change_records` | one batched `ChangeResourceRecordSets` (split only at AWS's limits), waited until `INSYNC`; rollback restores the previous records |
//! | `route53.check_health` | a health check's checkers: healthy when more than 18 % report success |
//!
//! Parts, as in every provider: the port [`Route53Api`] (`MockRoute53Api` with the `mock`
//! feature), the adapter [`SdkRoute53`], the actions (one type per kind: [`ChangeRecords`],
//! [`CheckHealth`]), and [`register`] / [`register_with`] (over the [`ports`] of an
//! [`Aws`](drkit_aws::Aws), or the embedder's own).
//!
//! Other providers write DNS records through this crate's port, never through
//! `aws-sdk-route53`: e.g. ACM's DNS validation records with [`upsert_records`] (validated
//! against the zone, batched, throttling backed off, waited until `INSYNC`).

#[cfg(test)]
mod behaviour_tests;
mod change;
mod health;
mod port;
mod records;
mod register;
mod sdk;

pub use change::{AliasParams, ChangeParams, ChangeRecords, ChangeRecordsParams};
pub use health::{CheckHealth, CheckHealthParams};
#[cfg(any(test, feature = "mock"))]
pub use port::MockRoute53Api;
pub use port::{
    AliasTarget, ChangeAction, ChangeInfo, CheckerReport, GeoLocation, HostedZone, RecordChange,
    RecordSet, Route53Api, normalize_name, normalize_zone_id,
};
pub use records::{
    CLOUDFRONT_ZONE_ID, GLOBAL_ACCELERATOR_ZONE_ID, MAX_CHANGES_PER_BATCH, MAX_RECORDS_PER_BATCH,
    MAX_VALUE_CHARS_PER_BATCH, batches, record_problem, submit, upsert_records, wait_insync,
};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use sdk::SdkRoute53;
