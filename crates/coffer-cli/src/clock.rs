//! "Now" for the commands that judge time (retention, locks, holds,
//! reports, tokens, plan runs).
//!
//! "Now" is the system clock ([`now`]). Only a binary built with the cargo
//! feature `test-clock` (the test suite's; release builds never enable it)
//! reads the environment variable `COFFER_NOW` (an RFC 3339 time) as the
//! time these commands call "now" (snapshot ages, lock records, holds), so
//! end-to-end tests can drive a lock past its grace period. Without the
//! feature the variable is ignored entirely: no code reads it. On S3 the
//! store's clock is checked too (coffer-core's `clock`), so a forged time
//! cannot delete there even in a test build.

use anyhow::Result;
use jiff::Timestamp;

/// "Now": the system clock, or `COFFER_NOW` in a `test-clock` build.
pub(crate) fn now() -> Result<Timestamp> {
    Ok(forced_now()?.unwrap_or_else(Timestamp::now))
}

/// The time `COFFER_NOW` forces, in a binary built with the `test-clock`
/// feature; always `None` otherwise (the variable is not even read).
#[cfg(feature = "test-clock")]
pub(crate) fn forced_now() -> Result<Option<Timestamp>> {
    match std::env::var("COFFER_NOW") {
        Ok(s) if !s.is_empty() => Ok(Some(s.parse().map_err(|e| {
            crate::error::UsageError(format!(
                "COFFER_NOW=`{s}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}"
            ))
        })?)),
        _ => Ok(None),
    }
}

/// The time `COFFER_NOW` forces, in a binary built with the `test-clock`
/// feature; always `None` otherwise (the variable is not even read).
#[cfg(not(feature = "test-clock"))]
pub(crate) fn forced_now() -> Result<Option<Timestamp>> {
    Ok(None)
}
