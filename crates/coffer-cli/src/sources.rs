//! The database and command sources on the command line: flags in, calls to
//! coffer-sources out. Everything that talks to a server or runs a process
//! lives in coffer-sources; this file only picks what to call and prints.

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::wal::PutOutcome;
use coffer_core::{BackupOptions, Id, Index, Snapshot, Vault};
use coffer_sources::dburl::DbUrl;
use coffer_sources::mysql::{self, MysqlOptions, MysqlRestoreOptions};
use coffer_sources::pg_physical::{
    self, PgdataOptions, RecoveryOptions, RecoveryTarget, WalSecret,
};
use coffer_sources::postgres::{self, PgOptions, PgRestoreOptions};
use coffer_sources::restore::{self, Destination, RestoreRequest};
use coffer_sources::spec::{self, SourceSpec};
use coffer_sources::stream::StreamReader;
use coffer_sources::wal::{self, FetchOutcome};
use coffer_sources::{SnapshotMeta, SourceError};
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
    /// File holding the database's password (its content less exactly one trailing newline), so that
    /// it need be neither in the URL nor on a command line; else the environment variable
    /// COFFER_DB_PASSWORD, when the URL has no password
    #[arg(long, env = "COFFER_DB_PASSWORD_FILE", value_name = "FILE")]
    pub db_password_file: Option<PathBuf>,
}

/// The environment variable that may hold a database's password.
pub const DB_PASSWORD_ENV: &str = "COFFER_DB_PASSWORD";

impl ToolArgs {
    /// `url` (of option `flag`) with the password from --db-password-file
    /// or COFFER_DB_PASSWORD put in (the tools get it through their
    /// environment). A password file and a URL with a password is a usage
    /// error; the variable only fills a URL without one.
    pub fn url(&self, url: &str, flag: &str) -> Result<String> {
        let has_password = coffer_sources::dburl::has_password(url);
        let password = if let Some(f) = &self.db_password_file {
            // The one rule for password files, as for the vault's.
            Some(
                coffer_core::keys::read_password_file(f).map_err(|e| match e {
                    coffer_core::Error::InvalidInput(m) => anyhow::Error::new(UsageError(m)),
                    e => anyhow::Error::new(e).context("reading --db-password-file"),
                })?,
            )
        } else if has_password {
            None
        } else {
            std::env::var(DB_PASSWORD_ENV)
                .ok()
                .filter(|p| !p.is_empty())
        };
        match password {
            Some(pw) => Ok(coffer_sources::dburl::with_password(url, &pw, flag).map_err(usage)?),
            None => Ok(url.to_string()),
        }
    }

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

    /// The source these flags describe (call when [`Self::count`] is 1),
    /// with the database password from --db-password-file or
    /// COFFER_DB_PASSWORD in its URL.
    pub fn spec(&self) -> Result<SourceSpec> {
        let bin = |d: &Option<PathBuf>| d.clone();
        Ok(if let Some(u) = &self.postgres {
            SourceSpec::Postgres {
                url: self.tools.url(u, "--postgres")?,
                all_databases: self.all_databases,
                globals: self.globals,
                include_databases: self.include_database.clone(),
                exclude_databases: self.exclude_database.clone(),
                bin_dir: bin(&self.tools.pg_bin_dir),
            }
        } else if let Some(u) = &self.mysql {
            SourceSpec::Mysql {
                url: self.tools.url(u, "--mysql")?,
                bin_dir: bin(&self.tools.mysql_bin_dir),
            }
        } else if let Some(u) = &self.redis {
            SourceSpec::Redis {
                url: self.tools.url(u, "--redis")?,
            }
        } else {
            SourceSpec::Command {
                command: self.command.clone().unwrap_or_default(),
                name: self.name.clone().unwrap_or_default(),
                restore_command: self.restore_command.clone(),
            }
        })
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

/// A source error as the CLI reports it: usage errors exit 2.
pub fn usage(e: SourceError) -> anyhow::Error {
    if e.is_usage() {
        anyhow::Error::new(UsageError(e.to_string()))
    } else {
        e.into()
    }
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
    /// Unpack a postgres-base snapshot into this new data directory, set up for point-in-time recovery
    #[arg(long, value_name = "DIR")]
    pub pgdata: Option<PathBuf>,
    /// With --pgdata: recover up to this time (as PostgreSQL reads a timestamptz, e.g. '2026-03-01 12:00:00+00')
    #[arg(long, value_name = "TIME")]
    pub target_time: Option<String>,
    /// With --pgdata: recover up to this WAL position (e.g. 0/3000060)
    #[arg(long, value_name = "LSN")]
    pub target_lsn: Option<String>,
    /// With --pgdata: recover up to this transaction id
    #[arg(long, value_name = "XID")]
    pub target_xid: Option<String>,
    /// With --pgdata: recover up to this restore point (pg_create_restore_point)
    #[arg(long, value_name = "NAME")]
    pub target_name: Option<String>,
    /// With --pgdata and --target-time/-lsn/-xid: stop just before the target instead of just after it
    #[arg(long)]
    pub target_exclusive: bool,
    /// With --pgdata: whether the restored server archives WAL. off (default): a side restore must not
    /// add its new timeline to the vault's archive; preserve: keep archive_mode, for a restore that
    /// replaces the original cluster
    #[arg(long, value_name = "MODE", value_parser = ["off", "preserve"])]
    pub archive_mode: Option<String>,
    /// With --pgdata, when running as root: give the files to this user (default: the owner of DIR's parent)
    #[arg(long, value_name = "USER")]
    pub pgdata_owner: Option<String>,
    /// Set from `--target immediate` with --pgdata.
    #[arg(skip)]
    pub target_immediate: bool,
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
            self.pgdata.is_some(),
            self.run_restore_command || self.restore_command.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// Restores a stream snapshot to the destination the flags give, through
/// [`coffer_sources::restore::restore`] (the one restore every front end
/// calls); this only turns flags into a [`Destination`] and prints.
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
    let pitr_flags = a.target_time.is_some()
        || a.target_lsn.is_some()
        || a.target_xid.is_some()
        || a.target_name.is_some()
        || a.target_exclusive
        || a.pgdata_owner.is_some()
        || a.archive_mode.is_some()
        || a.target_immediate;
    if pitr_flags && a.pgdata.is_none() {
        bail!(UsageError(
            "--target-time, --target-lsn, --target-xid, --target-name, --target-exclusive, --archive-mode and --pgdata-owner go with --pgdata DIR".into()
        ));
    }
    let destination = if let Some(f) = &a.to_file {
        Destination::File(f.clone())
    } else if let Some(u) = &a.postgres {
        let u = &a.tools.url(u, "--postgres")?;
        Destination::Postgres {
            url: DbUrl::parse(u, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")
                .map_err(usage)?,
            tools: a.tools.pg(),
            options: PgRestoreOptions {
                create: a.create,
                clean: a.clean,
                jobs: a.jobs,
                temp_dir: None,
            },
        }
    } else if let Some(u) = &a.mysql {
        let u = &a.tools.url(u, "--mysql")?;
        Destination::Mysql {
            url: DbUrl::parse(u, mysql::SCHEMES, mysql::DEFAULT_PORT, "--mysql").map_err(usage)?,
            tools: a.tools.mysql(),
            options: MysqlRestoreOptions {
                create: a.create,
                clean: a.clean,
            },
        }
    } else if let Some(dir) = &a.pgdata {
        Destination::Pgdata(pgdata_options(g, vault, index, id, snap, dir, a)?)
    } else if let Some(dir) = &a.redis_dir {
        Destination::RedisDir(dir.clone())
    } else {
        Destination::Command {
            command: a.restore_command.clone(),
            role: "restore command".into(),
            discard_output: false,
        }
    };
    let context = destination.context(id);
    let out = restore::restore(
        RestoreRequest {
            vault,
            index,
            id: *id,
            snapshot: snap,
            destination,
            cancel: None,
        },
        &Default::default(),
    )
    .with_context(|| context)?;
    let (kind, dest, bytes, warnings) = (&out.kind, &out.restored_to, out.bytes, &out.warnings);
    if !g.quiet && !g.json {
        for s in &out.settings {
            println!("{s}");
        }
    }
    for w in warnings {
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

/// `coffer pg …`: physical PostgreSQL backups.
#[derive(clap::Subcommand)]
pub enum PgCmd {
    /// Take a base backup of a running cluster (pg_basebackup, streamed) into the vault
    Basebackup {
        /// The cluster: postgres://user@host:port/ (the user needs the REPLICATION attribute)
        #[arg(long, value_name = "URL")]
        postgres: String,
        /// Tag the snapshot (repeatable)
        #[arg(long)]
        tag: Vec<String>,
        /// Host name to record
        #[arg(long)]
        host: Option<String>,
        /// zstd level (0 = none)
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(0..=22))]
        compression: i32,
        #[command(flatten)]
        tools: ToolArgs,
    },
    /// Report gaps in the archived WAL and the recoverable window (exit 1 if no base backup can recover or a gap cuts the window)
    WalVerify,
    /// Delete archived WAL that no base backup in the vault needs: segments before the oldest base backup's start (timeline history and .partial files are kept)
    WalPrune {
        /// Report what would be deleted, delete nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `coffer pg` command.
pub fn pg(g: &GlobalArgs, cmd: PgCmd) -> Result<u8> {
    match cmd {
        PgCmd::Basebackup {
            postgres: u,
            tag,
            host,
            compression,
            tools,
        } => {
            let spec = SourceSpec::PostgresBase {
                url: tools.url(&u, "--postgres")?,
                bin_dir: tools.pg_bin_dir.clone(),
            };
            spec.validate().map_err(usage)?;
            let vault = crate::vaults::open(g)?;
            let opts = BackupOptions {
                compression_level: compression,
                ..Default::default()
            };
            let meta = SnapshotMeta {
                host,
                tags: tag
                    .iter()
                    .flat_map(|t| t.split(','))
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect(),
                ..Default::default()
            };
            let outcome =
                spec::backup(&vault, &spec, &opts, &meta, &Default::default()).map_err(usage)?;
            if let Some(f) = outcome.failed.into_iter().next() {
                return Err(anyhow::Error::new(f.error).context(format!(
                    "backup of {} failed; no snapshot was written",
                    f.what
                )));
            }
            let r = outcome.done.into_iter().next().expect("one base backup");
            crate::report_backup(g, &vault, &r, false, false)?;
            Ok(0)
        }
        PgCmd::WalPrune { dry_run } => {
            let vault = crate::vaults::open(g)?;
            let opts = wal::PruneOptions {
                dry_run,
                ..Default::default()
            };
            let r = wal::prune(&vault, &opts).with_context(|| {
                format!("pruning the WAL archive of {}", vault.backend().location())
            })?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if !g.quiet {
                match (&r.horizon, &r.horizon_snapshot) {
                    (Some(h), Some(snap)) => println!(
                        "horizon {h}: the start of the oldest base backup {} ({}), of {} base backups",
                        &snap[..8.min(snap.len())],
                        r.horizon_time.as_deref().unwrap_or("?"),
                        r.base_backups
                    ),
                    _ => println!(
                        "no base backup in {}: nothing deleted (WAL is pruned relative to the oldest base backup)",
                        vault.backend().location()
                    ),
                }
                let verb = if dry_run { "would delete" } else { "deleted" };
                println!(
                    "{verb} {} WAL segments and {} backup history files ({}); kept {} files",
                    r.segments_deleted,
                    r.history_files_deleted,
                    crate::human(r.bytes_freed),
                    r.kept
                );
                if r.kept_for_lock > 0 {
                    println!(
                        "kept {} files before the horizon: younger than the vault lock's minimum retention (or the store does not date them)",
                        r.kept_for_lock
                    );
                }
            }
            Ok(0)
        }
        PgCmd::WalVerify => {
            let vault = crate::vaults::open(g)?;
            let r = wal::verify(&vault)?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} WAL segments archived ({} to {}), {} other files",
                    r.segments,
                    r.oldest_segment.as_deref().unwrap_or("-"),
                    r.newest_segment.as_deref().unwrap_or("-"),
                    r.other_files
                );
                for gap in &r.gaps {
                    println!(
                        "gap: {} segments missing after {} (next archived: {})",
                        gap.missing, gap.after, gap.before
                    );
                }
                for b in &r.base_backups {
                    println!(
                        "base backup {} ({}): needs WAL from {}; {}",
                        &b.snapshot[..8],
                        b.time,
                        b.start_wal_file,
                        match (&b.recoverable_to, b.consistent) {
                            (Some(to), true) => format!("recoverable up to {to}"),
                            _ => "NOT recoverable: WAL up to its end point is missing".into(),
                        }
                    );
                }
                for u in &r.undecodable {
                    println!("damaged: {u}: name does not decode");
                }
                match &r.window {
                    Some((from, to)) => {
                        println!("recoverable window: from {from} to the end of segment {to}")
                    }
                    None => println!("no recoverable window: no base backup has its WAL archived"),
                }
            }
            if r.window.is_none() || r.gaps_in_window > 0 {
                eprintln!(
                    "error: the WAL archive in {} {}: take a new base backup (coffer pg basebackup) and check archive_command",
                    vault.backend().location(),
                    if r.window.is_none() { "cannot recover any base backup" } else { "has gaps inside the recoverable window" }
                );
                return Ok(1);
            }
            Ok(if r.gaps.is_empty() && r.undecodable.is_empty() {
                0
            } else {
                3
            })
        }
    }
}

/// `coffer wal-push PATH`: archives one WAL file; exits 0 only once it is durable.
pub fn wal_push(g: &GlobalArgs, path: &std::path::Path) -> Result<u8> {
    let vault = crate::vaults::open(g)?;
    let (name, outcome) = wal::push(&vault, path)
        .map_err(usage)
        .with_context(|| format!("archiving WAL file {} failed", path.display()))?;
    let (already, stored) = match outcome {
        PutOutcome::Stored { stored } => (false, stored),
        PutOutcome::AlreadyArchived => (true, 0),
    };
    if g.json {
        println!(
            "{}",
            json!({"wal_file": name, "already_archived": already, "stored_bytes": stored})
        );
    } else if !g.quiet {
        if already {
            println!("WAL file {name} was already archived with identical content");
        } else {
            println!("archived WAL file {name} ({} stored)", crate::human(stored));
        }
    }
    Ok(0)
}

/// `coffer wal-fetch NAME DEST`: exit 1 and nothing written when the vault lacks it.
pub fn wal_fetch(g: &GlobalArgs, name: &str, dest: &std::path::Path) -> Result<u8> {
    let vault = crate::vaults::open(g)?;
    match wal::fetch(&vault, name, dest)
        .map_err(usage)
        .with_context(|| format!("fetching WAL file {name} to {}", dest.display()))?
    {
        FetchOutcome::Written(n) => {
            if g.json {
                println!(
                    "{}",
                    json!({"wal_file": name, "bytes": n, "written_to": dest})
                );
            } else if !g.quiet {
                println!(
                    "fetched WAL file {name} to {} ({})",
                    dest.display(),
                    crate::human(n)
                );
            }
            Ok(0)
        }
        FetchOutcome::Missing => {
            // PostgreSQL asks for files past the end of the archive at the end
            // of every recovery: one quiet line, exit 1.
            if g.json {
                println!("{}", json!({"wal_file": name, "missing": true}));
            }
            eprintln!(
                "WAL file {name} is not in vault {}",
                vault.backend().location()
            );
            Ok(1)
        }
    }
}

/// The recovery configuration for `restore --pgdata`: where the server finds
/// coffer, the vault and a secret *file* it can read.
fn recovery_options(g: &GlobalArgs, a: &StreamRestoreArgs) -> Result<RecoveryOptions> {
    let t = crate::vaults::target(g);
    let vault = if t.location.contains("://") {
        t.location.clone()
    } else {
        std::path::absolute(&t.location)
            .with_context(|| format!("making vault path {} absolute", t.location))?
            .to_string_lossy()
            .into_owned()
    };
    let abs = |p: &std::path::Path| {
        std::path::absolute(p).with_context(|| format!("making {} absolute", p.display()))
    };
    let secret = if let Some(k) = &g.key_file {
        WalSecret::KeyFile(abs(k)?)
    } else if let Some(p) = &g.password_file {
        WalSecret::PasswordFile(abs(p)?)
    } else if std::env::var("COFFER_PASSWORD").is_ok_and(|p| !p.is_empty()) {
        bail!(UsageError(
            "restore --pgdata: the vault's password came from COFFER_PASSWORD, which the PostgreSQL server \
             cannot see when it runs restore_command; give --key-file or --password-file (a file the server's \
             user can read) instead"
                .into()
        ));
    } else if let Some(k) = t.default_key_file().filter(|k| k.exists()) {
        WalSecret::KeyFile(abs(&k)?)
    } else {
        bail!(UsageError(format!(
            "restore --pgdata needs --key-file or --password-file for vault {}: the server's restore_command uses it",
            t.location
        )));
    };
    let targets = [
        a.target_time.clone().map(RecoveryTarget::Time),
        a.target_lsn.clone().map(RecoveryTarget::Lsn),
        a.target_xid.clone().map(RecoveryTarget::Xid),
        a.target_name.clone().map(RecoveryTarget::Name),
        a.target_immediate.then_some(RecoveryTarget::Immediate),
    ];
    let mut given: Vec<RecoveryTarget> = targets.into_iter().flatten().collect();
    if given.len() > 1 {
        bail!(UsageError(
            "give at most one recovery target: --target-time, --target-lsn, --target-xid, --target-name or --target immediate".into()
        ));
    }
    Ok(RecoveryOptions {
        coffer: std::env::current_exe().context("finding the path of the coffer executable")?,
        vault,
        secret,
        target: given.pop().unwrap_or(RecoveryTarget::Latest),
        inclusive: !a.target_exclusive,
        archive: a.archive_mode.as_deref() == Some("preserve"),
    })
}

/// The options of `restore --pgdata DIR`. The snapshot's kind is checked
/// first, so that restoring another kind there says so before asking for
/// a key file.
fn pgdata_options(
    g: &GlobalArgs,
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    dir: &std::path::Path,
    a: &StreamRestoreArgs,
) -> Result<PgdataOptions> {
    // As before the restore: a snapshot that is no single stream says so first.
    StreamReader::open(vault, index, snap)?;
    restore::expect_kind(id, snap, &[pg_physical::KIND_BASE], "--pgdata")?;
    let recovery = recovery_options(g, a)?;
    let owner = match &a.pgdata_owner {
        Some(u) => Some(pg_physical::lookup_user(u).map_err(usage)?),
        None => None,
    };
    Ok(PgdataOptions {
        dir: dir.to_path_buf(),
        recovery,
        owner,
        comment: format!(
            "coffer restore of base backup snapshot {} ({}), {}",
            id.short(),
            snap.paths.join(" "),
            jiff::Timestamp::now()
        ),
    })
}
