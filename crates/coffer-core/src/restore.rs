//! Restoring content: fetch each needed pack region once, verify every blob
//! against its id, and hand the bytes to a sink that writes them at their
//! offsets. Packs are processed in parallel; a damaged blob is reported with
//! the pack and blob it came from, and its bytes are never handed on.

use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::pack::open_blob_in_place;
use crate::tree::ChunkRef;
use crate::vault::Vault;

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
    chunk: u32,
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
/// Largest single ranged read of a pack (bounds memory per restore thread).
const MAX_READ: u32 = 4 << 20;

/// Restores the content of `files` (file number → chunks). `sink(file,
/// offset, bytes)` writes verified bytes. Errors name the pack and blob and,
/// through `describe(file)`, the file. All packs are attempted; the first
/// error is returned with a count of the others.
pub fn restore_contents<S, D>(
    vault: &Vault,
    index: &Index,
    files: &[&[ChunkRef]],
    sink: S,
    describe: D,
) -> Result<ContentStats>
where
    S: Fn(usize, u64, &[u8]) -> std::io::Result<()> + Sync,
    D: Fn(usize) -> String + Sync,
{
    let total: usize = files.iter().map(|c| c.len()).sum();
    let mut wants: Vec<Want> = Vec::with_capacity(total);
    for (f, chunks) in files.iter().enumerate() {
        let mut off = 0u64;
        for (ci, c) in chunks.iter().enumerate() {
            let loc = index.lookup(&c.id).ok_or_else(|| Error::NotFound {
                what: format!("chunk {} of {}", c.id, describe(f)),
                hint: " in the index: the vault is missing data; run `coffer check`".into(),
            })?;
            wants.push(Want {
                pack: loc.pack,
                offset: loc.offset,
                len: loc.len,
                raw_len: c.len,
                file: f as u32,
                chunk: ci as u32,
                off,
            });
            off += c.len as u64;
        }
    }
    wants.sort_unstable_by_key(|w| (w.pack, w.offset));
    // One slice of `wants` per pack.
    let packs: Vec<&[Want]> = wants.chunk_by(|a, b| a.pack == b.pack).collect();
    let bytes = AtomicU64::new(0);
    let blobs = AtomicU64::new(0);
    let npacks = packs.len() as u64;
    let run = || -> Vec<Error> {
        packs
            .par_iter()
            .flat_map_iter(|needs| {
                let pack_id = index.pack(needs[0].pack);
                let path = ObjectKind::Pack.path(&pack_id);
                let mut errs = Vec::new();
                let mut i = 0;
                while i < needs.len() {
                    // Group blobs that lie close together into one ranged
                    // read; a blob's run of equal offsets is never split.
                    let start = needs[i].offset;
                    let mut j = i + 1;
                    let mut end = needs[i].offset + needs[i].len;
                    while j < needs.len()
                        && (needs[j].offset == needs[j - 1].offset
                            || (needs[j].offset <= end + MAX_GAP
                                && needs[j].offset + needs[j].len - start <= MAX_READ))
                    {
                        end = end.max(needs[j].offset + needs[j].len);
                        j += 1;
                    }
                    match vault
                        .backend()
                        .read_range(&path, start as u64, (end - start) as u64)
                    {
                        Err(e) => errs.push(vault.storage_err(e)),
                        Ok(mut buf) => {
                            // A blob's targets: its run of equal offsets.
                            for targets in needs[i..j].chunk_by(|a, b| a.offset == b.offset) {
                                let n = &targets[0];
                                let id = files[n.file as usize][n.chunk as usize].id;
                                let a = (n.offset - start) as usize;
                                let b = a + n.len as usize;
                                if b > buf.len() {
                                    errs.push(Error::damaged(
                                        &path,
                                        format!("blob {id} is truncated"),
                                    ));
                                    continue;
                                }
                                let written = open_blob_in_place(
                                    vault.key(),
                                    &id,
                                    &mut buf[a..b],
                                    Some(n.raw_len),
                                    &path,
                                    |data| {
                                        for t in targets {
                                            let f = t.file as usize;
                                            if let Err(e) = sink(f, t.off, data) {
                                                errs.push(Error::io(describe(f), e));
                                            } else {
                                                bytes.fetch_add(
                                                    data.len() as u64,
                                                    Ordering::Relaxed,
                                                );
                                            }
                                        }
                                    },
                                );
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
                                            format!(
                                                "{} (needed by {})",
                                                detail(&e),
                                                files.join(", ")
                                            ),
                                        ))
                                    }
                                }
                            }
                        }
                    }
                    i = j;
                }
                errs
            })
            .collect()
    };
    // A remote store is read with more requests in flight than there are
    // cores (each holds at most MAX_READ bytes); otherwise one per core.
    let reads = vault.backend().concurrent_reads();
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
