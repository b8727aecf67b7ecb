//! Wall-clock time that follows tokio's clock, so paused-time tests see RTO budgets move.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// `now = wall0 + (tokio now - inst0)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    wall0: SystemTime,
    inst0: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Self {
            wall0: SystemTime::now(),
            inst0: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.wall0 + self.inst0.elapsed()
    }
}

/// `a - b`, in signed seconds.
pub(crate) fn signed_secs(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `t` to the microsecond, as the journal keeps it (records kept in memory then compare equal
/// to those read back).
/// A time before 1970 (which the journal refuses to write) is left as it is.
pub(crate) fn to_micros(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => t - Duration::from_nanos(u64::from(d.subsec_nanos() % 1000)),
        Err(_) => t,
    }
}

/// `a - b`, zero when negative.
pub(crate) fn since(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b).unwrap_or(Duration::ZERO)
}

/// RFC 3339 (microseconds) serialization of `SystemTime`, as the journal stores it.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_micros(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Like [`rfc3339`], for `Option<SystemTime>`.
pub(crate) mod opt_rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` hands us `&Option<T>`
    pub(crate) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(&humantime::format_rfc3339_micros(*t)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| humantime::parse_rfc3339(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Durations as (fractional) seconds.
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let f = f64::deserialize(d)?;
        Duration::try_from_secs_f64(f).map_err(serde::de::Error::custom)
    }
}
