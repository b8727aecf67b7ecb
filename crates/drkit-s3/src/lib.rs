//! # drkit-s3
//!
//! S3 recovery actions for drkit:
//!
//! | kind | what it does |
//! |---|---|
//! | `s3.verify_replication` | replication rules enabled, versioning on both sides, destination reachable; the data at risk measured object by object within a budget of requests (`rpo_seconds`, class `files`), honouring the rules' filters |
//! | `s3.configure_website` | serve a (replica) bucket as a website, once it is publicly readable; rollback restores the previous configuration or removes it |
//!
//! Parts, as in every provider: the port [`S3Api`] (`MockS3Api` with the `mock` feature), the
//! adapter [`SdkS3`] (path-style addressing when an endpoint is set), the actions, and
//! [`register`] / [`register_with`].

#[cfg(test)]
mod behaviour_tests;
mod common;
mod configure_replication;
#[cfg(test)]
mod fake;
mod port;
mod public;
mod register;
mod remove_replication;
mod replication;
mod rpo;
mod sdk;
mod website;

pub use configure_replication::{ConfigureReplication, ConfigureReplicationParams};
#[cfg(any(test, feature = "mock"))]
pub use port::MockS3Api;
pub use port::{
    ObjectInfo, ObjectPage, PublicAccessBlock, ReplicationConfig, ReplicationRule,
    ReplicationSetting, RuleSetting, S3Api, WebsiteConfig,
};
pub use register::{DESCRIPTORS, aws_ports, register, register_with};
pub use remove_replication::{RemoveReplication, RemoveReplicationParams};
pub use replication::{RPO_CLASS_FILES, VerifyReplication, VerifyReplicationParams};
pub use sdk::SdkS3;
pub use website::{ConfigureWebsite, ConfigureWebsiteParams, website_endpoint};

#[cfg(test)]
mod replication_tests;
#[cfg(test)]
mod website_tests;
