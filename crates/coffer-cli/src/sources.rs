//! The database and command sources on the command line: flags in, calls to
//! coffer-sources out. Everything that talks to a server or runs a process
//! lives in coffer-sources; this file only picks what to call and prints.

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::{BackupOptions, Id, Index, Snapshot, Vault};
use coffer_sources::dburl::DbUrl;
use coffer_sources::mysql::{self, Mysql, MysqlOptions, MysqlRestoreOptions};
use coffer_sources::postgres::{self, PgOptions, PgRestoreOptions, Postgres};
use coffer_sources::stream::{self, StreamReader};
use coffer_sources::{command, redis, run_backup, BackupResult, SnapshotMeta, SourceError};
use serde_json::json;
use std::path::PathBuf;

use crate::{GlobalArgs, UsageError};

/// Where the database client tools are.
#[derive(Args, Clone, Debug, Default)]
pub struct ToolArgs {
    /// Directory holding pg_dump, pg_dumpall, pg_restore and psql (only it is searched)
    #[arg(long, env = "COFFER_PG_BIN_DIR", value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Directory holding mariadb-dump/mysqldump and mariadb/mysql (only it is searched)
    #[arg(long, env = "COFFER_MYSQL_BIN_DIR", value_name = "DIR")]
    pub mysql_bin_dir: Option<PathBuf>,
}

impl ToolArgs {
    fn pg(&self) -> PgOptions {
        PgOptions {
            bin_dir: self.pg_bin_dir.clone(),
        }
    }
    fn mysql(&self) -> MysqlOptions {
        MysqlOptions {
            bin_dir: self.mysql_bin_dir.clone(),
        }
    }
}

/// The backup flags of the database and command sources.
#[derive(Args, Clone, Debug, Default)]
pub struct DbBackupArgs {
    /// Back up a PostgreSQL database with pg_dump: postgres://user@host:port/db
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// With --postgres (a URL without database): each database but templates as its own snapshot
    #[arg(long)]
    pub all_databases: bool,
    /// With --postgres: also store the roles and tablespaces (pg_dumpall --globals-only), once
    #[arg(long)]
    pub globals: bool,
    /// With --all-databases: only databases matching this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include_database: Vec<String>,
    /// With --all-databases: leave out databases matching this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude_database: Vec<String>,
    /// Back up MariaDB/MySQL with mariadb-dump: mysql://user@host:port/db (no db: all databases)
    #[arg(long, value_name = "URL")]
    pub mysql: Option<String>,
    /// Back up Redis as an RDB taken over the network: redis://[user:password@]host:port
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Back up the standard output of a shell command (with --name); a non-zero exit fails the backup
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    /// The name of a --command snapshot
    #[arg(long)]
    pub name: Option<String>,
    /// With --command: a shell command that restores the stream from its standard input
    #[arg(long, value_name = "CMD")]
    pub restore_command: Option<String>,
    #[command(flatten)]
    pub tools: ToolArgs,
}

impl DbBackupArgs {
    /// How many of these sources are given.
    pub fn count(&self) -> usize {
        [
            self.postgres.is_some(),
            self.mysql.is_some(),
            self.redis.is_some(),
            self.command.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }

    /// Whether the backup may make several snapshots (printed as a list).
    pub fn many_snapshots(&self) -> bool {
        self.postgres.is_some() && (self.all_databases || self.globals)
    }

    /// Flags that belong to a source that is not given.
    pub fn check(&self) -> Result<()> {
        let pg = self.postgres.is_some();
        let filters = !self.include_database.is_empty() || !self.exclude_database.is_empty();
        let all_pg = pg && self.all_databases;
        let misplaced = [
            (
                self.all_databases && !pg && self.mysql.is_none(),
                "--all-databases goes with --postgres or --mysql",
            ),
            (self.globals && !pg, "--globals goes with --postgres"),
            (
                filters && !all_pg,
                "--include-database and --exclude-database go with --postgres URL --all-databases",
            ),
            (
                (self.name.is_some() || self.restore_command.is_some()) && self.command.is_none(),
                "--name and --restore-command go with --command",
            ),
            (
                self.command.is_some() && self.name.is_none(),
                "--command needs --name NAME (the snapshot's name)",
            ),
        ];
        for (bad, msg) in misplaced {
            if bad {
                bail!(UsageError(msg.into()));
            }
        }
        Ok(())
    }
}

fn usage(e: SourceError) -> anyhow::Error {
    if e.is_usage() {
        anyhow::Error::new(UsageError(e.to_string()))
    } else {
        e.into()
    }
}

/// One backup of a database source, with the context every failure gets.
fn one<F>(
    vault: &Vault,
    opts: &BackupOptions,
    meta: &SnapshotMeta,
    what: &str,
    f: F,
) -> Result<BackupResult>
where
    F: FnOnce(&coffer_core::Archiver) -> Result<coffer_sources::SourceOutput, SourceError>,
{
    run_backup(vault, opts, meta, |arch, _| f(arch))
        .with_context(|| format!("backup of {what} failed; no snapshot was written"))
}

/// Runs the database or command backup the flags ask for; returns each
/// snapshot made, and the failures of an --all-databases run.
pub fn backup(
    vault: &Vault,
    opts: &BackupOptions,
    meta: &SnapshotMeta,
    a: &DbBackupArgs,
) -> Result<(Vec<BackupResult>, Vec<anyhow::Error>)> {
    if let Some(u) = &a.postgres {
        let url = DbUrl::parse(u, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")
            .map_err(usage)?;
        match (&url.database, a.all_databases, a.globals) {
            (Some(_), true, _) => bail!(UsageError(format!(
                "--all-databases takes a URL without a database (postgres://host:port), not {url}"
            ))),
            (None, false, false) => bail!(UsageError(format!(
                "--postgres {url} names no database: add it (postgres://host:port/db), or give --all-databases or --globals"
            ))),
            _ => {}
        }
        let pg = Postgres::connect(&url, &a.tools.pg(), None)?;
        let dbs = if a.all_databases {
            let d = pg
                .databases(&a.include_database, &a.exclude_database)
                .map_err(usage)?;
            if d.is_empty() {
                bail!(
                    "no database on {} matches --include-database/--exclude-database",
                    url.host_port()
                );
            }
            d
        } else {
            url.database.iter().cloned().collect()
        };
        let mut done = Vec::new();
        let mut failed = Vec::new();
        if a.globals {
            let what = format!("the globals of {}", url.location(None));
            match one(vault, opts, meta, &what, |arch| pg.backup_globals(arch)) {
                Ok(r) => done.push(r),
                Err(e) => failed.push(e),
            }
        }
        for db in &dbs {
            let what = url.location(Some(db));
            match one(vault, opts, meta, &what, |arch| {
                pg.backup_database(arch, db)
            }) {
                Ok(r) => done.push(r),
                Err(e) => failed.push(e),
            }
        }
        return Ok((done, failed));
    }
    let r = if let Some(u) = &a.mysql {
        let url = DbUrl::parse(u, mysql::SCHEMES, mysql::DEFAULT_PORT, "--mysql").map_err(usage)?;
        if a.all_databases && url.database.is_some() {
            bail!(UsageError(format!(
                "--all-databases takes a URL without a database (mysql://host:port), not {url}"
            )));
        }
        let m = Mysql::connect(&url, &a.tools.mysql(), url.database.as_deref())?;
        one(
            vault,
            opts,
            meta,
            &url.location(url.database.as_deref()),
            |arch| m.backup(arch),
        )?
    } else if let Some(u) = &a.redis {
        let url = DbUrl::parse(u, redis::SCHEMES, redis::DEFAULT_PORT, "--redis").map_err(usage)?;
        let r = redis::Redis::connect(&url)?;
        one(vault, opts, meta, &url.location(None), |arch| {
            r.backup(arch)
        })?
    } else if let Some(c) = &a.command {
        let src = command::CommandSource::new(
            c.clone(),
            a.name.clone().unwrap_or_default(),
            a.restore_command.clone(),
        )
        .map_err(usage)?;
        one(vault, opts, meta, &format!("command `{c}`"), |arch| {
            src.backup(arch)
        })?
    } else {
        unreachable!("backup() is called with a database or command source")
    };
    Ok((vec![r], Vec::new()))
}

/// Restore destinations for stream snapshots.
#[derive(Args, Clone, Debug, Default)]
pub struct StreamRestoreArgs {
    /// Write the snapshot's stream (dump, RDB, command output) to this new file (`-`: standard output)
    #[arg(long, value_name = "FILE")]
    pub to_file: Option<PathBuf>,
    /// Restore a postgres snapshot into this database (postgres://user@host:port/newdb), or a globals snapshot into this server
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Restore a mysql snapshot into this database (mysql://user@host:port/newdb; no db for an all-databases dump)
    #[arg(long, value_name = "URL")]
    pub mysql: Option<String>,
    /// Write a redis snapshot's dump.rdb into this directory (start redis-server --dir DIR on it)
    #[arg(long, value_name = "DIR")]
    pub redis_dir: Option<PathBuf>,
    /// Pipe a command snapshot into the restore command it recorded
    #[arg(long)]
    pub run_restore_command: bool,
    /// Pipe the snapshot's stream into this shell command
    #[arg(long, value_name = "CMD")]
    pub restore_command: Option<String>,
    /// With --postgres/--mysql: create the database first
    #[arg(long)]
    pub create: bool,
    /// With --postgres/--mysql: drop what exists first (with --create: the whole database)
    #[arg(long)]
    pub clean: bool,
    /// With --postgres: parallel pg_restore jobs (the dump is spooled to a temporary file first)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    #[command(flatten)]
    pub tools: ToolArgs,
}

impl StreamRestoreArgs {
    /// How many destinations are given.
    pub fn count(&self) -> usize {
        [
            self.to_file.is_some(),
            self.postgres.is_some(),
            self.mysql.is_some(),
            self.redis_dir.is_some(),
            self.run_restore_command || self.restore_command.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

fn expect_kind(id: &Id, snap: &Snapshot, kinds: &[&str], flag: &str) -> Result<()> {
    if !kinds.contains(&snap.source.kind.as_str()) {
        bail!(UsageError(format!(
            "snapshot {} is a {} snapshot of {}; {flag} restores {} snapshots (write any stream with --to-file FILE)",
            id.short(),
            snap.source.kind,
            snap.paths.join(" "),
            kinds.join(" or ")
        )));
    }
    Ok(())
}

/// Restores a stream snapshot to the destination the flags give.
pub fn restore(
    g: &GlobalArgs,
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    a: &StreamRestoreArgs,
) -> Result<u8> {
    if (a.create || a.clean) && a.postgres.is_none() && a.mysql.is_none() {
        bail!(UsageError(
            "--create and --clean go with --postgres or --mysql".into()
        ));
    }
    if a.jobs > 1 && a.postgres.is_none() {
        bail!(UsageError("--jobs goes with --postgres".into()));
    }
    let reader = StreamReader::open(vault, index, snap)?;
    let bytes = reader.len();
    let kind = snap.source.kind.as_str();
    let detail = |k: &str| snap.source.details.get(k).cloned();
    let mut warnings = Vec::new();
    let dest: String;
    if let Some(f) = &a.to_file {
        stream::restore_to_file(vault, index, snap, f)
            .with_context(|| format!("writing snapshot {} to {}", id.short(), f.display()))?;
        dest = f.display().to_string();
    } else if let Some(u) = &a.postgres {
        expect_kind(
            id,
            snap,
            &[postgres::KIND, postgres::KIND_GLOBALS],
            "--postgres",
        )?;
        let url = DbUrl::parse(u, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")
            .map_err(usage)?;
        let pg = Postgres::connect(&url, &a.tools.pg(), Some(postgres::MAINTENANCE_DB))?;
        if kind == postgres::KIND_GLOBALS {
            warnings = pg.restore_globals(reader)?;
            dest = url.location(None);
        } else {
            let opts = PgRestoreOptions {
                create: a.create,
                clean: a.clean,
                jobs: a.jobs,
                temp_dir: None,
            };
            pg.restore(reader, &detail("pg_dump").unwrap_or_default(), &opts)
                .map_err(usage)
                .with_context(|| format!("restoring snapshot {} into {}", id.short(), url))?;
            dest = url.location(url.database.as_deref());
        }
    } else if let Some(u) = &a.mysql {
        expect_kind(id, snap, &[mysql::KIND], "--mysql")?;
        let url = DbUrl::parse(u, mysql::SCHEMES, mysql::DEFAULT_PORT, "--mysql").map_err(usage)?;
        let m = Mysql::connect(&url, &a.tools.mysql(), None)?;
        let dumped = detail("database").filter(|d| !d.is_empty());
        m.restore(
            reader,
            dumped.as_deref(),
            &MysqlRestoreOptions {
                create: a.create,
                clean: a.clean,
            },
        )
        .map_err(usage)
        .with_context(|| format!("restoring snapshot {} into {}", id.short(), url))?;
        dest = url.location(url.database.as_deref());
    } else if let Some(dir) = &a.redis_dir {
        expect_kind(id, snap, &[redis::KIND], "--redis-dir")?;
        let p = redis::restore_to_dir(reader, dir)?;
        dest = p.display().to_string();
    } else {
        let cmd = match &a.restore_command {
            Some(c) => c.clone(),
            None => detail("restore_command").ok_or_else(|| {
                UsageError(format!(
                    "snapshot {} recorded no restore command: give one with --restore-command CMD, or use --to-file FILE",
                    id.short()
                ))
            })?,
        };
        command::restore(reader, &cmd)?;
        dest = format!("command `{cmd}`");
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if g.json {
        println!(
            "{}",
            json!({"snapshot": id.to_hex(), "kind": kind, "restored_to": dest, "bytes": bytes, "warnings": warnings})
        );
    } else if !g.quiet && a.to_file.as_deref() != Some(std::path::Path::new("-")) {
        println!(
            "restored snapshot {} ({kind} {}) into {dest}: {}",
            id.short(),
            snap.paths.join(" "),
            crate::human(bytes)
        );
    }
    Ok(if warnings.is_empty() { 0 } else { 3 })
}
