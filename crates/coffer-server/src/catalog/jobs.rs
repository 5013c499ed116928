//! The `jobs` table and its `job_snapshots` and `job_events`: recording a
//! job, its state changes (each checked by [`JobState::check_transition`]
//! and written with its events in one transaction), its counts and
//! snapshots, and reading and listing jobs.

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use super::database::{Catalog, TxResult};
use super::error::{CatalogError, Result};
use super::events::insert_job_app_event;
use super::job_record::{Job, JobCounters, JobEvent, JobFilter, JobOutcome, NewJob};
use super::job_state::{EventLevel, JobId, JobKind, JobState};
use super::liveness::Owner;
use super::time_format::{format_time, opt_time, DbTime};

const JOB_COLUMNS: &str = "id, kind, state, trigger, plan, rule, source, vault, destination_vault, \
    scheduled_at, start_deadline, complete_deadline, created_at, started_at, finished_at, host, pid, \
    bytes_read, bytes_added, bytes_stored, files_new, files_changed, files_unmodified, warnings, \
    error, reason, details";

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let t = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row.get::<_, Option<DbTime>>(i)?.map(|d| d.0))
    };
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
    let details: Option<String> = row.get(26)?;
    let details = match details {
        None => None,
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(26, rusqlite::types::Type::Text, Box::new(e))
        })?),
    };
    Ok(Job {
        id: JobId(row.get(0)?),
        kind: row.get(1)?,
        state: row.get(2)?,
        trigger: row.get(3)?,
        plan: row.get(4)?,
        rule: row.get(5)?,
        source: row.get(6)?,
        vault: row.get(7)?,
        destination_vault: row.get(8)?,
        scheduled_at: t(9)?,
        start_deadline: t(10)?,
        complete_deadline: t(11)?,
        created_at: row.get::<_, DbTime>(12)?.0,
        started_at: t(13)?,
        finished_at: t(14)?,
        host: row.get(15)?,
        pid: u32::try_from(row.get::<_, i64>(16)?).unwrap_or(0),
        counters: JobCounters {
            bytes_read: n(17)?,
            bytes_added: n(18)?,
            bytes_stored: n(19)?,
            files_new: n(20)?,
            files_changed: n(21)?,
            files_unmodified: n(22)?,
            warnings: n(23)?,
        },
        snapshot_ids: Vec::new(),
        error: row.get(24)?,
        reason: row.get(25)?,
        details,
    })
}

/// SQLite integers are signed: counts beyond `i64::MAX` (never reached in
/// practice) are stored as `i64::MAX`.
fn sql_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Catalog {
    fn not_found(&self, id: JobId) -> CatalogError {
        CatalogError::JobNotFound {
            path: self.path.clone(),
            id,
        }
    }

    fn state_of(&self, tx: &Connection, id: JobId) -> TxResult<JobState> {
        tx.query_row("SELECT state FROM jobs WHERE id = ?1", [id.0], |r| r.get(0))
            .optional()?
            .ok_or_else(|| self.not_found(id).into())
    }

    /// Checks the transition and records its event.
    pub(super) fn enter(
        &self,
        tx: &Connection,
        id: JobId,
        to: JobState,
        at: &str,
        level: EventLevel,
        message: &str,
    ) -> TxResult<()> {
        let from = self.state_of(tx, id)?;
        from.check_transition(to)
            .map_err(|why| CatalogError::IllegalTransition { id, from, to, why })?;
        tx.execute(
            "UPDATE jobs SET state = ?2 WHERE id = ?1",
            params![id.0, to],
        )?;
        insert_event(tx, id, at, level, Some(to), message)?;
        insert_job_app_event(tx, id, to, at, message)?;
        Ok(())
    }

    /// Records a new job in state `CREATED`, owned by this process.
    pub fn create_job(&self, job: &NewJob) -> Result<JobId> {
        self.create_job_owned(job, &self.owner)
    }

    pub(super) fn create_job_owned(&self, job: &NewJob, owner: &Owner) -> Result<JobId> {
        let now = format_time(self.now());
        self.write("creating a job", |tx| {
            tx.execute(
                "INSERT INTO jobs (kind, state, trigger, plan, rule, source, vault, destination_vault, \
                 scheduled_at, start_deadline, complete_deadline, created_at, host, pid, boot_id, pid_start) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    job.kind,
                    JobState::Created,
                    job.trigger,
                    job.plan,
                    job.rule,
                    job.source,
                    job.vault,
                    job.destination_vault,
                    opt_time(job.scheduled_at),
                    opt_time(job.start_deadline),
                    opt_time(job.complete_deadline),
                    now,
                    owner.host,
                    owner.pid,
                    owner.boot_id,
                    owner.pid_start.map(sql_u64),
                ],
            )?;
            let id = JobId(tx.last_insert_rowid());
            let what = match (&job.plan, &job.rule) {
                (Some(p), Some(r)) => format!(" for {p}/{r}"),
                (Some(p), None) => format!(" for plan {p}"),
                _ => String::new(),
            };
            insert_event(
                tx,
                id,
                &now,
                EventLevel::Info,
                Some(JobState::Created),
                &format!("{} job created{what} (trigger: {})", job.kind, job.trigger),
            )?;
            Ok(id)
        })
    }

    /// `CREATED` → `PENDING`: the job waits (for a free slot, a lock);
    /// `message` says for what.
    pub fn set_pending(&self, id: JobId, message: &str) -> Result<()> {
        let now = format_time(self.now());
        self.write("marking a job pending", |tx| {
            self.enter(tx, id, JobState::Pending, &now, EventLevel::Info, message)
        })
    }

    /// → `RUNNING`: records the start time and this process (host, pid) as
    /// the job's runner.
    pub fn start_job(&self, id: JobId) -> Result<()> {
        let now = format_time(self.now());
        let o = &self.owner;
        self.write("starting a job", |tx| {
            self.enter(
                tx,
                id,
                JobState::Running,
                &now,
                EventLevel::Info,
                &format!("started on {} (pid {})", o.host, o.pid),
            )?;
            tx.execute(
                "UPDATE jobs SET started_at = ?2, host = ?3, pid = ?4, boot_id = ?5, pid_start = ?6 \
                 WHERE id = ?1",
                params![id.0, now, o.host, o.pid, o.boot_id, o.pid_start.map(sql_u64)],
            )?;
            Ok(())
        })
    }

    /// Replaces the counts of a job that is not finished (progress).
    pub fn update_counters(&self, id: JobId, c: &JobCounters) -> Result<()> {
        self.write("updating a job's counts", |tx| {
            let state = self.state_of(tx, id)?;
            if state.is_final() {
                return Err(CatalogError::InvalidInput(format!(
                    "job {id} is {state}: its counts are final"
                ))
                .into());
            }
            set_counters(tx, id, c)?;
            Ok(())
        })
    }

    /// Records a snapshot the job wrote (before it finishes: a job that
    /// fails halfway still lists the snapshots it saved).
    pub fn add_snapshot(&self, id: JobId, snapshot_id: &str) -> Result<()> {
        self.write("recording a job's snapshot", |tx| {
            self.state_of(tx, id)?;
            append_snapshots(tx, id, &[snapshot_id.to_string()])?;
            Ok(())
        })
    }

    /// Moves a job to its final state with its results. Refused when the
    /// job is already final or `outcome.state` is not final.
    pub fn finish_job(&self, id: JobId, outcome: &JobOutcome) -> Result<()> {
        if !outcome.state.is_final() {
            return Err(CatalogError::InvalidInput(format!(
                "finish_job of job {id} with {}: give a final state (COMPLETED, PARTIAL, FAILED, EXPIRED, ABORTED or SKIPPED)",
                outcome.state
            )));
        }
        let details = outcome
            .details
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| CatalogError::InvalidInput(format!("details of job {id}: {e}")))?;
        let now = format_time(self.now());
        self.write("finishing a job", |tx| {
            // A skipped job (nothing to work on yet) is news, not a warning.
            let level_of = |s: JobState| {
                if matches!(s, JobState::Completed | JobState::Skipped) {
                    EventLevel::Info
                } else {
                    EventLevel::Warning
                }
            };
            let (level, message) = match (outcome.state, &outcome.error, &outcome.reason) {
                (JobState::Failed, Some(e), _) => (EventLevel::Error, format!("failed: {e}")),
                (s, _, Some(r)) => (level_of(s), format!("{}: {r}", s.as_str().to_lowercase())),
                (s, _, None) => (level_of(s), s.as_str().to_lowercase()),
            };
            // Details first: the job's event (written by `enter`) reads them;
            // an illegal transition rolls the whole transaction back.
            tx.execute(
                "UPDATE jobs SET finished_at = ?2, error = ?3, reason = ?4, \
                 details = COALESCE(?5, details) WHERE id = ?1",
                params![id.0, now, outcome.error, outcome.reason, details],
            )?;
            self.enter(tx, id, outcome.state, &now, level, &message)?;
            set_counters(tx, id, &outcome.counters)?;
            append_snapshots(tx, id, &outcome.snapshot_ids)?;
            Ok(())
        })
    }

    /// Adds an event (a warning, a progress note) to a job's history.
    /// Returns the event's id.
    pub fn record_event(&self, id: JobId, level: EventLevel, message: &str) -> Result<i64> {
        let now = format_time(self.now());
        self.write("recording an event", |tx| {
            self.state_of(tx, id)?;
            Ok(insert_event(tx, id, &now, level, None, message)?)
        })
    }

    /// One job.
    pub fn get_job(&self, id: JobId) -> Result<Job> {
        self.read("reading a job", |c| {
            let mut job = c
                .query_row(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                    [id.0],
                    job_from_row,
                )
                .optional()?
                .ok_or_else(|| self.not_found(id))?;
            job.snapshot_ids = snapshots_of(c, id)?;
            Ok(job)
        })
    }

    /// A job's events, oldest first.
    pub fn job_events(&self, id: JobId) -> Result<Vec<JobEvent>> {
        self.read("reading a job's events", |c| {
            self.state_of(c, id)?;
            let mut st = c.prepare_cached(
                "SELECT id, job_id, at, level, state, message FROM job_events \
                 WHERE job_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([id.0], |r| {
                Ok(JobEvent {
                    id: r.get(0)?,
                    job_id: JobId(r.get(1)?),
                    at: r.get::<_, DbTime>(2)?.0,
                    level: r.get(3)?,
                    state: r.get(4)?,
                    message: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Jobs matching `filter`, newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        let mut any_of = |sql: &mut String, col: &str, vals: Vec<String>| {
            if !vals.is_empty() {
                let marks = vec!["?"; vals.len()].join(", ");
                sql.push_str(&format!(" AND {col} IN ({marks})"));
                args.extend(vals.into_iter().map(Value::Text));
            }
        };
        any_of(
            &mut sql,
            "state",
            filter
                .states
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        );
        any_of(
            &mut sql,
            "kind",
            filter
                .kinds
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        );
        any_of(&mut sql, "plan", filter.plan.iter().cloned().collect());
        any_of(&mut sql, "rule", filter.rule.iter().cloned().collect());
        any_of(&mut sql, "source", filter.source.iter().cloned().collect());
        if let Some(v) = &filter.vault {
            sql.push_str(" AND (vault = ? OR destination_vault = ?)");
            args.push(Value::Text(v.clone()));
            args.push(Value::Text(v.clone()));
        }
        if let Some(t) = filter.since {
            sql.push_str(" AND created_at >= ?");
            args.push(Value::Text(format_time(t)));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(Value::Integer(
            filter
                .limit
                .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
                .unwrap_or(-1),
        ));
        self.query_jobs("listing jobs", &sql, args)
    }

    fn query_jobs(&self, op: &'static str, sql: &str, args: Vec<Value>) -> Result<Vec<Job>> {
        self.read(op, |c| {
            let mut st = c.prepare(sql)?;
            let mut jobs = st
                .query_map(rusqlite::params_from_iter(args), job_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for j in &mut jobs {
                j.snapshot_ids = snapshots_of(c, j.id)?;
            }
            Ok(jobs)
        })
    }

    /// Jobs in state `RUNNING`, oldest first.
    pub fn running_jobs(&self) -> Result<Vec<Job>> {
        self.query_jobs(
            "listing running jobs",
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'RUNNING' ORDER BY id"),
            Vec::new(),
        )
    }

    /// Jobs not yet in a final state (`CREATED`, `PENDING`, `RUNNING`),
    /// oldest first.
    pub fn active_jobs(&self) -> Result<Vec<Job>> {
        self.query_jobs(
            "listing unfinished jobs",
            &format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('CREATED', 'PENDING', 'RUNNING') \
                 ORDER BY id"
            ),
            Vec::new(),
        )
    }

    /// Deletes finished jobs (and their events) that finished before
    /// `before`; unfinished jobs are kept whatever their age. Returns how
    /// many were deleted.
    pub fn delete_finished_before(&self, before: Timestamp) -> Result<usize> {
        self.write("deleting old jobs", |tx| {
            Ok(tx.execute(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1 \
                 AND state NOT IN ('CREATED', 'PENDING', 'RUNNING')",
                [format_time(before)],
            )?)
        })
    }

    /// How many jobs there are of each kind and state (metrics).
    pub fn job_counts(&self) -> Result<Vec<(JobKind, JobState, u64)>> {
        self.read("counting jobs", |c| {
            let mut st =
                c.prepare("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state")?;
            let rows = st.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

fn insert_event(
    tx: &Connection,
    id: JobId,
    at: &str,
    level: EventLevel,
    state: Option<JobState>,
    message: &str,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO job_events (job_id, at, level, state, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.0, at, level, state, message],
    )?;
    Ok(tx.last_insert_rowid())
}

fn set_counters(tx: &Connection, id: JobId, c: &JobCounters) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE jobs SET bytes_read = ?2, bytes_added = ?3, bytes_stored = ?4, files_new = ?5, \
         files_changed = ?6, files_unmodified = ?7, warnings = ?8 WHERE id = ?1",
        params![
            id.0,
            sql_u64(c.bytes_read),
            sql_u64(c.bytes_added),
            sql_u64(c.bytes_stored),
            sql_u64(c.files_new),
            sql_u64(c.files_changed),
            sql_u64(c.files_unmodified),
            sql_u64(c.warnings),
        ],
    )?;
    Ok(())
}

fn append_snapshots(tx: &Connection, id: JobId, ids: &[String]) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO job_snapshots (job_id, seq, snapshot_id) VALUES (?1, \
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_snapshots WHERE job_id = ?1), ?2)",
    )?;
    for s in ids {
        st.execute(params![id.0, s])?;
    }
    Ok(())
}

fn snapshots_of(c: &Connection, id: JobId) -> rusqlite::Result<Vec<String>> {
    let mut st =
        c.prepare_cached("SELECT snapshot_id FROM job_snapshots WHERE job_id = ?1 ORDER BY seq")?;
    let rows = st.query_map([id.0], |r| r.get(0))?;
    rows.collect()
}
