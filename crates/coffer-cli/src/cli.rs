//! The command line's definition: [`Cli`] and its [`Cmd`], one variant per
//! verb. Each verb's own flags live with its code in `cmd/`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use crate::args::{FilterArgs, GlobalArgs};
use crate::cmd::{
    backup, config, copy, events, forget, hold, jobs, key, pg, plan, prune, report, restore,
    restore_test, status, token, vault_lock, verify,
};

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "Encrypted, deduplicated backups of files and databases"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Create a vault
    Init {
        /// Label of the first key slot
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Back up paths, standard input, a database or a command's output into the vault
    Backup(backup::BackupArgs),
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
        stream: restore::StreamRestoreArgs,
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
    Key(key::KeyCmd),
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
    Pg(pg::PgCmd),
    /// Remove snapshots by a retention policy or by id, explaining each decision (their data goes with prune)
    Forget(forget::ForgetArgs),
    /// Vault lock: governance or compliance immutability
    #[command(subcommand)]
    Vault(vault_lock::VaultCmd),
    /// Legal holds on snapshots
    #[command(subcommand)]
    Snapshot(hold::SnapshotCmd),
    /// The configuration file of `coffer serve`
    #[command(subcommand)]
    Config(config::ConfigCmd),
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
        cmd: plan::PlanCmd,
    },
    /// Jobs recorded by coffer serve and coffer plan run (the catalog in the state directory)
    Jobs(jobs::JobsArgs),
    /// Each source's protection status: newest backup against its RPO, last restore test against its RTO
    Status(status::StatusArgs),
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
    /// Print shell completions for bash, zsh, fish, elvish or powershell
    #[command(
        long_about = "Print shell completions for bash, zsh, fish, elvish or powershell, generated from coffer's own option definitions.\n\nExamples:\n  coffer completions bash > /etc/bash_completion.d/coffer\n  coffer completions zsh > \"${fpath[1]}/_coffer\"\n  coffer completions fish > ~/.config/fish/completions/coffer.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of coffer and every command
    #[command(
        long_about = "Print the manual page of coffer (roff), with every command and its options, generated from coffer's own option definitions.\n\nExamples:\n  coffer man > /usr/local/share/man/man1/coffer.1\n  coffer man | man -l -"
    )]
    Man,
}
