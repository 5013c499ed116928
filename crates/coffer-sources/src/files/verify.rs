//! Checking restored files against their snapshot, independently of the
//! restore path: each restored file is re-read from disk and every chunk
//! the snapshot records for it is hashed again (the vault's keyed chunk
//! id) and compared, with the file's size. Restore tests use it; the same
//! comparison reads live files for `sample_live`.

use coffer_core::{Cancel, ChunkRef, Id, Index, NodeKind, Result, Snapshot, Vault};
use rand::seq::SliceRandom;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// At most this many differences are listed (all are counted).
const MAX_LISTED: usize = 20;

/// One difference between a restored (or live) entry and the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The entry's path as in the snapshot (`/srv/app/a.txt`).
    pub path: String,
    /// What differs.
    pub problem: String,
}

/// What [`verify_restored`] compared.
#[derive(Debug, Clone, Default)]
pub struct VerifyStats {
    /// Regular files compared.
    pub files: u64,
    /// Directories found.
    pub dirs: u64,
    /// Symbolic links compared.
    pub symlinks: u64,
    /// Content bytes re-read and hashed.
    pub bytes: u64,
    /// Every difference found (counted).
    pub mismatch_count: u64,
    /// The first differences.
    pub mismatches: Vec<Mismatch>,
}

impl VerifyStats {
    fn differ(&mut self, path: &str, problem: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_LISTED {
            self.mismatches.push(Mismatch {
                path: path.to_string(),
                problem,
            });
        }
    }
}

/// Compares the files restored into `target` (as `files::restore` lays
/// them out: snapshot path `/a/b` at `target/a/b`) with snapshot `snap`:
/// every directory exists, every symlink points where it did, every
/// regular file has the recorded size and chunk hashes. Other entries
/// (devices, FIFOs, sockets) are not compared. `cancel` stops it between
/// files.
pub fn verify_restored(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    target: &Path,
    cancel: Option<&Cancel>,
) -> Result<VerifyStats> {
    let mut stats = VerifyStats::default();
    walk(vault, index, &snap.tree, "", &mut |path, node| {
        if let Some(c) = cancel {
            c.check("comparing restored files")?;
        }
        let on_disk = target.join(path.trim_start_matches('/'));
        compare_entry(vault, path, node, &on_disk, &mut stats);
        Ok(())
    })?;
    Ok(stats)
}

/// Compares up to `n` regular files of the snapshot, picked at random, with
/// the live files at their original paths. Differences are expected when
/// files changed since the snapshot: callers report them as information.
pub fn compare_live_sample(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    n: usize,
) -> Result<VerifyStats> {
    let mut files: Vec<(String, coffer_core::Node)> = Vec::new();
    walk(vault, index, &snap.tree, "", &mut |path, node| {
        if node.kind == NodeKind::File {
            files.push((path.to_string(), node.clone()));
        }
        Ok(())
    })?;
    let mut stats = VerifyStats::default();
    let picked: Vec<_> = files.choose_multiple(&mut rand::thread_rng(), n).collect();
    for (path, node) in picked {
        compare_entry(vault, path, node, &PathBuf::from(path), &mut stats);
    }
    Ok(stats)
}

fn walk(
    vault: &Vault,
    index: &Index,
    tree: &Id,
    prefix: &str,
    f: &mut dyn FnMut(&str, &coffer_core::Node) -> Result<()>,
) -> Result<()> {
    for node in vault.load_tree(index, tree)?.nodes {
        let path = format!("{prefix}/{}", node.display_name());
        f(&path, &node)?;
        if let Some(sub) = node.subtree {
            walk(vault, index, &sub, &path, f)?;
        }
    }
    Ok(())
}

fn compare_entry(
    vault: &Vault,
    path: &str,
    node: &coffer_core::Node,
    on_disk: &Path,
    stats: &mut VerifyStats,
) {
    let meta = match std::fs::symlink_metadata(on_disk) {
        Ok(m) => m,
        Err(e) => {
            if matches!(
                node.kind,
                NodeKind::File | NodeKind::Dir | NodeKind::Symlink
            ) {
                stats.differ(path, format!("missing: {e}"));
            }
            return;
        }
    };
    match node.kind {
        NodeKind::Dir => {
            stats.dirs += 1;
            if !meta.is_dir() {
                stats.differ(path, "is not a directory".into());
            }
        }
        NodeKind::Symlink => {
            stats.symlinks += 1;
            let want = node.target.as_deref().unwrap_or_default();
            match std::fs::read_link(on_disk) {
                Ok(t) if t.as_os_str().as_bytes() == want => {}
                Ok(t) => stats.differ(
                    path,
                    format!(
                        "symlink points to {}, the snapshot says {}",
                        t.display(),
                        String::from_utf8_lossy(want)
                    ),
                ),
                Err(e) => stats.differ(path, format!("is not a symlink: {e}")),
            }
        }
        NodeKind::File => {
            stats.files += 1;
            if !meta.is_file() {
                stats.differ(path, "is not a regular file".into());
            } else if meta.len() != node.size {
                stats.differ(
                    path,
                    format!(
                        "size is {} bytes, the snapshot says {}",
                        meta.len(),
                        node.size
                    ),
                );
            } else {
                match compare_content(vault, on_disk, &node.content) {
                    Ok((n, None)) => stats.bytes += n,
                    Ok((n, Some(problem))) => {
                        stats.bytes += n;
                        stats.differ(path, problem);
                    }
                    Err(e) => stats.differ(path, format!("cannot read it: {e}")),
                }
            }
        }
        _ => {}
    }
}

/// Reads `file` chunk by chunk as `content` lays it out and compares each
/// chunk's keyed hash; returns the bytes read and the first difference.
pub fn compare_content(
    vault: &Vault,
    file: &Path,
    content: &[ChunkRef],
) -> std::io::Result<(u64, Option<String>)> {
    let mut f = std::fs::File::open(file)?;
    let mut buf = Vec::new();
    let mut offset = 0u64;
    for (i, c) in content.iter().enumerate() {
        buf.resize(c.len as usize, 0);
        if let Err(e) = f.read_exact(&mut buf) {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                return Ok((
                    offset,
                    Some(format!("ends early, inside chunk {i} at byte {offset}")),
                ));
            }
            return Err(e);
        }
        if vault.key().chunk_id(&buf) != c.id {
            return Ok((
                offset + c.len as u64,
                Some(format!(
                    "content differs in chunk {i} (bytes {offset}..{})",
                    offset + c.len as u64
                )),
            ));
        }
        offset += c.len as u64;
    }
    let mut extra = [0u8; 1];
    if f.read(&mut extra)? > 0 {
        return Ok((
            offset,
            Some(format!("longer than the snapshot's {offset} bytes")),
        ));
    }
    Ok((offset, None))
}
