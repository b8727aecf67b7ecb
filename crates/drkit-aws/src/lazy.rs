//! AWS configuration and SDK clients made on first use.
//!
//! Building an action never talks to AWS: `drkit validate`, `plan` and `actions`, a runbook
//! with no AWS step, or a `resume` of a missing journal never load credentials (nor ask the
//! instance metadata service anything). The configuration is loaded once, when the first AWS
//! call of the process is made, and shared by every client.
//!
//! ```no_run
//! use drkit_aws::{Aws, AwsSettings, LazyClient};
//!
//! # async fn demo() {
//! let aws = Aws::lazy(AwsSettings::default().region("us-west-2"));
//! let rds = LazyClient::new(&aws, Some("us-east-1"), aws_sdk_rds_client);
//! assert!(!aws.is_loaded()); // nothing loaded yet
//! let _client = rds.get().await; // loads the configuration, builds the client
//! # }
//! # #[derive(Clone)] struct C;
//! # fn aws_sdk_rds_client(_: &aws_config::SdkConfig) -> C { C }
//! ```

use std::fmt;
use std::sync::Arc;

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::{AwsContext, AwsSettings};

/// The AWS configuration of a program, loaded on first use. Cheap to clone; clones share the
/// one loaded configuration.
#[derive(Clone)]
pub struct Aws {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AwsSettings,
    loaded: OnceCell<AwsContext>,
}

impl fmt::Debug for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aws")
            .field("settings", &self.inner.settings)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl Aws {
    /// Loads with `settings` ([`AwsContext::load`]) when first needed.
    pub fn lazy(settings: AwsSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                loaded: OnceCell::new(),
            }),
        }
    }

    /// An already-loaded configuration.
    pub fn loaded(context: AwsContext) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings: AwsSettings::default(),
                loaded: OnceCell::new_with(Some(context)),
            }),
        }
    }

    /// The configuration, loading it on the first call.
    pub async fn context(&self) -> &AwsContext {
        self.inner
            .loaded
            .get_or_init(|| AwsContext::load(&self.inner.settings))
            .await
    }

    /// The configuration for a step in `region` (see [`AwsContext::for_region`]).
    pub async fn config(&self, region: Option<&str>) -> SdkConfig {
        self.context().await.for_region(region)
    }

    /// Whether the configuration has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.inner.loaded.initialized()
    }

    /// The settings it loads with.
    pub fn settings(&self) -> &AwsSettings {
        &self.inner.settings
    }
}

impl From<AwsContext> for Aws {
    fn from(context: AwsContext) -> Self {
        Self::loaded(context)
    }
}

impl From<&AwsContext> for Aws {
    fn from(context: &AwsContext) -> Self {
        Self::loaded(context.clone())
    }
}

impl From<&Aws> for Aws {
    fn from(aws: &Aws) -> Self {
        aws.clone()
    }
}

/// An SDK client for one region, built from [`Aws`] on first use. Each provider's SDK adapter
/// holds one (`SdkRds`, `SdkEks`, ...).
pub struct LazyClient<C> {
    source: Source<C>,
    client: OnceCell<C>,
}

enum Source<C> {
    Lazy {
        aws: Aws,
        region: Option<String>,
        make: fn(&SdkConfig) -> C,
    },
    Ready,
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LazyClient");
        if let Source::Lazy { region, .. } = &self.source {
            d.field("region", region);
        }
        d.field("built", &self.client.initialized()).finish()
    }
}

impl<C> LazyClient<C> {
    /// A client for `region` (`None`: the default one) that `make` builds from the loaded
    /// configuration on first use.
    pub fn new(aws: &Aws, region: Option<&str>, make: fn(&SdkConfig) -> C) -> Self {
        Self {
            source: Source::Lazy {
                aws: aws.clone(),
                region: region.map(str::to_owned),
                make,
            },
            client: OnceCell::new(),
        }
    }

    /// An already-built client (e.g. the embedder's own, or one with a test HTTP client).
    pub fn ready(client: C) -> Self {
        Self {
            source: Source::Ready,
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The client, built on the first call.
    pub async fn get(&self) -> &C {
        self.client
            .get_or_init(|| async {
                match &self.source {
                    Source::Lazy { aws, region, make } => {
                        make(&aws.config(region.as_deref()).await)
                    }
                    // `ready` filled the cell; it cannot be empty.
                    Source::Ready => unreachable_ready(),
                }
            })
            .await
    }
}

#[allow(clippy::panic)] // a `Ready` client is built with its cell full: this cannot run
fn unreachable_ready<C>() -> C {
    panic!("LazyClient::ready holds its client from the start")
}

/// Defines a provider's SDK adapter: a struct holding one [`LazyClient`] of an SDK `Client`,
/// with the constructors every adapter has — `new` (wraps a client), `from_config` (a client
/// for an `SdkConfig`), `lazy` (a client for a region, built from [`Aws`] on its first call)
/// — and `client` (the client, built on the first call). The adapter then implements its
/// port on `self.client().await`.
///
/// ```
/// # mod aws_sdk_demo { #[derive(Clone, Debug)] pub struct Client;
/// #   impl Client { pub fn new(_: &aws_config::SdkConfig) -> Self { Client } } }
/// drkit_aws::sdk_adapter! {
///     /// `DemoApi` over an `aws-sdk-demo` client.
///     pub struct SdkDemo(aws_sdk_demo::Client);
/// }
/// let adapter = SdkDemo::new(aws_sdk_demo::Client);
/// # let _ = adapter;
/// ```
///
/// `pub struct SdkS3(Client) built by client_for;` builds the client with `client_for(&SdkConfig)`
/// (a service-specific configuration) instead of `Client::new`.
#[macro_export]
macro_rules! sdk_adapter {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($client:ty);) => {
        $crate::sdk_adapter! {
            $(#[$meta])* $vis struct $name($client) built by <$client>::new;
        }
    };
    ($(#[$meta:meta])* $vis:vis struct $name:ident($client:ty) built by $make:expr;) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $name {
            client: $crate::LazyClient<$client>,
        }

        impl $name {
            /// Wraps a client.
            pub fn new(client: $client) -> Self {
                Self {
                    client: $crate::LazyClient::ready(client),
                }
            }

            /// A client for `config` (see `drkit_aws::AwsContext::for_region`).
            pub fn from_config(config: &$crate::SdkConfig) -> Self {
                Self::new($make(config))
            }

            /// A client for `region` (`None`: the default one), built from `aws` on its first
            /// call.
            pub fn lazy(aws: &$crate::Aws, region: ::std::option::Option<&str>) -> Self {
                Self {
                    client: $crate::LazyClient::new(aws, region, $make),
                }
            }

            /// The client (built on the first call).
            pub async fn client(&self) -> &$client {
                self.client.get().await
            }
        }
    };
}

/// The registration of a provider whose actions all take one AWS port: `DESCRIPTORS` (every
/// kind's descriptor), `register(registry, aws)` (the ports over the SDK, from the crate's
/// `ports` function) and `register_with(registry, &ports)` (the embedder's ports, e.g. mocks).
/// Each kind is registered with [`Registry::register`](drkit_core::registry::Registry::register);
/// `drkit-ec2`'s `register.rs` is a whole example:
///
/// ```text
/// drkit_aws::registration! {
///     service: "EC2",
///     port: dyn Ec2Api,
///     ports: ports,
///     kinds: [AuthorizeIngress, CheckSecurityGroup],
/// }
/// ```
#[macro_export]
macro_rules! registration {
    (
        service: $service:literal,
        port: $port:ty,
        ports: $ports:path,
        kinds: [$($kind:ty),+ $(,)?] $(,)?
    ) => {
        #[doc = concat!("Every ", $service, " action's descriptor.")]
        pub const DESCRIPTORS: &[$crate::__core::registry::ActionDescriptor] =
            &[$(<$kind as $crate::__core::ActionKind>::DESCRIPTOR),+];

        #[doc = concat!(
            "Registers every ", $service,
            " action, talking to AWS as configured in `aws` (loaded on first use)."
        )]
        pub fn register(
            registry: &mut $crate::__core::registry::Registry,
            aws: impl ::core::convert::Into<$crate::Aws>,
        ) -> ::core::result::Result<(), $crate::__core::registry::DuplicateKind> {
            register_with(registry, &$ports(&aws.into()))
        }

        #[doc = concat!(
            "Registers every ", $service,
            " action over `ports` (e.g. mocks in the embedder's tests)."
        )]
        pub fn register_with(
            registry: &mut $crate::__core::registry::Registry,
            ports: &$crate::__core::PortFactory<$port>,
        ) -> ::core::result::Result<(), $crate::__core::registry::DuplicateKind> {
            $(registry.register::<$kind>(ports.clone())?;)+
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_loaded_until_a_client_is_used() {
        let aws = Aws::lazy(
            AwsSettings::default()
                .region("us-west-2")
                .endpoint_url("http://127.0.0.1:9"),
        );
        let client = LazyClient::new(&aws, Some("eu-west-1"), |c: &SdkConfig| {
            c.region().map(|r| r.to_string())
        });
        assert!(!aws.is_loaded());
        assert!(format!("{client:?}").contains("built: false"));
        assert_eq!(client.get().await.as_deref(), Some("eu-west-1"));
        assert!(aws.is_loaded());
        // Clones share the loaded configuration.
        assert!(aws.clone().is_loaded());
        let default = LazyClient::new(&aws, None, |c: &SdkConfig| {
            c.region().map(|r| r.to_string())
        });
        assert_eq!(default.get().await.as_deref(), Some("us-west-2"));
    }

    #[tokio::test]
    async fn a_ready_client_is_used_as_it_is() {
        let client = LazyClient::ready(7_u8);
        assert_eq!(*client.get().await, 7);
    }
}
