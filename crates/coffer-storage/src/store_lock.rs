//! Setting a vault lock with the store's enforcement checked first: the
//! one place that decides whether a lock is recorded as enforced by the
//! store (S3 Object Lock) or by coffer only, for the CLI and any later
//! front end.

use coffer_core::{LockPolicy, RetentionStats, Vault, VaultLock};
use jiff::Timestamp;

use crate::s3lock::{ObjectLockClient, ProbeReport, S3Error};
use crate::url::Location;

/// What a vault's store enforces.
#[derive(Debug, Clone)]
pub enum StoreProbe {
    /// A local directory: nothing.
    Local,
    /// An S3 bucket: what the probe found.
    S3(ProbeReport),
}

impl StoreProbe {
    /// Whether the store enforces object lock.
    pub fn enforced(&self) -> bool {
        matches!(self, StoreProbe::S3(r) if r.enforced)
    }
}

/// Why a lock was not set.
#[derive(Debug, thiserror::Error)]
pub enum StoreLockError {
    /// The store could not be probed.
    #[error("probing {location}: {source}")]
    Probe {
        /// The location (no credentials).
        location: String,
        /// The request that failed.
        source: Box<S3Error>,
    },
    /// The store does not enforce object lock and `software_only` was not given.
    #[error(
        "refusing to lock vault {location}: the store does not enforce object lock (check `{check}`: {detail}). \
         Enable versioning and object lock on the bucket (most stores allow object lock only when the bucket is created, \
         e.g. `aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket`), check it with `coffer vault probe`, \
         or give --software-only to record a lock that only coffer enforces"
    )]
    NotEnforced {
        /// The location.
        location: String,
        /// The first check that is not ok.
        check: String,
        /// What it found.
        detail: String,
    },
    /// The lock was recorded, but the existing objects did not all get
    /// their retention.
    #[error(
        "the lock of vault {location} is recorded, but giving its objects their object lock retention failed: {source}; \
         run `coffer vault extend-retention`"
    )]
    Retention {
        /// The location.
        location: String,
        /// What failed.
        source: coffer_core::Error,
    },
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] coffer_core::Error),
}

/// Probes the store of a vault location (no key needed; the vault need
/// not exist).
pub fn probe_location(location: &str) -> Result<StoreProbe, StoreLockError> {
    match Location::parse(location)? {
        Location::Local(_) => Ok(StoreProbe::Local),
        Location::S3(s3) => {
            let shown = format!("s3://{}/{}", s3.bucket, s3.prefix);
            let err = |source| StoreLockError::Probe {
                location: shown.clone(),
                source: Box::new(source),
            };
            let c = ObjectLockClient::new(&s3).map_err(err)?;
            Ok(StoreProbe::S3(c.probe().map_err(err)?))
        }
    }
}

/// A lock set by [`lock_vault`].
#[derive(Debug, Clone)]
pub struct LockOutcome {
    /// The lock now in force.
    pub lock: VaultLock,
    /// What the store enforces.
    pub probe: StoreProbe,
    /// Store-enforced: the retention given to the objects already there.
    pub retention: Option<RetentionStats>,
}

/// Sets the vault lock of `vault` (at `location`): probes the store, refuses
/// when it does not enforce object lock unless `software_only`, records
/// whether it does, and then gives the existing objects their retention.
/// Local directories are always software-only and need no flag.
pub fn lock_vault(
    vault: &Vault,
    location: &str,
    policy: &LockPolicy,
    who: &str,
    now: Timestamp,
    software_only: bool,
) -> Result<LockOutcome, StoreLockError> {
    let probe = probe_location(location)?;
    if let StoreProbe::S3(r) = &probe {
        if !r.enforced && !software_only {
            let c = r.failing().expect("not enforced: a check is not ok");
            return Err(StoreLockError::NotEnforced {
                location: r.location.clone(),
                check: c.name.to_string(),
                detail: c.detail.clone(),
            });
        }
    }
    let store_enforced = probe.enforced() && !software_only;
    let lock = vault.set_lock_with(policy, who, now, store_enforced)?;
    let retention = if store_enforced {
        // Store dates come from the real clock, whatever `now` says.
        let stats = vault
            .plan_store_retention(None, Timestamp::now())
            .and_then(|plan| vault.extend_store_retention(&plan))
            .map_err(|source| StoreLockError::Retention {
                location: vault.backend().location(),
                source,
            })?;
        Some(stats)
    } else {
        None
    };
    Ok(LockOutcome {
        lock,
        probe,
        retention,
    })
}
