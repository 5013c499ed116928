//! `coffer`: the command line.

mod audit;
mod config_cmd;
mod copy;
mod daemon;
mod events;
mod jobs;
mod prune;
mod report;
mod restore_test;
mod retention;
mod sources;
mod token;
mod vaults;
mod verify;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use coffer_core::human_bytes as human;
use coffer_core::{BackupOptions, CheckOptions, ReadData, SnapshotFilter, Vault};
use coffer_sources::filter::Patterns;
use coffer_sources::spec::{self, SourceSpec};
use coffer_sources::{restore, run_backup, stream, Progress, SnapshotMeta};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A usage or configuration error (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);
impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "Encrypted, deduplicated backups of files and databases"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options every command takes.
#[derive(Args, Clone, Debug)]
pub struct GlobalArgs {
    /// Vault: a directory, s3://bucket/prefix, or the name of a local vault
    #[arg(long, global = true, env = "COFFER_VAULT")]
    pub vault: Option<String>,
    /// File holding the vault's password: its content less exactly one trailing newline (\n or \r\n)
    #[arg(long, global = true, env = "COFFER_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Key file that unlocks the vault
    #[arg(long, global = true, env = "COFFER_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Configuration file of `coffer serve` (default: /etc/coffer/coffer.toml for root, else $XDG_CONFIG_HOME/coffer/coffer.toml)
    #[arg(long, global = true, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON for scripts
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors and warnings
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a vault
    Init {
        /// Label of the first key slot
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Back up paths, standard input, a database or a command's output into the vault
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(FilterArgs),
    /// List the files of a snapshot
    Ls {
        /// Snapshot id prefix or `latest`
        snapshot: String,
        /// Path inside the snapshot
        #[arg(value_name = "PATH")]
        inside: Option<String>,
        /// Long listing (mode, owner, size, time)
        #[arg(long, short)]
        long: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Restore a snapshot (files into a directory; dumps into a database, a file or a command; base backups into a data directory)
    Restore {
        /// Snapshot id prefix or `latest`
        snapshot: String,
        /// Directory to restore files into; with --pgdata: `immediate` (stop recovery as soon as the base backup is consistent)
        #[arg(long)]
        target: Option<PathBuf>,
        /// Restore only entries matching this glob (repeatable)
        #[arg(long)]
        include: Vec<String>,
        /// Restore only below this path of the snapshot
        #[arg(long)]
        subpath: Option<String>,
        #[command(flatten)]
        stream: sources::StreamRestoreArgs,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Show what changed between two snapshots
    Diff {
        /// First snapshot
        a: String,
        /// Second snapshot
        b: String,
    },
    /// Check the vault's structure, and with --read-data its data
    Check {
        /// Read and verify every pack
        #[arg(long)]
        read_data: bool,
        /// Read a subset: `10%` (random) or `n/m` (part n of m)
        #[arg(long, value_name = "SUBSET")]
        read_data_subset: Option<String>,
    },
    /// Copy snapshots into another vault (its own key and storage), sending only what it lacks
    Copy(copy::CopyArgs),
    /// Delete data no snapshot needs and repack mostly-empty packs (safe while backups run)
    Prune(prune::PruneArgs),
    /// Manage key slots
    #[command(subcommand)]
    Key(KeyCmd),
    /// Archive one PostgreSQL WAL file (archive_command = 'coffer --vault V --key-file K wal-push %p')
    WalPush {
        /// The WAL file (PostgreSQL's %p)
        path: PathBuf,
    },
    /// Fetch one archived WAL file (restore_command = 'coffer --vault V --key-file K wal-fetch %f %p'); exit 1 if the vault lacks it
    WalFetch {
        /// The WAL file's name (PostgreSQL's %f)
        name: String,
        /// Where to write it (PostgreSQL's %p)
        dest: PathBuf,
    },
    /// PostgreSQL physical backups (base backups for point-in-time recovery)
    #[command(subcommand)]
    Pg(sources::PgCmd),
    /// Remove snapshots by a retention policy or by id, explaining each decision (their data goes with prune)
    Forget(retention::ForgetArgs),
    /// Vault lock: governance or compliance immutability
    #[command(subcommand)]
    Vault(retention::VaultCmd),
    /// Legal holds on snapshots
    #[command(subcommand)]
    Snapshot(retention::SnapshotCmd),
    /// The configuration file of `coffer serve`
    #[command(subcommand)]
    Config(config_cmd::ConfigCmd),
    /// Run the plans of the configuration file on their schedules (the daemon)
    Serve {
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Run a rule of the configuration now
    Plan {
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
        #[command(subcommand)]
        cmd: daemon::PlanCmd,
    },
    /// Jobs recorded by coffer serve and coffer plan run (the catalog in the state directory)
    Jobs(jobs::JobsArgs),
    /// Each source's protection status: newest backup against its RPO, last restore test against its RTO
    Status(report::StatusArgs),
    /// The compliance report: each control's status with evidence (text, json, csv or html)
    Report(report::ReportArgs),
    /// Restore tests: real restores into scratch space, validated and timed
    #[command(subcommand)]
    RestoreTest(restore_test::RestoreTestCmd),
    /// Verify a vault as a job: structure, and all or a share of its data (least recently verified first)
    Verify(verify::VerifyArgs),
    /// Recent events (job results, RPO violations, anomalies): what notifications are sent
    Events(events::EventsArgs),
    /// Tokens of the HTTP API (roles viewer, operator, admin)
    #[command(subcommand)]
    Token(token::TokenCmd),
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Add a key slot (new key file or password)
    Add {
        /// Key file for the new slot (created if missing)
        #[arg(long)]
        new_key_file: Option<PathBuf>,
        /// File holding the new slot's password, less exactly one trailing newline, as --password-file reads it (or COFFER_NEW_PASSWORD)
        #[arg(long)]
        new_password_file: Option<PathBuf>,
        /// A label for the slot
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List key slots
    List,
    /// Remove a key slot (not the last one)
    Remove {
        /// Slot id prefix
        id: String,
    },
    /// Start a new key epoch, revoking every slot not kept
    ///
    /// Everything written from now on is sealed under a new key that only
    /// the kept slots open. The slot that opened the
    /// vault is kept, and so is each slot opened by a --keep-* secret; every
    /// other slot is removed, and whoever held it (or a copy of it) reads
    /// only what was written before. Refused while a backup or prune runs.
    Rotate {
        /// Key file of another slot to keep (repeatable)
        #[arg(long)]
        keep_key_file: Vec<PathBuf>,
        /// Password file of another slot to keep, read as --password-file is (repeatable)
        #[arg(long)]
        keep_password_file: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct FilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(long)]
    host: Vec<String>,
    /// Only snapshots with these tags (comma-separated: all of them; repeatable: any)
    #[arg(long)]
    tag: Vec<String>,
    /// Only snapshots that include this path (repeatable)
    #[arg(long)]
    path: Vec<String>,
}

impl FilterArgs {
    fn filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.host.clone(),
            tags: self.tag.clone(),
            paths: self.path.clone(),
        }
    }
}

#[derive(Args)]
struct BackupArgs {
    /// Paths to back up
    paths: Vec<PathBuf>,
    /// Leave out entries matching this glob (repeatable)
    #[arg(long)]
    exclude: Vec<String>,
    /// Back up only files matching this glob (repeatable)
    #[arg(long)]
    include: Vec<String>,
    /// Read exclude globs from a file (repeatable)
    #[arg(long)]
    exclude_file: Vec<PathBuf>,
    /// Do not cross file system boundaries
    #[arg(long, short = 'x')]
    one_file_system: bool,
    /// Tag the snapshot (repeatable)
    #[arg(long)]
    tag: Vec<String>,
    /// Host name to record
    #[arg(long)]
    host: Option<String>,
    /// Do everything but write to the vault
    #[arg(long)]
    dry_run: bool,
    /// Read the content from standard input
    #[arg(long)]
    stdin: bool,
    /// File name for --stdin
    #[arg(long, default_value = "stdin")]
    stdin_name: String,
    /// zstd level (0 = none)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(0..=22))]
    compression: i32,
    /// Read every file, ignoring the parent snapshot
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    db: sources::DbBackupArgs,
}

fn main() -> ExitCode {
    // glibc raises its mmap threshold (up to 32 MiB) each time an mmapped
    // block is freed; after that, 8 MiB pack buffers come from, and stay in,
    // the heap arenas. A fixed 4 MiB threshold keeps pack buffers and other
    // rare large buffers in mmap, returned to the system when freed, while
    // chunk-sized buffers (reused per thread) stay in the heap. (ea37646 set
    // 256 KiB, which put every chunk through mmap and page faults: +6 s of
    // system time on the Linux tree.)
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG")
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.global.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // Printed by the command already.
        Err(e) if e.downcast_ref::<audit::Reported>().is_some() => {
            ExitCode::from(e.downcast_ref::<audit::Reported>().map_or(1, |r| r.code))
        }
        Err(e) => {
            let msg = message(&e);
            if json {
                println!("{}", json!({"error": msg}));
            }
            eprintln!("error: {msg}");
            ExitCode::from(
                if e.downcast_ref::<UsageError>().is_some()
                    || e.downcast_ref::<coffer_sources::SourceError>()
                        .is_some_and(|s| s.is_usage())
                {
                    2
                } else {
                    1
                },
            )
        }
    }
}

/// The error and its causes, leaving out a cause whose text the message
/// before it already includes.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    let audited = audit::action_of(&cli.cmd, g);
    let r = dispatch(g, cli.cmd);
    if let Some(a) = audited {
        let target = a.target.as_deref();
        audit::record(g, a.state_dir, a.action, target, &audit::outcome(&r));
    }
    r
}

fn dispatch(g: &GlobalArgs, cmd: Cmd) -> Result<u8> {
    match cmd {
        Cmd::Init { label } => {
            let (vault, key) = vaults::init(g, &label, !g.json && !g.quiet)?;
            if g.json {
                println!(
                    "{}",
                    json!({"vault": vault.backend().location(), "id": vault.config().id, "key_file": key})
                );
            }
            Ok(0)
        }
        Cmd::Backup(a) => backup(g, a),
        Cmd::Snapshots(f) => {
            let vault = vaults::open(g)?;
            let snaps = vault.snapshots(&f.filter())?;
            if g.json {
                let v: Vec<_> = snaps
                    .iter()
                    .map(|(id, s)| {
                        let mut j = serde_json::to_value(s).unwrap();
                        j["id"] = json!(id.to_hex());
                        j["short_id"] = json!(id.short());
                        j
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{:<8}  {:<25}  {:<12}  {:<12}  paths",
                    "id", "time", "host", "tags"
                );
                for (id, s) in &snaps {
                    println!(
                        "{:<8}  {:<25}  {:<12}  {:<12}  {}",
                        id.short(),
                        s.timestamp().strftime("%Y-%m-%d %H:%M:%S UTC"),
                        s.hostname,
                        s.tags.join(","),
                        s.paths.join(" ")
                    );
                }
                println!("{} snapshots", snaps.len());
            }
            Ok(0)
        }
        Cmd::Ls {
            snapshot,
            inside,
            long,
            filter,
        } => ls(g, &snapshot, inside.as_deref(), long, &filter.filter()),
        Cmd::Restore {
            snapshot,
            target,
            include,
            subpath,
            stream,
            filter,
        } => {
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
            let vault = vaults::open(g)?;
            let (id, snap) = vault.find_snapshot(&snapshot, &filter.filter())?;
            let index = vault.load_index()?;
            let Some(target) = target else {
                return sources::restore(g, &vault, &index, &id, &snap, &stream);
            };
            let progress = Arc::new(Progress::default());
            progress
                .total_bytes
                .store(snap.summary.total_bytes, Ordering::Relaxed);
            let bar = ProgressView::start(g, progress.clone(), "restoring");
            let destination = restore::Destination::Directory {
                target: target.clone(),
                includes: Patterns::new(&include, "--include")?,
                subpath,
            };
            let context = destination.context(&id);
            let stats = restore::restore(
                restore::RestoreRequest {
                    vault: &vault,
                    index: &index,
                    id,
                    snapshot: &snap,
                    destination,
                    cancel: None,
                },
                &progress,
            )
            .with_context(|| context)?
            .files
            .unwrap_or_default();
            bar.finish();
            for w in &stats.warnings {
                eprintln!("warning: {w}");
            }
            if g.json {
                println!(
                    "{}",
                    json!({"snapshot": id.to_hex(), "target": target, "files": stats.files, "dirs": stats.dirs,
                           "others": stats.others, "bytes": stats.bytes, "warnings": stats.warnings})
                );
            } else if !g.quiet {
                println!(
                    "restored snapshot {} into {}: {} files, {} directories, {} other, {}",
                    id.short(),
                    target.display(),
                    stats.files,
                    stats.dirs,
                    stats.others,
                    human(stats.bytes)
                );
            }
            Ok(if stats.warnings.is_empty() { 0 } else { 3 })
        }
        Cmd::Diff { a, b } => {
            let vault = vaults::open(g)?;
            let (ia, sa) = vault.find_snapshot(&a, &SnapshotFilter::default())?;
            let (ib, sb) = vault.find_snapshot(&b, &SnapshotFilter::default())?;
            let index = vault.load_index()?;
            let changes = coffer_core::diff(&vault, &index, &sa.tree, &sb.tree)?;
            if g.json {
                println!(
                    "{}",
                    json!({"from": ia.to_hex(), "to": ib.to_hex(), "changes": changes})
                );
            } else {
                for c in &changes {
                    println!("{}  {}", c.change, c.path);
                }
                println!(
                    "{} changes from {} to {}",
                    changes.len(),
                    ia.short(),
                    ib.short()
                );
            }
            Ok(0)
        }
        Cmd::Check {
            read_data,
            read_data_subset,
        } => {
            let vault = vaults::open(g)?;
            let rd = match (read_data, read_data_subset) {
                (_, Some(s)) => parse_subset(&s)?,
                (true, None) => ReadData::All,
                (false, None) => ReadData::None,
            };
            let report = coffer_core::check(&vault, &CheckOptions { read_data: rd })?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                verify::print_damage(&report.problems);
                if !g.quiet || !report.ok() {
                    println!(
                        "checked {} snapshots, {} trees, {} index objects, {} packs ({} read, {} blobs verified); {} unreferenced packs; {} WAL files ({} read); {}",
                        report.snapshots,
                        report.trees,
                        report.index_objects,
                        report.packs,
                        report.packs_read,
                        report.blobs_read,
                        report.unreferenced_packs,
                        report.wal_files,
                        report.wal_files_read,
                        if report.ok() { "no errors".to_string() } else { format!("{} problems", report.problems.len()) }
                    );
                }
            }
            if report.ok() {
                Ok(0)
            } else {
                // The report is the output (also with --json); say it on stderr too.
                eprintln!(
                    "error: vault {} is damaged: {} problems",
                    vault.backend().location(),
                    report.problems.len()
                );
                Ok(1)
            }
        }
        Cmd::Copy(a) => copy::run(g, a),
        Cmd::Prune(a) => prune::run(g, a),
        Cmd::Key(k) => key(g, k),
        Cmd::WalPush { path } => sources::wal_push(g, &path),
        Cmd::WalFetch { name, dest } => sources::wal_fetch(g, &name, &dest),
        Cmd::Pg(c) => sources::pg(g, c),
        Cmd::Forget(a) => retention::forget(g, a),
        Cmd::Vault(c) => retention::vault(g, c),
        Cmd::Snapshot(c) => retention::snapshot(g, c),
        Cmd::Config(c) => config_cmd::run(g, c),
        Cmd::Serve { state_dir } => daemon::serve(g, state_dir),
        Cmd::Plan { state_dir, cmd } => daemon::plan(g, cmd, state_dir),
        Cmd::Jobs(a) => jobs::run(g, a),
        Cmd::Status(a) => report::status(g, a),
        Cmd::Report(a) => report::report(g, a),
        Cmd::RestoreTest(c) => restore_test::run(g, c),
        Cmd::Verify(a) => verify::run(g, a),
        Cmd::Events(a) => events::run(g, a),
        Cmd::Token(c) => token::run(g, c),
    }
}

fn parse_subset(s: &str) -> Result<ReadData> {
    let bad = || {
        UsageError(format!(
            "--read-data-subset `{s}`: give a percentage like 10% or a part like 1/5"
        ))
    };
    if let Some(p) = s.strip_suffix('%') {
        let f: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(f > 0.0 && f <= 100.0) {
            bail!(bad());
        }
        return Ok(ReadData::Fraction(f / 100.0));
    }
    let (n, m) = s.split_once('/').ok_or_else(bad)?;
    let (n, m): (u32, u32) = (
        n.trim().parse().map_err(|_| bad())?,
        m.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || m == 0 || n > m {
        bail!(bad());
    }
    Ok(ReadData::Part(n, m))
}

fn backup(g: &GlobalArgs, a: BackupArgs) -> Result<u8> {
    let sources = usize::from(a.stdin) + usize::from(!a.paths.is_empty()) + a.db.count();
    if sources > 1 {
        bail!(UsageError(
            "give one source per backup: paths, --stdin, --postgres, --mysql, --redis or --command"
                .into()
        ));
    }
    if sources == 0 {
        bail!(UsageError(
            "backup needs at least one path (or --stdin, --postgres URL, --mysql URL, --redis URL, --command CMD)"
                .into()
        ));
    }
    a.db.check()?;
    if a.stdin {
        // Before the vault is touched: a name a restore would refuse
        // (`..`, `/`) never makes a snapshot.
        stream::check_name(&a.stdin_name, "--stdin-name").map_err(sources::usage)?;
    }
    for p in &a.paths {
        std::fs::symlink_metadata(p).with_context(|| format!("cannot back up {}", p.display()))?;
    }
    let t = vaults::target(g);
    let vault: Vault = if t.is_default && !Vault::exists(vaults::backend(&t)?.as_ref())? {
        vaults::init(g, "default", true)?.0
    } else {
        vaults::open(g)?
    };
    let opts = BackupOptions {
        compression_level: a.compression,
        dry_run: a.dry_run,
        ..Default::default()
    };
    let meta = SnapshotMeta {
        host: a.host.clone(),
        tags: a
            .tag
            .iter()
            .flat_map(|t| t.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        ..Default::default()
    };
    if a.stdin {
        let progress = Arc::new(Progress::default());
        let bar = ProgressView::start(g, progress.clone(), "backing up");
        let result = run_backup(&vault, &opts, &meta, |arch, _| {
            stream::save_stream(
                arch,
                std::io::stdin().lock(),
                &a.stdin_name,
                "stdin",
                Default::default(),
            )
        })?;
        bar.finish();
        report_backup(g, &vault, &result, a.dry_run, false)?;
        return Ok(if result.warnings.is_empty() { 0 } else { 3 });
    }
    let spec = if a.db.count() > 0 {
        a.db.spec()?
    } else {
        SourceSpec::Files {
            paths: a.paths.clone(),
            exclude: a.exclude.clone(),
            exclude_files: a.exclude_file.clone(),
            include: a.include.clone(),
            one_file_system: a.one_file_system,
            force: a.force,
        }
    };
    let progress = Arc::new(Progress::default());
    let bar = ProgressView::start(g, progress.clone(), "backing up");
    let outcome = spec::backup(&vault, &spec, &opts, &meta, &progress).map_err(sources::usage)?;
    bar.finish();
    // --all-databases and --globals print a JSON list, however many.
    let list = a.db.many_snapshots() || outcome.done.len() > 1;
    let mut all = Vec::new();
    for r in &outcome.done {
        all.push(report_backup(g, &vault, r, a.dry_run, list)?);
    }
    if g.json && list {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    let code = if outcome.warnings() > 0 { 3 } else { 0 };
    let (n, done) = (outcome.failed.len(), outcome.done.len());
    let mut failed = outcome.failed.into_iter().map(|f| {
        anyhow::Error::new(f.error).context(format!(
            "backup of {} failed; no snapshot was written",
            f.what
        ))
    });
    match (n, done) {
        (0, _) => Ok(code),
        (1, 0) => Err(failed.next().unwrap()),
        _ => {
            for e in failed {
                eprintln!("error: {}", message(&e));
            }
            bail!(
                "{n} of {} backups failed (their errors are above); the other {done} snapshots were saved",
                n + done
            )
        }
    }
}

/// Prints a backup's warnings and summary; with --json prints the snapshot
/// as JSON, or (when `collect`) returns it for the caller to print in a list.
fn report_backup(
    g: &GlobalArgs,
    vault: &Vault,
    result: &coffer_sources::BackupResult,
    dry_run: bool,
    collect: bool,
) -> Result<serde_json::Value> {
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let s = &result.snapshot.summary;
    let mut j = serde_json::to_value(&result.snapshot)?;
    j["id"] = json!(result.id.map(|i| i.to_hex()));
    j["dry_run"] = json!(dry_run);
    j["warnings"] = json!(result.warnings);
    if g.json {
        if !collect {
            println!("{}", serde_json::to_string_pretty(&j)?);
        }
    } else if !g.quiet {
        if result.snapshot.source.kind == "files" {
            println!(
                "files: {} new, {} changed, {} unmodified; {} directories",
                s.files_new, s.files_changed, s.files_unmodified, s.dirs
            );
        } else {
            println!(
                "{} {}",
                result.snapshot.source.kind,
                result.snapshot.paths.join(" ")
            );
        }
        println!(
            "added {} ({} stored) in {} new blobs; {} processed",
            human(s.bytes_added),
            human(s.bytes_stored),
            s.blobs_added,
            human(s.total_bytes)
        );
        match result.id {
            Some(id) => println!(
                "snapshot {} saved in {}",
                id.short(),
                vault.backend().location()
            ),
            None => println!("dry run: nothing written"),
        }
    }
    Ok(j)
}

fn ls(
    g: &GlobalArgs,
    snapshot: &str,
    path: Option<&str>,
    long: bool,
    filter: &SnapshotFilter,
) -> Result<u8> {
    let vault = vaults::open(g)?;
    let (_, snap) = vault.find_snapshot(snapshot, filter)?;
    let index = vault.load_index()?;
    let start = path.unwrap_or("/").trim_end_matches('/').to_string();
    let mut out = Vec::new();
    let root = match vault.find_node(&index, &snap.tree, &start)? {
        None => Some(snap.tree),
        Some(n) => {
            let sub = n.subtree;
            out.push((start.clone(), n));
            sub
        }
    };
    if let Some(t) = root {
        walk_ls(&vault, &index, &t, &start, &mut out)?;
    }
    for (p, n) in &out {
        if g.json {
            println!(
                "{}",
                json!({"path": p, "type": format!("{:?}", n.kind).to_lowercase(), "size": n.size, "mode": format!("{:o}", n.mode),
                       "uid": n.uid, "gid": n.gid, "user": n.user, "group": n.group, "mtime": n.mtime.secs})
            );
        } else if long {
            println!(
                "{:o} {:>8} {:>8} {:>12} {} {}",
                n.mode,
                n.user.clone().unwrap_or(n.uid.to_string()),
                n.group.clone().unwrap_or(n.gid.to_string()),
                n.size,
                jiff::Timestamp::from_second(n.mtime.secs)
                    .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                p
            );
        } else {
            println!("{p}");
        }
    }
    Ok(0)
}

fn walk_ls(
    vault: &Vault,
    index: &coffer_core::Index,
    tree: &coffer_core::Id,
    prefix: &str,
    out: &mut Vec<(String, coffer_core::Node)>,
) -> Result<()> {
    for n in vault.load_tree(index, tree)?.nodes {
        let p = format!("{prefix}/{}", n.display_name());
        let sub = n.subtree;
        out.push((p.clone(), n));
        if let Some(s) = sub {
            walk_ls(vault, index, &s, &p, out)?;
        }
    }
    Ok(())
}

fn key(g: &GlobalArgs, k: KeyCmd) -> Result<u8> {
    if let KeyCmd::Rotate {
        keep_key_file,
        keep_password_file,
    } = &k
    {
        return key_rotate(g, keep_key_file, keep_password_file);
    }
    let vault = vaults::open(g)?;
    match k {
        KeyCmd::Add {
            new_key_file,
            new_password_file,
            label,
        } => {
            let (secret, created) =
                vaults::new_secret(new_key_file.as_deref(), new_password_file.as_deref())?;
            let id = vault.add_key(&secret, &label, None)?;
            if g.json {
                println!("{}", json!({"id": id.to_hex(), "key_file": created}));
            } else {
                if let Some(k) = created {
                    println!("created key file {} (mode 0600): keep it safe", k.display());
                }
                println!("added key slot {}", id.short());
            }
        }
        KeyCmd::List => {
            let slots = coffer_core::keys::list_slots(vault.backend().as_ref())?;
            if g.json {
                let v: Vec<_> = slots
                    .iter()
                    .map(|s| json!({"id": s.id.to_hex(), "kind": s.slot.kind, "created": s.slot.created,
                                    "hostname": s.slot.hostname, "label": s.slot.label, "current": s.id == vault.slot(),
                                    "epoch": s.slot.epoch}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let epoch = vault.epoch();
                println!(
                    "key epoch {} since {} (slots of an older epoch read only what was written before it)",
                    epoch.generation, epoch.created
                );
                for s in &slots {
                    println!(
                        "{} {:<9} {:<10} epoch {:<3} {} {} {}",
                        if s.id == vault.slot() { "*" } else { " " },
                        s.id.short(),
                        format!("{:?}", s.slot.kind).to_lowercase(),
                        s.slot.epoch,
                        s.slot.created,
                        s.slot.hostname,
                        s.slot.label
                    );
                }
            }
        }
        KeyCmd::Remove { id } => {
            let removed = coffer_core::keys::remove_slot(vault.backend().as_ref(), &id)?;
            if g.json {
                println!("{}", json!({"removed": removed.to_hex()}));
            } else {
                println!("removed key slot {}", removed.short());
            }
        }
        KeyCmd::Rotate { .. } => unreachable!("handled above"),
    }
    Ok(0)
}

/// `coffer key rotate`: reads every secret to keep before the vault is
/// touched, so that a missing file changes nothing.
fn key_rotate(g: &GlobalArgs, key_files: &[PathBuf], password_files: &[PathBuf]) -> Result<u8> {
    let mut keep = Vec::new();
    for f in key_files {
        keep.push(
            coffer_core::Secret::from_key_file(f)
                .with_context(|| format!("--keep-key-file {}", f.display()))?,
        );
    }
    for f in password_files {
        keep.push(
            coffer_core::Secret::from_password_file(f)
                .with_context(|| format!("--keep-password-file {}", f.display()))?,
        );
    }
    let (vault, opener) = vaults::open_with_secret(g)?;
    let stats = coffer_core::rotate(
        &vault,
        &coffer_core::RotateOptions {
            opener: &opener,
            keep: &keep,
        },
    )?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(0);
    }
    println!(
        "vault {}: key epoch {} begins (keyring epochs/{}){}",
        vault.backend().location(),
        stats.generation,
        stats.keyring.short(),
        if stats.upgraded_format {
            "; the vault is format 2 now: a coffer that reads only format 1 refuses it"
        } else {
            ""
        }
    );
    let slot = |kind: coffer_core::keys::SlotKind, label: &str| {
        let kind = kind.name();
        match label {
            "" => kind.to_string(),
            l => format!("{kind} `{l}`"),
        }
    };
    for c in &stats.carried {
        println!(
            "kept    {} -> new slot {} ({})",
            c.replaces.short(),
            c.id.short(),
            slot(c.kind, &c.label)
        );
    }
    for r in &stats.revoked {
        println!(
            "revoked {} ({}, added on {})",
            r.id.short(),
            slot(r.kind, &r.label),
            r.hostname
        );
    }
    for d in &stats.damaged {
        eprintln!("warning: {d}; left in place (remove it with `coffer key remove`)");
    }
    Ok(0)
}

/// A progress bar fed from [`Progress`] counters, drawn only on a terminal.
struct ProgressView {
    stop: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl ProgressView {
    fn start(g: &GlobalArgs, p: Arc<Progress>, what: &'static str) -> Self {
        if g.json || g.quiet || !std::io::stdout().is_terminal() {
            return ProgressView { stop: None };
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::spawn(move || {
            let total = p.total_bytes.load(Ordering::Relaxed);
            let bar = if total > 0 {
                indicatif::ProgressBar::new(total)
            } else {
                indicatif::ProgressBar::new_spinner()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} {bytes} {bytes_per_sec} {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            while !s2.load(Ordering::Relaxed) {
                bar.set_position(p.bytes.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{what}: {} entries",
                    p.entries.load(Ordering::Relaxed)
                ));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressView {
            stop: Some((stop, h)),
        }
    }

    fn finish(self) {
        if let Some((s, h)) = self.stop {
            s.store(true, Ordering::Relaxed);
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
