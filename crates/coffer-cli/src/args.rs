//! The argument groups several commands share: [`GlobalArgs`] (the options
//! every command takes) and [`FilterArgs`] (which snapshots a command means).

use clap::Args;
use coffer_core::SnapshotFilter;
use std::path::PathBuf;

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
