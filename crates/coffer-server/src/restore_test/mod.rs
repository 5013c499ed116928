//! Restore tests (AWS Backup restore testing, done for real): a
//! `[[restore_test]]` entry restores a snapshot into scratch space, validates
//! what came back, measures how long the restore took, and removes every
//! scratch resource again, whether the test passes, fails or times out.
//!
//! [`run`] is the one entry point: `coffer restore-test run`, the daemon's
//! scheduler and the HTTP API all call it. Each call is one catalog job of
//! kind `restore-test` whose `details` are a [`RestoreTestDetails`]: the job
//! is COMPLETED when the validation is SUCCESSFUL, else FAILED (the
//! validation says FAILED or TIMED_OUT), ABORTED when the caller's cancel
//! stopped it, or SKIPPED when the vault holds no snapshot of the source
//! yet (the reason says when its first backup is due; no failure event, no
//! verdict for the RTO). Each check is PASSED, FAILED, or SKIPPED with the
//! reason when it could not run; only optional checks (`pg_amcheck`,
//! `mysqlcheck`, the live sample) are skipped, and a skip does not fail
//! the test. When the job ends, the source's health (RTO) is stored again
//! at once (`health::refresh`), whoever ran it.
//!
//! Which snapshot: a run tests one of the entry's sources — the one whose
//! last run of this entry is the oldest (never tested first), so a test
//! over several sources covers them in turn — and its newest snapshot
//! (`select = "latest"`) or a random one of the last `within_days` days
//! (`select = "random"`), found by the `source:NAME` tag rules give their
//! snapshots.
//!
//! | snapshot kind | restore into | validation |
//! | --- | --- | --- |
//! | files | a scratch directory | every name compared as bytes (nothing more, nothing less than the snapshot's), every file re-read and its chunks re-hashed against the snapshot; `sample_live` random files compared with the live source (information only) |
//! | postgres (dump) | a scratch database on `target_url` or the source's server | `pg_amcheck` (skipped when not installed), the queries |
//! | postgres-base | a scratch cluster recovered with the archived WAL to its newest point, on a free loopback port (as the `postgres` user when run as root) | the queries |
//! | mysql | a scratch database | `mariadb-check`/`mysqlcheck` (skipped when not installed), the queries |
//! | redis | a scratch `redis-server` on a free loopback port | `DBSIZE` ≥ `min_keys`, `keys` exist |
//! | command | — | `validate_command` fed the stream exits 0 |
//!
//! Scratch names are `coffer_rt_<test>_<random>`: never a real database's.
//!
//! Clean-up: every scratch resource is held by a guard that removes it on
//! drop (database dropped `WITH (FORCE)`, server stopped, directory
//! removed). The time limit is a [`Cancel`] fired by a watcher thread; the
//! restore's processes run in a
//! [`process::cancel_scope`](coffer_sources::process::cancel_scope), so a
//! timeout kills their whole process groups at once, the stream reads stop,
//! and the guards then clean up outside the scope. (A files restore itself
//! is not interruptible; its comparison is.)
//!
//! Where things are: [`run`] here; the job around a run (its state, the
//! time limit) in `job.rs`; which source and snapshot a run tests in
//! `pick.rs`; one file per snapshot kind (`files.rs`, `postgres.rs` for
//! dumps and base backups, `mysql.rs` for MySQL and MariaDB, `redis.rs`,
//! `command.rs`); the checks a run records and the queries in
//! `validate.rs`; the snapshot under test and its restore in `context.rs`;
//! scratch names, databases and servers in `scratch.rs`.

mod command;
mod context;
mod failure;
mod files;
mod job;
mod mysql;
mod pick;
mod postgres;
mod redis;
mod scratch;
mod validate;

#[cfg(test)]
mod tests;

pub use job::{new_job, run_job, RestoreTestError};
pub use scratch::{scratch_name, SCRATCH_PREFIX};

use crate::catalog::{Catalog, JobId, Trigger};
use crate::config::Config;
use crate::records::RestoreTestDetails;
use coffer_core::Cancel;

/// Runs restore test `name` of `config` now, as one `restore-test` job in
/// `catalog`, and returns the job and what it recorded. `cancel` stops it
/// (the job becomes ABORTED); scratch resources are removed in every case.
pub fn run(
    config: &Config,
    catalog: &Catalog,
    name: &str,
    trigger: Trigger,
    cancel: &Cancel,
) -> Result<(JobId, RestoreTestDetails), RestoreTestError> {
    let test = config
        .restore_test(name)
        .ok_or_else(|| RestoreTestError::NotFound {
            name: name.to_string(),
            config: config.path.display().to_string(),
            known: if config.restore_tests.is_empty() {
                "none".into()
            } else {
                config
                    .restore_tests
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
    let id = catalog.create_job(&new_job(catalog, test, trigger)?)?;
    run_job(config, catalog, test, id, cancel)
}
