//! A byte stream as a one-file snapshot (`coffer backup --stdin`, database
//! dumps, command output), and reading it back in order for a restore tool.

use coffer_core::{
    Archiver, BackupSummary, ChunkRef, Error, Index, Node, NodeKind, Result, Snapshot, SourceInfo,
    Time, Tree, Vault,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::Path;

use crate::{SourceError, SourceOutput, SourceResult};

/// Checks the name of a stream given with option `flag` (`--stdin-name`,
/// `--name`): one plain file name under the rule of every node name
/// ([`coffer_core::tree::check_name`]: not empty, `.` or `..`, no `/` or
/// NUL), so that a restore into a directory writes it right there. A
/// leading `/` is refused, not stripped: the name is a file name, not a
/// path to restore to.
pub fn check_name(name: &str, flag: &str) -> SourceResult<()> {
    coffer_core::tree::check_name(name.as_bytes()).map_err(|why| {
        SourceError::Usage(format!(
            "{flag} {}: {why}; give a plain file name, e.g. {flag} {}",
            coffer_core::tree::escape_name(name.as_bytes()),
            suggestion(name)
        ))
    })
}

/// A plain name to suggest instead of `name`.
fn suggestion(name: &str) -> String {
    let last = name
        .rsplit('/')
        .map(|p| p.replace('\0', ""))
        .find(|p| coffer_core::tree::check_name(p.as_bytes()).is_ok());
    last.unwrap_or_else(|| "dump.bin".into())
}

/// Saves `reader` as a file called `name` in a one-entry tree (`name` must
/// pass [`check_name`]; it is checked again here, before anything is read).
pub fn save_stream<R: Read>(
    archiver: &Archiver,
    reader: R,
    name: &str,
    kind: &str,
    details: BTreeMap<String, String>,
) -> Result<SourceOutput> {
    valid_name(name)?;
    let content = archiver.save_stream(reader, Path::new(name))?;
    one_file(archiver, content, name, kind, details)
}

/// The vault's error for a stream name [`check_name`] refuses (from a
/// source that did not check it as a usage error first).
fn valid_name(name: &str) -> Result<()> {
    check_name(name, "the stream name").map_err(|e| Error::InvalidInput(e.to_string()))
}

/// Saves the one-entry tree of a stream whose `content` is already saved.
/// Sources call this only once the stream is known to be complete and good
/// (its process exited with status 0). A `name` that is not one plain file
/// name is refused: no tree is written that a restore would refuse.
pub fn one_file(
    archiver: &Archiver,
    content: Vec<ChunkRef>,
    name: &str,
    kind: &str,
    details: BTreeMap<String, String>,
) -> Result<SourceOutput> {
    valid_name(name)?;
    let node = file_node(name, content);
    let size = node.size;
    let tree = archiver.save_tree(&Tree::new(vec![node]))?;
    Ok(SourceOutput {
        tree,
        paths: vec![name.to_string()],
        source: SourceInfo {
            kind: kind.to_string(),
            details,
        },
        summary: BackupSummary {
            files_new: 1,
            total_bytes: size,
            ..Default::default()
        },
        warnings: Vec::new(),
        parent: None,
    })
}

/// The node of a stream file called `name` (mode 0600, now, owned by us)
/// whose `content` is saved: for [`one_file`] and for sources that save
/// several streams (a base backup with tablespaces).
pub fn file_node(name: &str, content: Vec<ChunkRef>) -> Node {
    let now = jiff::Timestamp::now();
    let mut node = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    node.mode = 0o600;
    node.size = content.iter().map(|c| c.len as u64).sum();
    node.content = content;
    node.mtime = Time {
        secs: now.as_second(),
        nanos: now.subsec_nanosecond().max(0) as u32,
    };
    node.uid = unsafe { libc::geteuid() };
    node.gid = unsafe { libc::getegid() };
    node
}

/// Where a `--command` stream's bytes come from, for people.
pub const FROM_COMMAND: &str = "the command";
/// Where a Redis snapshot's bytes come from, for people.
pub const FROM_REDIS: &str = "the Redis server";
/// Where a `--stdin` stream's bytes come from, for people.
pub const FROM_STDIN: &str = "standard input";

/// Where the bytes of a stream snapshot of `kind` came from, for people
/// (`pg_dump`, `standard input`), with the snapshot's `details`; `None`
/// for a files snapshot.
pub fn origin(kind: &str, details: &BTreeMap<String, String>) -> Option<String> {
    use crate::{mysql, pg_physical, postgres, redis};
    Some(match kind {
        "files" => return None,
        "stdin" => FROM_STDIN.into(),
        postgres::KIND => "pg_dump".into(),
        postgres::KIND_GLOBALS => "pg_dumpall".into(),
        pg_physical::KIND_BASE => "pg_basebackup".into(),
        // `mariadb-dump  Ver 10.19 …` or `mysqldump  Ver 8.0 …`.
        mysql::KIND => details
            .get("dump_tool")
            .and_then(|v| v.split_whitespace().next())
            .filter(|t| !t.is_empty())
            .unwrap_or("the dump tool")
            .to_string(),
        redis::KIND => FROM_REDIS.into(),
        crate::command::KIND => FROM_COMMAND.into(),
        _ => "the source".into(),
    })
}

/// Chunks fetched at once (in parallel) by a [`StreamReader`]; with chunks
/// of at most 4 MiB (the default maximum; 8 MiB in older vaults) this bounds
/// its memory to 32 MiB (64 MiB).
const READ_AHEAD: usize = 8;

/// The content of a one-file snapshot, read in order: chunks are fetched a
/// few at a time in parallel and each is verified against its id before its
/// bytes are handed on.
pub struct StreamReader<'a> {
    vault: &'a Vault,
    index: &'a Index,
    chunks: Vec<ChunkRef>,
    next: usize,
    ready: VecDeque<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    name: String,
}

impl<'a> StreamReader<'a> {
    /// Opens the single file of `snap`. A snapshot with any other shape (a
    /// directory tree) is an error that says to restore it with `--target`.
    pub fn open(vault: &'a Vault, index: &'a Index, snap: &Snapshot) -> Result<Self> {
        let tree = vault.load_tree(index, &snap.tree)?;
        let node = match tree.nodes.as_slice() {
            [n] if n.kind == NodeKind::File => n.clone(),
            _ => {
                return Err(Error::InvalidInput(format!(
                    "the snapshot of {} ({} source) is not a single stream: restore it with --target DIR",
                    snap.paths.join(" "),
                    snap.source.kind
                )))
            }
        };
        Self::of_node(vault, index, node)
    }

    /// Opens the file at `path` (names from the snapshot's root, e.g.
    /// `["tablespaces", "16384.tar"]`) of a snapshot of several streams (a
    /// base backup with tablespaces). A missing path, or one that is not a
    /// file, is damage naming the snapshot's paths.
    pub fn open_path(
        vault: &'a Vault,
        index: &'a Index,
        snap: &Snapshot,
        path: &[&str],
    ) -> Result<Self> {
        let missing = || {
            Error::damaged(
                format!("the snapshot of {}", snap.paths.join(" ")),
                format!(
                    "it has no file /{} ({} source); `coffer check` verifies the snapshot",
                    path.join("/"),
                    snap.source.kind
                ),
            )
        };
        let mut tree = vault.load_tree(index, &snap.tree)?;
        let (last, dirs) = path.split_last().ok_or_else(missing)?;
        for d in dirs {
            let sub = tree
                .nodes
                .iter()
                .find(|n| n.kind == NodeKind::Dir && n.name == d.as_bytes())
                .and_then(|n| n.subtree)
                .ok_or_else(missing)?;
            tree = vault.load_tree(index, &sub)?;
        }
        let node = tree
            .nodes
            .iter()
            .find(|n| n.kind == NodeKind::File && n.name == last.as_bytes())
            .cloned()
            .ok_or_else(missing)?;
        Self::of_node(vault, index, node)
    }

    fn of_node(vault: &'a Vault, index: &'a Index, node: Node) -> Result<Self> {
        // Before a byte is handed on: data packs an archive storage class
        // keeps unreadable fail the restore here.
        coffer_core::ensure_thawed(
            vault,
            index,
            node.content
                .iter()
                .filter_map(|c| index.lookup(&c.id).map(|l| l.pack)),
        )?;
        Ok(StreamReader {
            vault,
            index,
            chunks: node.content.clone(),
            next: 0,
            ready: VecDeque::new(),
            current: Vec::new(),
            pos: 0,
            name: node.display_name(),
        })
    }

    /// The stream's file name in the snapshot.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stream's length in bytes.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| c.len as u64).sum()
    }

    /// Whether the stream is empty.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    fn fetch(&mut self) -> Result<()> {
        let end = (self.next + READ_AHEAD).min(self.chunks.len());
        let batch = &self.chunks[self.next..end];
        let got: Vec<Result<Vec<u8>>> = batch
            .par_iter()
            .map(|c| {
                let data = self.vault.read_blob(self.index, &c.id)?;
                if data.len() != c.len as usize {
                    return Err(Error::damaged(
                        format!("blob {}", c.id),
                        format!(
                            "holds {} bytes where {} expects {}",
                            data.len(),
                            self.name,
                            c.len
                        ),
                    ));
                }
                Ok(data)
            })
            .collect();
        for g in got {
            self.ready.push_back(g?);
        }
        self.next = end;
        Ok(())
    }
}

impl Read for StreamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            if self.ready.is_empty() {
                if self.next == self.chunks.len() {
                    return Ok(0);
                }
                self.fetch().map_err(std::io::Error::other)?;
            }
            self.current = self.ready.pop_front().unwrap_or_default();
            self.pos = 0;
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes the stream of `snap` to `path` (`-`: standard output); returns
/// the bytes written. An existing file is not overwritten (see
/// [`copy_to_file`]).
pub fn restore_to_file(vault: &Vault, index: &Index, snap: &Snapshot, path: &Path) -> Result<u64> {
    copy_to_file(StreamReader::open(vault, index, snap)?, path)
}

/// Writes `reader` to the new file `path` (`-`: standard output), synced;
/// returns the bytes written.
///
/// An existing regular file is not overwritten, and a symlink is never
/// followed; an existing character device or FIFO (`/dev/null`, a named
/// pipe another program reads) is written to as it is.
pub fn copy_to_file<R: Read>(mut reader: R, path: &Path) -> Result<u64> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    if path == Path::new("-") {
        let out = std::io::stdout();
        let mut out = out.lock();
        return std::io::copy(&mut reader, &mut out).map_err(|e| Error::io("standard output", e));
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    let (mut f, regular) = match created {
        Ok(f) => (f, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let refuse = || Error::AlreadyExists {
                what: path.display().to_string(),
                hint: ": the stream is written to a new file, or to a device or FIFO \
                       (never through a symlink); remove it or give another path"
                    .into(),
            };
            let special = |t: std::fs::FileType| t.is_char_device() || t.is_fifo();
            let seen = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
            if !special(seen.file_type()) {
                return Err(refuse());
            }
            // Opened without creating, truncating or following a link, and
            // checked again once open: what is written to is what was checked.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
                .open(path)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP) => refuse(),
                    _ => Error::io(path, e),
                })?;
            if !special(f.metadata().map_err(|e| Error::io(path, e))?.file_type()) {
                return Err(refuse());
            }
            (f, false)
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let n = std::io::copy(&mut reader, &mut f).map_err(|e| Error::io(path, e))?;
    if regular {
        f.sync_all().map_err(|e| Error::io(path, e))?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run_backup, SnapshotMeta};
    use coffer_core::BackupOptions;

    use coffer_testing::memory_vault as vault;

    #[test]
    fn stream_reads_back_in_order_and_a_failed_source_writes_no_snapshot() {
        let v = vault();
        // Several chunks, so read-ahead batches and their order matter.
        let data: Vec<u8> = (0..20_000_000u64)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let r = run_backup(
            &v,
            &BackupOptions::default(),
            &SnapshotMeta::default(),
            |a, _| save_stream(a, &data[..], "s.bin", "stdin", BTreeMap::new()),
        )
        .unwrap();
        let index = v.load_index().unwrap();
        let mut reader = StreamReader::open(&v, &index, &r.snapshot).unwrap();
        assert_eq!(reader.name(), "s.bin");
        assert_eq!(reader.len(), data.len() as u64);
        let mut got = Vec::new();
        // Odd-sized reads cross chunk boundaries.
        let mut buf = vec![0u8; 77_777];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == data, "stream differs");

        let before = v.snapshots(&Default::default()).unwrap().len();
        let e = run_backup(
            &v,
            &BackupOptions::default(),
            &SnapshotMeta::default(),
            |a, _| {
                a.save_stream(&data[..1000], Path::new("x"))?;
                Err::<SourceOutput, _>(crate::SourceError::Mismatch("the dump failed".into()))
            },
        );
        assert!(e.is_err());
        assert_eq!(v.snapshots(&Default::default()).unwrap().len(), before);
    }

    #[test]
    fn issue18_a_stream_of_several_is_opened_by_path() {
        let v = vault();
        let r = run_backup(
            &v,
            &BackupOptions::default(),
            &SnapshotMeta::default(),
            |a, _| -> Result<SourceOutput> {
                let base = file_node("base.tar", a.save_bytes(b"base", Path::new("base.tar"))?);
                let ts = file_node("16384.tar", a.save_bytes(b"ts", Path::new("16384.tar"))?);
                let mut dir = file_node("tablespaces", Vec::new());
                dir.kind = NodeKind::Dir;
                dir.subtree = Some(a.save_tree(&Tree::new(vec![ts]))?);
                let mut out = one_file(a, Vec::new(), "x", "postgres-base", BTreeMap::new())?;
                out.tree = a.save_tree(&Tree::new(vec![base, dir]))?;
                Ok(out)
            },
        )
        .unwrap();
        let index = v.load_index().unwrap();
        let read = |path: &[&str]| -> Result<Vec<u8>> {
            let mut got = Vec::new();
            StreamReader::open_path(&v, &index, &r.snapshot, path)?
                .read_to_end(&mut got)
                .unwrap();
            Ok(got)
        };
        assert_eq!(read(&["base.tar"]).unwrap(), b"base");
        assert_eq!(read(&["tablespaces", "16384.tar"]).unwrap(), b"ts");
        for missing in [
            &["tablespaces", "1.tar"][..],
            &["tablespaces"],
            &["nope", "x"],
            &[],
        ] {
            let e = read(missing).unwrap_err().to_string();
            assert!(e.contains("has no file /"), "{missing:?}: {e}");
        }
        assert!(StreamReader::open(&v, &index, &r.snapshot).is_err());
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;
    use crate::restore::{restore, Destination, RestoreRequest};
    use crate::{run_backup, Progress, SnapshotMeta};
    use coffer_core::BackupOptions;
    use std::sync::Arc;

    /// Issue 16: a stream's bytes are counted as they are read and stored
    /// (they stayed at 0 for every stream source), and a restore counts
    /// what it writes towards the stream's length.
    #[test]
    fn issue16_a_stream_backup_and_restore_count_their_bytes() {
        let v = coffer_testing::memory_vault();
        let data = coffer_testing::noise(3, 3_000_000);
        let progress = Arc::new(Progress::default());
        let opts = BackupOptions {
            progress: Some(progress.clone()),
            ..Default::default()
        };
        let r = run_backup(&v, &opts, &SnapshotMeta::default(), |a, _| {
            save_stream(a, &data[..], "s.bin", "stdin", BTreeMap::new())
        })
        .unwrap();
        let c = progress.counts();
        assert_eq!(c.bytes_read, data.len() as u64);
        assert_eq!(c.bytes_read, r.snapshot.summary.bytes_read);
        assert_eq!(c.bytes_stored, r.snapshot.summary.bytes_stored);
        assert!(c.bytes_stored > 0);

        let index = v.load_index().unwrap();
        let out = tempfile::tempdir().unwrap();
        let progress = Progress::default();
        restore(
            RestoreRequest {
                vault: &v,
                index: &index,
                id: r.id.unwrap(),
                snapshot: &r.snapshot,
                destination: Destination::File(out.path().join("s.bin")),
                cancel: None,
            },
            &progress,
        )
        .unwrap();
        let c = progress.counts();
        assert_eq!(
            (c.bytes, c.total_bytes),
            (data.len() as u64, data.len() as u64)
        );
        assert!(progress
            .part()
            .what
            .ends_with(&format!("to {}", out.path().join("s.bin").display())));
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn a_stream_name_is_one_plain_file_name() {
        assert!(check_name("dump.sql", "--stdin-name").is_ok());
        assert!(check_name("...", "--stdin-name").is_ok());
        for bad in ["../../escaped.txt", "/etc/x", "a/b", "..", ".", "", "a\0b"] {
            let e = check_name(bad, "--stdin-name").unwrap_err();
            assert!(e.is_usage(), "{bad:?}");
            assert!(e.to_string().starts_with("--stdin-name "), "{e}");
        }
        let e = check_name("../../escaped.txt", "--stdin-name").unwrap_err();
        assert!(
            e.to_string().contains("e.g. --stdin-name escaped.txt"),
            "{e}"
        );
    }
}
