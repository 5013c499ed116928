//! The argument groups several commands share: the options every command
//! takes ([`OutputArgs`], under "Global options"), the vault options of the
//! commands that open a vault ([`VaultArgs`]), `--config` of those that read
//! the configuration ([`ConfigArgs`]), the same options given before the
//! verb ([`BeforeVerb`]), and [`FilterArgs`] (which snapshots a command
//! means). [`GlobalArgs`] is what all of them come to, as every command
//! takes it (assembled by [`crate::cli::global_args`]).

use clap::Args;
use coffer_core::SnapshotFilter;
use std::path::PathBuf;

/// The heading of the options every command takes.
pub const GLOBAL_HEADING: &str = "Global options";
/// The heading of the options that say which vault and how to unlock it.
pub const VAULT_HEADING: &str = "Vault options";

/// What a command runs with: its vault and secret, the configuration file,
/// and how to print. Each value comes from the command's own option, else
/// the same option before the verb, else its environment variable
/// ([`crate::cli::global_args`]).
#[derive(Clone, Debug, Default)]
pub struct GlobalArgs {
    /// Vault: a directory, s3://bucket/prefix, or the name of a local vault.
    pub vault: Option<String>,
    /// File holding the vault's password.
    pub password_file: Option<PathBuf>,
    /// Key file that unlocks the vault.
    pub key_file: Option<PathBuf>,
    /// Configuration file of `coffer serve`.
    pub config: Option<PathBuf>,
    /// Print JSON for scripts.
    pub json: bool,
    /// Print only errors and warnings.
    pub quiet: bool,
}

/// The options every command takes, shown under "Global options".
#[derive(Args, Clone, Debug)]
pub struct OutputArgs {
    /// Print JSON for scripts
    #[arg(long, global = true, help_heading = GLOBAL_HEADING)]
    pub json: bool,
    /// Print only errors and warnings
    #[arg(long, short, global = true, help_heading = GLOBAL_HEADING)]
    pub quiet: bool,
}

/// Which vault and how to unlock it: the options of each command that
/// opens a vault ([`crate::cli::VAULT_COMMANDS`]; global there, so a group
/// such as `coffer key` hands them to its subcommands).
#[derive(Args, Clone, Debug)]
pub struct VaultArgs {
    /// Vault: a directory, s3://bucket/prefix, or the name of a local vault (default: the local vault `default`)
    #[arg(long, global = true, env = "COFFER_VAULT", help_heading = VAULT_HEADING)]
    pub vault: Option<String>,
    /// File holding the vault's password: its content less exactly one trailing newline (\n or \r\n); else COFFER_PASSWORD
    #[arg(long, global = true, env = "COFFER_PASSWORD_FILE", value_name = "FILE", help_heading = VAULT_HEADING)]
    pub password_file: Option<PathBuf>,
    /// Key file that unlocks the vault (default: a local vault's own, in ~/.local/share/coffer/keys)
    #[arg(long, global = true, env = "COFFER_KEY_FILE", value_name = "FILE", help_heading = VAULT_HEADING)]
    pub key_file: Option<PathBuf>,
}

/// `--config`: the option of each command that reads the configuration
/// file ([`crate::cli::CONFIG_COMMANDS`]), listed after the command's own.
#[derive(Args, Clone, Debug)]
pub struct ConfigArgs {
    /// Configuration file of `coffer serve` (default: /etc/coffer/coffer.toml for root, else $XDG_CONFIG_HOME/coffer/coffer.toml)
    #[arg(
        long,
        global = true,
        env = "COFFER_CONFIG",
        value_name = "FILE",
        display_order = 900
    )]
    pub config: Option<PathBuf>,
}

/// The vault options and `--config` before the verb, as in PostgreSQL's
/// `archive_command = 'coffer --vault V --key-file K wal-push %p'`: not
/// shown, and taken by every command. The command's own option, given on
/// its command line, wins over these; these (or their environment
/// variables) win over nothing else. A command that does not use one
/// ignores it, as it ignores the environment variable: `--config` also
/// says where the audit trail of an acting command is (its `state_dir`).
#[derive(Args, Clone, Debug)]
pub struct BeforeVerb {
    #[arg(long, hide = true, env = "COFFER_VAULT")]
    pub vault: Option<String>,
    #[arg(long, hide = true, env = "COFFER_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    #[arg(long, hide = true, env = "COFFER_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    #[arg(long, hide = true, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Which snapshots a command means (--host, --tag, --path).
#[derive(Args)]
pub struct FilterArgs {
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
    /// The snapshot filter these flags give.
    pub fn filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.host.clone(),
            tags: self.tag.clone(),
            paths: self.path.clone(),
        }
    }
}

/// The tags of a repeatable `--tag` option: each value may be a
/// comma-separated list; blanks are dropped.
pub fn tag_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}
