//! `coffer restore`: a snapshot's files into a directory; stream snapshots
//! (dumps, RDBs, command output) into a database, a file or a command;
//! base backups into a data directory. Every destination goes through
//! [`coffer_sources::restore::restore`]. A snapshot of a vault in an
//! archive storage class (GLACIER, DEEP_ARCHIVE) is thawed first and waited
//! for ([`crate::cmd::thaw::thaw`]), unless `--no-thaw`.

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::{Id, Index, Snapshot, Vault};
use coffer_sources::dburl::DbUrl;
use coffer_sources::filter::Patterns;
use coffer_sources::mysql::{self, MysqlRestoreOptions};
use coffer_sources::pg_physical::{
    self, PgdataOptions, RecoveryOptions, RecoveryTarget, WalSecret,
};
use coffer_sources::postgres::{self, PgRestoreOptions};
use coffer_sources::restore::{self, Destination, RestoreRequest};
use coffer_sources::select::{self, Wanted};
use coffer_sources::stream::StreamReader;
use coffer_sources::Progress;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

use crate::args::FilterArgs;
use crate::args::GlobalArgs;
use crate::cmd::thaw::ThawFlags;
use crate::context;
use crate::error::UsageError;
use crate::output::{count, human};
use crate::progress::{ProgressView, Work};
use crate::sources::{usage, ToolArgs};

/// `coffer restore SNAPSHOT` with its destination.
// One parameter per group of `coffer restore`'s flags, as clap parses them.
#[allow(clippy::too_many_arguments)]
pub fn run(
    g: &GlobalArgs,
    snapshot: String,
    target: Option<PathBuf>,
    include: Vec<String>,
    subpath: Option<String>,
    stream: StreamRestoreArgs,
    filter: FilterArgs,
    thaw: Thaw,
) -> Result<u8> {
    let mut stream = stream;
    let mut target = target;
    if stream.pgdata.is_some() {
        // `--target immediate` is a recovery target there, not a directory.
        match target.take() {
                    None => {}
                    Some(t) if t.as_os_str() == "immediate" => stream.target_immediate = true,
                    Some(t) => bail!(UsageError(format!(
                        "--target {} with --pgdata: the only recovery target --target takes is `immediate` \
                         (or use --target-time, --target-lsn, --target-xid, --target-name)",
                        t.display()
                    ))),
                }
    }
    let dests = stream.count() + usize::from(target.is_some());
    if dests != 1 {
        bail!(UsageError(
                    "restore needs exactly one destination: --target DIR (files), --to-file FILE, \
                     --postgres URL, --mysql URL, --redis-dir DIR, --pgdata DIR, --run-restore-command or --restore-command CMD"
                        .into()
                ));
    }
    let vault = context::open(g)?;
    // `latest` into a database means that database's newest snapshot
    // (coffer-sources' select: one rule for every front end).
    let wanted = match target {
        Some(_) => None,
        None => wanted(&stream)?,
    };
    let (id, snap) =
        select::find(&vault, &snapshot, &filter.filter(), wanted.as_ref()).map_err(usage)?;
    let index = vault.load_index()?;
    thaw.before_restore(g, &vault, &index, &id, &snap)?;
    let Some(target) = target else {
        return restore(g, &vault, &index, &id, &snap, &stream);
    };
    let destination = restore::Destination::Directory {
        target: target.clone(),
        includes: Patterns::new(&include, "--include")?,
        subpath,
    };
    let context = destination.context(&id);
    let progress = Arc::new(Progress::default());
    let guard = crate::signal::exit_on_interrupt(interrupted(&id, &destination));
    let bar = ProgressView::start(g, progress.clone(), Work::Restore);
    let t0 = std::time::Instant::now();
    let out = restore::restore(
        restore::RestoreRequest {
            vault: &vault,
            index: &index,
            id,
            snapshot: &snap,
            destination,
            cancel: None,
        },
        &progress,
    );
    guard.done();
    bar.finish();
    let stats = out.with_context(|| context)?.files.unwrap_or_default();
    let secs = t0.elapsed().as_secs_f64();
    for w in &stats.warnings {
        eprintln!("warning: {w}");
    }
    if g.json {
        println!(
            "{}",
            json!({"snapshot": id.to_hex(), "target": target, "files": stats.files, "dirs": stats.dirs,
                           "others": stats.others, "bytes": stats.bytes, "warnings": stats.warnings,
                           "seconds": secs})
        );
    } else if !g.quiet {
        println!(
            "restored snapshot {} into {}: {}, {}, {}, {} in {}",
            id.short(),
            target.display(),
            count(stats.files, "file"),
            count(stats.dirs, "directory"),
            count(stats.others, "other entry"),
            human(stats.bytes),
            timing(stats.bytes, secs),
        );
    }
    Ok(if stats.warnings.is_empty() { 0 } else { 3 })
}

/// Whether and how `coffer restore` thaws a snapshot of a cold vault.
#[derive(Debug, Clone, Default)]
pub struct Thaw {
    /// `--no-thaw`: refuse at once when data packs are not thawed.
    pub no_thaw: bool,
    /// `--tier`, `--days`, `--poll-interval`.
    pub flags: ThawFlags,
}

impl Thaw {
    /// Before a restore of a snapshot of a vault in an archive storage
    /// class: request the thaw of what it needs and wait until it reads,
    /// with progress (see [`crate::cmd::thaw::thaw`]). With `--no-thaw`,
    /// nothing: the restore then fails before it writes anything, naming
    /// the frozen packs and `coffer thaw`.
    fn before_restore(
        &self,
        g: &GlobalArgs,
        vault: &Vault,
        index: &Index,
        id: &Id,
        snap: &Snapshot,
    ) -> Result<()> {
        let f = &self.flags;
        if self.no_thaw {
            if f.tier.is_some() || f.days.is_some() || f.poll_interval.is_some() {
                bail!(UsageError(
                    "--tier, --days and --poll-interval say how to thaw; --no-thaw thaws nothing: give one or the other".into()
                ));
            }
            return Ok(());
        }
        if vault.backend().archive_class().is_none() {
            return Ok(());
        }
        crate::cmd::thaw::thaw(g, vault, index, id, snap, f, true)?;
        Ok(())
    }
}

/// `2.1s (4.0 MiB/s)`.
fn timing(bytes: u64, secs: f64) -> String {
    let d = crate::output::duration(jiff::SignedDuration::from_secs_f64(secs));
    match crate::output::rate(bytes, secs) {
        Some(r) => format!("{d} ({r})"),
        None => d,
    }
}

/// What a restore that a signal cut short leaves behind, and what to do.
fn interrupted(id: &Id, d: &Destination) -> String {
    let left = match d {
        Destination::Directory { target, .. } => format!(
            "{} holds part of it: restore again to complete it (what is there is replaced), or remove it",
            target.display()
        ),
        Destination::File(f) => format!(
            "{} holds part of it (if a new file): remove it before writing it again",
            f.display()
        ),
        Destination::Postgres { url, .. } | Destination::Mysql { url, .. } => format!(
            "{url} holds part of it: restore again with --clean (or drop the database first)"
        ),
        Destination::Pgdata(o) => format!(
            "{} holds part of it: remove it before restoring again",
            o.dir.display()
        ),
        Destination::RedisDir(dir) => format!(
            "{} holds part of it: remove it before restoring again",
            dir.join("dump.rdb").display()
        ),
        Destination::Command { .. } => "the restore command read part of it".into(),
    };
    format!(
        "interrupted; the restore of snapshot {} is incomplete: {left}",
        id.short()
    )
}

/// Restore destinations for stream snapshots.
#[derive(Args, Clone, Debug, Default)]
pub struct StreamRestoreArgs {
    /// Write the snapshot's stream (dump, RDB, command output) to this new file (`-`: standard output)
    #[arg(long, value_name = "FILE")]
    pub to_file: Option<PathBuf>,
    /// Restore a postgres snapshot into this database (postgres://user@host:port/newdb), or a globals snapshot into this server.
    /// `latest`: the newest dump of this database, else of the only database in the vault (else name it: --path DB)
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Restore a mysql snapshot into this database (mysql://user@host:port/newdb; no db for an all-databases dump).
    /// `latest`: as with --postgres
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

/// What the destination these flags give takes, for choosing `latest`
/// (see [`coffer_sources::select`]); `None` for one that takes any kind.
fn wanted(a: &StreamRestoreArgs) -> Result<Option<Wanted>> {
    Ok(if let Some(u) = &a.postgres {
        let u = DbUrl::parse(u, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")
            .map_err(usage)?;
        Some(Wanted::postgres(&u))
    } else if let Some(u) = &a.mysql {
        let u = DbUrl::parse(u, mysql::SCHEMES, mysql::DEFAULT_PORT, "--mysql").map_err(usage)?;
        Some(Wanted::mysql(&u))
    } else if a.pgdata.is_some() {
        Some(Wanted::kinds(&[pg_physical::KIND_BASE], "--pgdata"))
    } else if a.redis_dir.is_some() {
        Some(Wanted::kinds(&[coffer_sources::redis::KIND], "--redis-dir"))
    } else {
        None
    })
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
    let progress = Arc::new(Progress::default());
    let guard = crate::signal::exit_on_interrupt(interrupted(id, &destination));
    // Standard output carries the stream itself with `--to-file -`.
    let to_stdout = a.to_file.as_deref() == Some(std::path::Path::new("-"));
    let bar = if to_stdout {
        ProgressView::none()
    } else {
        ProgressView::start(g, progress.clone(), Work::Restore)
    };
    let t0 = std::time::Instant::now();
    let out = restore::restore(
        RestoreRequest {
            vault,
            index,
            id: *id,
            snapshot: snap,
            destination,
            cancel: None,
        },
        &progress,
    );
    guard.done();
    bar.finish();
    let out = out.with_context(|| context)?;
    let secs = t0.elapsed().as_secs_f64();
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
            json!({"snapshot": id.to_hex(), "kind": kind, "restored_to": dest, "bytes": bytes, "warnings": warnings,
                   "seconds": secs})
        );
    } else if !g.quiet && !to_stdout {
        println!(
            "restored snapshot {} ({kind} {}) into {dest}: {} in {}",
            id.short(),
            snap.paths.join(" "),
            human(bytes),
            timing(bytes, secs),
        );
    }
    Ok(if warnings.is_empty() { 0 } else { 3 })
}

/// The recovery configuration for `restore --pgdata`: where the server finds
/// coffer, the vault and a secret *file* it can read.
fn recovery_options(g: &GlobalArgs, a: &StreamRestoreArgs) -> Result<RecoveryOptions> {
    let t = crate::context::target(g);
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
    if !coffer_sources::postgres::backup::is_files_layout(&snap.source.details) {
        StreamReader::open(vault, index, snap)?;
    }
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
