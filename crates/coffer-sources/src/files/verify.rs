//! Checking restored files against their snapshot, independently of the
//! restore path: each restored file is re-read from disk and every chunk
//! the snapshot records for it is hashed again (the vault's keyed chunk
//! id) and compared, with the file's size. Restore tests use it; the same
//! comparison reads live files for `sample_live`.

use coffer_core::{Cancel, ChunkRef, Index, NodeKind, Result, Snapshot, Vault};
use rand::seq::SliceRandom;
use std::ffi::OsStr;
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
/// every directory exists and holds exactly the snapshot's names (compared
/// as bytes, so any name a file system allows, UTF-8 or not, counts; an
/// entry the snapshot lacks is a difference too), every symlink points
/// where it did, every regular file has the recorded size and chunk
/// hashes. Other entries (devices, FIFOs, sockets) are not compared.
/// `cancel` stops it between files.
pub fn verify_restored(
    vault: &Vault,
    index: &Index,
    snap: &Snapshot,
    target: &Path,
    cancel: Option<&Cancel>,
) -> Result<VerifyStats> {
    let mut stats = VerifyStats::default();
    let root = vault.load_tree(index, &snap.tree)?.nodes;
    unexpected_entries(target, "", &root, &mut stats);
    walk(
        vault,
        index,
        root,
        &PathBuf::from("/"),
        &mut |path, node, children| {
            if let Some(c) = cancel {
                c.check("comparing restored files")?;
            }
            let shown = path.display().to_string();
            let on_disk = target.join(path.strip_prefix("/").unwrap_or(path));
            compare_entry(vault, &shown, node, &on_disk, &mut stats);
            if node.kind == NodeKind::Dir && on_disk.is_dir() {
                unexpected_entries(&on_disk, &shown, children, &mut stats);
            }
            Ok(())
        },
    )?;
    Ok(stats)
}

/// Counts a difference for each entry of directory `dir` (shown as
/// `shown`) whose name, as bytes, is none of the snapshot's `nodes`.
fn unexpected_entries(
    dir: &Path,
    shown: &str,
    nodes: &[coffer_core::Node],
    stats: &mut VerifyStats,
) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return; // A missing directory is counted where it is compared.
    };
    let mut extra: Vec<Vec<u8>> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().as_bytes().to_vec())
        .filter(|n| !nodes.iter().any(|node| &node.name == n))
        .collect();
    extra.sort();
    for n in extra {
        stats.differ(
            &format!("{shown}/{}", Path::new(OsStr::from_bytes(&n)).display()),
            "is not in the snapshot (a name that differs from the snapshot's?)".into(),
        );
    }
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
    let mut files: Vec<(PathBuf, coffer_core::Node)> = Vec::new();
    let root = vault.load_tree(index, &snap.tree)?.nodes;
    walk(
        vault,
        index,
        root,
        &PathBuf::from("/"),
        &mut |path, node, _| {
            if node.kind == NodeKind::File {
                files.push((path.to_path_buf(), node.clone()));
            }
            Ok(())
        },
    )?;
    let mut stats = VerifyStats::default();
    let picked: Vec<_> = files.choose_multiple(&mut rand::thread_rng(), n).collect();
    for (path, node) in picked {
        compare_entry(vault, &path.display().to_string(), node, path, &mut stats);
    }
    Ok(stats)
}

/// What [`walk`] calls for each entry: its path, its node and, for a
/// directory, its entries.
type Visit<'a> = dyn FnMut(&Path, &coffer_core::Node, &[coffer_core::Node]) -> Result<()> + 'a;

/// Calls `f` with the path (its names' bytes as they are, below `prefix`),
/// the node and, for a directory, its entries, for every entry of `nodes`
/// and below, parents before children.
fn walk(
    vault: &Vault,
    index: &Index,
    nodes: Vec<coffer_core::Node>,
    prefix: &Path,
    f: &mut Visit<'_>,
) -> Result<()> {
    for node in nodes {
        let path = prefix.join(OsStr::from_bytes(&node.name));
        let children = match &node.subtree {
            Some(sub) => vault.load_tree(index, sub)?.nodes,
            None => Vec::new(),
        };
        f(&path, &node, &children)?;
        if !children.is_empty() {
            walk(vault, index, children, &path, f)?;
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
