//! Restoring content: fetch each needed pack region once, verify every blob
//! against its id, and hand the bytes to a sink that writes them at their
//! offsets. Packs are processed in parallel; a damaged blob is reported with
//! the pack and blob it came from, and its bytes are never handed on.

use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::index::Index;
use crate::format::pack::{open_blob_in_pieces, open_blob_in_place};
use crate::format::tree::ChunkRef;
use crate::vault::handle::Vault;

/// One chunk of content to restore: the index entry of its blob
/// ([`Index::position`], 4 bytes where the id takes 32) and its plaintext
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Entry number in the index.
    pub entry: u32,
    /// Plaintext length.
    pub len: u32,
}

impl Part {
    /// The part for `chunk`, or an error naming it and `what` (the file) when
    /// the index does not hold it.
    pub fn of(index: &Index, chunk: &ChunkRef, what: impl FnOnce() -> String) -> Result<Part> {
        let entry = index.position(&chunk.id).ok_or_else(|| Error::NotFound {
            what: format!("chunk {} of {}", chunk.id, what()),
            hint: " in the index: the vault is missing data; run `coffer check`".into(),
        })?;
        Ok(Part {
            entry,
            len: chunk.len,
        })
    }
}

/// How verified bytes reach the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every chunk whole, in one call.
    Whole,
    /// A large compressed chunk in pieces (see
    /// [`open_blob_in_pieces`](crate::pack::open_blob_in_pieces)), so that
    /// memory holds no whole chunk of up to the chunker's maximum per thread.
    Pieces,
}

/// One chunk of one file: where its blob lies and where its bytes go. The
/// plan holds one per chunk of every file (32 bytes each), sorted by pack and
/// offset; a blob several files share is a run of equal offsets, read and
/// verified once.
#[derive(Clone, Copy)]
struct Want {
    pack: u32,
    offset: u32,
    len: u32,
    raw_len: u32,
    file: u32,
    entry: u32,
    off: u64,
}

/// What a content restore did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContentStats {
    /// Bytes handed to the sink.
    pub bytes: u64,
    /// Packs read.
    pub packs: u64,
    /// Blobs verified.
    pub blobs: u64,
}

/// Largest gap between two needed blobs that is read through rather than
/// split into two requests.
const MAX_GAP: u32 = 256 * 1024;
/// Largest single ranged read of a pack from a remote store (bounds memory
/// per request in flight); a blob larger than this is read whole.
const MAX_READ_REMOTE: u32 = 4 << 20;
/// The same for a local disk, where a request costs little more than a
/// system call, so small reads keep memory down at no cost in speed.
const MAX_READ_LOCAL: u32 = 1 << 20;

/// Fails before anything is restored when packs `packs` (numbers in
/// `index`) include any that an archive storage class keeps unreadable
/// until they are thawed ([`crate::Backend::ensure_thawed`]): the error is
/// an [`Error::Storage`] of kind [`crate::StorageErrorKind::Archived`]
/// naming them and how to thaw them. A vault without an archive class
/// asks nothing.
pub fn ensure_thawed(
    vault: &Vault,
    index: &Index,
    packs: impl IntoIterator<Item = u32>,
) -> Result<()> {
    let mut packs: Vec<u32> = packs.into_iter().collect();
    packs.sort_unstable();
    packs.dedup();
    let paths: Vec<String> = packs
        .iter()
        .map(|&p| ObjectKind::Pack.path(&index.pack(p)))
        .collect();
    vault
        .backend()
        .ensure_thawed(&paths)
        .map_err(|e| vault.storage_err(e))
}

/// Restores the content of `files` files, whose chunks `parts(file)` gives
/// in order. `sink(file, offset, bytes, last)` writes verified bytes; `last`
/// is true on a chunk's last call (with [`Delivery::Whole`], on every call).
/// Errors name the pack and blob and, through `describe(file)`, the file.
/// All packs are attempted; the first error is returned with a count of the
/// others.
pub fn restore_contents<'p, P, S, D>(
    vault: &Vault,
    index: &Index,
    files: usize,
    parts: P,
    delivery: Delivery,
    sink: S,
    describe: D,
) -> Result<ContentStats>
where
    P: Fn(usize) -> &'p [Part],
    S: Fn(usize, u64, &[u8], bool) -> std::io::Result<()> + Sync,
    D: Fn(usize) -> String + Sync,
{
    let total: usize = (0..files).map(|f| parts(f).len()).sum();
    let mut wants: Vec<Want> = Vec::with_capacity(total);
    for f in 0..files {
        let mut off = 0u64;
        for p in parts(f) {
            let (_, loc) = index.entry(p.entry);
            wants.push(Want {
                pack: loc.pack,
                offset: loc.offset,
                len: loc.len,
                raw_len: p.len,
                file: f as u32,
                entry: p.entry,
                off,
            });
            off += p.len as u64;
        }
    }
    wants.sort_unstable_by_key(|w| (w.pack, w.offset));
    // One slice of `wants` per pack.
    let packs: Vec<&[Want]> = wants.chunk_by(|a, b| a.pack == b.pack).collect();
    ensure_thawed(vault, index, packs.iter().map(|p| p[0].pack))?;
    let bytes = AtomicU64::new(0);
    let blobs = AtomicU64::new(0);
    let npacks = packs.len() as u64;
    // A remote store (more than one read in flight asked for) gets larger
    // reads, and more requests in flight than there are cores when it asks
    // for that; a local disk is read by one thread per core.
    let reads = vault.backend().concurrent_reads();
    let remote = reads > 1;
    let max_read = if remote {
        MAX_READ_REMOTE
    } else {
        MAX_READ_LOCAL
    };
    // Group blobs that lie close together into one ranged read; a blob's
    // run of equal offsets is never split. The reads, not the packs, are
    // what runs in parallel: a pack holding most of a large file would
    // otherwise leave all but one thread idle.
    // Each read: its blobs and the byte range [start, end) of the pack.
    let mut reads_of: Vec<(&[Want], u32, u32)> = Vec::new();
    for needs in &packs {
        let mut i = 0;
        while i < needs.len() {
            let start = needs[i].offset;
            let mut j = i + 1;
            let mut end = needs[i].offset + needs[i].len;
            while j < needs.len()
                && (needs[j].offset == needs[j - 1].offset
                    || (needs[j].offset <= end + MAX_GAP
                        && needs[j].offset + needs[j].len - start <= max_read))
            {
                end = end.max(needs[j].offset + needs[j].len);
                j += 1;
            }
            reads_of.push((&needs[i..j], start, end));
            i = j;
        }
    }
    let run = || -> Vec<Error> {
        reads_of
            .par_iter()
            .flat_map_iter(|&(group, start, end)| {
                let pack_id = index.pack(group[0].pack);
                let path = ObjectKind::Pack.path(&pack_id);
                let mut errs = Vec::new();
                match vault
                    .backend()
                    .read_range(&path, start as u64, (end - start) as u64)
                {
                    Err(e) => errs.push(vault.storage_err(e)),
                    Ok(mut buf) => {
                        // A blob's targets: its run of equal offsets.
                        for targets in group.chunk_by(|a, b| a.offset == b.offset) {
                            let n = &targets[0];
                            let (id, _) = index.entry(n.entry);
                            let a = (n.offset - start) as usize;
                            let b = a + n.len as usize;
                            if b > buf.len() {
                                errs.push(Error::damaged(&path, format!("blob {id} is truncated")));
                                continue;
                            }
                            let mut deliver = |at: u64, data: &[u8], last: bool| {
                                for t in targets {
                                    let f = t.file as usize;
                                    if let Err(e) = sink(f, t.off + at, data, last) {
                                        errs.push(Error::io(describe(f), e));
                                    } else {
                                        bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                                    }
                                }
                            };
                            let blob = &mut buf[a..b];
                            let written = match delivery {
                                Delivery::Whole => open_blob_in_place(
                                    vault.key(),
                                    &id,
                                    blob,
                                    Some(n.raw_len),
                                    &path,
                                    |data| deliver(0, data, true),
                                ),
                                Delivery::Pieces => open_blob_in_pieces(
                                    vault.key(),
                                    &id,
                                    blob,
                                    n.raw_len,
                                    &path,
                                    deliver,
                                ),
                            };
                            match written {
                                Ok(()) => {
                                    blobs.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    let files: Vec<String> = targets
                                        .iter()
                                        .take(3)
                                        .map(|t| describe(t.file as usize))
                                        .collect();
                                    errs.push(Error::damaged(
                                        &path,
                                        format!("{} (needed by {})", detail(&e), files.join(", ")),
                                    ))
                                }
                            }
                        }
                    }
                }
                errs
            })
            .collect()
    };
    let errors = if reads > rayon::current_num_threads() {
        match rayon::ThreadPoolBuilder::new().num_threads(reads).build() {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        }
    } else {
        run()
    };
    let mut it = errors.into_iter();
    if let Some(first) = it.next() {
        let more = it.count();
        if more == 0 {
            return Err(first);
        }
        return Err(match first {
            Error::Damaged { object, detail } => Error::Damaged {
                object,
                detail: format!("{detail} (and {more} more errors)"),
            },
            other => other,
        });
    }
    Ok(ContentStats {
        bytes: bytes.into_inner(),
        packs: npacks,
        blobs: blobs.into_inner(),
    })
}

fn detail(e: &Error) -> String {
    match e {
        Error::Damaged { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}
