//! Restore tests (AWS Backup restore testing, done for real): a
//! `[[restore_test]]` entry restores a snapshot into scratch space, validates
//! what came back, measures how long the restore took, and removes every
//! scratch resource again, whether the test passes, fails or times out.
//!
//! [`run`] is the one entry point: `coffer restore-test run`, the daemon's
//! scheduler and the HTTP API all call it. Each call is one catalog job of
//! kind `restore-test` whose `details` are a [`RestoreTestDetails`]: the job
//! is COMPLETED when the validation is SUCCESSFUL, else FAILED (the
//! validation says FAILED or TIMED_OUT), or ABORTED when the caller's
//! cancel stopped it.
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
//! | files | a scratch directory | every file re-read and its chunks re-hashed against the snapshot; `sample_live` random files compared with the live source (information only) |
//! | postgres (dump) | a scratch database on `target_url` or the source's server | `pg_amcheck` when installed, the queries |
//! | postgres-base | a scratch cluster recovered with the archived WAL to its newest point, on a free loopback port (as the `postgres` user when run as root) | the queries |
//! | mysql | a scratch database | the queries |
//! | redis | a scratch `redis-server` on a free loopback port | `DBSIZE` ≥ `min_keys`, `keys` exist |
//! | command | — | `validate_command` fed the stream exits 0 |
//!
//! Scratch names are `coffer_rt_<test>_<random>`: never a real database's.
//!
//! Clean-up: every scratch resource is held by a guard that removes it on
//! drop (database dropped `WITH (FORCE)`, server stopped, directory
//! removed). The time limit is a [`Cancel`] fired by a watcher thread; the
//! restore's processes run in a [`process::cancel_scope`], so a timeout kills
//! their whole process groups at once, the stream reads stop, and the guards
//! then clean up outside the scope. (A files restore itself is not
//! interruptible; its comparison is.)

use crate::catalog::{
    Catalog, CatalogError, JobFilter, JobId, JobKind, JobOutcome, JobState, NewJob, Trigger,
};
use crate::config::{Config, KeySource, RestoreTestConfig, SnapshotSelect};
use crate::records::{CheckResult, RestoreTestDetails, Validation};
use crate::runner::{open_vault, source_tag, with_password};
use coffer_core::{Cancel, Id, Index, Snapshot, SnapshotFilter, Vault};
use coffer_sources::dburl::DbUrl;
use coffer_sources::mysql::{self, Mysql, MysqlOptions, MysqlRestoreOptions};
use coffer_sources::pg_physical::{
    self, PgdataOptions, RecoveryOptions, RecoveryTarget, WalSecret,
};
use coffer_sources::postgres::{self, PgOptions, PgRestoreOptions, Postgres};
use coffer_sources::restore::{Destination, RestoreOutcome, RestoreRequest};
use coffer_sources::spec::SourceSpec;
use coffer_sources::{command, files, process, redis, Progress, SourceError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a restore test could not be recorded at all (a test that ran and
/// failed is a FAILED job, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RestoreTestError {
    /// No `[[restore_test]]` has that name.
    #[error("restore test `{name}` is not in {config} (restore tests: {known}); add a [[restore_test]] with that name or fix the name")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The configuration file.
        config: String,
        /// The names there are.
        known: String,
    },
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The prefix of every scratch database and directory.
pub const SCRATCH_PREFIX: &str = "coffer_rt_";

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

/// The `restore-test` job to record for one run of `test`: its vault, the
/// test's name as the job's rule, and the source this run tests (the one
/// tested longest ago).
pub fn new_job(
    catalog: &Catalog,
    test: &RestoreTestConfig,
    trigger: Trigger,
) -> Result<NewJob, CatalogError> {
    let mut job = NewJob::new(JobKind::RestoreTest, trigger);
    job.source = Some(pick_source(catalog, test)?);
    job.vault = Some(test.vault.clone());
    job.rule = Some(test.name.clone());
    Ok(job)
}

/// Runs restore-test job `id` (already CREATED by [`new_job`]) of `test`:
/// RUNNING, the restore and its validation within the test's timeout,
/// then its final state. The daemon's periodic tasks call this; [`run`]
/// is the same with the job created first.
pub fn run_job(
    config: &Config,
    catalog: &Catalog,
    test: &RestoreTestConfig,
    id: JobId,
    cancel: &Cancel,
) -> Result<(JobId, RestoreTestDetails), RestoreTestError> {
    let source = catalog.get_job(id)?.source.unwrap_or_default();
    let mut t = Run {
        details: RestoreTestDetails {
            test: test.name.clone(),
            snapshot: None,
            validation: Validation::Successful,
            restore_seconds: None,
            validation_seconds: None,
            checks: Vec::new(),
        },
        cancel: Cancel::default(),
    };
    if let Err(e) = catalog.start_job(id) {
        t.details.validation = Validation::Failed;
        let o = JobOutcome {
            details: Some(t.details.to_json()),
            ..JobOutcome::failed(format!("cannot start the job in the catalog: {e}"))
        };
        catalog.finish_job(id, &o)?;
        return Ok((id, t.details));
    }

    // The time limit and the caller's cancel both fire the inner cancel.
    let timeout = test.timeout;
    let deadline = Instant::now() + timeout.unsigned_abs();
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (inner, outer) = (t.cancel.clone(), cancel.clone());
        let (done, timed_out) = (done.clone(), timed_out.clone());
        let limit = humantime::format_duration(timeout.unsigned_abs()).to_string();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(why) = outer.reason() {
                    inner.cancel(why);
                    return;
                }
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::SeqCst);
                    inner.cancel(format!("the restore test's timeout of {limit} passed"));
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let result = {
        let _scope = process::cancel_scope(&t.cancel);
        execute(config, test, &source, &mut t)
    };
    done.store(true, Ordering::SeqCst);
    let _ = watcher.join();

    let failed_check = t.details.checks.iter().find(|c| !c.ok).cloned();
    let outcome = if timed_out.load(Ordering::SeqCst) {
        t.details.validation = Validation::TimedOut;
        JobOutcome::failed(format!(
            "timed out after {} ({})",
            humantime::format_duration(timeout.unsigned_abs()),
            match &result {
                Err(e) => e.clone(),
                Ok(()) => "stopped".into(),
            }
        ))
    } else if let Some(why) = cancel.reason() {
        t.details.validation = Validation::Failed;
        JobOutcome::aborted(why)
    } else {
        match (result, failed_check) {
            (Err(e), _) => {
                t.details.validation = Validation::Failed;
                JobOutcome::failed(e)
            }
            (Ok(()), Some(c)) => {
                t.details.validation = Validation::Failed;
                JobOutcome::failed(format!("{} failed: {}", c.name, c.detail))
            }
            (Ok(()), None) => JobOutcome::new(JobState::Completed),
        }
    };
    let outcome = JobOutcome {
        details: Some(t.details.to_json()),
        ..outcome
    };
    catalog.finish_job(id, &outcome)?;
    Ok((id, t.details))
}

/// The source a run tests: the one whose last run of this test is the
/// oldest (never tested first), in file order on ties.
fn pick_source(catalog: &Catalog, test: &RestoreTestConfig) -> Result<String, CatalogError> {
    if test.sources.len() <= 1 {
        return Ok(test.sources.first().cloned().unwrap_or_default());
    }
    let jobs = catalog.list_jobs(&JobFilter {
        kinds: vec![JobKind::RestoreTest],
        ..Default::default()
    })?;
    let last = |s: &str| {
        jobs.iter()
            .filter(|j| j.source.as_deref() == Some(s))
            .filter(|j| RestoreTestDetails::of(j).is_some_and(|d| d.test == test.name))
            .map(|j| j.id)
            .max()
    };
    Ok(test
        .sources
        .iter()
        .min_by_key(|s| last(s))
        .cloned()
        .unwrap_or_default())
}

/// One run's record and its inner cancel.
struct Run {
    details: RestoreTestDetails,
    cancel: Cancel,
}

impl Run {
    fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.details.checks.push(CheckResult {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }

    fn restored(&mut self, since: Instant, detail: String) {
        self.details.restore_seconds = Some(since.elapsed().as_secs_f64());
        self.check("restore", true, detail);
    }

    fn validated(&mut self, since: Instant) {
        self.details.validation_seconds = Some(since.elapsed().as_secs_f64());
    }
}

fn execute(
    config: &Config,
    test: &RestoreTestConfig,
    source: &str,
    t: &mut Run,
) -> Result<(), String> {
    let src = config
        .source(source)
        .ok_or_else(|| format!("source `{source}` is not in {}", config.path.display()))?;
    let vault = open_vault(config, &test.vault)?;
    let (id, snap) = pick_snapshot(&vault, test, source)?;
    t.details.snapshot = Some(id.to_hex());
    let index = vault
        .load_index()
        .map_err(|e| format!("vault `{}`: {e}", test.vault))?;
    let spec = with_password(src)?;
    let ctx = Ctx {
        config,
        test,
        vault: &vault,
        index: &index,
        id,
        snap: &snap,
        spec: &spec,
    };
    match snap.source.kind.as_str() {
        "files" => test_files(&ctx, t),
        postgres::KIND => test_pg_dump(&ctx, t),
        pg_physical::KIND_BASE => test_pg_base(&ctx, t),
        mysql::KIND => test_mysql(&ctx, t),
        redis::KIND => test_redis(&ctx, t),
        command::KIND => test_command(&ctx, t),
        other => Err(format!(
            "snapshot {} is a {other} snapshot, which restore tests do not handle",
            id.short()
        )),
    }
}

/// Snapshot kinds a restore test can restore.
const TESTABLE: &[&str] = &[
    "files",
    postgres::KIND,
    pg_physical::KIND_BASE,
    mysql::KIND,
    redis::KIND,
    command::KIND,
];

fn pick_snapshot(
    vault: &Vault,
    test: &RestoreTestConfig,
    source: &str,
) -> Result<(Id, Snapshot), String> {
    let tag = source_tag(source);
    let mut snaps: Vec<(Id, Snapshot)> = vault
        .snapshots(&SnapshotFilter {
            tags: vec![tag.clone()],
            ..Default::default()
        })
        .map_err(|e| format!("listing the snapshots of vault `{}`: {e}", test.vault))?
        .into_iter()
        .filter(|(_, s)| TESTABLE.contains(&s.source.kind.as_str()))
        .collect();
    snaps.sort_by_key(|(_, s)| s.timestamp());
    if snaps.is_empty() {
        return Err(format!(
            "vault `{}` holds no snapshot of source `{source}` (tag {tag}): run a backup first (coffer plan run)",
            test.vault
        ));
    }
    match test.select {
        SnapshotSelect::Latest => Ok(snaps.pop().expect("not empty")),
        SnapshotSelect::Random { within_days } => {
            use rand::seq::SliceRandom;
            let since = jiff::Timestamp::now()
                - jiff::SignedDuration::from_hours(24 * i64::from(within_days));
            let recent: Vec<&(Id, Snapshot)> = snaps
                .iter()
                .filter(|(_, s)| s.timestamp() >= since)
                .collect();
            recent
                .choose(&mut rand::thread_rng())
                .map(|x| (*x).clone())
                .ok_or_else(|| {
                    format!(
                        "vault `{}` holds no snapshot of source `{source}` from the last {within_days} days",
                        test.vault
                    )
                })
        }
    }
}

struct Ctx<'a> {
    config: &'a Config,
    test: &'a RestoreTestConfig,
    vault: &'a Vault,
    index: &'a Index,
    id: Id,
    snap: &'a Snapshot,
    spec: &'a SourceSpec,
}

impl Ctx<'_> {
    /// Restores the snapshot to `destination` through the one restore of
    /// every front end ([`coffer_sources::restore::restore`]); stream
    /// reads stop with an error once `cancel` fires.
    fn restore(
        &self,
        destination: Destination,
        cancel: &Cancel,
    ) -> Result<RestoreOutcome, SourceError> {
        coffer_sources::restore::restore(
            RestoreRequest {
                vault: self.vault,
                index: self.index,
                id: self.id,
                snapshot: self.snap,
                destination,
                cancel: Some(cancel.clone()),
            },
            &Progress::default(),
        )
    }

    fn detail(&self, k: &str) -> Option<String> {
        self.snap.source.details.get(k).cloned()
    }

    /// A scratch directory (removed on drop).
    fn scratch_dir(&self) -> Result<tempfile::TempDir, String> {
        let parent = self
            .test
            .scratch_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        tempfile::Builder::new()
            .prefix(&format!("{}_", scratch_name(&self.test.name)))
            .tempdir_in(&parent)
            .map_err(|e| {
                format!(
                    "creating a scratch directory in {}: {e} (set scratch_dir on the restore test)",
                    parent.display()
                )
            })
    }

    /// The server to restore a dump into: `target_url`, else the source's
    /// URL (with the source's password in both cases), without a database.
    fn server_url(&self, schemes: &[&str], port: u16) -> Result<DbUrl, String> {
        let source_url = match self.spec {
            SourceSpec::Postgres { url, .. }
            | SourceSpec::Mysql { url, .. }
            | SourceSpec::PostgresBase { url, .. }
            | SourceSpec::Redis { url } => Some(url.as_str()),
            _ => None,
        };
        let source = source_url
            .map(|u| DbUrl::parse(u, schemes, port, "the source's url"))
            .transpose()
            .map_err(|e| e.to_string())?;
        let mut url = match &self.test.target_url {
            Some(t) => DbUrl::parse(t, schemes, port, "target_url").map_err(|e| e.to_string())?,
            None => source
                .clone()
                .ok_or_else(|| "the source has no url to restore into".to_string())?,
        };
        if url.password.is_none() {
            url.password = source.and_then(|s| s.password);
        }
        url.database = None;
        Ok(url)
    }
}

/// `coffer_rt_<test>_<8 hex>`: lower case, only `[a-z0-9_]`, at most 63
/// characters (PostgreSQL's and MySQL's limits).
pub fn scratch_name(test: &str) -> String {
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{SCRATCH_PREFIX}{clean}_{:08x}", rand::random::<u32>())
}

// ---------------------------------------------------------------------------
// Files.

fn test_files(c: &Ctx<'_>, t: &mut Run) -> Result<(), String> {
    let scratch = c.scratch_dir()?;
    let target = scratch.path().join("restore");
    let start = Instant::now();
    let stats = c
        .restore(
            Destination::Directory {
                target: target.clone(),
                includes: Default::default(),
                subpath: None,
            },
            &t.cancel,
        )
        .map(|o| o.files.unwrap_or_default())
        .map_err(|e| {
            format!(
                "restoring snapshot {} into {}: {e}",
                c.id.short(),
                target.display()
            )
        })?;
    t.restored(
        start,
        format!(
            "{} files, {} directories, {}",
            stats.files,
            stats.dirs,
            coffer_core::human_bytes(stats.bytes)
        ),
    );
    let start = Instant::now();
    let v = files::verify_restored(c.vault, c.index, c.snap, &target, Some(&t.cancel))
        .map_err(|e| format!("comparing the restored files: {e}"))?;
    let detail = if v.mismatch_count == 0 {
        format!(
            "{} files ({}), {} directories and {} symlinks match the snapshot",
            v.files,
            coffer_core::human_bytes(v.bytes),
            v.dirs,
            v.symlinks
        )
    } else {
        format!(
            "{} of {} entries differ from the snapshot: {}",
            v.mismatch_count,
            v.files + v.dirs + v.symlinks,
            list_mismatches(&v)
        )
    };
    t.check("compare files", v.mismatch_count == 0, detail);
    if let Some(n) = c.test.sample_live.filter(|n| *n > 0) {
        let l = files::compare_live_sample(c.vault, c.index, c.snap, n as usize)
            .map_err(|e| format!("sampling live files: {e}"))?;
        let detail = if l.mismatch_count == 0 {
            format!("{} live files match the snapshot", l.files)
        } else {
            format!(
                "{} of {} live files changed since the snapshot (information): {}",
                l.mismatch_count,
                l.files,
                list_mismatches(&l)
            )
        };
        t.check(format!("sample {n} live files"), true, detail);
    }
    t.validated(start);
    scratch
        .close()
        .map_err(|e| format!("removing the scratch directory: {e}"))
}

fn list_mismatches(v: &files::VerifyStats) -> String {
    v.mismatches
        .iter()
        .take(5)
        .map(|m| format!("{}: {}", m.path, m.problem))
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------
// Databases.

/// Drops a scratch database on drop (outside the cancel scope, so it runs
/// after a timeout too).
type DropDb<'a> = Box<dyn Fn(&str) -> Result<(), String> + 'a>;

struct ScratchDb<'a> {
    name: String,
    drop: DropDb<'a>,
    done: bool,
}

impl ScratchDb<'_> {
    fn close(mut self) -> Result<(), String> {
        self.done = true;
        let r = process::outside_cancel_scope(|| (self.drop)(&self.name));
        r.map_err(|e| format!("dropping scratch database {}: {e}", self.name))
    }
}

impl Drop for ScratchDb<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = process::outside_cancel_scope(|| (self.drop)(&self.name)) {
                tracing::error!("cannot drop scratch database {}: {e}", self.name);
            }
        }
    }
}

/// The first column of the first row of psql (`|`) or mysql (tab) output.
fn first_value(out: &str, sep: char) -> Option<String> {
    out.lines()
        .next()
        .map(|l| l.split(sep).next().unwrap_or("").to_string())
}

fn run_queries(
    t: &mut Run,
    test: &RestoreTestConfig,
    sep: char,
    query: &dyn Fn(&str) -> Result<String, String>,
) {
    for q in &test.queries {
        match query(&q.sql) {
            Ok(out) => match q.expect.check(first_value(&out, sep).as_deref()) {
                Ok(d) => t.check(q.sql.clone(), true, d),
                Err(d) => t.check(q.sql.clone(), false, d),
            },
            Err(e) => t.check(q.sql.clone(), false, format!("error: {e}")),
        }
    }
}

/// Restores the snapshot into scratch database `db` on `server` (given as
/// `destination`), timed and recorded as the restore step; an error names
/// the snapshot, the database and the server.
fn restore_into_db(
    c: &Ctx<'_>,
    t: &mut Run,
    db: &str,
    server: &str,
    destination: Destination,
) -> Result<(), String> {
    let start = Instant::now();
    c.restore(destination, &t.cancel).map_err(|e| {
        format!(
            "restoring snapshot {} into scratch database {db} on {server}: {e}",
            c.id.short()
        )
    })?;
    t.restored(start, format!("into scratch database {db} on {server}"));
    Ok(())
}

fn test_pg_dump(c: &Ctx<'_>, t: &mut Run) -> Result<(), String> {
    let bin_dir = match c.spec {
        SourceSpec::Postgres { bin_dir, .. } => bin_dir.clone(),
        _ => None,
    };
    let mut url = c.server_url(postgres::SCHEMES, postgres::DEFAULT_PORT)?;
    let db = scratch_name(&c.test.name);
    url.database = Some(db.clone());
    let pg = Postgres::connect(
        &url,
        &PgOptions {
            bin_dir: bin_dir.clone(),
        },
        Some(postgres::MAINTENANCE_DB),
    )
    .map_err(|e| e.to_string())?;
    let guard = ScratchDb {
        name: db.clone(),
        drop: Box::new(|n| pg.drop_database(n).map_err(|e| e.to_string())),
        done: false,
    };
    let destination = Destination::Postgres {
        url: url.clone(),
        tools: PgOptions {
            bin_dir: bin_dir.clone(),
        },
        options: PgRestoreOptions {
            create: true,
            clean: false,
            jobs: 1,
            temp_dir: None,
        },
    };
    restore_into_db(c, t, &db, &url.host_port(), destination)?;
    let start = Instant::now();
    match pg.amcheck(&db) {
        Ok(None) => t.check("pg_amcheck", true, "pg_amcheck is not installed: skipped"),
        Ok(Some(_)) => t.check("pg_amcheck", true, "no corruption found"),
        Err(e) => t.check("pg_amcheck", false, e.to_string()),
    }
    run_queries(t, c.test, '|', &|sql| {
        pg.query(&db, sql).map_err(|e| e.to_string())
    });
    t.validated(start);
    guard.close()
}

fn test_mysql(c: &Ctx<'_>, t: &mut Run) -> Result<(), String> {
    let bin_dir = match c.spec {
        SourceSpec::Mysql { bin_dir, .. } => bin_dir.clone(),
        _ => None,
    };
    if c.detail("database").is_none_or(|d| d.is_empty()) {
        return Err(format!(
            "snapshot {} is an all-databases dump: restore tests restore one-database dumps (give the source's url a database)",
            c.id.short()
        ));
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
    .map_err(|e| e.to_string())?;
    let guard = ScratchDb {
        name: db.clone(),
        drop: Box::new(|n| m.drop_database(n).map_err(|e| e.to_string())),
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
    run_queries(t, c.test, '\t', &|sql| {
        m.query(Some(&db), sql).map_err(|e| e.to_string())
    });
    t.validated(start);
    guard.close()
}

// ---------------------------------------------------------------------------
// Scratch servers.

/// A free TCP port on the loopback interface.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port on 127.0.0.1: {e}"))
}

/// A server process we started in a process group of its own: stopped
/// with `stop_signal`, then (after 10 s) the whole group killed.
struct ScratchServer {
    child: Child,
    stop_signal: libc::c_int,
    what: String,
    log: PathBuf,
}

impl ScratchServer {
    fn start(
        mut cmd: Command,
        what: String,
        log: PathBuf,
        stop_signal: libc::c_int,
    ) -> Result<ScratchServer, String> {
        let out =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("creating {}: {e}", log.display()))?;
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(ScratchServer {
            child,
            stop_signal,
            what,
            log,
        })
    }

    /// `Err` with the end of its log when it has exited.
    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!(
                "{} {}: {}",
                self.what,
                process::describe_status(&status),
                self.log_tail()
            )),
            _ => Ok(()),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: signals the server process this guard started.
            unsafe {
                libc::kill(pid, self.stop_signal);
            }
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever is left of its group (the server's children).
        // SAFETY: the group this guard's process leads.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Waits until `ready` says yes, the server dies, or the cancel fires.
fn wait_ready(
    server: &mut ScratchServer,
    cancel: &Cancel,
    what: &str,
    mut ready: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let mut last = String::new();
    loop {
        server.alive()?;
        if let Some(why) = cancel.reason() {
            return Err(format!("{why} while waiting for {what} (last: {last})"));
        }
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn redis_cmd(port: u16, args: &[&str]) -> Result<String, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connecting to 127.0.0.1:{port}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())
        .map_err(|e| format!("writing to 127.0.0.1:{port}: {e}"))?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match s.read(&mut b) {
            Ok(1) => line.push(b[0]),
            Ok(_) => return Err(format!("127.0.0.1:{port} closed the connection")),
            Err(e) => return Err(format!("reading from 127.0.0.1:{port}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
    match text.split_at(1.min(text.len())) {
        ("+", rest) | (":", rest) => Ok(rest.to_string()),
        ("-", rest) => Err(rest.to_string()),
        _ => Err(format!("unexpected answer `{text}`")),
    }
}

fn test_redis(c: &Ctx<'_>, t: &mut Run) -> Result<(), String> {
    let scratch = c.scratch_dir()?;
    let dir = scratch.path().join("data");
    let start = Instant::now();
    c.restore(Destination::RedisDir(dir.clone()), &t.cancel)
        .map_err(|e| {
            format!(
                "restoring snapshot {} into {}: {e}",
                c.id.short(),
                dir.display()
            )
        })?;
    let server_bin = coffer_sources::process::ToolDirs {
        only: None,
        option: "PATH".into(),
        extra: vec!["/usr/sbin".into(), "/usr/local/bin".into()],
    }
    .find(
        &["redis-server"],
        "install redis-server (Debian: apt-get install redis-server)",
    )
    .map_err(|e| e.to_string())?;
    let port = free_port()?;
    let mut cmd = Command::new(&server_bin);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(&dir)
        .args([
            "--dbfilename",
            redis::RDB_NAME,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]);
    let mut server = ScratchServer::start(
        cmd,
        format!("redis-server on 127.0.0.1:{port}"),
        scratch.path().join("redis.log"),
        libc::SIGTERM,
    )?;
    wait_ready(
        &mut server,
        &t.cancel,
        "redis-server to load the RDB",
        || redis_cmd(port, &["PING"]).map(|r| r == "PONG"),
    )?;
    t.restored(
        start,
        format!(
            "{} loaded by redis-server on 127.0.0.1:{port}",
            redis::RDB_NAME
        ),
    );
    let start = Instant::now();
    let n: u64 = redis_cmd(port, &["DBSIZE"])?
        .parse()
        .map_err(|_| "DBSIZE did not answer a number".to_string())?;
    match c.test.min_keys {
        Some(m) => t.check(
            "DBSIZE",
            n >= m,
            format!("{n} keys (at least {m} expected)"),
        ),
        None => t.check("DBSIZE", true, format!("{n} keys")),
    }
    for k in &c.test.keys {
        match redis_cmd(port, &["EXISTS", k]) {
            Ok(r) if r == "1" => t.check(format!("key {k}"), true, "exists"),
            Ok(_) => t.check(format!("key {k}"), false, "missing"),
            Err(e) => t.check(format!("key {k}"), false, e),
        }
    }
    t.validated(start);
    drop(server);
    scratch
        .close()
        .map_err(|e| format!("removing the scratch directory: {e}"))
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The user a scratch PostgreSQL cluster runs as when we are root.
const PG_USER: &str = "postgres";

fn test_pg_base(c: &Ctx<'_>, t: &mut Run) -> Result<(), String> {
    let (url, bin_dir) = match c.spec {
        SourceSpec::PostgresBase { url, bin_dir } => (url.clone(), bin_dir.clone()),
        _ => return Err("the source is not a postgres-base source".into()),
    };
    let source_url = DbUrl::parse(&url, postgres::SCHEMES, postgres::DEFAULT_PORT, "url")
        .map_err(|e| e.to_string())?;
    let major = postgres::pg_major(&c.detail("server_version").unwrap_or_default());
    let opts = PgOptions { bin_dir };
    let postgres_bin =
        postgres::server_tool(&opts, "postgres", major).map_err(|e| e.to_string())?;
    let scratch = c.scratch_dir()?;
    let owner = if is_root() {
        let o = pg_physical::lookup_user(PG_USER).map_err(|_| {
            format!("user {PG_USER} does not exist: a scratch cluster started by root runs as {PG_USER}")
        })?;
        std::os::unix::fs::chown(scratch.path(), Some(o.0), Some(o.1))
            .map_err(|e| format!("changing the owner of {}: {e}", scratch.path().display()))?;
        Some(o)
    } else {
        None
    };
    // The server's restore_command reads the vault with a copy of its
    // secret that the server's user can read, inside the scratch directory.
    let secret = copy_secret(c, scratch.path(), owner)?;
    let vault_url = c
        .config
        .vault(&c.test.vault)
        .map(|v| v.url.clone())
        .unwrap_or_default();
    let recovery = RecoveryOptions {
        coffer: std::env::current_exe()
            .map_err(|e| format!("finding the path of the coffer executable: {e}"))?,
        vault: vault_url,
        secret,
        target: RecoveryTarget::Latest,
        inclusive: true,
        archive: false,
    };
    let data = scratch.path().join("data");
    let start = Instant::now();
    c.restore(
        Destination::Pgdata(PgdataOptions {
            dir: data.clone(),
            recovery,
            owner,
            comment: format!(
                "coffer restore test {} of base backup snapshot {}",
                c.test.name,
                c.id.short()
            ),
        }),
        &t.cancel,
    )
    .map_err(|e| {
        format!(
            "restoring snapshot {} into {}: {e}",
            c.id.short(),
            data.display()
        )
    })?;
    let port = free_port()?;
    let mut cmd = Command::new(&postgres_bin);
    cmd.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!(
            "unix_socket_directories={}",
            scratch.path().display()
        ))
        // Never archive the scratch cluster's WAL into the real vault.
        .args([
            "-c",
            "archive_mode=off",
            "-c",
            "fsync=off",
            "-c",
            "logging_collector=off",
        ])
        .current_dir(scratch.path());
    if let Some((uid, gid)) = owner {
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
        std::os::unix::process::CommandExt::gid(&mut cmd, gid);
    }
    let mut server = ScratchServer::start(
        cmd,
        format!("scratch PostgreSQL on 127.0.0.1:{port}"),
        scratch.path().join("server.log"),
        libc::SIGQUIT,
    )?;
    let mut conn = source_url.clone();
    conn.host = "127.0.0.1".into();
    conn.port = port;
    let db = source_url
        .database
        .clone()
        .unwrap_or_else(|| postgres::MAINTENANCE_DB.to_string());
    conn.database = Some(db.clone());
    let mut pg: Option<Postgres> = None;
    wait_ready(
        &mut server,
        &t.cancel,
        "the scratch cluster to finish recovery",
        || {
            if pg.is_none() {
                pg = Some(
                    Postgres::connect(&conn, &opts, Some(postgres::MAINTENANCE_DB))
                        .map_err(|e| e.to_string())?,
                );
            }
            let p = pg.as_ref().expect("connected");
            let r = p
                .query(postgres::MAINTENANCE_DB, "select pg_is_in_recovery()")
                .map_err(|e| e.to_string())?;
            Ok(r.trim() == "f")
        },
    )?;
    let pg = pg.expect("connected once ready");
    t.restored(
        start,
        format!("recovered to the newest archived WAL on 127.0.0.1:{port}"),
    );
    let start = Instant::now();
    run_queries(t, c.test, '|', &|sql| {
        pg.query(&db, sql).map_err(|e| e.to_string())
    });
    t.validated(start);
    drop(server);
    scratch
        .close()
        .map_err(|e| format!("removing the scratch directory: {e}"))
}

/// Writes the vault's secret into `dir` (mode 0600, owned by `owner`).
fn copy_secret(c: &Ctx<'_>, dir: &Path, owner: Option<(u32, u32)>) -> Result<WalSecret, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let vc = c
        .config
        .vault(&c.test.vault)
        .ok_or_else(|| format!("vault `{}` is not configured", c.test.vault))?;
    let (bytes, key) = match &vc.key {
        KeySource::KeyFile(p) => (
            std::fs::read(p).map_err(|e| format!("reading key file {}: {e}", p.display()))?,
            true,
        ),
        KeySource::PasswordFile(p) => (
            std::fs::read(p).map_err(|e| format!("reading password file {}: {e}", p.display()))?,
            false,
        ),
        // Written with the one trailing newline that reading a password
        // file strips (keys::read_password_file), so a password that itself
        // ends in a newline survives the copy.
        KeySource::PasswordEnv(v) => (
            std::env::var(v)
                .map(|p| format!("{p}\n"))
                .map_err(|_| format!("environment variable {v} (password_env) is not set"))?
                .into_bytes(),
            false,
        ),
    };
    let path = dir.join(if key { "vault.key" } else { "vault.password" });
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    f.write_all(&bytes)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))
            .map_err(|e| format!("changing the owner of {}: {e}", path.display()))?;
    }
    Ok(if key {
        WalSecret::KeyFile(path)
    } else {
        WalSecret::PasswordFile(path)
    })
}

// ---------------------------------------------------------------------------
// Commands.

fn test_command(c: &Ctx<'_>, t: &mut Run) -> Result<(), String> {
    let cmd = c
        .test
        .validate_command
        .clone()
        .ok_or_else(|| "a command source needs validate_command".to_string())?;
    let start = Instant::now();
    let result = c.restore(
        Destination::Command {
            command: Some(cmd.clone()),
            role: "validate_command".into(),
            discard_output: true,
        },
        &t.cancel,
    );
    t.details.restore_seconds = Some(start.elapsed().as_secs_f64());
    t.details.validation_seconds = Some(0.0);
    match result {
        Ok(o) => {
            t.check(
                "validate_command",
                true,
                format!(
                    "read {} and exited with status 0",
                    coffer_core::human_bytes(o.bytes)
                ),
            );
            Ok(())
        }
        Err(e) => {
            t.check("validate_command", false, e.to_string());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_are_unmistakable() {
        let a = scratch_name("Nightly-DB.check");
        assert!(a.starts_with("coffer_rt_nightly_db_check_"), "{a}");
        assert!(a.len() <= 63);
        assert_ne!(a, scratch_name("Nightly-DB.check"));
        let long = scratch_name(&"x".repeat(200));
        assert!(long.len() <= 63, "{long}");
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }

    #[test]
    fn first_values() {
        assert_eq!(first_value("3|a\n4|b\n", '|').as_deref(), Some("3"));
        assert_eq!(first_value("7\tx\n", '\t').as_deref(), Some("7"));
        assert_eq!(first_value("", '|'), None);
    }
}
