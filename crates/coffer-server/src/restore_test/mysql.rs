//! Restore test of a MySQL or MariaDB dump: restored into a scratch
//! database on `target_url` or the source's server, every table checked
//! (`mariadb-check --check`, or `mysqlcheck`; SKIPPED when neither is
//! installed), then the queries. Only one-database dumps can be restored
//! under another name.

use super::context::{restore_into_db, Ctx};
use super::failure::failed;
use super::scratch::{scratch_name, ScratchDb};
use super::validate::{run_queries, Run};
use crate::model::ServerResult;
use coffer_sources::mysql::{self, Mysql, MysqlOptions, MysqlRestoreOptions};
use coffer_sources::process::Checked;
use coffer_sources::restore::Destination;
use coffer_sources::spec::SourceSpec;
use std::time::Instant;

pub(super) fn test_mysql(c: &Ctx<'_>, t: &mut Run) -> ServerResult<()> {
    let bin_dir = match c.spec {
        SourceSpec::Mysql { bin_dir, .. } => bin_dir.clone(),
        _ => None,
    };
    if c.detail("database").is_none_or(|d| d.is_empty()) {
        return Err(failed(format!(
            "snapshot {} is an all-databases dump: restore tests restore one-database dumps (give the source's url a database)",
            c.id.short()
        )));
    }
    let mut url = c.server_url(mysql::SCHEMES, mysql::DEFAULT_PORT)?;
    let db = scratch_name(&c.test.name);
    url.database = Some(db.clone());
    let m = Mysql::connect(
        &url,
        &MysqlOptions {
            bin_dir: bin_dir.clone(),
        },
        None,
    )
    .map_err(|e| failed(e.to_string()))?;
    let guard = ScratchDb {
        name: db.clone(),
        drop: Box::new(|n| m.drop_database(n).map_err(|e| failed(e.to_string()))),
        done: false,
    };
    // The snapshot's `database` detail (checked above) names the dump's
    // database; the restore puts it into the scratch one.
    let destination = Destination::Mysql {
        url: url.clone(),
        tools: MysqlOptions { bin_dir },
        options: MysqlRestoreOptions {
            create: true,
            clean: false,
        },
    };
    restore_into_db(c, t, &db, &url.host_port(), destination)?;
    let start = Instant::now();
    match m.check_tables(&db) {
        Ok(Checked::Unavailable(why)) => t.skip("mysqlcheck", format!("not run: {why}")),
        Ok(Checked::Ran(report)) => {
            let errors = mysql::check_errors(&report);
            let tables = report
                .lines()
                .filter(|l| l.trim_end().ends_with("OK"))
                .count();
            if errors.is_empty() {
                t.check(
                    "mysqlcheck",
                    true,
                    format!("{tables} tables checked, no errors"),
                );
            } else {
                t.check("mysqlcheck", false, errors.join("; "));
            }
        }
        Err(e) => t.check("mysqlcheck", false, e.to_string()),
    }
    run_queries(t, c.test, '\t', &|sql| {
        m.query(Some(&db), sql).map_err(|e| failed(e.to_string()))
    });
    t.validated(start);
    guard.close()
}
