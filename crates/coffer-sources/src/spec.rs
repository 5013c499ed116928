//! What to back up, as data: the one description of a source that the
//! command line, the configuration file, the daemon and the HTTP API all
//! build, and [`backup`] runs. Nothing about a source is decided twice.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A source to back up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Directory trees.
    Files {
        /// Paths to back up (made absolute before use).
        paths: Vec<PathBuf>,
        /// Globs of entries to leave out.
        #[serde(default)]
        exclude: Vec<String>,
        /// Files holding exclude globs, one a line.
        #[serde(default)]
        exclude_files: Vec<PathBuf>,
        /// Globs of the only files to back up.
        #[serde(default)]
        include: Vec<String>,
        /// Do not cross file system boundaries.
        #[serde(default)]
        one_file_system: bool,
        /// Read every file, ignoring the parent snapshot.
        #[serde(default)]
        force: bool,
    },
    /// PostgreSQL logical dumps (`pg_dump -Fc -Z0`), one snapshot a database.
    Postgres {
        /// `postgres://user[:password]@host:port[/db]`.
        url: String,
        /// Each database but templates (the URL names none).
        #[serde(default)]
        all_databases: bool,
        /// Also the cluster's roles and tablespaces, once.
        #[serde(default)]
        globals: bool,
        /// With `all_databases`: only these globs.
        #[serde(default)]
        include_databases: Vec<String>,
        /// With `all_databases`: not these globs.
        #[serde(default)]
        exclude_databases: Vec<String>,
        /// Where the client tools are (only this directory is searched).
        #[serde(default)]
        bin_dir: Option<PathBuf>,
    },
    /// A PostgreSQL base backup (`pg_basebackup`) for point-in-time recovery.
    PostgresBase {
        /// `postgres://user@host:port/` of a user with REPLICATION.
        url: String,
        /// Where the client tools are (only this directory is searched).
        #[serde(default)]
        bin_dir: Option<PathBuf>,
    },
    /// MariaDB/MySQL dumps (`mariadb-dump --single-transaction`).
    Mysql {
        /// `mysql://user[:password]@host:port[/db]`; no database: all of them.
        url: String,
        /// Where the client tools are (only this directory is searched).
        #[serde(default)]
        bin_dir: Option<PathBuf>,
    },
    /// A Redis RDB taken over the replication protocol.
    Redis {
        /// `redis://[user:password@]host:port`.
        url: String,
    },
    /// A shell command's standard output.
    Command {
        /// The shell command.
        command: String,
        /// The snapshot's (the stream's) name.
        name: String,
        /// A shell command that restores the stream from its standard input.
        #[serde(default)]
        restore_command: Option<String>,
    },
}
