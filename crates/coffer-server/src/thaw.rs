//! A daemon job that restores a snapshot of a vault in an archive storage
//! class (a restore through the API, a restore test) waits as PENDING while
//! the data packs it needs thaw, then goes on to RUNNING. The thaw itself
//! is [`coffer_core::thaw_snapshot`] (the one every front end calls), with
//! the vault's `thaw_tier` and `thaw_days`; this only records it in the
//! catalog: the job turns PENDING when a pack was not readable yet, and
//! each look that changes the count adds an event saying how many packs
//! are thawing.

use coffer_core::{thaw_snapshot, Cancel, Id, Index, Snapshot, ThawOptions, ThawReport, Vault};

use crate::catalog::{Catalog, EventLevel, JobId, JobState};
use crate::config::VaultConfig;
use crate::model::{ServerError, ServerResult};

/// The snapshot a job restores.
pub struct Restoring<'a> {
    /// The vault, opened.
    pub vault: &'a Vault,
    /// Its index.
    pub index: &'a Index,
    /// The snapshot's id.
    pub id: &'a Id,
    /// The snapshot.
    pub snap: &'a Snapshot,
}

/// Thaws what snapshot `s.id` of vault `vc` needs for job `job` (CREATED),
/// recording it as above; returns at once, with `None`, for a vault
/// without an archive class. `cancel` stops the wait.
pub fn thaw_for_job(
    catalog: &Catalog,
    job: JobId,
    vc: &VaultConfig,
    s: &Restoring<'_>,
    cancel: Option<Cancel>,
) -> ServerResult<Option<ThawReport>> {
    let (vault, index, id, snap) = (s.vault, s.index, s.id, s.snap);
    if vault.backend().archive_class().is_none() {
        return Ok(None);
    }
    let opts = ThawOptions {
        tier: vc.thaw_tier,
        days: vc.thaw_days,
        wait: true,
        poll: coffer_core::thaw::default_poll(vc.thaw_tier),
        cancel,
    };
    let mut pending = false;
    let mut last = None;
    let r = thaw_snapshot(vault, index, id, snap, &opts, &mut |r| {
        let line = line(r, id);
        let result = if !pending && (r.requested > 0 || r.already_thawing > 0 || !r.complete()) {
            pending = true;
            // A daemon's job may be PENDING already (waiting for a first
            // backup): the thaw is then an event of that wait.
            match catalog.get_job(job) {
                Ok(j) if j.state == JobState::Pending => catalog
                    .record_event(job, EventLevel::Info, &line)
                    .map(|_| ()),
                _ => catalog.set_pending(job, &line),
            }
        } else if pending && last != Some((r.ready, r.thawing)) {
            catalog
                .record_event(job, EventLevel::Info, &line)
                .map(|_| ())
        } else {
            Ok(())
        };
        last = Some((r.ready, r.thawing));
        if let Err(e) = result {
            tracing::warn!(job = job.0, "cannot record the thaw in the catalog: {e}");
        }
    })
    .map_err(|e| {
        ServerError::from(e).context(format!(
            "thawing snapshot {} of vault `{}`",
            id.short(),
            vc.name
        ))
    })?;
    Ok(Some(r))
}

/// `thawing 3 of 10 data packs of snapshot 1a2b3c4d (GLACIER, tier
/// Standard, 7 days): 7 ready; 3 requested now, 0 already thawing`.
fn line(r: &ThawReport, id: &Id) -> String {
    if r.complete() {
        return format!(
            "the {} of snapshot {} ({}) are thawed ({} requested by this job, {} thawing before it); restoring",
            coffer_core::human_count(r.packs as u64, "data pack"),
            id.short(),
            r.class.as_deref().unwrap_or_default(),
            r.requested,
            r.already_thawing
        );
    }
    format!(
        "thawing {} of {} of snapshot {} ({}, tier {}, {} days): {} ready; {} requested by this job, {} thawing before it",
        r.thawing,
        coffer_core::human_count(r.packs as u64, "data pack"),
        id.short(),
        r.class.as_deref().unwrap_or_default(),
        r.tier,
        r.days,
        r.ready,
        r.requested,
        r.already_thawing
    )
}
