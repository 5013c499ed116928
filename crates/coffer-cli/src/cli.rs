//! The command line's definition: [`Cli`] and its [`Cmd`], one variant per
//! verb. Each verb's own flags live with its code in `cmd/`; the vault
//! options and `--config` go onto the commands that use them
//! ([`VAULT_COMMANDS`], [`CONFIG_COMMANDS`]) in [`command`], with the
//! examples of `crate::help`, and [`global_args`] reads them back.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

use crate::args::{BeforeVerb, ConfigArgs, FilterArgs, GlobalArgs, OutputArgs, VaultArgs};
use crate::cmd::{
    backup, config, copy, events, forget, hold, jobs, key, pg, plan, prune, report, restore,
    restore_test, rewrite, status, thaw, token, vault_lock, verify, wal,
};

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "Encrypted, deduplicated backups of files and databases",
    after_help = "Each command shows the options it takes, the vault options among them: `coffer COMMAND --help`."
)]
pub struct Cli {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub before_verb: BeforeVerb,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The commands that open a vault named on the command line: they take the
/// vault options (`--vault`, `--password-file`, `--key-file`). On a group
/// (`key`, `pg`, `vault`, `snapshot`) its subcommands take them too.
pub const VAULT_COMMANDS: &[&str] = &[
    "init",
    "backup",
    "snapshots",
    "ls",
    "restore",
    "thaw",
    "diff",
    "check",
    "copy",
    "prune",
    "key",
    "wal-push",
    "wal-fetch",
    "pg",
    "forget",
    "rewrite",
    "vault",
    "snapshot",
    "verify",
];

/// The commands that read the configuration file (for its rules, vaults,
/// or state directory): they take `--config`.
pub const CONFIG_COMMANDS: &[&str] = &[
    "config",
    "serve",
    "plan",
    "jobs",
    "status",
    "report",
    "restore-test",
    "verify",
    "events",
    "token",
    "prune",
    "wal-push",
    "wal-fetch",
];

/// Subcommands of a vault-options command that read the configuration
/// too and so take a `--config` of their own (`coffer vault usage` prices
/// and names configured vaults); their command is not in
/// [`CONFIG_COMMANDS`], so its other subcommands stay without it.
#[cfg(test)]
pub const CONFIG_SUBCOMMANDS: &[&str] = &["vault usage"];

/// The commands that take neither the vault options nor `--config` (a
/// unit test checks that every command is in one of the three lists).
#[cfg(test)]
pub const OTHER_COMMANDS: &[&str] = &["completions", "man"];

/// The whole definition of the command line: [`Cli`], the vault options
/// and `--config` on the commands that use them, and every command's
/// examples. The parser, `coffer completions` and `coffer man` use it.
pub fn command() -> clap::Command {
    let cmd = Cli::command().mut_subcommands(|mut sub| {
        if VAULT_COMMANDS.contains(&sub.get_name()) {
            sub = with_args_of::<VaultArgs>(sub);
        }
        if CONFIG_COMMANDS.contains(&sub.get_name()) {
            sub = with_args_of::<ConfigArgs>(sub);
        }
        sub
    });
    crate::help::with_examples(cmd)
}

/// `cmd` with the options of `A` (only them: `augment_args` would also
/// give it `A`'s documentation as its own).
fn with_args_of<A: Args>(cmd: clap::Command) -> clap::Command {
    let from = A::augment_args(clap::Command::new("args"));
    cmd.args(from.get_arguments().cloned())
}

/// Parses the process's command line: the command, and what it runs with.
pub fn parse() -> Result<(Cli, GlobalArgs), clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program's name first).
pub fn parse_from<I, T>(args: I) -> Result<(Cli, GlobalArgs), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let m = command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&m).map_err(|e| e.format(&mut command()))?;
    let g = global_args(&cli, &m);
    Ok((cli, g))
}

/// What the command runs with: each vault option and `--config` from the
/// command's own command line, else from before the verb or the
/// environment variable (which the command's own option also reads: the
/// same value); `--json` and `--quiet` wherever they were given.
pub fn global_args(cli: &Cli, m: &ArgMatches) -> GlobalArgs {
    let mut chain = Vec::new();
    let mut at = m;
    while let Some((_, sub)) = at.subcommand() {
        chain.push(sub);
        at = sub;
    }
    let before = &cli.before_verb;
    GlobalArgs {
        vault: given(&chain, "vault").or_else(|| before.vault.clone()),
        password_file: given(&chain, "password_file").or_else(|| before.password_file.clone()),
        key_file: given(&chain, "key_file").or_else(|| before.key_file.clone()),
        config: given(&chain, "config").or_else(|| before.config.clone()),
        json: cli.output.json,
        quiet: cli.output.quiet,
    }
}

/// The value of option `id` given on the command line after the verb (at
/// the deepest subcommand that has it), if any.
fn given<T: Clone + Send + Sync + 'static>(chain: &[&ArgMatches], id: &str) -> Option<T> {
    chain.iter().rev().find_map(|m| {
        let on_command_line = matches!(m.try_contains_id(id), Ok(true))
            && m.value_source(id) == Some(ValueSource::CommandLine);
        on_command_line
            .then(|| m.get_one::<T>(id).cloned())
            .flatten()
    })
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
        /// A snapshot of a vault in an archive storage class (GLACIER, DEEP_ARCHIVE) whose data packs are not
        /// thawed: fail at once instead of requesting the thaw and waiting for it
        #[arg(long)]
        no_thaw: bool,
        #[command(flatten)]
        thaw: thaw::ThawFlags,
    },
    /// Thaw what a snapshot of a vault in an archive storage class (GLACIER, DEEP_ARCHIVE) needs: request S3
    /// restores of its data packs (none twice), and with --wait wait until they read
    Thaw(thaw::ThawArgs),
    /// Show what changed between two snapshots
    #[command(long_about = crate::cmd::diff::LONG_ABOUT)]
    Diff {
        /// The snapshot to compare from: id prefix or `latest`
        a: String,
        /// The snapshot to compare to: id prefix or `latest`
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
    /// Archive a PostgreSQL WAL file, and in parallel the next ready ones (archive_command = 'coffer --vault V --key-file K wal-push %p'); exit 0 only once it is durable
    WalPush(wal::WalPushArgs),
    /// Fetch one archived WAL file, prefetching the next ones into a spool (restore_command = 'coffer --vault V --key-file K wal-fetch %f %p'); exit 1 if the vault lacks it
    WalFetch(wal::WalFetchArgs),
    /// PostgreSQL physical backups (base backups for point-in-time recovery)
    #[command(subcommand)]
    Pg(pg::PgCmd),
    /// Remove snapshots by a retention policy or by id, explaining each decision (their data goes with prune)
    Forget(forget::ForgetArgs),
    /// Replace snapshots by copies without the excluded paths and forget the originals (erasure: the data goes with prune)
    Rewrite(rewrite::RewriteArgs),
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
        long_about = "Print shell completions for bash, zsh, fish, elvish or powershell, generated from coffer's own option definitions."
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of coffer and every command
    #[command(
        long_about = "Print the manual page of coffer (roff), with every command and its options, generated from coffer's own option definitions."
    )]
    Man,
}
