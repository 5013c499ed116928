//! The object lock probe: checks what a bucket really enforces (versioning,
//! object lock, a refused delete of a retained version) and reports each
//! check with its evidence.

use coffer_core::{LockMode, ObjectRetention};
use jiff::Timestamp;
use serde::Serialize;

use super::blocking::ObjectLockClient;
use super::error::S3Error;

/// How one probe check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The store enforces it.
    Ok,
    /// The store does not enforce it.
    NotEnforced,
    /// The check could not be made.
    Error,
}

/// One probe check.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeCheck {
    /// `versioning`, `object_lock`, `delete_refused`.
    pub name: &'static str,
    /// Its outcome.
    pub status: CheckStatus,
    /// What was found, or why it failed.
    pub detail: String,
}

/// What [`probe`] found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The location probed (no credentials).
    pub location: String,
    /// Whether the store enforces object lock: every check is ok.
    pub enforced: bool,
    /// The checks, in order.
    pub checks: Vec<ProbeCheck>,
    /// Notes (a probe object left behind, …).
    pub notes: Vec<String>,
}

impl ProbeReport {
    /// The first check that is not ok.
    pub fn failing(&self) -> Option<&ProbeCheck> {
        self.checks.iter().find(|c| c.status != CheckStatus::Ok)
    }
}

impl ObjectLockClient {
    /// Checks what the store really enforces: versioning enabled on the
    /// bucket, object lock enabled on it, and that a version under
    /// GOVERNANCE retention cannot be deleted (a small probe object next to
    /// the vault, removed afterwards with the governance bypass if allowed).
    /// Fails only when the store cannot be reached or rejects the
    /// credentials; other failures are reported per check.
    pub fn probe(&self) -> Result<ProbeReport, S3Error> {
        let c = &self.client;
        let mut checks = Vec::new();
        let mut notes = Vec::new();
        let fatal = |e: &S3Error| e.is_transport() || e.is_auth() || e.code == "NoSuchBucket";
        let versioning = match self.block_on(c.bucket_versioning()) {
            Ok(Some(s)) if s == "Enabled" => (CheckStatus::Ok, "versioning is enabled".into()),
            Ok(Some(s)) => (
                CheckStatus::NotEnforced,
                format!("versioning is {s}: a delete removes the data"),
            ),
            Ok(None) => (
                CheckStatus::NotEnforced,
                "versioning was never enabled on the bucket: a delete removes the data".into(),
            ),
            Err(e) if fatal(&e) => return Err(e),
            Err(e) if e.not_implemented() => (
                CheckStatus::NotEnforced,
                format!("the store does not implement bucket versioning ({e})"),
            ),
            Err(e) => (CheckStatus::Error, e.to_string()),
        };
        checks.push(ProbeCheck {
            name: "versioning",
            status: versioning.0,
            detail: versioning.1,
        });
        let lock = match self.block_on(c.object_lock_configuration()) {
            Ok((true, rule)) => (
                CheckStatus::Ok,
                match rule {
                    Some(r) => format!("object lock is enabled (default retention {r})"),
                    None => "object lock is enabled (no default retention)".into(),
                },
            ),
            Ok((false, _)) => (
                CheckStatus::NotEnforced,
                "object lock is not enabled on the bucket".into(),
            ),
            Err(e) if fatal(&e) => return Err(e),
            Err(e) if e.not_implemented() => (
                CheckStatus::NotEnforced,
                format!("the store does not implement object lock ({e})"),
            ),
            Err(e) => (CheckStatus::Error, e.to_string()),
        };
        checks.push(ProbeCheck {
            name: "object_lock",
            status: lock.0,
            detail: lock.1,
        });
        checks.push(self.probe_delete(&mut notes)?);
        Ok(ProbeReport {
            location: self.location.clone(),
            enforced: checks.iter().all(|c| c.status == CheckStatus::Ok),
            checks,
            notes,
        })
    }

    fn probe_delete(&self, notes: &mut Vec<String>) -> Result<ProbeCheck, S3Error> {
        let c = &self.client;
        let path = format!("coffer-probe-{:016x}", rand::random::<u64>());
        let key = c.key(&path);
        let until = Timestamp::now() + jiff::SignedDuration::from_secs(300);
        let check = |status, detail: String| ProbeCheck {
            name: "delete_refused",
            status,
            detail,
        };
        let retention = ObjectRetention {
            mode: LockMode::Governance,
            until,
        };
        let version = match self.block_on(c.put_object(
            &path,
            b"coffer object lock probe\n",
            Some(retention),
            None,
        )) {
            Ok(v) => v,
            Err(e) if e.is_transport() || e.is_auth() => return Err(e),
            Err(e) if e.status.is_some_and(|s| s < 500) => {
                return Ok(check(
                    CheckStatus::NotEnforced,
                    format!("the store refused a write with object lock retention: {e}"),
                ))
            }
            Err(e) => return Ok(check(CheckStatus::Error, e.to_string())),
        };
        let Some(version) = version.filter(|v| v != "null") else {
            let _ = self.block_on(c.delete(&path));
            return Ok(check(
                CheckStatus::NotEnforced,
                "the store returned no version id for the probe object (no versioning): a delete removes the data".into(),
            ));
        };
        match self.block_on(c.delete_version(&path, &version, false)) {
            Err(e) if e.status == Some(403) => {
                let out = check(
                    CheckStatus::Ok,
                    format!(
                        "deleting version {version} of {key} under GOVERNANCE retention was refused ({})",
                        e.code
                    ),
                );
                if let Err(e) = self.block_on(c.delete_version(&path, &version, true)) {
                    notes.push(format!(
                        "could not remove the probe object {key} (version {version}) with the governance bypass ({e}); \
                         its retention ends at {until:.0}, delete it after that"
                    ));
                }
                Ok(out)
            }
            Ok(()) => Ok(check(
                CheckStatus::NotEnforced,
                format!("the store deleted version {version} of {key} although it was under GOVERNANCE retention until {until:.0}"),
            )),
            Err(e) if e.is_transport() => Err(e),
            Err(e) => Ok(check(
                CheckStatus::Error,
                format!("deleting the probe version failed in an unexpected way: {e}"),
            )),
        }
    }
}
