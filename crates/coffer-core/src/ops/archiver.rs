//! The backup pipeline.
//!
//! Sources (the files walker, database streams) call [`Archiver::save_stream`]
//! (or [`Archiver::save_chunks`] with their own cut points),
//! [`Archiver::save_bytes`] and [`Archiver::save_tree`] from many threads at
//! once. Each chunk is hashed, checked against the index and the chunks
//! already saved by this run, compressed and sealed on the calling thread
//! (one large stream at a time fans its chunks out over the rayon pool), and
//! appended to the open pack of its kind. Where the backend can stage
//! objects (a local disk), a pack is written on as it fills and its name
//! hashed along, so no pack is held in memory and a full one queues for its
//! commit. Otherwise (S3) a full pack is handed to an uploader thread without
//! a queue while its builder stays locked, so packs take at most
//! `pack_size × (1 + uploaders)`. On top of that: a chunk and a sealed chunk
//! per thread and, for the stream that fans out, one batch of at most two
//! chunks and 2 MiB of copies per thread. Uploaders: one for a local disk,
//! four for S3.
//!
//! Order of writes, which makes a kill at any instant safe: a pack is
//! uploaded before any index object lists it; index objects are written
//! before the snapshot; the snapshot is written last. A killed backup leaves
//! packs and index objects that no snapshot references; prune removes them.

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::chunker::{ChunkSource, Chunker};
use crate::format::id::Id;
use crate::format::index::{Index, IndexFile, IndexPack};
use crate::format::pack::{seal_blob_into, BlobKind, FinishedPack, PackBuilder};
use crate::format::tree::{ChunkRef, Tree};
use crate::ops::progress::{add, Progress};
use crate::vault::handle::Vault;

/// Options of a backup.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// zstd level (0 = no compression). Default 3.
    pub compression_level: i32,
    /// Target pack size in bytes. Default 8 MiB.
    pub pack_size: usize,
    /// Uploader threads; 0 (the default) takes the backend's
    /// [`Backend::concurrent_writes`](crate::Backend::concurrent_writes).
    pub uploaders: usize,
    /// Compute everything but write nothing.
    pub dry_run: bool,
    /// Set from another thread to stop the backup cleanly: the next blob
    /// saved fails with [`Error::Interrupted`] and no snapshot is written.
    pub cancel: Option<Cancel>,
    /// Also write an index object once this many stored bytes of packs are
    /// uploaded but not yet indexed (0, the default: only every 50,000
    /// blobs). A kill loses the work of unindexed packs, so `copy` sets
    /// this to a few dozen MiB to make a resumed copy send little again.
    pub index_flush_bytes: u64,
    /// Live counters to add to as the backup goes (bytes read from the
    /// source, bytes stored), for a front end to draw.
    pub progress: Option<Arc<Progress>>,
}

/// A stop request shared between a running operation and whoever may stop
/// it (the daemon at a completion window or on SIGTERM).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Mutex<Option<String>>>);

impl Cancel {
    /// Asks the operation to stop, saying why.
    pub fn cancel(&self, why: impl Into<String>) {
        let mut g = self.0.lock().unwrap();
        if g.is_none() {
            *g = Some(why.into());
        }
    }

    /// Why the operation was asked to stop, if it was.
    pub fn reason(&self) -> Option<String> {
        self.0.lock().unwrap().clone()
    }

    /// `Err(Interrupted)` once a stop was asked for.
    pub fn check(&self, what: &str) -> Result<()> {
        match self.reason() {
            Some(why) => Err(Error::Interrupted {
                what: what.to_string(),
                why,
            }),
            None => Ok(()),
        }
    }
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            compression_level: 3,
            pack_size: 8 << 20,
            uploaders: 0,
            dry_run: false,
            cancel: None,
            index_flush_bytes: 0,
            progress: None,
        }
    }
}

/// Counters of one archiver run.
#[derive(Debug, Default)]
pub struct ArchiverStats {
    /// Bytes handed to the archiver.
    pub bytes_read: AtomicU64,
    /// New blobs.
    pub blobs_added: AtomicU64,
    /// Plaintext bytes of new blobs.
    pub bytes_added: AtomicU64,
    /// Stored bytes of new blobs.
    pub bytes_stored: AtomicU64,
    /// Packs uploaded.
    pub packs: AtomicU64,
}

thread_local! {
    // Each thread seals into one buffer that it keeps: no allocation (and,
    // for large chunks, no fresh mmap and page faults) per blob.
    static SCRATCH: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

/// A seal buffer larger than this (grown for a large chunk) is not kept.
const SCRATCH_KEEP: usize = 4 << 20;

/// Bytes of chunk copies the stream that fans out may hold per thread of the
/// pool: its batch is cut when the next chunk would pass this times the
/// thread count.
const FAN_OUT_BYTES_PER_THREAD: usize = 2 << 20;

/// Finished staged packs that may wait for their commit (each holds an open
/// file, not its bytes).
const STAGED_QUEUE: usize = 16;

/// Index entries are flushed to an index object once this many accumulate.
const INDEX_FLUSH_BLOBS: usize = 50_000;

struct Shared {
    vault: Vault,
    dry_run: bool,
    index_flush_bytes: u64,
    pending_index: Mutex<IndexFile>,
    /// Stored bytes of the packs in `pending_index` (guarded by its lock's
    /// order: only changed while `pending_index` is locked).
    pending_bytes: AtomicU64,
    index_objects: Mutex<Vec<Id>>,
    error: Mutex<Option<Error>>,
    stats: ArchiverStats,
}

impl Shared {
    fn fail(&self, e: Error) {
        let mut slot = self.error.lock().unwrap();
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    fn check(&self) -> Result<()> {
        match self.error.lock().unwrap().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn upload(&self, pack: FinishedPack) -> Result<()> {
        let (id, blobs) = pack
            .store(&**self.vault.backend(), self.dry_run)
            .map_err(|e| self.vault.storage_err(e))?;
        self.stats.packs.fetch_add(1, Ordering::Relaxed);
        let size: u64 = blobs.iter().map(|b| b.len as u64).sum();
        let full = {
            let mut idx = self.pending_index.lock().unwrap();
            idx.packs.push(IndexPack { id, blobs });
            let bytes = self.pending_bytes.fetch_add(size, Ordering::Relaxed) + size;
            if idx.blob_count() >= INDEX_FLUSH_BLOBS
                || (self.index_flush_bytes > 0 && bytes >= self.index_flush_bytes)
            {
                self.pending_bytes.store(0, Ordering::Relaxed);
                Some(std::mem::take(&mut *idx))
            } else {
                None
            }
        };
        if let Some(f) = full {
            self.write_index(f)?;
        }
        Ok(())
    }

    fn write_index(&self, mut f: IndexFile) -> Result<()> {
        if f.packs.is_empty() || self.dry_run {
            return Ok(());
        }
        f.version = 1;
        let id = self.vault.save_object(
            ObjectKind::Index,
            &postcard::to_stdvec(&f).expect("serializable"),
        )?;
        self.index_objects.lock().unwrap().push(id);
        Ok(())
    }
}

/// Saves chunks and trees of one backup into a vault.
pub struct Archiver<'a> {
    shared: Arc<Shared>,
    index: &'a Index,
    seen: Mutex<HashSet<Id>>,
    data: Mutex<PackBuilder>,
    tree: Mutex<PackBuilder>,
    tx: Option<Sender<FinishedPack>>,
    uploaders: Vec<JoinHandle<()>>,
    /// Whether packs are staged in the backend as they fill.
    staging: bool,
    opts: BackupOptions,
    fan_out: Permit,
}

/// A reader that counts what it reads into a [`Progress`].
struct Counted<'p, R> {
    inner: R,
    progress: Option<&'p Progress>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = self.progress {
            add(&p.bytes_read, n as u64);
        }
        Ok(n)
    }
}

/// A single permit that is taken without waiting.
#[derive(Default)]
struct Permit(std::sync::atomic::AtomicBool);

/// Gives the permit back when dropped.
struct PermitGuard<'a>(&'a Permit);

impl Permit {
    fn try_acquire(&self) -> Option<PermitGuard<'_>> {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| PermitGuard(self))
    }
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        self.0 .0.store(false, Ordering::Release);
    }
}

impl<'a> Archiver<'a> {
    /// Starts a run against `vault`, deduplicating against `index`.
    pub fn new(vault: &Vault, index: &'a Index, opts: BackupOptions) -> Self {
        let shared = Arc::new(Shared {
            vault: vault.clone(),
            dry_run: opts.dry_run,
            index_flush_bytes: opts.index_flush_bytes,
            pending_index: Mutex::new(IndexFile::default()),
            pending_bytes: AtomicU64::new(0),
            index_objects: Mutex::new(Vec::new()),
            error: Mutex::new(None),
            stats: ArchiverStats::default(),
        });
        // Packs are staged (written on as they fill) where the backend can;
        // then a finished pack holds no memory and may queue for its commit.
        // Otherwise a rendezvous channel: a full pack waits, with its builder
        // locked, until an uploader takes it, so at most 1 + uploaders packs
        // of a kind are in memory.
        let staging = !opts.dry_run && vault.backend().can_stage();
        let (tx, rx): (Sender<FinishedPack>, Receiver<FinishedPack>) =
            bounded(if staging { STAGED_QUEUE } else { 0 });
        let n = match opts.uploaders {
            0 => vault.backend().concurrent_writes().max(1),
            n => n,
        };
        let uploaders = (0..n)
            .map(|i| {
                let rx = rx.clone();
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("coffer-upload-{i}"))
                    .spawn(move || {
                        for pack in rx {
                            if let Err(e) = shared.upload(pack) {
                                shared.fail(e);
                            }
                        }
                    })
                    .expect("spawn uploader thread")
            })
            .collect();
        Archiver {
            shared,
            index,
            seen: Mutex::new(HashSet::new()),
            data: Mutex::new(PackBuilder::default()),
            tree: Mutex::new(PackBuilder::default()),
            tx: Some(tx),
            uploaders,
            staging,
            opts,
            fan_out: Permit::default(),
        }
    }

    /// The stop request of this run, if it can be stopped.
    pub fn cancel(&self) -> Option<&Cancel> {
        self.opts.cancel.as_ref()
    }

    /// The run's counters.
    pub fn stats(&self) -> &ArchiverStats {
        &self.shared.stats
    }

    /// The live counters of this run's front end, if it has one
    /// ([`BackupOptions::progress`]).
    pub fn progress(&self) -> Option<&Progress> {
        self.opts.progress.as_deref()
    }

    /// The vault being written.
    pub fn vault(&self) -> &Vault {
        &self.shared.vault
    }

    /// Whether blob `id` is already stored or saved by this run.
    pub fn has_blob(&self, id: &Id) -> bool {
        // Not against a blob whose only copies a prune plan condemns: prune
        // may delete them once this run's session is gone.
        self.index.contains_live(id) || self.seen.lock().unwrap().contains(id)
    }

    /// Saves one blob (deduplicated); returns its id.
    pub fn save_blob(&self, kind: BlobKind, data: &[u8]) -> Result<Id> {
        if let Some(c) = &self.opts.cancel {
            c.check("the backup")?;
        }
        let key = self.shared.vault.key();
        let id = key.chunk_id(data);
        if self.index.contains_live(&id) || !self.seen.lock().unwrap().insert(id) {
            return Ok(id);
        }
        let mut scratch = SCRATCH.with(|s| s.take()).unwrap_or_default();
        let n = seal_blob_into(key, &id, data, self.opts.compression_level, &mut scratch);
        let sealed = &scratch[..n];
        let st = &self.shared.stats;
        st.blobs_added.fetch_add(1, Ordering::Relaxed);
        st.bytes_added
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        st.bytes_stored
            .fetch_add(sealed.len() as u64, Ordering::Relaxed);
        if let Some(p) = self.progress() {
            add(&p.bytes_stored, sealed.len() as u64);
        }
        let builder = match kind {
            BlobKind::Data => &self.data,
            BlobKind::Tree => &self.tree,
        };
        let sent = (|| {
            let mut b = builder.lock().unwrap();
            if b.is_fresh() {
                *b = self.new_pack(kind, sealed.len())?;
            }
            b.add(kind, id, sealed, data.len() as u32)
                .map_err(|e| self.shared.vault.storage_err(e))?;
            if b.size() >= self.opts.pack_size {
                // Handed over with the lock held: other threads wait here
                // instead of filling yet another pack while this one waits
                // for an uploader, so at most one pack is being filled.
                self.send(std::mem::take(&mut *b))
            } else {
                Ok(())
            }
        })();
        if scratch.capacity() <= SCRATCH_KEEP {
            SCRATCH.with(|s| s.set(Some(scratch)));
        }
        sent?;
        Ok(id)
    }

    /// A builder for the next pack of `kind`, whose first blob is
    /// `first_len` bytes: staged in the backend when it can, else in memory.
    fn new_pack(&self, kind: BlobKind, first_len: usize) -> Result<PackBuilder> {
        if self.staging {
            let staged = self
                .shared
                .vault
                .backend()
                .stage()
                .map_err(|e| self.shared.vault.storage_err(e))?;
            return Ok(PackBuilder::staged(staged, self.shared.vault.key()));
        }
        Ok(match kind {
            // Room for a full pack and the largest blob that tips it over.
            BlobKind::Data => {
                PackBuilder::with_capacity(self.opts.pack_size + first_len.max(1 << 20))
            }
            BlobKind::Tree => PackBuilder::default(),
        })
    }

    fn send(&self, b: PackBuilder) -> Result<()> {
        self.shared.check_peek()?;
        let pack = b.finish(self.shared.vault.key());
        self.tx
            .as_ref()
            .expect("archiver is open")
            .send(pack)
            .map_err(|_| Error::InvalidInput("uploader threads stopped".into()))?;
        Ok(())
    }

    /// Saves a whole small buffer as content (one chunk if shorter than the
    /// chunker's minimum, else chunked).
    pub fn save_bytes(&self, data: &[u8], what: &Path) -> Result<Vec<ChunkRef>> {
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if (data.len() as u64) < self.shared.vault.config().chunker.min as u64 {
            self.shared
                .stats
                .bytes_read
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            if let Some(p) = self.progress() {
                add(&p.bytes_read, data.len() as u64);
            }
            let id = self.save_blob(BlobKind::Data, data)?;
            return Ok(vec![ChunkRef {
                id,
                len: data.len() as u32,
            }]);
        }
        self.save_stream(data, what)
    }

    /// Chunks and saves a stream with the vault's content-defined chunker;
    /// returns its chunks. `what` names the source for error messages.
    ///
    /// The bytes are counted into [`BackupOptions::progress`] as they are
    /// read, not as chunks are cut, so a slow stream (a dump tool that
    /// writes a few KiB at a time) moves the progress as it comes.
    pub fn save_stream<R: Read>(&self, reader: R, what: &Path) -> Result<Vec<ChunkRef>> {
        let reader = Counted {
            inner: reader,
            progress: self.progress(),
        };
        let chunker = Chunker::new(
            reader,
            self.shared.vault.config().chunker,
            self.shared.vault.key().chunker_seed(),
        );
        self.save_chunks_counted(chunker, what, false)
    }

    /// Saves the chunks `src` hands out, in order; returns them. Used by
    /// [`save_stream`](Self::save_stream) with the vault's chunker, and by a
    /// source that knows better where its stream should be cut (PostgreSQL
    /// base backups are cut on page boundaries). Readers never chunk, so how
    /// a stream is cut changes only how well it deduplicates. `what` names
    /// the source for error messages.
    pub fn save_chunks<S: ChunkSource>(&self, src: S, what: &Path) -> Result<Vec<ChunkRef>> {
        self.save_chunks_counted(src, what, true)
    }

    /// [`save_chunks`](Self::save_chunks); `count`: whether each chunk is
    /// counted as read into the progress (a [`Counted`] reader below the
    /// chunker counted it already).
    fn save_chunks_counted<S: ChunkSource>(
        &self,
        mut src: S,
        what: &Path,
        count: bool,
    ) -> Result<Vec<ChunkRef>> {
        // One stream at a time fans its chunks out over the pool; the others
        // (many files walked in parallel) save chunk by chunk on their own
        // thread. Waiting in a batch lets a rayon thread pick up another
        // file's work, so batching everywhere would nest one batch per level
        // and memory would grow with the square of the thread count. The
        // permit is only tried, never waited for, so this cannot deadlock.
        let permit = self.fan_out.try_acquire();
        let threads = rayon::current_num_threads().max(1);
        let (batch_len, batch_cap) = if permit.is_some() {
            (threads * 2, threads * FAN_OUT_BYTES_PER_THREAD)
        } else {
            (1, 0)
        };
        let mut refs = Vec::new();
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(batch_len);
        let mut batch_bytes = 0;
        while let Some(chunk) = src.next_chunk().map_err(|e| Error::io(what, e))? {
            self.shared
                .stats
                .bytes_read
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if let Some(p) = self.progress().filter(|_| count) {
                add(&p.bytes_read, chunk.len() as u64);
            }
            let direct = batch_len == 1 || chunk.len() > batch_cap / 2;
            if !batch.is_empty() && (direct || batch_bytes + chunk.len() > batch_cap) {
                // The batch goes first: refs stay in stream order.
                self.save_batch(&mut batch, &mut refs)?;
                batch_bytes = 0;
            }
            if direct {
                // Saved straight from the source's buffer, without a copy:
                // every chunk of a stream that does not fan out, and a large
                // chunk of one that does (it would fill a batch by itself).
                let id = self.save_blob(BlobKind::Data, chunk)?;
                refs.push(ChunkRef {
                    id,
                    len: chunk.len() as u32,
                });
                continue;
            }
            batch_bytes += chunk.len();
            batch.push(chunk.to_vec());
            if batch.len() >= batch_len {
                self.save_batch(&mut batch, &mut refs)?;
                batch_bytes = 0;
            }
        }
        self.save_batch(&mut batch, &mut refs)?;
        Ok(refs)
    }

    fn save_batch(&self, batch: &mut Vec<Vec<u8>>, refs: &mut Vec<ChunkRef>) -> Result<()> {
        let out: Vec<Result<ChunkRef>> = if batch.len() == 1 {
            vec![self
                .save_blob(BlobKind::Data, &batch[0])
                .map(|id| ChunkRef {
                    id,
                    len: batch[0].len() as u32,
                })]
        } else {
            batch
                .par_iter()
                .map(|d| {
                    self.save_blob(BlobKind::Data, d).map(|id| ChunkRef {
                        id,
                        len: d.len() as u32,
                    })
                })
                .collect()
        };
        batch.clear();
        for r in out {
            refs.push(r?);
        }
        Ok(())
    }

    /// Saves a tree; returns its id.
    pub fn save_tree(&self, tree: &Tree) -> Result<Id> {
        self.save_blob(BlobKind::Tree, &tree.encode())
    }

    /// Flushes open packs, waits for uploads and writes the index. After
    /// this returns Ok, every blob saved is durable and indexed, and a
    /// snapshot that refers to them may be written.
    pub fn finish(mut self) -> Result<Vec<Id>> {
        let mut result = Ok(());
        for b in [&self.data, &self.tree] {
            let b = std::mem::take(&mut *b.lock().unwrap());
            if !b.is_empty() && result.is_ok() {
                result = self.send(b);
            }
        }
        drop(self.tx.take());
        for h in self.uploaders.drain(..) {
            let _ = h.join();
        }
        result?;
        self.shared.check()?;
        let rest = std::mem::take(&mut *self.shared.pending_index.lock().unwrap());
        self.shared.write_index(rest)?;
        let ids = std::mem::take(&mut *self.shared.index_objects.lock().unwrap());
        Ok(ids)
    }
}

impl Shared {
    fn check_peek(&self) -> Result<()> {
        let slot = self.error.lock().unwrap();
        match &*slot {
            Some(e) => Err(Error::InvalidInput(format!("an upload failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for Archiver<'_> {
    fn drop(&mut self) {
        drop(self.tx.take());
        for h in self.uploaders.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::keys::Secret;
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;

    /// Hands out fixed chunks, as a source with its own cut points does.
    struct Fixed(Vec<Vec<u8>>, usize);

    impl ChunkSource for Fixed {
        fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
            self.1 += 1;
            Ok(self.0.get(self.1 - 1).map(|c| &c[..]))
        }
    }

    /// A stream that fans out, with small chunks (batched and copied) next
    /// to large ones (saved straight from the source): the refs come back in
    /// stream order whatever the mix.
    #[test]
    fn fanned_out_chunks_keep_stream_order() {
        let vault = Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([3; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mib = 1 << 20;
        // With 2 threads a batch holds up to 4 MiB and a chunk over 2 MiB
        // is saved straight away.
        let sizes = [
            mib,
            3 * mib,
            mib / 2,
            mib / 2,
            3 * mib,
            mib,
            mib,
            mib,
            mib,
            2 * mib + 1,
        ];
        let chunks: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                (0..n)
                    .map(|j| (j as u32).wrapping_mul(2654435761).rotate_left(i as u32) as u8)
                    .collect()
            })
            .collect();
        let want: Vec<ChunkRef> = chunks
            .iter()
            .map(|c| ChunkRef {
                id: vault.key().chunk_id(c),
                len: c.len() as u32,
            })
            .collect();
        let index = Index::default();
        let refs = pool.install(|| {
            let a = Archiver::new(&vault, &index, BackupOptions::default());
            let refs = a
                .save_chunks(Fixed(chunks.clone(), 0), Path::new("stream"))
                .unwrap();
            a.finish().unwrap();
            refs
        });
        assert_eq!(refs, want);
    }
}
