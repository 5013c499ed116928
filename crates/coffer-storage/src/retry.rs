//! Retrying S3 requests, and telling someone about it.
//!
//! A request that failed for a reason that may pass (the network, a busy
//! store: [`Cause::retryable`](crate::failure::Cause)) is sent again, up to
//! [`ATTEMPTS`] times in all, after 0.5 s, 1 s and 2 s (each with up to
//! half as much again of jitter): a refused connection fails in about 4 s.
//! An attempt that timed out connecting already waited the whole connect
//! timeout, so after one the request is tried only [`TIMEOUT_ATTEMPTS`]
//! times (an endpoint that never answers fails after twice the timeout,
//! 20 s by default). Credentials, permissions and a missing bucket fail at
//! once.
//!
//! Before each new attempt the function given to [`on_retry`] is called
//! with a [`RetryNotice`] (the CLI prints it on stderr); without one, the
//! notice is logged at warn level (the daemon's log).

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use crate::failure::{Cause, Failure, Request};

/// A failed attempt, as the retry loop reads it.
pub(crate) trait Attempt {
    /// Why it failed.
    fn cause(&self) -> &Cause;
    /// The library's text, for the debug log.
    fn raw(&self) -> String;
}

impl Attempt for Failure {
    fn cause(&self) -> &Cause {
        &self.cause
    }
    fn raw(&self) -> String {
        self.raw.clone()
    }
}

/// How many times a request is sent at most.
pub const ATTEMPTS: u32 = 4;

/// How many times, once an attempt timed out connecting.
pub const TIMEOUT_ATTEMPTS: u32 = 2;

/// The wait before the second attempt; it doubles after that.
const FIRST_WAIT: Duration = Duration::from_millis(500);

/// A request about to be sent again.
#[derive(Debug, Clone, Copy)]
pub struct RetryNotice<'a> {
    /// The request: `PUT packs/ab/…`, `HEAD config`, `PutObjectRetention packs/…`.
    pub request: &'a str,
    /// The vault's location (`s3://bucket/prefix`).
    pub vault: &'a str,
    /// The attempt about to be made (2 for the first retry).
    pub attempt: u32,
    /// How many attempts there are at most.
    pub attempts: u32,
    /// How long until it is made.
    pub wait: Duration,
    /// Why the last attempt failed (`connection refused at 127.0.0.1:1`).
    pub reason: &'a str,
}

impl fmt::Display for RetryNotice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retrying {} on vault {} (attempt {} of {}): {}",
            self.request, self.vault, self.attempt, self.attempts, self.reason
        )
    }
}

type Notify = Box<dyn Fn(&RetryNotice<'_>) + Send + Sync>;

static NOTIFY: OnceLock<Notify> = OnceLock::new();

/// Installs the function told about every retry of this process (the
/// first one installed stays; returns false if one was already).
pub fn on_retry(f: impl Fn(&RetryNotice<'_>) + Send + Sync + 'static) -> bool {
    NOTIFY.set(Box::new(f)).is_ok()
}

fn notify(n: &RetryNotice<'_>) {
    match NOTIFY.get() {
        Some(f) => f(n),
        None => tracing::warn!(target: "coffer_storage::retry", "{n}"),
    }
}

/// How many attempts a request gets after failing for `cause`.
fn attempts(cause: &Cause) -> u32 {
    match cause {
        Cause::ConnectTimeout => TIMEOUT_ATTEMPTS,
        _ => ATTEMPTS,
    }
}

/// Runs `send` until it succeeds, fails for a reason retrying cannot
/// help, or has been tried [`ATTEMPTS`] times; a local directory's
/// request (no S3 place) is sent once.
pub(crate) async fn run<T, E, F, Fut>(at: &Request<'_>, mut send: F) -> Result<T, E>
where
    E: Attempt,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let Some(place) = at.place else {
        return send().await;
    };
    let mut wait = FIRST_WAIT;
    let mut attempt = 1;
    loop {
        match send().await {
            Err(f) if f.cause().retryable() && attempt < attempts(f.cause()) => {
                attempt += 1;
                let jitter = wait.mul_f64(rand::random::<f64>() / 2.0);
                tracing::debug!(
                    target: "coffer_storage::retry",
                    "{} on {} failed: {}",
                    at.describe(),
                    place.location,
                    f.raw()
                );
                notify(&RetryNotice {
                    request: &at.describe(),
                    vault: &place.location,
                    attempt,
                    attempts: attempts(f.cause()),
                    wait: wait + jitter,
                    reason: &f.cause().summary(at),
                });
                tokio::time::sleep(wait + jitter).await;
                wait *= 2;
            }
            r => return r,
        }
    }
}
