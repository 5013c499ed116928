//! `coffer pg …`: PostgreSQL physical backups (base backups, WAL verify and prune).

use anyhow::{Context, Result};
use coffer_core::BackupOptions;
use coffer_sources::postgres::backup::{BackupType, FilesBackup};
use coffer_sources::spec::{self, SourceSpec};
use coffer_sources::wal;
use coffer_sources::SnapshotMeta;

use crate::args::GlobalArgs;
use crate::output::count;
use crate::progress::{ProgressView, Work};
use crate::sources::{usage, ToolArgs};

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
    /// Take a base backup by reading the data directory between pg_backup_start and pg_backup_stop (run it where the data directory is readable); incr and diff read only the files that changed
    Backup {
        /// The cluster: postgres://user@host:port/ (a superuser, or a user allowed pg_backup_start)
        #[arg(long, value_name = "URL")]
        postgres: String,
        /// The data directory (default: the server's data_directory)
        #[arg(long, value_name = "DIR")]
        pgdata: Option<std::path::PathBuf>,
        /// full: read every file; incr: only the files changed since the newest backup by files of this cluster; diff: since the newest full one (no parent: full, said)
        #[arg(long = "type", value_name = "TYPE", default_value = "full", value_parser = ["full", "incr", "diff"])]
        backup_type: String,
        /// Read every file, whatever its size and mtime (only new chunks are stored all the same)
        #[arg(long)]
        checksum: bool,
        /// Read the files from this standby of the cluster (postgres://user@host:port/); start and stop run on --postgres, the primary. --pgdata is then the standby's data directory
        #[arg(long, value_name = "URL")]
        standby: Option<String>,
        /// Seconds pg_backup_stop may wait for the server to archive the WAL up to the backup's end (and a standby to replay its start)
        #[arg(long, value_name = "SECONDS", default_value_t = coffer_sources::postgres::backup::DEFAULT_ARCHIVE_TIMEOUT)]
        archive_timeout: u64,
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

/// Runs a base backup of either mode and reports it.
fn base_backup(
    g: &GlobalArgs,
    spec: SourceSpec,
    tag: Vec<String>,
    host: Option<String>,
    compression: i32,
) -> Result<u8> {
    spec.validate().map_err(usage)?;
    let vault = crate::context::open(g)?;
    let progress = std::sync::Arc::new(coffer_sources::Progress::with_notices(
        crate::sources::notices(g),
    ));
    let cancel = coffer_core::Cancel::default();
    crate::signal::cancel_on_interrupt(cancel.clone());
    let opts = BackupOptions {
        compression_level: compression,
        cancel: Some(cancel),
        progress: Some(progress.clone()),
        ..Default::default()
    };
    let meta = SnapshotMeta {
        host,
        tags: crate::args::tag_list(&tag),
        ..Default::default()
    };
    let bar = ProgressView::start(g, progress, Work::Backup);
    let outcome = spec::backup(&vault, &spec, &opts, &meta);
    bar.finish();
    if crate::signal::received().is_some()
        && outcome.as_ref().map_or(true, |o| !o.failed.is_empty())
    {
        return Err(crate::cmd::backup::interrupted(g, 0, &[], false, true));
    }
    let outcome = outcome.map_err(usage)?;
    if let Some(f) = outcome.failed.into_iter().next() {
        if f.error.is_usage() {
            return Err(usage(coffer_sources::SourceError::Usage(format!(
                "backup of {} failed; no snapshot was written: {}",
                f.what, f.error
            ))));
        }
        return Err(anyhow::Error::new(f.error).context(format!(
            "backup of {} failed; no snapshot was written",
            f.what
        )));
    }
    let r = outcome.done.into_iter().next().expect("one base backup");
    crate::output::report_backup(g, &vault, &r, false, false)?;
    Ok(0)
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
                files: None,
            };
            base_backup(g, spec, tag, host, compression)
        }
        PgCmd::Backup {
            postgres: u,
            pgdata,
            backup_type,
            checksum,
            standby,
            archive_timeout,
            tag,
            host,
            compression,
            tools,
        } => {
            let pgdata = pgdata
                .map(|p| coffer_sources::files::absolute(&p))
                .transpose()
                .context("--pgdata")?;
            let spec = SourceSpec::PostgresBase {
                url: tools.url(&u, "--postgres")?,
                bin_dir: tools.pg_bin_dir.clone(),
                files: Some(FilesBackup {
                    pgdata,
                    backup_type: BackupType::parse(&backup_type).expect("clap checked it"),
                    checksum,
                    archive_timeout: Some(archive_timeout),
                    standby: standby.map(|s| tools.url(&s, "--standby")).transpose()?,
                }),
            };
            base_backup(g, spec, tag, host, compression)
        }
        PgCmd::WalPrune { dry_run } => {
            let vault = crate::context::open(g)?;
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
                        "horizon {h}: the start of the oldest base backup {} ({}), of {}",
                        &snap[..8.min(snap.len())],
                        r.horizon_time.as_deref().unwrap_or("?"),
                        count(r.base_backups as u64, "base backup")
                    ),
                    _ => println!(
                        "no base backup in {}: nothing deleted (WAL is pruned relative to the oldest base backup)",
                        vault.backend().location()
                    ),
                }
                let verb = if dry_run { "would delete" } else { "deleted" };
                println!(
                    "{verb} {} and {} ({}); kept {}",
                    count(r.segments_deleted as u64, "WAL segment"),
                    count(r.history_files_deleted as u64, "backup history file"),
                    crate::output::human(r.bytes_freed),
                    count(r.kept as u64, "file")
                );
                if r.kept_for_lock > 0 {
                    println!(
                        "kept {} before the horizon: younger than the vault lock's minimum retention (or the store does not date them)",
                        count(r.kept_for_lock as u64, "file")
                    );
                }
            }
            Ok(0)
        }
        PgCmd::WalVerify => {
            let vault = crate::context::open(g)?;
            let r = wal::verify(&vault)?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} archived ({} to {}), {}",
                    count(r.segments as u64, "WAL segment"),
                    r.oldest_segment.as_deref().unwrap_or("-"),
                    r.newest_segment.as_deref().unwrap_or("-"),
                    count(r.other_files as u64, "other file")
                );
                for gap in &r.gaps {
                    println!(
                        "gap: {} missing after {} (next archived: {})",
                        count(gap.missing, "segment"),
                        gap.after,
                        gap.before
                    );
                }
                for b in &r.base_backups {
                    let path: Vec<String> = b.timelines.iter().map(|t| t.to_string()).collect();
                    println!(
                        "base backup {} ({}): needs WAL from {}, follows timeline {}; {}",
                        &b.snapshot[..8],
                        b.time,
                        b.start_wal_file,
                        path.join(" -> "),
                        match (&b.recoverable_to, b.consistent) {
                            (Some(to), true) => format!("recoverable up to {to}"),
                            _ => "NOT recoverable: WAL up to its end point is missing".into(),
                        }
                    );
                    for gap in &b.gaps {
                        println!(
                            "  gap on its timeline path: {} missing after {} (next archived on the path: {})",
                            count(gap.missing, "segment"),
                            gap.after,
                            gap.before
                        );
                    }
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
