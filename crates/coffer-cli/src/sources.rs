//! The database and command sources on the command line: flags in, calls to
//! coffer-sources out. Everything that talks to a server or runs a process
//! lives in coffer-sources; this file only picks what to call and prints.
//!
//! This file holds what several commands share: the client tools' flags
//! ([`ToolArgs`], of `backup`, `restore` and `pg basebackup`) and how a
//! source error is reported ([`usage`]).

use anyhow::Result;
use clap::Args;
use coffer_sources::mysql::MysqlOptions;
use coffer_sources::postgres::PgOptions;
use coffer_sources::SourceError;
use std::path::PathBuf;

use crate::error::UsageError;

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

    pub(crate) fn pg(&self) -> PgOptions {
        PgOptions {
            bin_dir: self.pg_bin_dir.clone(),
        }
    }
    pub(crate) fn mysql(&self) -> MysqlOptions {
        MysqlOptions {
            bin_dir: self.mysql_bin_dir.clone(),
        }
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

/// Where a source's notices go on the command line: standard error, as
/// `note: …` lines (not with --quiet).
pub fn notices(g: &crate::args::GlobalArgs) -> coffer_sources::Notices {
    if g.quiet {
        return coffer_sources::Notices::default();
    }
    coffer_sources::Notices::to(|line| crate::progress::say(&format!("note: {line}")))
}
