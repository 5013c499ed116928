//! One restore for every front end: `coffer restore`, the HTTP API's
//! restore and restore tests all describe where a snapshot goes as a
//! [`Destination`] and call [`restore`], which
//!
//! 1. opens the snapshot's stream (for every destination but a directory),
//!    which refuses a snapshot that is not a single stream;
//! 2. checks the snapshot's kind against the destination (a dump restores
//!    into its own kind of database; any stream goes to a file or command);
//! 3. restores, and returns what it did as a [`RestoreOutcome`].
//!
//! Confinement: every tree is validated when it is decoded
//! ([`coffer_core::Tree::validate`]: no `..`, `/`, NUL or empty name, no
//! duplicates, no symlink with children), so no name of a hostile snapshot
//! reaches a path join. A violation is refused before anything is written
//! and reported as damage naming the snapshot and the path in it
//! ([`name_damage`]). Files are written by [`crate::files::restore`], which
//! never follows a symlink inside its target.
//!
//! The front ends keep what is theirs: the CLI parses flags and prints, the
//! API picks a directory under the state directory, restore tests validate
//! and time what came back.

use coffer_core::{Cancel, Error, Id, Index, Snapshot, StorageErrorKind, Tree, Vault, THAW_CHECK};
use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;

use crate::dburl::DbUrl;
use crate::files::{self, RestoreStats};
use crate::filter::Patterns;
use crate::mysql::{self, Mysql, MysqlOptions, MysqlRestoreOptions};
use crate::postgres::physical::{self as pg_physical, PgdataOptions};
use crate::postgres::{self, PgOptions, PgRestoreOptions, Postgres};
use crate::stream::{self, StreamReader};
use crate::{add, command, redis, Part, Progress, SourceError, SourceResult};

/// Where a snapshot is restored to.
#[derive(Debug)]
pub enum Destination {
    /// Any snapshot's files into a directory (created if missing).
    Directory {
        /// The directory.
        target: PathBuf,
        /// Only entries matching these, with what lies below them.
        includes: Patterns,
        /// Only below this path of the snapshot.
        subpath: Option<String>,
    },
    /// Any stream into a new file (`-`: standard output).
    File(PathBuf),
    /// A `postgres` dump into the database of `url` (with `pg_restore`),
    /// or a `postgres-globals` snapshot into the server of `url` (`psql`).
    Postgres {
        /// The database (or server, for globals).
        url: DbUrl,
        /// Where the client tools are.
        tools: PgOptions,
        /// How to restore.
        options: PgRestoreOptions,
    },
    /// A `mysql` dump into the database of `url` (or the server, for an
    /// all-databases dump).
    Mysql {
        /// The database or server.
        url: DbUrl,
        /// Where the client tools are.
        tools: MysqlOptions,
        /// How to restore.
        options: MysqlRestoreOptions,
    },
    /// A `postgres-base` snapshot unpacked into a new data directory set up
    /// for recovery.
    Pgdata(PgdataOptions),
    /// A `redis` snapshot's `dump.rdb` written into a directory.
    RedisDir(PathBuf),
    /// Any stream piped into a shell command.
    Command {
        /// The command; `None`: the restore command the snapshot recorded.
        command: Option<String>,
        /// How messages name the command (`restore command`, `validate_command`).
        role: String,
        /// Send the command's standard output nowhere (a daemon's restore
        /// test) rather than to ours.
        discard_output: bool,
    },
}

impl Destination {
    /// The snapshot kinds this destination restores, and the option that
    /// names it in messages; `None`: any kind.
    pub fn kinds(&self) -> Option<(&'static [&'static str], &'static str)> {
        match self {
            Destination::Postgres { .. } => {
                Some((&[postgres::KIND, postgres::KIND_GLOBALS], "--postgres"))
            }
            Destination::Mysql { .. } => Some((&[mysql::KIND], "--mysql")),
            Destination::Pgdata(_) => Some((&[pg_physical::KIND_BASE], "--pgdata")),
            Destination::RedisDir(_) => Some((&[redis::KIND], "--redis-dir")),
            Destination::Directory { .. } | Destination::File(_) | Destination::Command { .. } => {
                None
            }
        }
    }

    /// `restoring snapshot ID into WHERE`: the context front ends give an
    /// error of [`restore`].
    pub fn context(&self, id: &Id) -> String {
        let verb = match self {
            Destination::File(_) => "writing",
            _ => "restoring",
        };
        format!("{verb} snapshot {} {}", id.short(), self.phrase())
    }

    /// Where to, after the snapshot: `into /tmp/r`, `to dump.sql`,
    /// `through restore command `psql``.
    pub fn phrase(&self) -> String {
        match self {
            Destination::Directory { target, .. } => format!("into {}", target.display()),
            Destination::File(f) => format!("to {}", f.display()),
            Destination::Postgres { url, .. } | Destination::Mysql { url, .. } => {
                format!("into {url}")
            }
            Destination::Pgdata(o) => format!("into {}", o.dir.display()),
            Destination::RedisDir(d) => format!("into {}", d.display()),
            Destination::Command { role, command, .. } => match command {
                Some(c) => format!("through {role} `{c}`"),
                None => "through its recorded restore command".into(),
            },
        }
    }
}

/// One restore: which snapshot, where to, and how to stop it.
pub struct RestoreRequest<'a> {
    /// The vault.
    pub vault: &'a Vault,
    /// Its index.
    pub index: &'a Index,
    /// The snapshot's id (named in messages).
    pub id: Id,
    /// The snapshot.
    pub snapshot: &'a Snapshot,
    /// Where it goes.
    pub destination: Destination,
    /// Stops the reading of a stream once cancelled (a restore test's time
    /// limit); the restore then fails with the cancel's reason.
    pub cancel: Option<Cancel>,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreOutcome {
    /// The snapshot's kind.
    pub kind: String,
    /// Where it went, for people (a directory, a redacted URL, a command).
    pub restored_to: String,
    /// Bytes restored: the stream's length, or the files' content.
    pub bytes: u64,
    /// A files restore's counters.
    pub files: Option<RestoreStats>,
    /// Warnings (exit 3 in the CLI).
    pub warnings: Vec<String>,
    /// The recovery settings written into a data directory.
    pub settings: Vec<String>,
}

/// The error for a destination that does not restore `snap`'s kind (a
/// usage error).
pub fn expect_kind(id: &Id, snap: &Snapshot, kinds: &[&str], flag: &str) -> SourceResult<()> {
    if kinds.contains(&snap.source.kind.as_str()) {
        return Ok(());
    }
    Err(SourceError::Usage(format!(
        "snapshot {} is a {} snapshot of {}; {flag} restores {} snapshots (write any stream with --to-file FILE)",
        id.short(),
        snap.source.kind,
        snap.paths.join(" "),
        kinds.join(" or ")
    )))
}

/// Restores `req.snapshot` to `req.destination` (see the module doc),
/// adding what it writes to `progress` (the bytes and, into a directory,
/// the files, with their totals).
pub fn restore(req: RestoreRequest<'_>, progress: &Progress) -> SourceResult<RestoreOutcome> {
    let (vault, index, id, snap) = (req.vault, req.index, req.id, req.snapshot);
    run(&req, progress).map_err(|e| match e {
        SourceError::Vault(e) => {
            SourceError::Vault(name_frozen(&id, name_damage(vault, index, &id, snap, e)))
        }
        other => other,
    })
}

/// A storage error of kind [`StorageErrorKind::Archived`] (data packs in
/// an archive storage class, not thawed) as [`Error::Frozen`], naming the
/// snapshot and what the restore left behind: nothing when the check
/// before the restore found them ([`coffer_core::ensure_thawed`]), part of
/// it when a read failed on the way (a thawed copy expired meanwhile).
fn name_frozen(id: &Id, e: Error) -> Error {
    match e {
        Error::Storage { location, source } if source.kind == StorageErrorKind::Archived => {
            let left = if source.op == THAW_CHECK {
                "nothing was restored yet"
            } else {
                "what was restored before the failure is incomplete"
            };
            Error::Frozen {
                snapshot: id.short(),
                location,
                cause: Box::new(source),
                after: format!(
                    "; {left}: `coffer thaw {} --wait` thaws them (or `coffer restore` without \
                     --no-thaw thaws and waits), then run the restore again",
                    id.short()
                ),
            }
        }
        e => e,
    }
}

fn run(req: &RestoreRequest<'_>, progress: &Progress) -> SourceResult<RestoreOutcome> {
    let (vault, index, id, snap) = (req.vault, req.index, &req.id, req.snapshot);
    let mut out = RestoreOutcome {
        kind: snap.source.kind.clone(),
        ..Default::default()
    };
    progress.set_part(Part {
        what: format!("snapshot {} {}", id.short(), req.destination.phrase()),
        from: None,
        of: None,
    });
    if let Destination::Directory {
        target,
        includes,
        subpath,
    } = &req.destination
    {
        let opts = files::RestoreOptions {
            target: target.clone(),
            includes: includes.clone(),
            subpath: subpath.clone(),
        };
        let stats = files::restore(vault, index, snap, &opts, progress)?;
        out.restored_to = target.display().to_string();
        out.bytes = stats.bytes;
        out.warnings = stats.warnings.clone();
        out.files = Some(stats);
        return Ok(out);
    }
    if let Destination::Pgdata(opts) = &req.destination {
        if postgres::backup::is_files_layout(&snap.source.details) {
            expect_kind(id, snap, &[pg_physical::KIND_BASE], "--pgdata")?;
            let done = postgres::backup::restore_files(vault, index, id, snap, opts, progress)?;
            out.bytes = done.bytes;
            out.settings = done.settings;
            out.restored_to = opts.dir.display().to_string();
            return Ok(out);
        }
    }
    let reader = Stream {
        inner: StreamReader::open(vault, index, snap)?,
        cancel: req.cancel.clone(),
        progress,
    };
    out.bytes = reader.inner.len();
    add(&progress.total_bytes, out.bytes);
    if let Some((kinds, flag)) = req.destination.kinds() {
        expect_kind(id, snap, kinds, flag)?;
    }
    let detail = |k: &str| snap.source.details.get(k).cloned();
    match &req.destination {
        Destination::Directory { .. } => unreachable!("restored above"),
        Destination::File(path) => {
            stream::copy_to_file(reader, path)?;
            out.restored_to = path.display().to_string();
        }
        Destination::Postgres {
            url,
            tools,
            options,
        } => {
            let pg = Postgres::connect(url, tools, Some(postgres::MAINTENANCE_DB))?;
            if snap.source.kind == postgres::KIND_GLOBALS {
                out.warnings = pg.restore_globals(reader)?;
                out.restored_to = url.location(None);
            } else {
                pg.restore(reader, &detail("pg_dump").unwrap_or_default(), options)?;
                out.restored_to = url.location(url.database.as_deref());
            }
        }
        Destination::Mysql {
            url,
            tools,
            options,
        } => {
            let m = Mysql::connect(url, tools, None)?;
            let dumped = detail("database").filter(|d| !d.is_empty());
            m.restore(reader, dumped.as_deref(), options)?;
            out.restored_to = url.location(url.database.as_deref());
        }
        Destination::Pgdata(opts) => {
            let done = pg_physical::restore_pgdata(reader, opts)?;
            out.settings = done.settings;
            out.restored_to = opts.dir.display().to_string();
        }
        Destination::RedisDir(dir) => {
            let p = redis::restore_to_dir(reader, dir)?;
            out.restored_to = p.display().to_string();
        }
        Destination::Command {
            command: cmd,
            role,
            discard_output,
        } => {
            let cmd = match cmd {
                Some(c) => c.clone(),
                None => detail("restore_command").ok_or_else(|| {
                    SourceError::Usage(format!(
                        "snapshot {} recorded no restore command: give one with --restore-command CMD, or use --to-file FILE",
                        id.short()
                    ))
                })?,
            };
            command::pipe_into(reader, &cmd, role, *discard_output)?;
            out.restored_to = format!("command `{cmd}`");
        }
    }
    Ok(out)
}

/// A snapshot's stream, failing once the cancel fires (a timed-out restore
/// stops reading the vault at once), counting what it hands on.
struct Stream<'a> {
    inner: StreamReader<'a>,
    cancel: Option<Cancel>,
    progress: &'a Progress,
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(why) = self.cancel.as_ref().and_then(Cancel::reason) {
            return Err(std::io::Error::other(why));
        }
        let n = self.inner.read(buf)?;
        add(&self.progress.bytes, n as u64);
        Ok(n)
    }
}

/// Names the path of a damaged tree: an error about `tree ID` (a tree that
/// does not decode or breaks the name rules) becomes damage of snapshot
/// `id` at the path where the tree hangs, with the offending entry's name.
/// Other errors are returned as they are.
pub fn name_damage(vault: &Vault, index: &Index, id: &Id, snap: &Snapshot, e: Error) -> Error {
    let Error::Damaged { object, detail } = &e else {
        return e;
    };
    let Some(tree) = object.strip_prefix("tree ").and_then(Id::parse) else {
        return e;
    };
    let Some(dir) = path_of_tree(vault, index, &snap.tree, &tree) else {
        return e;
    };
    // The offending name, from the tree's own bytes (the error above has it
    // only as text).
    let decoded = vault.read_blob(index, &tree).ok().map(|b| Tree::decode(&b));
    let name = decoded
        .as_ref()
        .and_then(|d| d.as_ref().err())
        .and_then(|te| te.name());
    let path = coffer_core::tree::damage_path(&dir, name);
    Error::damaged(
        format!("snapshot {}", id.short()),
        format!(
            "path {path}: {object}: {detail}; restore refuses this snapshot \
             (`coffer check` lists every damaged snapshot)"
        ),
    )
}

/// The path (`/a/b`, empty for the root) below `root` whose directory is
/// tree `want`, found by a walk that skips trees it cannot load.
fn path_of_tree(vault: &Vault, index: &Index, root: &Id, want: &Id) -> Option<String> {
    if root == want {
        return Some(String::new());
    }
    let mut seen = HashSet::new();
    let mut stack = vec![(*root, String::new())];
    while let Some((t, path)) = stack.pop() {
        if !seen.insert(t) {
            continue;
        }
        let Ok(tree) = vault.load_tree(index, &t) else {
            continue;
        };
        for n in &tree.nodes {
            if let Some(sub) = n.subtree {
                let p = format!("{path}/{}", n.display_name());
                if sub == *want {
                    return Some(p);
                }
                stack.push((sub, p));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run_backup, SnapshotMeta, SourceOutput};
    use coffer_core::{BackupOptions, Node, NodeKind};

    use coffer_testing::memory_vault as vault;

    /// A snapshot whose tree `/d` holds a file called `name`.
    fn snapshot_with(v: &Vault, name: &[u8]) -> (Id, Snapshot) {
        let r = run_backup(
            v,
            &BackupOptions::default(),
            &SnapshotMeta::default(),
            |a, _| -> coffer_core::Result<SourceOutput> {
                let bad = Tree {
                    version: 1,
                    nodes: vec![Node::new(name.to_vec(), NodeKind::File)],
                };
                let mut d = Node::new(b"d".to_vec(), NodeKind::Dir);
                d.subtree = Some(a.save_tree(&bad)?);
                let mut out = stream::one_file(a, Vec::new(), "x", "files", Default::default())?;
                out.tree = a.save_tree(&Tree::new(vec![d]))?;
                Ok(out)
            },
        )
        .unwrap();
        (r.id.unwrap(), r.snapshot)
    }

    fn request<'a>(
        v: &'a Vault,
        index: &'a Index,
        id: Id,
        snap: &'a Snapshot,
        destination: Destination,
    ) -> RestoreRequest<'a> {
        RestoreRequest {
            vault: v,
            index,
            id,
            snapshot: snap,
            destination,
            cancel: None,
        }
    }

    #[test]
    fn a_hostile_name_is_refused_naming_snapshot_and_path() {
        let v = vault();
        let (id, snap) = snapshot_with(&v, b"../escaped");
        let index = v.load_index().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        let dest = Destination::Directory {
            target: target.clone(),
            includes: Default::default(),
            subpath: None,
        };
        let e = restore(request(&v, &index, id, &snap, dest), &Progress::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&format!("snapshot {}", id.short())), "{msg}");
        assert!(msg.contains("path /d/../escaped:"), "{msg}");
        assert!(!dir.path().join("escaped").exists());
    }

    #[test]
    fn a_destination_of_another_kind_is_a_usage_error() {
        let v = vault();
        let r = run_backup(
            &v,
            &BackupOptions::default(),
            &SnapshotMeta::default(),
            |a, _| stream::save_stream(a, &b"dump"[..], "s.sql", "stdin", Default::default()),
        )
        .unwrap();
        let (id, snap) = (r.id.unwrap(), r.snapshot);
        let index = v.load_index().unwrap();
        let dest = Destination::RedisDir(PathBuf::from("/nonexistent/redis"));
        let e = restore(request(&v, &index, id, &snap, dest), &Progress::default()).unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert!(
            e.to_string()
                .contains("is a stdin snapshot of s.sql; --redis-dir restores redis snapshots"),
            "{e}"
        );
    }
}
