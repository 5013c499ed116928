//! `copy`: copies snapshots into another vault, which has its own key.
//!
//! Each vault derives its chunk ids from its own key, so the same plaintext
//! has another id in the destination, and every tree (which lists chunk and
//! subtree ids) is rewritten bottom-up with destination ids. Chunk
//! boundaries are the source's: the destination never re-chunks, so
//! successive copies of similar snapshots deduplicate against each other.
//!
//! One snapshot is copied in two passes:
//!
//! 1. **Data.** Walk the source trees (each verified as it is read) and
//!    collect the content chunks that have no trusted mapping yet. They are
//!    fetched in batches through [`restore_contents`] (one ranged read per
//!    group of nearby blobs, every blob verified against its source id), the
//!    destination id is computed, and a chunk the destination lacks is saved
//!    through the destination's [`Archiver`].
//! 2. **Trees.** Walk again, bottom-up, and save each rewritten tree.
//!
//! Then the archiver finishes (packs, then index objects), a `copymap/`
//! object records the source → destination ids of this snapshot, and the
//! snapshot is written last, with an [`Origin`]. That is the backup's write
//! order, so a kill at any instant leaves a destination that `check` passes.
//!
//! **The copy map.** The union of the destination's `copymap/` objects for
//! one source vault maps source blob ids (data and trees) to destination
//! ids. An entry is trusted only while the destination's index holds the
//! destination blob, so a map entry never makes a snapshot refer to a blob
//! the destination lacks. A trusted tree entry skips the whole subtree: it
//! is not read from the source again. A trusted data entry skips reading
//! that chunk. Memory: the map is a hash map of two ids per source blob
//! (about 100 bytes each with the table's slack).
//!
//! **Resumable and idempotent.** A snapshot whose [`Origin`] is already in
//! the destination is skipped. A killed copy leaves packs and index objects
//! (the archiver writes an index object every [`CopyOptions::index_flush_bytes`]),
//! so the next run finds those chunks in the destination's index and sends
//! only what is still missing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::index::Index;
use crate::format::pack::BlobKind;
use crate::format::snapshot::{Origin, Snapshot};
use crate::format::tree::{ChunkRef, Tree};
use crate::ops::archiver::{Archiver, BackupOptions, Cancel};
use crate::ops::restore::{restore_contents, Delivery, Part};
use crate::vault::handle::Vault;

/// Directory of the copy-map objects in a destination vault.
pub const COPYMAP_PREFIX: &str = "copymap/";
/// Associated data of a sealed copy-map object.
const COPYMAP_AAD: &[u8] = b"coffer.copymap";
/// Plaintext bytes of chunks fetched from the source in one batch.
const BATCH_BYTES: u64 = 64 << 20;
/// Decoded source trees kept between the two passes (by encoded size);
/// beyond this, pass 2 loads them again.
const KEEP_TREES_BYTES: usize = 64 << 20;

/// Options of [`copy_snapshots`].
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// zstd level of the blobs written to the destination (0 = none). Default 3.
    pub compression_level: i32,
    /// Tags added to each copied snapshot (beside the source's tags).
    pub tags: Vec<String>,
    /// Read and compute everything, write nothing to the destination.
    pub dry_run: bool,
    /// Set from another thread to stop the copy; the snapshot being copied
    /// fails with [`Error::Interrupted`] and the rest are not attempted.
    pub cancel: Option<Cancel>,
    /// The archiver writes an index object once this many stored bytes are
    /// uploaded but unindexed, bounding what a kill loses. Default 64 MiB.
    pub index_flush_bytes: u64,
    /// Target pack size in the destination; default the archiver's.
    pub pack_size: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            compression_level: 3,
            tags: Vec::new(),
            dry_run: false,
            cancel: None,
            index_flush_bytes: 64 << 20,
            pack_size: BackupOptions::default().pack_size,
        }
    }
}

/// What copying read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyCounters {
    /// Plaintext bytes of source blobs read and verified.
    pub bytes_read: u64,
    /// Blobs (chunks and trees) saved into the destination.
    pub blobs_sent: u64,
    /// Plaintext bytes of the blobs sent.
    pub bytes_sent: u64,
    /// Stored bytes of the blobs sent (after compression and encryption).
    pub bytes_stored: u64,
    /// Blobs not sent because the destination had them (listed in a tree
    /// that was rewritten; blobs below a reused subtree are not counted).
    pub blobs_skipped: u64,
    /// Plaintext bytes of the blobs skipped.
    pub bytes_skipped: u64,
    /// Subtrees taken from the copy map without reading them from the source.
    pub trees_reused: u64,
}

impl CopyCounters {
    fn add(&mut self, o: &CopyCounters) {
        self.bytes_read += o.bytes_read;
        self.blobs_sent += o.blobs_sent;
        self.bytes_sent += o.bytes_sent;
        self.bytes_stored += o.bytes_stored;
        self.blobs_skipped += o.blobs_skipped;
        self.bytes_skipped += o.bytes_skipped;
        self.trees_reused += o.trees_reused;
    }
}

/// What happened to one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyStatus {
    /// Copied (on a dry run: would have been).
    Copied,
    /// Not copied: the destination already holds it.
    Skipped,
    /// Failed; see [`SnapshotCopy::error`].
    Failed,
}

/// The result of copying one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotCopy {
    /// The snapshot's id in the source.
    pub source: Id,
    /// Copied, skipped or failed.
    pub status: CopyStatus,
    /// Its id in the destination: the new copy, or the copy that made it
    /// skip. `None` on failure and on a dry run.
    pub destination: Option<Id>,
    /// Why it was skipped, or the error that failed it.
    pub detail: Option<String>,
    /// What copying it read and wrote.
    pub counters: CopyCounters,
}

/// What [`copy_snapshots`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyStats {
    /// One entry per requested snapshot, in order (duplicates removed).
    pub snapshots: Vec<SnapshotCopy>,
    /// The sum over all snapshots.
    pub totals: CopyCounters,
    /// Entries of the copy map loaded from the destination.
    pub map_entries: usize,
    /// Copy-map objects that could not be read; they are a cache, so the
    /// copy went on without them (it only reads more from the source).
    pub warnings: Vec<String>,
}

impl CopyStats {
    /// Snapshots with `status`.
    pub fn count(&self, status: CopyStatus) -> usize {
        self.snapshots.iter().filter(|s| s.status == status).count()
    }

    /// The job state: `COMPLETED` when nothing failed, `PARTIAL` when some
    /// snapshots failed and others were copied or skipped, else `FAILED`.
    pub fn state(&self) -> &'static str {
        let failed = self.count(CopyStatus::Failed);
        if failed == 0 {
            "COMPLETED"
        } else if failed < self.snapshots.len() {
            "PARTIAL"
        } else {
            "FAILED"
        }
    }
}

/// One `copymap/` object: source → destination ids of the blobs of one
/// copied snapshot.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CopyMapFile {
    version: u8,
    /// The source vault's `config.id`.
    source_vault: String,
    /// (source id, destination id), sorted by source id.
    entries: Vec<(Id, Id)>,
}

/// Loads the copy map for source vault `source_vault` from `dst`. Damaged
/// objects are returned as warnings: the map is only a cache.
fn load_copymap(dst: &Vault, source_vault: &str) -> Result<(HashMap<Id, Id>, Vec<String>)> {
    let listed = dst
        .backend()
        .list(COPYMAP_PREFIX)
        .map_err(|e| dst.storage_err(e))?;
    let mut map = HashMap::new();
    let mut warnings = Vec::new();
    for o in listed {
        let Some(name) = o.path.rsplit('/').next().and_then(Id::parse) else {
            continue;
        };
        let sealed = dst
            .backend()
            .read(&o.path)
            .map_err(|e| dst.storage_err(e))?;
        let file = if dst.key().object_name(&sealed) != name {
            Err("content does not match its name")
        } else {
            dst.key()
                .open(COPYMAP_AAD, &sealed)
                .ok_or("fails authentication")
                .and_then(|p| {
                    postcard::from_bytes::<CopyMapFile>(&p).map_err(|_| "does not decode")
                })
        };
        match file {
            Ok(f) if f.source_vault == source_vault => map.extend(f.entries),
            Ok(_) => {}
            Err(why) => warnings.push(format!(
                "copy map {} in {} {why}; ignored (the copy reads more from the source instead)",
                o.path,
                dst.backend().location()
            )),
        }
    }
    Ok((map, warnings))
}

/// Seals and stores one copy-map object; returns its name.
fn save_copymap(dst: &Vault, file: &CopyMapFile) -> Result<Id> {
    let plain = postcard::to_stdvec(file).expect("serializable");
    let sealed = dst.key().seal(COPYMAP_AAD, &plain);
    let id = dst.key().object_name(&sealed);
    dst.backend()
        .write(&format!("{COPYMAP_PREFIX}{}", id.to_hex()), sealed)
        .map_err(|e| dst.storage_err(e))?;
    Ok(id)
}

/// State shared by the snapshots of one run.
struct Run<'a> {
    src: &'a Vault,
    dst: &'a Vault,
    src_index: Index,
    dst_index: Index,
    /// The trusted-when-present map: source blob id → destination blob id.
    map: HashMap<Id, Id>,
    /// Destination blobs saved by earlier snapshots of this run.
    sent: HashSet<Id>,
    opts: &'a CopyOptions,
    /// This copy's writer session in the destination (none on a dry run).
    session: Option<crate::SessionGuard>,
}

impl Run<'_> {
    fn dst_has(&self, id: &Id) -> bool {
        // Not a blob whose only copies a prune plan condemns: it may be
        // deleted before this copy's snapshot is written.
        self.dst_index.contains_live(id) || self.sent.contains(id)
    }

    /// The destination id of source blob `id`, if known and present there.
    fn trusted(&self, id: &Id, new: &HashMap<Id, Id>) -> Option<Id> {
        new.get(id)
            .copied()
            .or_else(|| self.map.get(id).copied().filter(|d| self.dst_has(d)))
    }

    fn cancelled(&self) -> Result<()> {
        match &self.opts.cancel {
            Some(c) => c.check("the copy"),
            None => Ok(()),
        }
    }
}

/// One snapshot's work in progress.
struct Job<'r, 'a> {
    run: &'r Run<'a>,
    archiver: Archiver<'r>,
    /// Entries found for this snapshot (source → destination).
    new: HashMap<Id, Id>,
    /// Destination blobs this snapshot's archiver saved.
    saved: Vec<Id>,
    /// Chunks waiting to be fetched, and their plaintext bytes.
    batch: Vec<ChunkRef>,
    batched: HashSet<Id>,
    batch_bytes: u64,
    /// Trees already walked in pass 1, and the decoded ones kept for pass 2.
    walked: HashSet<Id>,
    kept: HashMap<Id, Tree>,
    kept_bytes: usize,
    c: CopyCounters,
    /// Names the snapshot in error messages.
    what: String,
}

impl Job<'_, '_> {
    /// Pass 1: queue every content chunk below `tree` that is not mapped yet.
    fn walk_data(&mut self, tree: &Id) -> Result<()> {
        if !self.walked.insert(*tree) || self.run.trusted(tree, &self.new).is_some() {
            return Ok(());
        }
        self.run.cancelled()?;
        let t = self.run.src.load_tree(&self.run.src_index, tree)?;
        let size = t.encode().len();
        self.c.bytes_read += size as u64;
        for n in &t.nodes {
            for ch in &n.content {
                if self.run.trusted(&ch.id, &self.new).is_some() {
                    self.c.blobs_skipped += 1;
                    self.c.bytes_skipped += ch.len as u64;
                } else if self.batched.insert(ch.id) {
                    self.batch.push(*ch);
                    self.batch_bytes += ch.len as u64;
                    if self.batch_bytes >= BATCH_BYTES {
                        self.flush()?;
                    }
                }
            }
            if let Some(sub) = &n.subtree {
                self.walk_data(sub)?;
            }
        }
        if self.kept_bytes + size <= KEEP_TREES_BYTES {
            self.kept_bytes += size;
            self.kept.insert(*tree, t);
        }
        Ok(())
    }

    /// Fetches the queued chunks from the source (verified) and saves those
    /// the destination lacks.
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batched.clear();
        self.batch_bytes = 0;
        let parts = batch
            .iter()
            .map(|c| Part::of(&self.run.src_index, c, || self.what.clone()))
            .collect::<Result<Vec<Part>>>()?;
        let found: Mutex<Vec<(Id, Id, bool)>> = Mutex::new(Vec::with_capacity(batch.len()));
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let run = self.run;
        let archiver = &self.archiver;
        let what = &self.what;
        let fetched = restore_contents(
            run.src,
            &run.src_index,
            parts.len(),
            |f| std::slice::from_ref(&parts[f]),
            Delivery::Whole,
            |f, _, data, _| {
                let did = run.dst.key().chunk_id(data);
                let send = !run.dst_has(&did);
                if send {
                    if let Err(e) = archiver.save_blob(BlobKind::Data, data) {
                        let mut slot = failed.lock().unwrap();
                        if slot.is_none() {
                            *slot = Some(e);
                        }
                        return Err(std::io::Error::other("saving into the destination failed"));
                    }
                }
                found.lock().unwrap().push((batch[f].id, did, send));
                Ok(())
            },
            |_| what.clone(),
        );
        if let Some(e) = failed.into_inner().unwrap() {
            return Err(e);
        }
        let fetched = fetched?;
        self.c.bytes_read += fetched.bytes;
        let lens: HashMap<Id, u32> = batch.iter().map(|c| (c.id, c.len)).collect();
        for (sid, did, send) in found.into_inner().unwrap() {
            let len = lens[&sid] as u64;
            if send {
                self.c.blobs_sent += 1;
                self.c.bytes_sent += len;
                self.saved.push(did);
            } else {
                self.c.blobs_skipped += 1;
                self.c.bytes_skipped += len;
            }
            self.new.insert(sid, did);
        }
        Ok(())
    }

    /// Pass 2: rewrites `tree` with destination ids (bottom-up) and saves
    /// it; returns its destination id.
    fn rewrite(&mut self, tree: &Id) -> Result<Id> {
        if let Some(d) = self.run.trusted(tree, &self.new) {
            if self.run.map.contains_key(tree) && !self.new.contains_key(tree) {
                self.c.trees_reused += 1;
            }
            return Ok(d);
        }
        self.run.cancelled()?;
        let mut t = match self.kept.remove(tree) {
            Some(t) => t,
            None => self.run.src.load_tree(&self.run.src_index, tree)?,
        };
        for n in &mut t.nodes {
            for ch in &mut n.content {
                ch.id = self.run.trusted(&ch.id, &self.new).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "internal error: chunk {} of tree {tree} was not copied",
                        ch.id
                    ))
                })?;
            }
            if let Some(sub) = n.subtree {
                n.subtree = Some(self.rewrite(&sub)?);
            }
        }
        let bytes = t.encode();
        let did = self.run.dst.key().chunk_id(&bytes);
        if self.run.dst_has(&did) || self.archiver.has_blob(&did) {
            self.c.blobs_skipped += 1;
            self.c.bytes_skipped += bytes.len() as u64;
        } else {
            self.archiver.save_blob(BlobKind::Tree, &bytes)?;
            self.c.blobs_sent += 1;
            self.c.bytes_sent += bytes.len() as u64;
            self.saved.push(did);
        }
        self.new.insert(*tree, did);
        Ok(did)
    }
}

/// Copies snapshots `ids` of `src` into `dst` (see the module docs). A
/// snapshot that fails is reported in its [`SnapshotCopy`] and the others
/// are still attempted; `Err` means the run could not start (a vault's
/// listing or index failed) or the two vaults are one.
pub fn copy_snapshots(
    src: &Vault,
    dst: &Vault,
    ids: &[Id],
    opts: &CopyOptions,
) -> Result<CopyStats> {
    let src_vault = src.config().id.clone();
    let dst_vault = dst.config().id.clone();
    if src_vault == dst_vault {
        return Err(Error::InvalidInput(format!(
            "{} and {} are the same vault (id {src_vault}): copy needs another vault as --to",
            src.backend().location(),
            dst.backend().location()
        )));
    }
    // A writer session in the destination, before anything is read there:
    // prune then knows this copy may reference what it is about to delete
    // (see docs/format.md, "Writer sessions").
    let session = if opts.dry_run {
        None
    } else {
        Some(crate::SessionGuard::start(dst, crate::SessionKind::Backup)?)
    };
    // Snapshots the destination holds, and which source snapshots they copy.
    let (dst_snaps, _) = dst.snapshots_lenient()?;
    let dst_ids: HashSet<Id> = dst_snaps.iter().map(|(id, _)| *id).collect();
    let mut copies: HashMap<Id, Id> = dst_snaps
        .iter()
        .filter_map(|(id, s)| {
            s.origin
                .as_ref()
                .filter(|o| o.vault == src_vault)
                .map(|o| (o.snapshot, *id))
        })
        .collect();
    let (map, warnings) = load_copymap(dst, &src_vault)?;
    let mut run = Run {
        src,
        dst,
        src_index: src.load_index()?,
        dst_index: dst.load_index()?,
        map,
        sent: HashSet::new(),
        opts,
        session,
    };
    let mut stats = CopyStats {
        map_entries: run.map.len(),
        warnings,
        ..Default::default()
    };
    let mut done = HashSet::new();
    for id in ids {
        if !done.insert(*id) {
            continue;
        }
        let mut result = SnapshotCopy {
            source: *id,
            status: CopyStatus::Skipped,
            destination: None,
            detail: None,
            counters: CopyCounters::default(),
        };
        if let Some(d) = copies.get(id) {
            result.destination = Some(*d);
            result.detail = Some(format!(
                "already in {} as snapshot {}",
                dst.backend().location(),
                d.short()
            ));
            stats.snapshots.push(result);
            continue;
        }
        let snap = match src.load_snapshot(id) {
            Ok(s) => s,
            Err(e) => {
                result.status = CopyStatus::Failed;
                result.detail = Some(e.to_string());
                stats.snapshots.push(result);
                continue;
            }
        };
        // A copy being copied back to the vault it came from.
        if let Some(o) = snap.origin.as_ref().filter(|o| o.vault == dst_vault) {
            if dst_ids.contains(&o.snapshot) {
                result.destination = Some(o.snapshot);
                result.detail = Some(format!(
                    "it is a copy of snapshot {} of {}",
                    o.snapshot.short(),
                    dst.backend().location()
                ));
                stats.snapshots.push(result);
                continue;
            }
        }
        match copy_one(&mut run, id, &snap, &copies, &src_vault) {
            Ok((dst_id, c)) => {
                result.status = CopyStatus::Copied;
                result.destination = dst_id;
                result.counters = c;
                if let Some(d) = dst_id {
                    copies.insert(*id, d);
                }
            }
            Err(f) => {
                let (e, c) = *f;
                result.status = CopyStatus::Failed;
                result.detail = Some(e.to_string());
                result.counters = c;
                let stop = matches!(e, Error::Interrupted { .. });
                stats.totals.add(&result.counters);
                stats.snapshots.push(result);
                if stop {
                    break;
                }
                continue;
            }
        }
        stats.totals.add(&result.counters);
        stats.snapshots.push(result);
    }
    Ok(stats)
}

/// A failed snapshot: the error and what was done before it.
type Failure = Box<(Error, CopyCounters)>;

/// Copies one snapshot; returns its new id (`None` on a dry run).
fn copy_one(
    run: &mut Run<'_>,
    id: &Id,
    snap: &Snapshot,
    copies: &HashMap<Id, Id>,
    src_vault: &str,
) -> std::result::Result<(Option<Id>, CopyCounters), Failure> {
    let opts = run.opts;
    let bopts = BackupOptions {
        compression_level: opts.compression_level,
        pack_size: opts.pack_size,
        dry_run: opts.dry_run,
        cancel: opts.cancel.clone(),
        index_flush_bytes: opts.index_flush_bytes,
        ..Default::default()
    };
    let (root, new, saved, c) = {
        let r: &Run = run;
        let mut job = Job {
            run: r,
            archiver: Archiver::new(r.dst, &r.dst_index, bopts),
            new: HashMap::new(),
            saved: Vec::new(),
            batch: Vec::new(),
            batched: HashSet::new(),
            batch_bytes: 0,
            walked: HashSet::new(),
            kept: HashMap::new(),
            kept_bytes: 0,
            c: CopyCounters::default(),
            what: format!("snapshot {} of {}", id.short(), r.src.backend().location()),
        };
        let root = job
            .walk_data(&snap.tree)
            .and_then(|()| job.flush())
            .and_then(|()| job.rewrite(&snap.tree));
        let Job {
            archiver,
            new,
            saved,
            mut c,
            ..
        } = job;
        c.bytes_stored = archiver.stats().bytes_stored.load(Ordering::Relaxed);
        let root = match root {
            Ok(r) => r,
            Err(e) => return Err(Box::new((e, c))),
        };
        // Packs and index objects are durable after this.
        if let Err(e) = archiver.finish() {
            return Err(Box::new((e, c)));
        }
        (root, new, saved, c)
    };
    run.src.forget_cached_trees();
    if !opts.dry_run && !new.is_empty() {
        let mut entries: Vec<(Id, Id)> = new.iter().map(|(a, b)| (*a, *b)).collect();
        entries.sort();
        let file = CopyMapFile {
            version: 1,
            source_vault: src_vault.to_string(),
            entries,
        };
        if let Err(e) = save_copymap(run.dst, &file) {
            return Err(Box::new((e, c)));
        }
    }
    run.sent.extend(saved);
    run.map.extend(new);
    let mut out = snap.clone();
    out.tree = root;
    for t in &opts.tags {
        if !out.tags.contains(t) {
            out.tags.push(t.clone());
        }
    }
    // The parent names a source snapshot; in the destination it can only
    // name that snapshot's copy.
    out.parent = snap.parent.and_then(|p| copies.get(&p).copied());
    out.program_version = crate::VERSION.to_string();
    out.origin = Some(Origin {
        vault: src_vault.to_string(),
        snapshot: *id,
    });
    if opts.dry_run {
        return Ok((None, c));
    }
    if let Some(g) = &run.session {
        if let Err(e) = g.check_fresh() {
            return Err(Box::new((e, c)));
        }
    }
    match run.dst.save_snapshot(&out) {
        Ok(d) => Ok((Some(d), c)),
        Err(e) => Err(Box::new((e, c))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(status: CopyStatus) -> SnapshotCopy {
        SnapshotCopy {
            source: Id::default(),
            status,
            destination: None,
            detail: None,
            counters: CopyCounters::default(),
        }
    }

    #[test]
    fn job_state_follows_the_snapshots() {
        let stats = |v: Vec<CopyStatus>| CopyStats {
            snapshots: v.into_iter().map(one).collect(),
            ..Default::default()
        };
        use CopyStatus::*;
        assert_eq!(stats(vec![]).state(), "COMPLETED");
        assert_eq!(stats(vec![Copied, Skipped]).state(), "COMPLETED");
        assert_eq!(stats(vec![Copied, Failed]).state(), "PARTIAL");
        assert_eq!(stats(vec![Failed, Failed]).state(), "FAILED");
    }

    #[test]
    fn copymap_file_roundtrips_in_postcard() {
        let f = CopyMapFile {
            version: 1,
            source_vault: "ab".repeat(16),
            entries: vec![(Id([1; 32]), Id([2; 32]))],
        };
        let bytes = postcard::to_stdvec(&f).unwrap();
        // version, then the 32-digit vault id with its length, then one entry.
        assert_eq!(bytes.len(), 1 + 1 + 32 + 1 + 64);
        let back: CopyMapFile = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.entries, f.entries);
    }
}
