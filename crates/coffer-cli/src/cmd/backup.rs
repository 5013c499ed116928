//! `coffer backup`: paths, standard input, a database or a command's
//! output into the vault. The database and command sources' flags are
//! [`DbBackupArgs`]; what they back up is coffer-sources' `spec::backup`.

use anyhow::{bail, Context, Result};
use clap::Args;
use coffer_core::{BackupOptions, BackupResult, Cancel, Vault};
use coffer_sources::spec::{self, Naming, SourceSpec};
use coffer_sources::{run_backup, stream, Part, Progress, SnapshotMeta};
use std::path::PathBuf;
use std::sync::Arc;

use crate::args::GlobalArgs;
use crate::context;
use crate::error::message;
use crate::error::UsageError;
use crate::output::{count, report_backup};
use crate::progress::{ProgressView, Work};
use crate::sources::{self, ToolArgs};

/// `coffer backup`.
#[derive(Args)]
pub struct BackupArgs {
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
    /// Tag the snapshot source:NAME, as the daemon does (default: a database's name, each its own with
    /// --all-databases; redis; a command's --name; the --stdin-name; none for files)
    #[arg(long, value_name = "NAME")]
    source_name: Option<String>,
    /// Do everything but write to the vault
    #[arg(long)]
    pub(crate) dry_run: bool,
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
    db: DbBackupArgs,
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

/// `coffer backup`. Given a configuration with `[[notify]]` sinks, the
/// backup is also recorded as a job in its catalog and its sinks are sent
/// its events, as the daemon's would be ([`crate::notify`]).
pub fn backup(g: &GlobalArgs, a: BackupArgs) -> Result<u8> {
    let source = a.source_name.clone().or_else(|| a.db.name.clone());
    let vault = vault_label(g);
    let Some(recorded) = crate::notify::start_backup(g, source.as_deref(), &vault, a.dry_run)
    else {
        return run(g, a);
    };
    let r = run(g, a);
    recorded.finish(&r);
    r
}

/// The vault as a job records it: a named vault's name, else its location
/// without a query string (which may carry settings, never needed here).
fn vault_label(g: &GlobalArgs) -> String {
    let t = context::target(g);
    t.name
        .unwrap_or_else(|| t.location.split('?').next().unwrap_or_default().to_string())
}

fn run(g: &GlobalArgs, a: BackupArgs) -> Result<u8> {
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
    if let Some(n) = &a.source_name {
        spec::check_source_name(n, "--source-name").map_err(sources::usage)?;
    }
    if a.stdin {
        // Before the vault is touched: a name a restore would refuse
        // (`..`, `/`) never makes a snapshot.
        stream::check_name(&a.stdin_name, "--stdin-name").map_err(sources::usage)?;
    }
    for p in &a.paths {
        std::fs::symlink_metadata(p).with_context(|| format!("cannot back up {}", p.display()))?;
    }
    let t = context::target(g);
    let vault: Vault = if t.is_default && !Vault::exists(context::backend(&t)?.as_ref())? {
        context::init(g, "default", true)?.0
    } else {
        context::open(g)?
    };
    let progress = Arc::new(Progress::with_notices(sources::notices(g)));
    let cancel = Cancel::default();
    crate::signal::cancel_on_interrupt(cancel.clone());
    let opts = BackupOptions {
        compression_level: a.compression,
        dry_run: a.dry_run,
        cancel: Some(cancel.clone()),
        progress: Some(progress.clone()),
        ..Default::default()
    };
    let meta = SnapshotMeta {
        host: a.host.clone(),
        tags: crate::args::tag_list(&a.tag),
        ..Default::default()
    };
    // `--source-name`, else each snapshot by what it holds.
    let naming = match &a.source_name {
        Some(n) => Naming::Named(n.clone()),
        None => Naming::Default,
    };
    if a.stdin {
        let meta = naming.meta(&meta, Some(&a.stdin_name));
        progress.set_part(Part {
            what: a.stdin_name.clone(),
            from: Some(stream::FROM_STDIN.into()),
            of: None,
        });
        let bar = ProgressView::start(g, progress.clone(), Work::Backup);
        let started = jiff::Timestamp::now();
        let result = run_backup(&vault, &opts, &meta, |arch, _| {
            stream::save_stream(
                arch,
                Stdin(cancel.clone()),
                &a.stdin_name,
                "stdin",
                Default::default(),
            )
        });
        bar.finish();
        let result = match result {
            Err(_) if crate::signal::received().is_some() => {
                return Err(interrupted(g, 0, &[], a.dry_run, true))
            }
            r => r?,
        };
        if !a.dry_run {
            record_fleet(&vault, &meta, started, &[&result], &[]);
        }
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
    let bar = ProgressView::start(g, progress.clone(), Work::Backup);
    let started = jiff::Timestamp::now();
    let outcome = spec::backup_named(&vault, &spec, &opts, &meta, &naming);
    bar.finish();
    let outcome = match outcome {
        Err(_) if crate::signal::received().is_some() => {
            return Err(interrupted(g, 0, &[], a.dry_run, true))
        }
        r => r.map_err(sources::usage)?,
    };
    if !a.dry_run {
        let done: Vec<&BackupResult> = outcome.done.iter().collect();
        let failed: Vec<(String, String)> = outcome
            .failed
            .iter()
            .map(|f| (f.what.clone(), f.error.to_string()))
            .collect();
        record_fleet(&vault, &meta, started, &done, &failed);
    }
    // --all-databases and --globals print a JSON list, however many.
    let list = a.db.many_snapshots() || outcome.done.len() > 1;
    let mut all = Vec::new();
    for r in &outcome.done {
        all.push(report_backup(g, &vault, r, a.dry_run, list)?);
    }
    if g.json && list {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    if crate::signal::received().is_some() && !outcome.failed.is_empty() {
        let not: Vec<String> = outcome.failed.iter().map(|f| f.what.clone()).collect();
        let printed = g.json && list;
        return Err(interrupted(
            g,
            outcome.done.len(),
            &not,
            a.dry_run,
            !printed,
        ));
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
                "{n} of {} failed (their errors are above); {}",
                count((n + done) as u64, "backup"),
                match done {
                    0 => "no snapshot was saved".to_string(),
                    1 => "the other snapshot was saved".to_string(),
                    d => format!("the other {d} snapshots were saved"),
                }
            )
        }
    }
}

/// Says that a signal stopped the backup, and what that left: `done`
/// snapshots made before it (their summaries are printed), none of `not`
/// (or of the one source). Printed here (with --json also as a JSON error
/// when `json_error`); the error carries exit code 130 (SIGINT) or 143
/// (SIGTERM).
/// Leaves a fleet record of this backup in the vault (see
/// `coffer_server::fleet`), so the fleet view sees a plain `coffer backup`
/// as it sees a daemon's jobs. A record that cannot be written is a
/// warning: the backup stands.
fn record_fleet(
    vault: &Vault,
    meta: &SnapshotMeta,
    started: jiff::Timestamp,
    done: &[&BackupResult],
    failed: &[(String, String)],
) {
    let host = meta.host.clone().unwrap_or_else(coffer_core::hostname);
    if let Err(e) =
        coffer_server::fleet::write::record_plain_backup(vault, &host, started, done, failed)
    {
        eprintln!("warning: the backup's fleet record could not be written to the vault (the backup itself is saved): {e}");
    }
}

pub(crate) fn interrupted(
    g: &GlobalArgs,
    done: usize,
    not: &[String],
    dry_run: bool,
    json_error: bool,
) -> anyhow::Error {
    let sig = crate::signal::received().unwrap_or(libc::SIGINT);
    let what = if sig == libc::SIGINT {
        "interrupted"
    } else {
        "stopped (SIGTERM)"
    };
    let message = match (dry_run, done) {
        (true, _) => format!("{what}; dry run: nothing written"),
        (false, 0) => {
            format!("{what}; no snapshot written; `coffer prune` removes the partial data")
        }
        (false, n) => format!(
            "{what}; {} saved (above), no snapshot written of {}; `coffer prune` removes the partial data",
            count(n as u64, "snapshot"),
            not.join(", ")
        ),
    };
    if g.json && json_error {
        println!(
            "{}",
            serde_json::json!({"error": message, "interrupted": true})
        );
    }
    eprintln!("{message}");
    crate::audit::Reported {
        code: crate::signal::exit_code(sig),
        reason: message,
    }
    .into()
}

/// Standard input, read so that a stop request ends a read that waits for
/// data (a slow producer): it waits at most 100 ms at a time, then looks at
/// the cancel. Read without a buffer of its own (the chunker has one), so
/// that no data waits in a buffer while the poll waits for more.
struct Stdin(Cancel);

impl std::io::Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(why) = self.0.reason() {
                return Err(std::io::Error::other(why));
            }
            let mut fd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, valid for the call.
            let r = unsafe { libc::poll(&mut fd, 1, 100) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r == 0 {
                continue;
            }
            // SAFETY: reads into `buf`, at most its length.
            let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(n as usize);
        }
    }
}
