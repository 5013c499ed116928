//! Restoring content: fetch each needed pack region once, verify every blob
//! against its id, and hand the bytes to a sink that writes them at their
//! offsets. Packs are processed in parallel; a damaged blob is reported with
//! the pack and blob it came from, and its bytes are never handed on.

use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::Index;
use crate::pack::open_blob_in_place;
use crate::tree::ChunkRef;
use crate::vault::Vault;

/// A blob and where its bytes go.
struct Need {
    id: Id,
    offset: u32,
    len: u32,
    raw_len: u32,
    targets: Vec<(usize, u64)>,
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
    let mut by_pack: HashMap<u32, HashMap<u32, Need>> = HashMap::new();
    for (f, chunks) in files.iter().enumerate() {
        let mut off = 0u64;
        for c in chunks.iter() {
            let loc = index.lookup(&c.id).ok_or_else(|| Error::NotFound {
                what: format!("chunk {} of {}", c.id, describe(f)),
                hint: " in the index: the vault is missing data; run `coffer check`".into(),
            })?;
            by_pack
                .entry(loc.pack)
                .or_default()
                .entry(loc.offset)
                .or_insert_with(|| Need {
                    id: c.id,
                    offset: loc.offset,
                    len: loc.len,
                    raw_len: c.len,
                    targets: Vec::new(),
                })
                .targets
                .push((f, off));
            off += c.len as u64;
        }
    }
    let bytes = AtomicU64::new(0);
    let blobs = AtomicU64::new(0);
    let mut packs: Vec<(u32, Vec<Need>)> = by_pack
        .into_iter()
        .map(|(p, m)| {
            let mut v: Vec<Need> = m.into_values().collect();
            v.sort_by_key(|n| n.offset);
            (p, v)
        })
        .collect();
    packs.sort_by_key(|(p, _)| *p);
    let npacks = packs.len() as u64;
    let errors: Vec<Error> = packs
        .par_iter()
        .flat_map_iter(|(p, needs)| {
            let pack_id = index.pack(*p);
            let path = ObjectKind::Pack.path(&pack_id);
            let mut errs = Vec::new();
            let mut i = 0;
            while i < needs.len() {
                // Group blobs that lie close together into one ranged read.
                let start = needs[i].offset;
                let mut j = i + 1;
                let mut end = needs[i].offset + needs[i].len;
                while j < needs.len()
                    && needs[j].offset <= end + MAX_GAP
                    && needs[j].offset + needs[j].len - start <= MAX_READ
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
                        for n in &needs[i..j] {
                            let a = (n.offset - start) as usize;
                            let b = a + n.len as usize;
                            if b > buf.len() {
                                errs.push(Error::damaged(
                                    &path,
                                    format!("blob {} is truncated", n.id),
                                ));
                                continue;
                            }
                            let written = open_blob_in_place(
                                vault.key(),
                                &n.id,
                                &mut buf[a..b],
                                Some(n.raw_len),
                                &path,
                                |data| {
                                    for (f, off) in &n.targets {
                                        if let Err(e) = sink(*f, *off, data) {
                                            errs.push(Error::io(describe(*f), e));
                                        } else {
                                            bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                                        }
                                    }
                                },
                            );
                            match written {
                                Ok(()) => {
                                    blobs.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    let files: Vec<String> = n
                                        .targets
                                        .iter()
                                        .take(3)
                                        .map(|(f, _)| describe(*f))
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
                i = j;
            }
            errs
        })
        .collect();
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
