//! `config check --connect` of a `postgres-base` source with
//! `method = "files"` (issue 18): what its backup needs before it starts:
//! the right to run `pg_backup_start` and `pg_backup_stop`, WAL archiving
//! on, a primary at `url`, the data directory readable here (the
//! configured `pgdata`, else the server's `data_directory`) and, with a
//! standby, a server in recovery there.

use coffer_sources::dburl::DbUrl;
use coffer_sources::postgres::backup::FilesBackup;
use coffer_sources::postgres::{self, PgOptions, Postgres};
use coffer_sources::{SourceError, SourceResult};
use std::path::PathBuf;

fn mismatch(m: String) -> SourceError {
    SourceError::Mismatch(m)
}

/// Checks a base backup by files of the server `pg` (at `url`); `Ok` says
/// what was found.
pub(super) fn probe(
    pg: &Postgres,
    url: &DbUrl,
    opts: &PgOptions,
    f: &FilesBackup,
) -> SourceResult<String> {
    let at = url.location(None);
    let db = url.database.as_deref().unwrap_or(postgres::MAINTENANCE_DB);
    let (start, stop) = if pg.server_version_num >= 150_000 {
        ("pg_backup_start(text, boolean)", "pg_backup_stop(boolean)")
    } else {
        (
            "pg_start_backup(text, boolean, boolean)",
            "pg_stop_backup(boolean, boolean)",
        )
    };
    let out = pg.query(
        db,
        &format!(
            "select (has_function_privilege('{start}', 'execute') \
             and has_function_privilege('{stop}', 'execute'))::text \
             || '|' || current_setting('archive_mode') || '|' || pg_is_in_recovery()::text \
             || '|' || current_setting('data_directory')"
        ),
    )?;
    let fields: Vec<&str> = out.trim().splitn(4, '|').collect();
    let [may, archive_mode, in_recovery, data_directory] = fields[..] else {
        return Err(mismatch(format!(
            "PostgreSQL at {at} answered something unexpected to the backup checks"
        )));
    };
    if may != "true" {
        return Err(mismatch(format!(
            "the user of {at} may not run {start} and {stop}: connect as a superuser, or GRANT EXECUTE ON FUNCTION {start}, {stop} TO the user"
        )));
    }
    if archive_mode == "off" {
        return Err(mismatch(format!(
            "PostgreSQL at {at} does not archive its WAL (archive_mode = off): a base backup by files needs archive_mode = on and archive_command = 'coffer wal-push %p'"
        )));
    }
    if in_recovery == "true" {
        return Err(mismatch(format!(
            "PostgreSQL at {at} is a standby (in recovery): give the primary's URL as url, and the standby as standby = \"postgres://…\""
        )));
    }
    let mut found = vec![
        format!("PostgreSQL {}", pg.short_version()),
        format!("{start} allowed"),
        format!("archive_mode = {archive_mode}"),
    ];
    if let Some(s) = &f.standby {
        let su = DbUrl::parse(s, postgres::SCHEMES, postgres::DEFAULT_PORT, "standby")?;
        let sb = Postgres::connect(&su, opts, None)?;
        let sdb = su.database.as_deref().unwrap_or(postgres::MAINTENANCE_DB);
        if sb.query(sdb, "select pg_is_in_recovery()")?.trim() != "t" {
            return Err(mismatch(format!(
                "the standby {} is not in recovery: give a standby of the cluster at {at}, or remove standby",
                su.location(None)
            )));
        }
        found.push(format!("standby {} in recovery", su.host_port()));
    }
    // With a standby the files are the standby's: its data directory is
    // the configured pgdata (the primary's data_directory says nothing).
    let pgdata = match (&f.pgdata, &f.standby) {
        (Some(p), _) => p.clone(),
        (None, None) => PathBuf::from(data_directory),
        (None, Some(_)) => {
            found
                .push("pgdata not set: the standby's data_directory is read at backup time".into());
            return Ok(found.join(", "));
        }
    };
    let control = pgdata.join("global/pg_control");
    std::fs::File::open(&control).map_err(|e| {
        mismatch(format!(
            "the data directory {} cannot be read here ({}: {e}): run the daemon on the database host as a user that reads it (e.g. postgres), or set pgdata",
            pgdata.display(),
            control.display()
        ))
    })?;
    found.push(format!("data directory {} readable", pgdata.display()));
    Ok(found.join(", "))
}
