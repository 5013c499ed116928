//! Reading and compacting the fleet records of a vault
//! ([`crate::format::fleet`]).
//!
//! - [`read`] lists `fleet/`, opens the objects it has not seen before (a
//!   [`FleetCache`] keeps the ones it has: they are written once, so a name
//!   once read never changes), validates every record, drops duplicates by
//!   record id and returns them oldest first, with what it had to reject.
//! - [`compact`] merges the objects whose records are all older than
//!   [`CompactOptions::older_than`] into one (or a few) objects, keeping
//!   only records younger than the records' retention and, of heartbeats,
//!   only each host's newest; it writes the merged objects first and
//!   deletes the originals after, so a crash between the two leaves
//!   duplicates that readers drop, never a loss. Deletes the store refuses
//!   (an object still under S3 Object Lock retention) are counted and left;
//!   the next compaction tries again.
//!
//! The stored form's types are re-exported here, so `coffer_core::fleet`
//! names both.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rayon::prelude::*;
use serde::Serialize;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::fleet;
pub use crate::format::fleet::{load, save};
pub use crate::format::fleet::{
    FleetObject, FleetRecord, Heartbeat, JobOutcome, RecordKind, SourceObjective,
    FLEET_FORMAT_VERSION, MAX_ERROR_LEN, MAX_FLEET_OBJECT_BYTES, MAX_FUTURE_SKEW, MAX_NAME_LEN,
};
use crate::format::id::Id;
use crate::vault::handle::Vault;

/// The records per merged object: a merged object stays well below
/// [`fleet::MAX_FLEET_OBJECT_BYTES`] (a record is about 300–600 bytes).
pub const RECORDS_PER_OBJECT: usize = 10_000;

/// Fleet objects already read, by name (they never change).
#[derive(Debug, Default)]
pub struct FleetCache {
    objects: HashMap<Id, Arc<FleetObject>>,
}

impl FleetCache {
    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct FleetView {
    /// Valid records, one per record id, oldest first.
    pub records: Vec<FleetRecord>,
    /// Objects that could not be opened (forged, corrupt, too new).
    pub damaged: Vec<Error>,
    /// Records that opened but were refused, with why (`fleet/<id>: …`).
    pub rejected: Vec<String>,
    /// Objects listed.
    pub objects: usize,
    /// Objects fetched by this read (the rest came from the cache).
    pub fetched: usize,
}

/// Reads every fleet record of the vault. `now` is the reader's clock.
pub fn read(vault: &Vault, cache: &mut FleetCache, now: Timestamp) -> Result<FleetView> {
    let listed = vault.list(ObjectKind::Fleet)?;
    let present: HashSet<Id> = listed.iter().map(|(id, _)| *id).collect();
    cache.objects.retain(|id, _| present.contains(id));
    let new: Vec<&(Id, u64)> = listed
        .iter()
        .filter(|(id, _)| !cache.objects.contains_key(id))
        .collect();
    let loaded: Vec<(Id, Result<FleetObject>)> = new
        .par_iter()
        .map(|(id, size)| (*id, fleet::load(vault, id, *size)))
        .collect();
    let mut view = FleetView {
        objects: listed.len(),
        fetched: loaded.len(),
        ..FleetView::default()
    };
    for (id, r) in loaded {
        match r {
            Ok(obj) => {
                cache.objects.insert(id, Arc::new(obj));
            }
            // Compacted away between the listing and the read.
            Err(Error::Storage { source, .. }) if source.not_found => {}
            Err(e @ Error::Damaged { .. }) => view.damaged.push(e),
            Err(e) => return Err(e),
        }
    }
    let mut seen = HashSet::new();
    for (id, obj) in sorted(cache) {
        for r in &obj.records {
            match r.validate(now) {
                Ok(()) => {
                    if seen.insert(r.id.clone()) {
                        view.records.push(r.clone());
                    }
                }
                Err(why) => view.rejected.push(format!(
                    "{}: a record of host {:?}: {why}",
                    ObjectKind::Fleet.path(&id),
                    short(&r.host)
                )),
            }
        }
    }
    view.records
        .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    Ok(view)
}

fn sorted(cache: &FleetCache) -> Vec<(Id, Arc<FleetObject>)> {
    let mut v: Vec<(Id, Arc<FleetObject>)> =
        cache.objects.iter().map(|(k, v)| (*k, v.clone())).collect();
    v.sort_by_key(|(id, _)| *id);
    v
}

fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// How [`compact`] works.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// "Now" on the compactor's clock.
    pub now: Timestamp,
    /// Only objects whose newest record is older than this are merged
    /// (recent objects are left for readers that poll often).
    pub older_than: SignedDuration,
    /// Records older than this are dropped (the records' own retention).
    pub keep_for: SignedDuration,
    /// Only plan: write and delete nothing.
    pub dry_run: bool,
}

/// What [`compact`] did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactStats {
    /// Objects merged (read and, unless dry, deleted).
    pub objects_merged: usize,
    /// Merged objects written.
    pub objects_written: usize,
    /// Records kept in the merged objects.
    pub records_kept: usize,
    /// Records dropped: past the retention, older heartbeats of a host,
    /// duplicates and invalid ones.
    pub records_dropped: usize,
    /// Originals the store would not delete yet (left for the next run).
    pub delete_failed: usize,
}

/// Merges old fleet objects; see the module doc.
pub fn compact(
    vault: &Vault,
    cache: &mut FleetCache,
    opts: &CompactOptions,
) -> Result<CompactStats> {
    read(vault, cache, opts.now)?;
    let cutoff = opts.now - opts.older_than;
    let expiry = opts.now - opts.keep_for;
    let old: Vec<(Id, Arc<FleetObject>)> = sorted(cache)
        .into_iter()
        .filter(|(_, o)| o.records.iter().all(|r| r.at < cutoff))
        .collect();
    let mut stats = CompactStats::default();
    // A single object that needs no dropping is already compact.
    if old.len() < 2
        && !old
            .iter()
            .any(|(_, o)| o.records.iter().any(|r| r.at < expiry))
    {
        return Ok(stats);
    }
    let mut seen = HashSet::new();
    let mut newest_beat: BTreeMap<String, Timestamp> = BTreeMap::new();
    for (_, o) in &old {
        for r in &o.records {
            if let RecordKind::Heartbeat(_) = r.what {
                let e = newest_beat.entry(r.host.clone()).or_insert(r.at);
                *e = (*e).max(r.at);
            }
        }
    }
    let mut kept: Vec<FleetRecord> = Vec::new();
    for (_, o) in &old {
        for r in &o.records {
            let keep = r.validate(opts.now).is_ok()
                && r.at >= expiry
                && seen.insert(r.id.clone())
                && match r.what {
                    RecordKind::Heartbeat(_) => newest_beat.get(&r.host) == Some(&r.at),
                    RecordKind::Job(_) => true,
                };
            if keep {
                kept.push(r.clone());
            } else {
                stats.records_dropped += 1;
            }
        }
    }
    kept.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    stats.objects_merged = old.len();
    stats.records_kept = kept.len();
    stats.objects_written = kept.len().div_ceil(RECORDS_PER_OBJECT);
    if opts.dry_run {
        return Ok(stats);
    }
    for part in kept.chunks(RECORDS_PER_OBJECT) {
        fleet::save(vault, part.to_vec())?;
    }
    for (id, _) in &old {
        match vault.backend().delete(&ObjectKind::Fleet.path(id)) {
            Ok(()) => {
                cache.objects.remove(id);
            }
            Err(_) => stats.delete_failed += 1,
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::keys::Secret;
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;

    fn vault() -> Vault {
        Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap()
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn beat(host: &str, at: &str) -> FleetRecord {
        FleetRecord::new(
            host,
            t(at),
            RecordKind::Heartbeat(Heartbeat {
                every_secs: 60,
                agent: "serve".into(),
                version: "0.1.0".into(),
                sources: vec![],
            }),
        )
    }

    fn job(host: &str, at: &str, state: &str) -> FleetRecord {
        FleetRecord::new(
            host,
            t(at),
            RecordKind::Job(JobOutcome {
                kind: "backup".into(),
                state: state.into(),
                vault: "main".into(),
                source: Some("docs".into()),
                rule: Some("p/daily".into()),
                started: t(at) - SignedDuration::from_secs(5),
                ended: Some(t(at)),
                bytes_read: Some(10),
                bytes_added: Some(5),
                snapshot: Some("abcd1234".into()),
                restore_secs: None,
                error: None,
            }),
        )
    }

    #[test]
    fn read_validates_caches_and_drops_duplicates() {
        let v = vault();
        let now = t("2026-12-04T12:00:00Z");
        let a = job("web-1", "2026-12-04T10:00:00Z", "COMPLETED");
        fleet::save(&v, vec![a.clone()]).unwrap();
        fleet::save(&v, vec![a.clone(), beat("web-2", "2026-12-04T11:00:00Z")]).unwrap();
        let mut bad = job("web-3", "2026-12-04T11:30:00Z", "COMPLETED");
        bad.host = "evil\u{1b}[2J".into();
        let mut future = beat("web-4", "2026-12-04T11:00:00Z");
        future.at = t("2026-12-07T00:00:00Z");
        fleet::save(&v, vec![bad, future]).unwrap();
        let mut cache = FleetCache::default();
        let view = read(&v, &mut cache, now).unwrap();
        assert_eq!(view.records.len(), 2, "{:?}", view.records);
        assert_eq!(view.records[0].host, "web-1");
        assert_eq!(view.rejected.len(), 2, "{:?}", view.rejected);
        assert_eq!((view.objects, view.fetched), (3, 3));
        let again = read(&v, &mut cache, now).unwrap();
        assert_eq!((again.objects, again.fetched), (3, 0));
        assert_eq!(again.records.len(), 2);
    }

    #[test]
    fn a_damaged_object_is_reported_and_the_rest_read() {
        let v = vault();
        fleet::save(&v, vec![beat("a", "2026-12-04T10:00:00Z")]).unwrap();
        // An object written without the key: it cannot authenticate.
        v.backend()
            .write(&format!("fleet/{}", "ab".repeat(32)), b"forged".to_vec())
            .unwrap();
        let view = read(&v, &mut FleetCache::default(), t("2026-12-04T12:00:00Z")).unwrap();
        assert_eq!(view.records.len(), 1);
        assert_eq!(view.damaged.len(), 1, "{:?}", view.damaged);
        assert!(
            view.damaged[0].to_string().contains("fleet/abab"),
            "{}",
            view.damaged[0]
        );
    }

    #[test]
    fn compact_merges_old_objects_keeps_jobs_and_the_newest_heartbeat() {
        let v = vault();
        for h in 0..6 {
            fleet::save(&v, vec![beat("a", &format!("2026-12-04T0{h}:00:00Z"))]).unwrap();
        }
        fleet::save(&v, vec![job("a", "2026-12-04T03:30:00Z", "FAILED")]).unwrap();
        fleet::save(&v, vec![job("a", "2026-11-01T03:30:00Z", "COMPLETED")]).unwrap();
        // Recent: left alone.
        fleet::save(&v, vec![beat("a", "2026-12-04T11:59:00Z")]).unwrap();
        let mut cache = FleetCache::default();
        let opts = CompactOptions {
            now: t("2026-12-04T12:00:00Z"),
            older_than: SignedDuration::from_hours(1),
            keep_for: SignedDuration::from_hours(24 * 30),
            dry_run: true,
        };
        let dry = compact(&v, &mut cache, &opts).unwrap();
        assert_eq!(v.list(ObjectKind::Fleet).unwrap().len(), 9);
        assert_eq!(dry.objects_merged, 8);
        let stats = compact(
            &v,
            &mut cache,
            &CompactOptions {
                dry_run: false,
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(stats, dry);
        assert_eq!(
            stats,
            CompactStats {
                objects_merged: 8,
                objects_written: 1,
                records_kept: 2,
                records_dropped: 6,
                delete_failed: 0
            }
        );
        assert_eq!(v.list(ObjectKind::Fleet).unwrap().len(), 2);
        let view = read(&v, &mut FleetCache::default(), opts.now).unwrap();
        let kinds: Vec<String> = view
            .records
            .iter()
            .map(|r| format!("{}:{}", r.at, r.job().map_or("beat", |j| j.state.as_str())))
            .collect();
        assert_eq!(
            kinds,
            [
                "2026-12-04T03:30:00Z:FAILED",
                "2026-12-04T05:00:00Z:beat",
                "2026-12-04T11:59:00Z:beat"
            ]
        );
        // Nothing more to do.
        let again = compact(
            &v,
            &mut cache,
            &CompactOptions {
                dry_run: false,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(again.objects_merged, 0);
    }
}
