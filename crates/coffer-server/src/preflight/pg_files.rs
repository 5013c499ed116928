//! `config check --connect` of a `postgres-base` source with
//! `method = "files"` (issue 18): what its backup needs before it starts,
//! checked by the backup's own check ([`Postgres::check_files_backup`]):
//! the right to run `pg_backup_start` and `pg_backup_stop`, WAL archiving
//! on, a primary at `url`, with a standby a server in recovery of the same
//! cluster there, and the data directory (the configured `pgdata`, else
//! the server's or the standby's `data_directory`) readable here.

use coffer_sources::dburl::DbUrl;
use coffer_sources::postgres::backup::FilesBackup;
use coffer_sources::postgres::{self, PgOptions, Postgres};
use coffer_sources::SourceResult;

/// Checks a base backup by files of the server `pg`; `Ok` says what was
/// found.
pub(super) fn probe(pg: &Postgres, opts: &PgOptions, f: &FilesBackup) -> SourceResult<String> {
    let standby = match &f.standby {
        Some(s) => {
            let su = DbUrl::parse(s, postgres::SCHEMES, postgres::DEFAULT_PORT, "standby")?;
            Some(Postgres::connect(&su, opts, None)?)
        }
        None => None,
    };
    Ok(pg.check_files_backup(f, standby.as_ref())?.found.join(", "))
}
