//! The job catalog: an embedded SQLite database (`catalog.sqlite` in the
//! state directory) that records every job of coffer — backup, copy,
//! restore, restore-test, verify, prune, forget — with its timings, sizes,
//! counts, errors and state changes.
//!
//! The catalog is a cache and a record; the vault alone is the truth for
//! what can be restored. Losing the catalog loses history, never data.
//!
//! # Concurrency
//!
//! The daemon and CLI commands (`coffer jobs`, `coffer plan run`) use the
//! file at the same time: it is in WAL mode (readers never wait for the
//! writer), every write is one `BEGIN IMMEDIATE` transaction (it takes the
//! write lock up front, so two writers queue instead of failing on a lock
//! upgrade), and each connection waits up to [`BUSY_TIMEOUT`] for a lock.
//! A [`Catalog`] is `Send + Sync`: one value can be shared by the daemon's
//! threads (calls are serialised on one connection).
//!
//! # Job states
//!
//! States follow AWS Backup ([`JobState`]). `CREATED` → (`PENDING`) →
//! `RUNNING` → a final state; `COMPLETED` and `PARTIAL` only from
//! `RUNNING`; `FAILED`, `EXPIRED` and `ABORTED` from any state that is not
//! final. A final state never changes: [`Catalog::finish_job`] on a
//! finished job is an error, so a late "completed" cannot overwrite an
//! "aborted" written by a restarted daemon.
//!
//! # Owners
//!
//! Each job records the process that owns it: host name, pid, the kernel's
//! boot id and the process's start time (`/proc/PID/stat`). When a daemon
//! starts, [`Catalog::abort_stale_running`] marks `ABORTED` every unfinished
//! job whose owner is gone: a previous boot, or a pid that no longer runs
//! the same process (the start time tells a reused pid apart). Jobs of a
//! live `coffer plan run` are left alone. The catalog belongs to one
//! machine: SQLite over a network file system is not supported.
//!
//! # Format
//!
//! Times are RFC 3339 UTC strings with millisecond precision and a fixed
//! width (`2026-03-01T02:00:00.000Z`), so they sort as text. Job ids are
//! SQLite integers that are never reused (`AUTOINCREMENT`). The schema
//! version is `PRAGMA user_version`; [`Catalog::open`] applies the missing
//! migrations in one transaction and refuses a newer schema.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

/// How long a connection waits for another process's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The reason recorded for jobs found unfinished, with their owner gone,
/// when the daemon starts.
pub const STALE_REASON: &str = "coffer serve stopped while the job ran (killed or crashed)";

/// Migrations, in order: entry `i` takes the schema from version `i` to
/// `i + 1`. Never edit a released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: jobs, their snapshots and events, and the rules' last scheduled time.
    r#"
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL,
    trigger           TEXT NOT NULL,
    plan              TEXT,
    rule              TEXT,
    source            TEXT,
    vault             TEXT,
    destination_vault TEXT,
    scheduled_at      TEXT,
    start_deadline    TEXT,
    complete_deadline TEXT,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    host              TEXT NOT NULL,
    pid               INTEGER NOT NULL,
    boot_id           TEXT,
    pid_start         INTEGER,
    bytes_read        INTEGER NOT NULL DEFAULT 0,
    bytes_added       INTEGER NOT NULL DEFAULT 0,
    bytes_stored      INTEGER NOT NULL DEFAULT 0,
    files_new         INTEGER NOT NULL DEFAULT 0,
    files_changed     INTEGER NOT NULL DEFAULT 0,
    files_unmodified  INTEGER NOT NULL DEFAULT 0,
    warnings          INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    reason            TEXT,
    details           TEXT
);
CREATE INDEX jobs_by_state   ON jobs (state);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_rule    ON jobs (plan, rule, created_at);
CREATE INDEX jobs_by_source  ON jobs (source, created_at);
CREATE TABLE job_snapshots (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    snapshot_id TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX job_snapshots_by_snapshot ON job_snapshots (snapshot_id);
CREATE TABLE job_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      TEXT NOT NULL,
    level   TEXT NOT NULL,
    state   TEXT,
    message TEXT NOT NULL
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);
CREATE TABLE rule_state (
    plan           TEXT NOT NULL,
    rule           TEXT NOT NULL,
    last_scheduled TEXT NOT NULL,
    PRIMARY KEY (plan, rule)
) WITHOUT ROWID;
"#,
    // 2: events for notifications and metrics (crate::events), a key-value
    // table for consumers' cursors, and when each pack's data was last
    // verified (for `verify --read-data-subset` coverage).
    r#"
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    name     TEXT NOT NULL,
    severity TEXT NOT NULL,
    job_id   INTEGER,
    plan     TEXT,
    rule     TEXT,
    source   TEXT,
    vault    TEXT,
    message  TEXT NOT NULL,
    details  TEXT
);
CREATE INDEX events_by_at     ON events (at);
CREATE INDEX events_by_source ON events (source, id);
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE verified_packs (
    vault       TEXT NOT NULL,
    pack        TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (vault, pack)
) WITHOUT ROWID;
"#,
    // 3: API tokens (only their hash) and the audit trail (crate::auth,
    // crate::audit).
    r#"
CREATE TABLE tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT,
    action  TEXT NOT NULL,
    target  TEXT,
    result  TEXT NOT NULL,
    error   TEXT,
    remote  TEXT
);
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Errors of the catalog. Each names the database file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be opened or is not a catalog.
    #[error("cannot open the job catalog {path}: {source} (check that the state directory is writable and that the file is a coffer catalog, or choose another state directory with --state-dir or COFFER_STATE_DIR)")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// [`Catalog::open_existing`] found no catalog.
    #[error("no job catalog at {path}: no job was recorded with this state directory yet (coffer serve and coffer plan run create it; is --state-dir or COFFER_STATE_DIR the daemon's?)")]
    Missing {
        /// The database file that does not exist.
        path: PathBuf,
    },
    /// A query failed.
    #[error("job catalog {path}: {op}: {source}{}", busy_hint(.source))]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done (`creating a job`, `listing jobs`).
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file was written by a newer coffer.
    #[error("job catalog {path} has schema version {found}, newer than this coffer knows ({known}): run the newer coffer, or give this one another state directory (--state-dir or COFFER_STATE_DIR)")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// No job has this id.
    #[error(
        "job {id} not found in the catalog {path}: `coffer jobs list` shows the recorded jobs"
    )]
    JobNotFound {
        /// The database file.
        path: PathBuf,
        /// The id asked for.
        id: JobId,
    },
    /// The job's state does not allow the change.
    #[error("job {id} is {from} and cannot become {to}: {why}")]
    IllegalTransition {
        /// The job.
        id: JobId,
        /// Its current state.
        from: JobState,
        /// The state asked for.
        to: JobState,
        /// Why not.
        why: &'static str,
    },
    /// The caller passed something invalid (a non-final state to
    /// `finish_job`, an unparsable `--since`).
    #[error("{0}")]
    InvalidInput(String),
    /// Creating the state directory failed.
    #[error("state directory {path}: {source} (check its permissions, or choose another with --state-dir or COFFER_STATE_DIR)")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn busy_hint(e: &rusqlite::Error) -> &'static str {
    if is_busy(e) {
        " (another process kept the catalog locked too long; try again)"
    } else {
        ""
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl CatalogError {
    /// Whether the same call may succeed later (the database was locked).
    pub fn is_retryable(&self) -> bool {
        match self {
            CatalogError::Sqlite { source, .. } | CatalogError::Open { source, .. } => {
                is_busy(source)
            }
            _ => false,
        }
    }

    /// Whether the error says that a job or the catalog does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            CatalogError::JobNotFound { .. } | CatalogError::Missing { .. }
        )
    }
}

/// Result with [`CatalogError`].
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// A value read from the catalog or given by a user could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub(crate) String);

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $v),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The name stored in the catalog and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::catalog::ParseError;
            /// Case-insensitive; `_` and `-` are the same.
            fn from_str(s: &str) -> Result<Self, $crate::catalog::ParseError> {
                let norm = s.trim().replace('_', "-");
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().replace('_', "-").eq_ignore_ascii_case(&norm))
                    .ok_or_else(|| {
                        let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        $crate::catalog::ParseError(format!("unknown {} `{}`: use one of {}", $what, s, names.join(", ")))
                    })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e: $crate::catalog::ParseError| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// What a job does.
    JobKind, "job kind", {
        /// Back up a source into a vault.
        Backup = "backup",
        /// Copy snapshots into a second vault.
        Copy = "copy",
        /// Restore a snapshot.
        Restore = "restore",
        /// Restore into scratch space and validate the result.
        RestoreTest = "restore-test",
        /// Check a vault (structure and data).
        Verify = "verify",
        /// Remove unreferenced data from a vault.
        Prune = "prune",
        /// Forget snapshots by the retention of a rule.
        Forget = "forget",
        /// Write a scheduled compliance report.
        Report = "report",
    }
);

text_enum!(
    /// The state of a job, named as in AWS Backup.
    JobState, "job state", {
        /// Recorded, not yet started.
        Created = "CREATED",
        /// Waiting to start (for a free slot or a lock).
        Pending = "PENDING",
        /// Running.
        Running = "RUNNING",
        /// Finished without errors.
        Completed = "COMPLETED",
        /// Finished, but left some things out (files skipped with warnings).
        Partial = "PARTIAL",
        /// Finished with an error.
        Failed = "FAILED",
        /// Did not start (or finish) within its window.
        Expired = "EXPIRED",
        /// Stopped before it finished (SIGTERM, a killed daemon, a user).
        Aborted = "ABORTED",
    }
);

text_enum!(
    /// What started a job.
    Trigger, "trigger", {
        /// The rule's schedule came due.
        Schedule = "schedule",
        /// A run missed while the daemon was down, started at its next start.
        CatchUp = "catch-up",
        /// The command line (`coffer plan run`).
        Cli = "cli",
        /// The HTTP API.
        Api = "api",
        /// Follows a backup of its rule (a copy, the cold tier).
        Rule = "rule",
    }
);

text_enum!(
    /// How important an event is.
    EventLevel, "event level", {
        /// A state change or progress note.
        Info = "info",
        /// Something was left out or went wrong without failing the job.
        Warning = "warning",
        /// What failed the job.
        Error = "error",
    }
);

impl JobState {
    /// Whether the state is final (the job will never change again).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            JobState::Created | JobState::Pending | JobState::Running
        )
    }

    /// The states that are not final.
    pub const ACTIVE: &'static [JobState] =
        &[JobState::Created, JobState::Pending, JobState::Running];

    /// The final states.
    pub const FINAL: &'static [JobState] = &[
        JobState::Completed,
        JobState::Partial,
        JobState::Failed,
        JobState::Expired,
        JobState::Aborted,
    ];

    /// Whether a job in this state may move to `to`; on refusal, why.
    pub fn check_transition(self, to: JobState) -> Result<(), &'static str> {
        use JobState::*;
        if self.is_final() {
            return Err("a job in a final state never changes again");
        }
        match (self, to) {
            (Created, Pending | Running) | (Pending, Running) => Ok(()),
            (Running, Completed | Partial) => Ok(()),
            (_, Completed | Partial) => Err("only a RUNNING job can complete"),
            (_, Failed | Expired | Aborted) => Ok(()),
            (_, Created) => Err("a job is CREATED only once"),
            (_, _) => Err("jobs only move forward: CREATED, PENDING, RUNNING, then a final state"),
        }
    }
}

/// A job's id: a positive integer, never reused. Shown as the bare number
/// (`42`); [`JobId::from_str`](std::str::FromStr) also takes `job-42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for JobId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let digits = t
            .strip_prefix("job-")
            .or_else(|| t.strip_prefix('#'))
            .unwrap_or(t);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(JobId(n)),
            _ => Err(ParseError(format!(
                "`{s}` is not a job id: give the number `coffer jobs list` shows (e.g. 42)"
            ))),
        }
    }
}

/// Formats a time as the catalog stores it: RFC 3339, UTC, milliseconds,
/// fixed width (so that text order is time order).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Timestamps as [`format_time`] strings in JSON.
pub mod time_serde {
    use super::format_time;
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes a timestamp.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(*t))
    }

    /// Deserializes any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Timestamp>` (`null` when absent).
    pub mod option {
        use super::format_time;
        use jiff::Timestamp;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes an optional timestamp.
        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format_time(*t)),
                None => s.serialize_none(),
            }
        }

        /// Deserializes an optional RFC 3339 timestamp.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| s.parse().map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// A time column (read side).
struct DbTime(Timestamp);

impl FromSql for DbTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse::<Timestamp>()
            .map(DbTime)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

fn opt_time(t: Option<Timestamp>) -> Option<String> {
    t.map(format_time)
}

/// Parses a `--since` value: a span back from `now` (`24h`, `7d`, `2w`,
/// `1 day`, ISO 8601 `P1D`), or a time (`2026-03-01T12:00:00Z`, or a civil
/// `2026-03-01 12:00` / `2026-03-01`, taken as UTC).
pub fn parse_since(s: &str, now: Timestamp) -> Result<Timestamp> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        if let Ok(z) = dt.to_zoned(utc.clone()) {
            return Ok(z.timestamp());
        }
    }
    if let Ok(span) = t.parse::<jiff::Span>() {
        if let Ok(z) = now.to_zoned(utc).checked_sub(span.abs()) {
            return Ok(z.timestamp());
        }
    }
    Err(CatalogError::InvalidInput(format!(
        "`{s}` is neither a span (24h, 7d, 2w) nor a time (2026-03-01, 2026-03-01T12:00:00Z)"
    )))
}

/// What a job counted. All zero until the job reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounters {
    /// Bytes read from the source (or the vault, for restores and checks).
    pub bytes_read: u64,
    /// Plaintext bytes of new data added to the vault.
    pub bytes_added: u64,
    /// Bytes stored for the new data (after compression and encryption).
    pub bytes_stored: u64,
    /// Files read because they are new.
    pub files_new: u64,
    /// Files read because they changed.
    pub files_changed: u64,
    /// Files taken unchanged from the parent snapshot.
    pub files_unmodified: u64,
    /// Warnings (entries skipped, …).
    pub warnings: u64,
}

impl From<&coffer_core::BackupSummary> for JobCounters {
    fn from(s: &coffer_core::BackupSummary) -> Self {
        JobCounters {
            bytes_read: s.bytes_read,
            bytes_added: s.bytes_added,
            bytes_stored: s.bytes_stored,
            files_new: s.files_new,
            files_changed: s.files_changed,
            files_unmodified: s.files_unmodified,
            warnings: s.warnings,
        }
    }
}

impl std::ops::AddAssign for JobCounters {
    /// Sums two jobs' (or two snapshots') counts, e.g. the databases of one
    /// `--all-databases` backup.
    fn add_assign(&mut self, o: JobCounters) {
        self.bytes_read += o.bytes_read;
        self.bytes_added += o.bytes_added;
        self.bytes_stored += o.bytes_stored;
        self.files_new += o.files_new;
        self.files_changed += o.files_changed;
        self.files_unmodified += o.files_unmodified;
        self.warnings += o.warnings;
    }
}

/// SQLite integers are signed: counts beyond `i64::MAX` (never reached in
/// practice) are stored as `i64::MAX`.
fn sql_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A job to record ([`Catalog::create_job`]). Names are those of the
/// configuration (plan, rule, source, vault); absent when not applicable
/// (a manual restore has no plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What the job does.
    pub kind: JobKind,
    /// What started it.
    pub trigger: Trigger,
    /// The plan.
    pub plan: Option<String>,
    /// The rule of the plan.
    pub rule: Option<String>,
    /// The source it protects (or restores).
    pub source: Option<String>,
    /// The vault it works on (the source vault of a copy).
    pub vault: Option<String>,
    /// The destination vault of a copy.
    pub destination_vault: Option<String>,
    /// The time the schedule asked for (catch-up runs: the missed time).
    pub scheduled_at: Option<Timestamp>,
    /// The job expires if it has not started by then (the start window).
    pub start_deadline: Option<Timestamp>,
    /// The job is stopped if it has not finished by then (the completion window).
    pub complete_deadline: Option<Timestamp>,
}

impl NewJob {
    /// A job of `kind` started by `trigger`, with no names or times yet.
    pub fn new(kind: JobKind, trigger: Trigger) -> NewJob {
        NewJob {
            kind,
            trigger,
            plan: None,
            rule: None,
            source: None,
            vault: None,
            destination_vault: None,
            scheduled_at: None,
            start_deadline: None,
            complete_deadline: None,
        }
    }
}

/// How a job ended ([`Catalog::finish_job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// The final state.
    pub state: JobState,
    /// Why it ended in this state (`SIGTERM`, `start window of 1h missed`,
    /// `3 files skipped`).
    pub reason: Option<String>,
    /// The error that failed it.
    pub error: Option<String>,
    /// Its counts (replace those recorded so far).
    pub counters: JobCounters,
    /// Snapshots it wrote (appended to those recorded so far).
    pub snapshot_ids: Vec<String>,
    /// Kind-specific results (a restore test's measured restore time, …):
    /// a JSON object, replacing any recorded before.
    pub details: Option<serde_json::Value>,
}

impl JobOutcome {
    /// Ends in `state` with nothing else to record.
    pub fn new(state: JobState) -> JobOutcome {
        JobOutcome {
            state,
            reason: None,
            error: None,
            counters: JobCounters::default(),
            snapshot_ids: Vec::new(),
            details: None,
        }
    }

    /// `COMPLETED`, or `PARTIAL` when the counters hold warnings.
    pub fn completed(counters: JobCounters, snapshot_ids: Vec<String>) -> JobOutcome {
        let partial = counters.warnings > 0;
        JobOutcome {
            state: if partial {
                JobState::Partial
            } else {
                JobState::Completed
            },
            reason: partial.then(|| format!("{} warnings (entries skipped)", counters.warnings)),
            counters,
            snapshot_ids,
            ..JobOutcome::new(JobState::Completed)
        }
    }

    /// `FAILED` with the error.
    pub fn failed(error: impl Into<String>) -> JobOutcome {
        JobOutcome {
            error: Some(error.into()),
            ..JobOutcome::new(JobState::Failed)
        }
    }

    /// `ABORTED` with the reason.
    pub fn aborted(reason: impl Into<String>) -> JobOutcome {
        JobOutcome {
            reason: Some(reason.into()),
            ..JobOutcome::new(JobState::Aborted)
        }
    }

    /// `EXPIRED` with the reason.
    pub fn expired(reason: impl Into<String>) -> JobOutcome {
        JobOutcome {
            reason: Some(reason.into()),
            ..JobOutcome::new(JobState::Expired)
        }
    }
}

/// A recorded job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// What started it.
    pub trigger: Trigger,
    /// The plan.
    pub plan: Option<String>,
    /// The rule.
    pub rule: Option<String>,
    /// The source.
    pub source: Option<String>,
    /// The vault.
    pub vault: Option<String>,
    /// The destination vault of a copy.
    pub destination_vault: Option<String>,
    /// The time the schedule asked for.
    #[serde(with = "time_serde::option")]
    pub scheduled_at: Option<Timestamp>,
    /// Start window end.
    #[serde(with = "time_serde::option")]
    pub start_deadline: Option<Timestamp>,
    /// Completion window end.
    #[serde(with = "time_serde::option")]
    pub complete_deadline: Option<Timestamp>,
    /// When it was recorded.
    #[serde(with = "time_serde")]
    pub created_at: Timestamp,
    /// When it started running.
    #[serde(with = "time_serde::option")]
    pub started_at: Option<Timestamp>,
    /// When it reached its final state.
    #[serde(with = "time_serde::option")]
    pub finished_at: Option<Timestamp>,
    /// The host of the process that owns (runs) it.
    pub host: String,
    /// That process's pid.
    pub pid: u32,
    /// Its counts.
    #[serde(flatten)]
    pub counters: JobCounters,
    /// Snapshots it wrote, in order.
    pub snapshot_ids: Vec<String>,
    /// The error that failed it.
    pub error: Option<String>,
    /// Why it ended in its state.
    pub reason: Option<String>,
    /// Kind-specific results (a JSON object).
    pub details: Option<serde_json::Value>,
}

impl Job {
    /// How long it ran (start to finish, or to `now` while running).
    pub fn duration(&self, now: Timestamp) -> Option<jiff::SignedDuration> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or(now).duration_since(start))
    }
}

/// One entry of a job's history: a state change, a warning, an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    /// The event's id (increasing).
    pub id: i64,
    /// The job.
    pub job_id: JobId,
    /// When.
    #[serde(with = "time_serde")]
    pub at: Timestamp,
    /// How important.
    pub level: EventLevel,
    /// The state entered, when the event is a state change.
    pub state: Option<JobState>,
    /// What happened.
    pub message: String,
}

/// Selects jobs for [`Catalog::list_jobs`]. Empty lists and `None` match
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Any of these states.
    pub states: Vec<JobState>,
    /// Any of these kinds.
    pub kinds: Vec<JobKind>,
    /// This plan.
    pub plan: Option<String>,
    /// This rule (of any plan, unless `plan` is set too).
    pub rule: Option<String>,
    /// This source.
    pub source: Option<String>,
    /// This vault (as source or destination).
    pub vault: Option<String>,
    /// Created at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}

/// The process that owns a job, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    host: String,
    pid: u32,
    /// `/proc/sys/kernel/random/boot_id`: tells a previous boot apart.
    boot_id: Option<String>,
    /// Field 22 of `/proc/PID/stat` (clock ticks after boot): tells a
    /// reused pid apart.
    pid_start: Option<u64>,
}

impl Owner {
    fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: coffer_core::hostname(),
            pid,
            boot_id: boot_id(),
            pid_start: proc_start_ticks(pid).map(|(t, _)| t),
        }
    }

    /// Whether this recorded owner still runs. `None`: cannot tell (another
    /// host, without boot ids to compare).
    fn is_alive(&self, me: &Owner) -> Option<bool> {
        match (&self.boot_id, &me.boot_id) {
            (Some(a), Some(b)) if a != b => return Some(false),
            (Some(_), Some(_)) => {}
            _ if self.host != me.host => return None,
            _ => {}
        }
        if self.pid == me.pid {
            return Some(self.pid_start == me.pid_start);
        }
        if let Some(start) = self.pid_start {
            if std::path::Path::new("/proc/self/stat").exists() {
                return Some(match proc_start_ticks(self.pid) {
                    // A zombie has finished running; only its parent has
                    // not collected it yet.
                    Some((t, state)) => t == start && state != 'Z',
                    None => false,
                });
            }
        }
        let pid = libc::pid_t::try_from(self.pid).ok()?;
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        Some(rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
    }
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A process's start time and state letter from `/proc/PID/stat`.
fn proc_start_ticks(pid: u32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold
    // spaces and parentheses: count fields after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is `state`; field 22 is `starttime`.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The job catalog. See the [module documentation](self).
pub struct Catalog {
    path: PathBuf,
    conn: Mutex<Connection>,
    clock: Clock,
    owner: Owner,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

/// An error inside a transaction: SQLite's (named by the operation later)
/// or already a catalog error.
enum TxError {
    Sql(rusqlite::Error),
    Catalog(CatalogError),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<CatalogError> for TxError {
    fn from(e: CatalogError) -> Self {
        TxError::Catalog(e)
    }
}

type TxResult<T> = std::result::Result<T, TxError>;

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

impl Catalog {
    /// Opens `catalog.sqlite` in `state_dir`, creating the directory (0700)
    /// and the database as needed, and bringing its schema up to date.
    pub fn open(state_dir: &Path) -> Result<Catalog> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(state_dir)
            .map_err(|source| CatalogError::Io {
                path: state_dir.to_path_buf(),
                source,
            })?;
        Self::open_file(&state_dir.join(crate::state::CATALOG_FILE))
    }

    /// Opens the catalog of `state_dir` only if it exists
    /// ([`CatalogError::Missing`] otherwise).
    pub fn open_existing(state_dir: &Path) -> Result<Catalog> {
        let path = state_dir.join(crate::state::CATALOG_FILE);
        if !path.exists() {
            return Err(CatalogError::Missing { path });
        }
        Self::open_file(&path)
    }

    /// Opens (or creates) a catalog database at `path`.
    pub fn open_file(path: &Path) -> Result<Catalog> {
        let open_err = |source| CatalogError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers (coffer jobs) never block the daemon's writes, nor the
        // reverse. The mode is stored in the file; setting it again is a no-op.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "the job catalog is not in WAL mode");
        }
        // NORMAL is durable against process crashes in WAL mode; a power
        // loss can lose the last commits, acceptable for a record.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        let mut catalog = Catalog {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            clock: Arc::new(Timestamp::now),
            owner: Owner::current(),
        };
        catalog.migrate()?;
        Ok(catalog)
    }

    /// Uses `clock` instead of the system clock for every time the catalog
    /// records (creation, start, finish, events): for a daemon driven by a
    /// simulated clock in tests, and for tests of time filters.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64> {
        self.read("reading the schema version", |c| {
            Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)
        })
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let conn = self.conn.get_mut().unwrap_or_else(|p| p.into_inner());
        let version = |c: &Connection| -> rusqlite::Result<i64> {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
        };
        let current = version(conn).map_err(|source| CatalogError::Open {
            path: path.clone(),
            source,
        })?;
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        if current > SCHEMA_VERSION {
            return Err(CatalogError::NewerSchema {
                path,
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        let sql = |source| CatalogError::Sqlite {
            path: path.clone(),
            op: "migrating the schema",
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        // Read again under the write lock: another process may have
        // migrated since.
        let current = version(&tx).map_err(sql)?;
        if current > SCHEMA_VERSION {
            return Err(CatalogError::NewerSchema {
                path,
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        for step in &MIGRATIONS[current.max(0) as usize..] {
            tx.execute_batch(step).map_err(sql)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at most an open transaction,
        // which rusqlite rolled back when it unwound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn map_err(&self, op: &'static str, e: TxError) -> CatalogError {
        match e {
            TxError::Catalog(c) => c,
            TxError::Sql(source) => CatalogError::Sqlite {
                path: self.path.clone(),
                op,
                source,
            },
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; rolls back on error.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> TxResult<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> TxResult<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        };
        run(&mut conn).map_err(|e| self.map_err(op, e))
    }

    /// Runs a read (one implicit snapshot per statement; WAL readers do
    /// not wait for writers).
    fn read<T>(&self, op: &'static str, f: impl FnOnce(&Connection) -> TxResult<T>) -> Result<T> {
        let conn = self.lock();
        f(&conn).map_err(|e| self.map_err(op, e))
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

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
    fn enter(
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

    fn create_job_owned(&self, job: &NewJob, owner: &Owner) -> Result<JobId> {
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
                "finish_job of job {id} with {}: give a final state (COMPLETED, PARTIAL, FAILED, EXPIRED or ABORTED)",
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
            let (level, message) = match (outcome.state, &outcome.error, &outcome.reason) {
                (JobState::Failed, Some(e), _) => (EventLevel::Error, format!("failed: {e}")),
                (s, _, Some(r)) => (
                    if s == JobState::Completed {
                        EventLevel::Info
                    } else {
                        EventLevel::Warning
                    },
                    format!("{}: {r}", s.as_str().to_lowercase()),
                ),
                (s, _, None) => (
                    if s == JobState::Completed {
                        EventLevel::Info
                    } else {
                        EventLevel::Warning
                    },
                    s.as_str().to_lowercase(),
                ),
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

    /// What the daemon calls when it starts: every unfinished job
    /// (`CREATED`, `PENDING`, `RUNNING`) whose owning process is gone — it
    /// ran in an earlier boot, or its pid no longer runs the same process —
    /// becomes `ABORTED` with `reason` (normally [`STALE_REASON`]). Jobs of
    /// live processes (a `coffer plan run` in progress) stay as they are,
    /// and so do jobs of another host when that cannot be checked. Returns
    /// the aborted jobs' ids.
    pub fn abort_stale_running(&self, reason: &str) -> Result<Vec<JobId>> {
        self.abort_where(reason, |owner, me| owner.is_alive(me) == Some(false))
    }

    /// Every unfinished job becomes `ABORTED` with `reason`, whoever owns
    /// it: for a daemon that knows it is the only runner.
    pub fn abort_all_active(&self, reason: &str) -> Result<Vec<JobId>> {
        self.abort_where(reason, |_, _| true)
    }

    fn abort_where(
        &self,
        reason: &str,
        stale: impl Fn(&Owner, &Owner) -> bool,
    ) -> Result<Vec<JobId>> {
        let now = format_time(self.now());
        self.write("aborting unfinished jobs", |tx| {
            let active: Vec<(JobId, Owner)> = {
                let mut st = tx.prepare(
                    "SELECT id, host, pid, boot_id, pid_start FROM jobs \
                     WHERE state IN ('CREATED', 'PENDING', 'RUNNING') ORDER BY id",
                )?;
                let rows = st.query_map([], |r| {
                    Ok((
                        JobId(r.get(0)?),
                        Owner {
                            host: r.get(1)?,
                            pid: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                            boot_id: r.get(3)?,
                            pid_start: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u64),
                        },
                    ))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut aborted = Vec::new();
            for (id, owner) in active {
                if !stale(&owner, &self.owner) {
                    continue;
                }
                self.enter(
                    tx,
                    id,
                    JobState::Aborted,
                    &now,
                    EventLevel::Warning,
                    &format!("aborted: {reason}"),
                )?;
                tx.execute(
                    "UPDATE jobs SET finished_at = ?2, reason = ?3 WHERE id = ?1",
                    params![id.0, now, reason],
                )?;
                aborted.push(id);
            }
            Ok(aborted)
        })
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

    /// The last time the scheduler ran (or caught up) `plan`/`rule`, for
    /// catch-up after downtime.
    pub fn last_scheduled(&self, plan: &str, rule: &str) -> Result<Option<Timestamp>> {
        self.read("reading a rule's last scheduled time", |c| {
            Ok(c.query_row(
                "SELECT last_scheduled FROM rule_state WHERE plan = ?1 AND rule = ?2",
                [plan, rule],
                |r| r.get::<_, DbTime>(0),
            )
            .optional()?
            .map(|d| d.0))
        })
    }

    /// Records the last time the scheduler ran `plan`/`rule`.
    pub fn set_last_scheduled(&self, plan: &str, rule: &str, at: Timestamp) -> Result<()> {
        self.write("recording a rule's last scheduled time", |tx| {
            tx.execute(
                "INSERT INTO rule_state (plan, rule, last_scheduled) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (plan, rule) DO UPDATE SET last_scheduled = excluded.last_scheduled",
                params![plan, rule, format_time(at)],
            )?;
            Ok(())
        })
    }

    /// Every rule's last scheduled time, as `(plan, rule, time)`.
    pub fn rule_states(&self) -> Result<Vec<(String, String, Timestamp)>> {
        self.read("reading the rules' last scheduled times", |c| {
            let mut st =
                c.prepare("SELECT plan, rule, last_scheduled FROM rule_state ORDER BY plan, rule")?;
            let rows =
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, DbTime>(2)?.0)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Records an event that is not a job's state change (an RPO violation,
    /// a size anomaly, WAL archive lag). Returns its id.
    pub fn emit(&self, event: &crate::events::NewEvent) -> Result<i64> {
        let now = format_time(self.now());
        self.write("recording an event", |tx| insert_app_event(tx, &now, event))
    }

    /// Events matching `filter`, in id order.
    pub fn events(&self, filter: &crate::events::EventFilter) -> Result<Vec<crate::events::Event>> {
        let mut sql = String::from(
            "SELECT id, at, name, severity, job_id, plan, rule, source, vault, message, details \
             FROM events WHERE 1 = 1",
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(a) = filter.after_id {
            sql.push_str(" AND id > ?");
            args.push(Value::Integer(a));
        }
        if let Some(t) = filter.since {
            sql.push_str(" AND at >= ?");
            args.push(Value::Text(format_time(t)));
        }
        if !filter.names.is_empty() {
            sql.push_str(&format!(
                " AND name IN ({})",
                vec!["?"; filter.names.len()].join(", ")
            ));
            args.extend(filter.names.iter().map(|n| Value::Text(n.as_str().into())));
        }
        if let Some(min) = filter.min_severity {
            let ok: Vec<_> = crate::events::Severity::ALL
                .iter()
                .filter(|s| **s >= min)
                .collect();
            sql.push_str(&format!(
                " AND severity IN ({})",
                vec!["?"; ok.len()].join(", ")
            ));
            args.extend(ok.iter().map(|s| Value::Text(s.as_str().into())));
        }
        if let Some(src) = &filter.source {
            sql.push_str(" AND source = ?");
            args.push(Value::Text(src.clone()));
        }
        let newest_first = filter.after_id.is_none();
        sql.push_str(if newest_first {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id"
        });
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(
            filter
                .limit
                .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
                .unwrap_or(-1),
        ));
        let mut events = self.read("reading events", |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
                let details: Option<String> = r.get(10)?;
                Ok(crate::events::Event {
                    id: r.get(0)?,
                    at: r.get::<_, DbTime>(1)?.0,
                    name: r.get(2)?,
                    severity: r.get(3)?,
                    job_id: r.get::<_, Option<i64>>(4)?.map(JobId),
                    plan: r.get(5)?,
                    rule: r.get(6)?,
                    source: r.get(7)?,
                    vault: r.get(8)?,
                    message: r.get(9)?,
                    details: details.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if newest_first {
            events.reverse();
        }
        Ok(events)
    }

    /// A value of the key-value table (consumers' cursors and small state).
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.read("reading a key", |c| {
            Ok(
                c.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Sets a value of the key-value table.
    pub fn kv_set(&self, key: &str, value: &str) -> Result<()> {
        self.write("writing a key", |tx| {
            tx.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
    }

    /// Records that the data of `packs` of `vault` was read and found
    /// sound at `at`.
    pub fn set_packs_verified(&self, vault: &str, packs: &[String], at: Timestamp) -> Result<()> {
        let at = format_time(at);
        self.write("recording verified packs", |tx| {
            let mut st = tx.prepare(
                "INSERT INTO verified_packs (vault, pack, verified_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (vault, pack) DO UPDATE SET verified_at = excluded.verified_at",
            )?;
            for p in packs {
                st.execute(params![vault, p, at])?;
            }
            Ok(())
        })
    }

    /// When each pack of `vault` was last verified, as `(pack, time)`.
    pub fn packs_verified(&self, vault: &str) -> Result<Vec<(String, Timestamp)>> {
        self.read("reading verified packs", |c| {
            let mut st =
                c.prepare("SELECT pack, verified_at FROM verified_packs WHERE vault = ?1")?;
            let rows = st.query_map([vault], |r| Ok((r.get(0)?, r.get::<_, DbTime>(1)?.0)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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

    // --- API tokens and the audit trail (crate::auth, crate::audit) ---

    /// Stores a new token (its hash only). Fails with
    /// [`CatalogError::InvalidInput`] when `name` is taken.
    pub fn token_insert(&self, t: &TokenRecord) -> Result<()> {
        let name = t.name.clone();
        self.write("creating a token", |tx| {
            let taken: bool = tx.query_row(
                "SELECT COUNT(*) > 0 FROM tokens WHERE name = ?1",
                [&t.name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(CatalogError::InvalidInput(format!(
                    "a token named `{name}` exists already: choose another --name, or revoke it first (`coffer token revoke {name}`)"
                ))
                .into());
            }
            tx.execute(
                "INSERT INTO tokens (name, role, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.name, t.role, t.hash, format_time(t.created_at), t.expires_at.map(format_time)],
            )?;
            Ok(())
        })
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read("listing tokens", |c| {
            let mut st = c.prepare(
                "SELECT name, role, hash, created_at, expires_at, revoked_at, last_used_at FROM tokens ORDER BY created_at, name",
            )?;
            let rows = st.query_map([], token_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The token whose hash is `hash`, if any (revoked and expired ones too).
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.read("looking up a token", |c| {
            Ok(c.query_row(
                "SELECT name, role, hash, created_at, expires_at, revoked_at, last_used_at FROM tokens WHERE hash = ?1",
                [hash],
                token_from_row,
            )
            .optional()?)
        })
    }

    /// Records that token `name` was used at `at`.
    pub fn token_used(&self, name: &str, at: Timestamp) -> Result<()> {
        self.write("recording a token's use", |tx| {
            tx.execute(
                "UPDATE tokens SET last_used_at = ?2 WHERE name = ?1",
                params![name, format_time(at)],
            )?;
            Ok(())
        })
    }

    /// Revokes token `name`; false when there is no such token or it was
    /// revoked already.
    pub fn token_revoke(&self, name: &str, at: Timestamp) -> Result<bool> {
        self.write("revoking a token", |tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, format_time(at)],
            )?;
            Ok(n > 0)
        })
    }

    /// Appends one entry to the audit table; returns its id.
    pub fn audit_insert(&self, a: &AuditRecord) -> Result<i64> {
        self.write("recording an audit entry", |tx| {
            tx.execute(
                "INSERT INTO audit (at, actor, role, action, target, result, error, remote) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![format_time(a.at), a.actor, a.role, a.action, a.target, a.result, a.error, a.remote],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The newest `limit` audit entries, oldest first.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read("reading the audit trail", |c| {
            let mut st = c.prepare(
                "SELECT at, actor, role, action, target, result, error, remote FROM \
                 (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(AuditRecord {
                    at: r.get::<_, DbTime>(0)?.0,
                    actor: r.get(1)?,
                    role: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    result: r.get(5)?,
                    error: r.get(6)?,
                    remote: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// How many events there are of each name (metrics).
    pub fn event_counts(&self) -> Result<Vec<(crate::events::EventName, u64)>> {
        self.read("counting events", |c| {
            let mut st = c.prepare("SELECT name, COUNT(*) FROM events GROUP BY name")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

/// A stored API token (never the token itself: its BLAKE3 hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Its unique name.
    pub name: String,
    /// Its role (`viewer`, `operator`, `admin`).
    pub role: String,
    /// The hex BLAKE3 hash of the token.
    #[serde(skip)]
    pub hash: String,
    /// When it was created.
    #[serde(with = "time_serde")]
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    #[serde(with = "time_serde::option")]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked.
    #[serde(with = "time_serde::option")]
    pub revoked_at: Option<Timestamp>,
    /// When it was last used.
    #[serde(with = "time_serde::option")]
    pub last_used_at: Option<Timestamp>,
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        name: r.get(0)?,
        role: r.get(1)?,
        hash: r.get(2)?,
        created_at: r.get::<_, DbTime>(3)?.0,
        expires_at: r.get::<_, Option<DbTime>>(4)?.map(|d| d.0),
        revoked_at: r.get::<_, Option<DbTime>>(5)?.map(|d| d.0),
        last_used_at: r.get::<_, Option<DbTime>>(6)?.map(|d| d.0),
    })
}

/// One entry of the audit trail (see `crate::audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When.
    #[serde(with = "time_serde")]
    pub at: Timestamp,
    /// Who: `token:NAME` or `cli:USER`.
    pub actor: String,
    /// The token's role (API actions).
    pub role: Option<String>,
    /// What (`token.create`, `rule.run`, `snapshot.hold`, …).
    pub action: String,
    /// On what (a rule, vault, snapshot, token name).
    pub target: Option<String>,
    /// `ok` or `error`.
    pub result: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The client's address (API actions).
    pub remote: Option<String>,
}

/// Writes the [`crate::events`] event of a job entering `state`, if that
/// state has one.
fn insert_job_app_event(
    tx: &Connection,
    id: JobId,
    state: JobState,
    at: &str,
    message: &str,
) -> TxResult<()> {
    type Opt = Option<String>;
    let (kind, plan, rule, source, vault, details): (JobKind, Opt, Opt, Opt, Opt, Opt) = tx
        .query_row(
            "SELECT kind, plan, rule, source, vault, details FROM jobs WHERE id = ?1",
            [id.0],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?;
    let details: Option<serde_json::Value> = details.and_then(|d| serde_json::from_str(&d).ok());
    let Some(name) = crate::events::job_event_name(kind, state, details.as_ref()) else {
        return Ok(());
    };
    let subject = source
        .clone()
        .or_else(|| vault.clone())
        .unwrap_or_else(|| "-".into());
    let event = crate::events::NewEvent {
        name,
        job_id: Some(id),
        plan,
        rule,
        source,
        vault,
        message: format!("{kind} job {id} ({subject}): {message}"),
        details,
    };
    insert_app_event(tx, at, &event)?;
    Ok(())
}

/// Inserts an event row; returns its id.
fn insert_app_event(tx: &Connection, at: &str, e: &crate::events::NewEvent) -> TxResult<i64> {
    let details = e
        .details
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|err| CatalogError::InvalidInput(format!("details of event {}: {err}", e.name)))?;
    tx.execute(
        "INSERT INTO events (at, name, severity, job_id, plan, rule, source, vault, message, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            at,
            e.name,
            e.name.severity(),
            e.job_id.map(|j| j.0),
            e.plan,
            e.rule,
            e.source,
            e.vault,
            e.message,
            details
        ],
    )?;
    Ok(tx.last_insert_rowid())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let tmp = tempfile::tempdir().unwrap();
        let c = Catalog::open(&tmp.path().join("state")).unwrap();
        (tmp, c)
    }

    fn backup_job(plan: &str, rule: &str, source: &str) -> NewJob {
        NewJob {
            plan: Some(plan.into()),
            rule: Some(rule.into()),
            source: Some(source.into()),
            vault: Some("main".into()),
            ..NewJob::new(JobKind::Backup, Trigger::Schedule)
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn job_state_changes_and_checks_write_events() {
        use crate::events::{EventFilter, EventName, NewEvent, Severity};
        let (_t, c) = catalog();
        let id = c.create_job(&backup_job("daily", "db", "pg")).unwrap();
        c.start_job(id).unwrap();
        c.finish_job(id, &JobOutcome::failed("connection refused"))
            .unwrap();
        let rt = c
            .create_job(&NewJob {
                source: Some("pg".into()),
                ..NewJob::new(JobKind::RestoreTest, Trigger::Cli)
            })
            .unwrap();
        c.start_job(rt).unwrap();
        let mut out = JobOutcome::failed("restore took longer than 10m");
        out.details = Some(serde_json::json!({"validation": "TIMED_OUT"}));
        c.finish_job(rt, &out).unwrap();
        let mut rpo = NewEvent::new(
            EventName::RpoViolated,
            "pg: newest snapshot 26h old, RPO 25h",
        );
        rpo.source = Some("pg".into());
        let rpo_id = c.emit(&rpo).unwrap();

        let all = c.events(&EventFilter::default()).unwrap();
        let names: Vec<_> = all.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                EventName::BackupJobStarted,
                EventName::BackupJobFailed,
                EventName::RestoreTestStarted,
                EventName::RestoreTestTimedOut,
                EventName::RpoViolated
            ]
        );
        assert_eq!(all[1].job_id, Some(id));
        assert_eq!(all[1].plan.as_deref(), Some("daily"));
        assert!(
            all[1].message.contains("connection refused"),
            "{}",
            all[1].message
        );
        assert_eq!(all[4].id, rpo_id);

        // A consumer's cursor reads forward; severity filters.
        let after = c
            .events(&EventFilter {
                after_id: Some(all[2].id),
                limit: Some(1),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].name, EventName::RestoreTestTimedOut);
        let errors = c
            .events(&EventFilter {
                min_severity: Some(Severity::Error),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(errors.len(), 3);

        c.kv_set("notify/webhook", "17").unwrap();
        c.kv_set("notify/webhook", "18").unwrap();
        assert_eq!(c.kv_get("notify/webhook").unwrap().as_deref(), Some("18"));
        assert_eq!(c.kv_get("nothing").unwrap(), None);

        c.set_packs_verified(
            "main",
            &["p1".into(), "p2".into()],
            ts("2026-03-01T00:00:00Z"),
        )
        .unwrap();
        c.set_packs_verified("main", &["p2".into()], ts("2026-03-02T00:00:00Z"))
            .unwrap();
        let mut v = c.packs_verified("main").unwrap();
        v.sort();
        assert_eq!(v[1], ("p2".to_string(), ts("2026-03-02T00:00:00Z")));
    }

    #[test]
    fn catalog_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Catalog>();
    }

    #[test]
    fn names_in_db_and_json_follow_aws() {
        let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "CREATED",
                "PENDING",
                "RUNNING",
                "COMPLETED",
                "PARTIAL",
                "FAILED",
                "EXPIRED",
                "ABORTED"
            ]
        );
        assert_eq!(
            serde_json::to_string(&JobState::Partial).unwrap(),
            "\"PARTIAL\""
        );
        assert_eq!(
            serde_json::to_string(&JobKind::RestoreTest).unwrap(),
            "\"restore-test\""
        );
        assert_eq!(
            serde_json::to_string(&Trigger::CatchUp).unwrap(),
            "\"catch-up\""
        );
        assert_eq!("failed".parse::<JobState>().unwrap(), JobState::Failed);
        assert_eq!(
            "restore_test".parse::<JobKind>().unwrap(),
            JobKind::RestoreTest
        );
        let e = "done".parse::<JobState>().unwrap_err().to_string();
        assert!(
            e.contains("unknown job state `done`") && e.contains("COMPLETED"),
            "{e}"
        );
        assert_eq!("42".parse::<JobId>().unwrap(), JobId(42));
        assert_eq!("job-42".parse::<JobId>().unwrap(), JobId(42));
        assert!("0".parse::<JobId>().is_err());
        assert!("abc".parse::<JobId>().is_err());
        assert_eq!(JobId(42).to_string(), "42");
    }

    #[test]
    fn times_are_fixed_width_utc() {
        assert_eq!(
            format_time(ts("2026-03-01T02:00:00Z")),
            "2026-03-01T02:00:00.000Z"
        );
        assert_eq!(
            format_time(ts("2026-03-01T02:00:00.5+01:00")),
            "2026-03-01T01:00:00.500Z"
        );
    }

    #[test]
    fn a_job_goes_through_its_states_and_stays_final() {
        let (_tmp, c) = catalog();
        let mut job = backup_job("daily", "nightly", "etc");
        job.scheduled_at = Some(ts("2026-03-01T02:00:00Z"));
        job.start_deadline = Some(ts("2026-03-01T03:00:00Z"));
        job.complete_deadline = Some(ts("2026-03-01T10:00:00Z"));
        let id = c.create_job(&job).unwrap();
        let j = c.get_job(id).unwrap();
        assert_eq!(j.state, JobState::Created);
        assert_eq!(j.kind, JobKind::Backup);
        assert_eq!(j.trigger, Trigger::Schedule);
        assert_eq!(j.plan.as_deref(), Some("daily"));
        assert_eq!(j.scheduled_at, job.scheduled_at);
        assert_eq!(j.start_deadline, job.start_deadline);
        assert_eq!(j.complete_deadline, job.complete_deadline);
        assert_eq!(j.pid, std::process::id());
        assert_eq!(j.host, coffer_core::hostname());
        assert!(j.started_at.is_none() && j.finished_at.is_none());

        // COMPLETED needs RUNNING first.
        let e = c
            .finish_job(id, &JobOutcome::completed(JobCounters::default(), vec![]))
            .unwrap_err();
        assert!(
            matches!(
                e,
                CatalogError::IllegalTransition {
                    from: JobState::Created,
                    to: JobState::Completed,
                    ..
                }
            ),
            "{e}"
        );
        c.set_pending(id, "waiting for the vault's lock").unwrap();
        c.start_job(id).unwrap();
        assert!(matches!(
            c.set_pending(id, "again").unwrap_err(),
            CatalogError::IllegalTransition { .. }
        ));
        let progress = JobCounters {
            bytes_read: 10,
            ..Default::default()
        };
        c.update_counters(id, &progress).unwrap();
        assert_eq!(c.get_job(id).unwrap().counters, progress);
        c.add_snapshot(id, "aaaa").unwrap();
        c.record_event(
            id,
            EventLevel::Warning,
            "cannot read /etc/shadow: permission denied",
        )
        .unwrap();
        let counters = JobCounters {
            bytes_read: 100,
            bytes_added: 50,
            bytes_stored: 20,
            files_new: 3,
            files_changed: 2,
            files_unmodified: 1,
            warnings: 1,
        };
        let mut outcome = JobOutcome::completed(counters, vec!["bbbb".into()]);
        outcome.details = Some(serde_json::json!({"restore_seconds": 1.5}));
        assert_eq!(outcome.state, JobState::Partial);
        c.finish_job(id, &outcome).unwrap();

        let j = c.get_job(id).unwrap();
        assert_eq!(j.state, JobState::Partial);
        assert_eq!(j.counters, counters);
        assert_eq!(j.snapshot_ids, ["aaaa", "bbbb"]);
        assert_eq!(j.reason.as_deref(), Some("1 warnings (entries skipped)"));
        assert_eq!(j.details, Some(serde_json::json!({"restore_seconds": 1.5})));
        assert!(j.started_at.is_some() && j.finished_at.is_some());
        assert!(j.duration(Timestamp::now()).is_some());

        // Final states never change.
        for to in [JobOutcome::aborted("late"), JobOutcome::failed("late")] {
            let e = c.finish_job(id, &to).unwrap_err();
            assert!(
                matches!(
                    e,
                    CatalogError::IllegalTransition {
                        from: JobState::Partial,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains("final state"), "{e}");
        }
        assert!(matches!(
            c.start_job(id).unwrap_err(),
            CatalogError::IllegalTransition { .. }
        ));
        assert!(matches!(
            c.update_counters(id, &progress).unwrap_err(),
            CatalogError::InvalidInput(_)
        ));
        assert_eq!(c.get_job(id).unwrap().state, JobState::Partial);

        let events = c.job_events(id).unwrap();
        let states: Vec<Option<JobState>> = events.iter().map(|e| e.state).collect();
        assert_eq!(
            states,
            [
                Some(JobState::Created),
                Some(JobState::Pending),
                Some(JobState::Running),
                None,
                Some(JobState::Partial)
            ]
        );
        assert_eq!(events[1].message, "waiting for the vault's lock");
        assert!(
            events[2].message.starts_with("started on "),
            "{}",
            events[2].message
        );
        assert_eq!(events[3].level, EventLevel::Warning);
        assert!(events
            .windows(2)
            .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
    }

    #[test]
    fn finish_needs_a_final_state_and_a_known_job() {
        let (_tmp, c) = catalog();
        let id = c
            .create_job(&NewJob::new(JobKind::Prune, Trigger::Cli))
            .unwrap();
        let e = c
            .finish_job(id, &JobOutcome::new(JobState::Running))
            .unwrap_err();
        assert!(matches!(e, CatalogError::InvalidInput(_)), "{e}");
        // Failing before it ever ran (e.g. the vault is unreachable) is fine.
        c.finish_job(id, &JobOutcome::failed("vault /srv/v: not found"))
            .unwrap();
        let j = c.get_job(id).unwrap();
        assert_eq!(j.state, JobState::Failed);
        assert_eq!(j.error.as_deref(), Some("vault /srv/v: not found"));
        let last = c.job_events(id).unwrap().pop().unwrap();
        assert_eq!(last.level, EventLevel::Error);
        assert_eq!(last.message, "failed: vault /srv/v: not found");

        let missing = JobId(999);
        for e in [
            c.get_job(missing).unwrap_err(),
            c.start_job(missing).unwrap_err(),
            c.job_events(missing).unwrap_err(),
            c.record_event(missing, EventLevel::Info, "x").unwrap_err(),
            c.finish_job(missing, &JobOutcome::aborted("x"))
                .unwrap_err(),
        ] {
            assert!(e.is_not_found(), "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("job 999 not found") && msg.contains("catalog.sqlite"),
                "{msg}"
            );
        }
    }

    #[test]
    fn expired_from_created_and_pending() {
        let (_tmp, c) = catalog();
        let a = c
            .create_job(&NewJob::new(JobKind::Backup, Trigger::Schedule))
            .unwrap();
        let b = c
            .create_job(&NewJob::new(JobKind::Copy, Trigger::Schedule))
            .unwrap();
        c.set_pending(b, "waiting").unwrap();
        for id in [a, b] {
            c.finish_job(id, &JobOutcome::expired("start window of 1h missed"))
                .unwrap();
            let j = c.get_job(id).unwrap();
            assert_eq!(j.state, JobState::Expired);
            assert_eq!(j.reason.as_deref(), Some("start window of 1h missed"));
        }
    }

    /// An owner whose process is certainly gone: a child that has exited
    /// and been collected.
    fn dead_owner() -> Owner {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        Owner {
            pid,
            pid_start: Some(1),
            ..Owner::current()
        }
    }

    #[test]
    fn abort_stale_running_aborts_only_jobs_of_dead_owners() {
        let (_tmp, c) = catalog();
        let me = Owner::current();
        let job = |kind| NewJob::new(kind, Trigger::Schedule);

        // Ours, running: alive.
        let live = c.create_job(&job(JobKind::Backup)).unwrap();
        c.start_job(live).unwrap();
        // A collected child's pid, running.
        let dead = c
            .create_job_owned(&job(JobKind::Backup), &dead_owner())
            .unwrap();
        c.write("test", |tx| force_state(tx, dead, JobState::Running))
            .unwrap();
        // Our pid, but another process start time: a reused pid.
        let reused_owner = Owner {
            pid_start: me.pid_start.map(|t| t + 1).or(Some(1)),
            ..me.clone()
        };
        let reused = c
            .create_job_owned(&job(JobKind::Verify), &reused_owner)
            .unwrap();
        c.set_pending(reused, "waiting").unwrap();
        // A previous boot.
        let old_boot = Owner {
            boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..me.clone()
        };
        let previous_boot = c.create_job_owned(&job(JobKind::Prune), &old_boot).unwrap();
        // Another host and no boot ids to compare: cannot tell, left alone.
        let elsewhere = Owner {
            host: "some-other-host".into(),
            boot_id: None,
            ..dead_owner()
        };
        let unknown = c.create_job_owned(&job(JobKind::Copy), &elsewhere).unwrap();
        // Finished jobs are not touched.
        let done = c
            .create_job_owned(&job(JobKind::Forget), &dead_owner())
            .unwrap();
        c.finish_job(done, &JobOutcome::failed("boom")).unwrap();

        let aborted = c.abort_stale_running(STALE_REASON).unwrap();
        assert_eq!(aborted, [dead, reused, previous_boot]);
        for id in [dead, reused, previous_boot] {
            let j = c.get_job(id).unwrap();
            assert_eq!(j.state, JobState::Aborted, "job {id}");
            assert_eq!(j.reason.as_deref(), Some(STALE_REASON));
            assert!(j.finished_at.is_some());
            let last = c.job_events(id).unwrap().pop().unwrap();
            assert_eq!(last.state, Some(JobState::Aborted));
            assert_eq!(last.message, format!("aborted: {STALE_REASON}"));
        }
        assert_eq!(c.get_job(live).unwrap().state, JobState::Running);
        assert_eq!(c.get_job(unknown).unwrap().state, JobState::Created);
        assert_eq!(c.get_job(done).unwrap().state, JobState::Failed);
        // Idempotent.
        assert!(c.abort_stale_running(STALE_REASON).unwrap().is_empty());
        assert_eq!(c.running_jobs().unwrap().len(), 1);
        assert_eq!(c.active_jobs().unwrap().len(), 2);

        // The only runner aborts everything unfinished.
        assert_eq!(c.abort_all_active("SIGTERM").unwrap(), [live, unknown]);
        assert!(c.active_jobs().unwrap().is_empty());
        assert_eq!(c.get_job(live).unwrap().reason.as_deref(), Some("SIGTERM"));
    }

    fn force_state(tx: &Connection, id: JobId, s: JobState) -> TxResult<()> {
        tx.execute("UPDATE jobs SET state = ?2 WHERE id = ?1", params![id.0, s])?;
        Ok(())
    }

    #[test]
    fn a_killed_runner_is_detected() {
        // A real process that owns a job, killed (not exited cleanly).
        let (_tmp, c) = catalog();
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        let pid = child.id();
        let owner = Owner {
            pid,
            pid_start: proc_start_ticks(pid).map(|(t, _)| t),
            ..Owner::current()
        };
        let id = c
            .create_job_owned(&NewJob::new(JobKind::Backup, Trigger::Schedule), &owner)
            .unwrap();
        assert!(c.abort_stale_running(STALE_REASON).unwrap().is_empty());
        child.kill().unwrap();
        // Wait until it has died, without collecting it (WNOWAIT): a
        // zombie counts as gone too.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid siginfo buffer.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        assert_eq!(c.abort_stale_running(STALE_REASON).unwrap(), [id]);
        child.wait().unwrap();
    }

    #[test]
    fn list_filters() {
        let tmp = tempfile::tempdir().unwrap();
        let now = Arc::new(Mutex::new(ts("2026-03-01T00:00:00Z")));
        let clock = now.clone();
        let c = Catalog::open(tmp.path())
            .unwrap()
            .with_clock(move || *clock.lock().unwrap());
        let set = |t: &str| *now.lock().unwrap() = ts(t);

        let a = c
            .create_job(&backup_job("daily", "nightly", "etc"))
            .unwrap();
        set("2026-03-02T00:00:00Z");
        let b = c.create_job(&backup_job("daily", "nightly", "db")).unwrap();
        let mut copy = backup_job("daily", "offsite", "etc");
        copy.kind = JobKind::Copy;
        copy.destination_vault = Some("remote".into());
        copy.vault = Some("main".into());
        let cp = c.create_job(&copy).unwrap();
        set("2026-03-03T00:00:00Z");
        let p = c
            .create_job(&NewJob {
                plan: Some("weekly".into()),
                rule: Some("nightly".into()),
                vault: Some("other".into()),
                ..NewJob::new(JobKind::Prune, Trigger::Api)
            })
            .unwrap();
        c.start_job(a).unwrap();
        c.finish_job(
            a,
            &JobOutcome::completed(JobCounters::default(), vec!["s1".into()]),
        )
        .unwrap();
        c.finish_job(b, &JobOutcome::failed("x")).unwrap();

        let ids = |f: JobFilter| -> Vec<JobId> {
            c.list_jobs(&f).unwrap().into_iter().map(|j| j.id).collect()
        };
        assert_eq!(ids(JobFilter::default()), [p, cp, b, a]);
        assert_eq!(
            ids(JobFilter {
                states: vec![JobState::Completed, JobState::Failed],
                ..Default::default()
            }),
            [b, a]
        );
        assert_eq!(
            ids(JobFilter {
                kinds: vec![JobKind::Copy, JobKind::Prune],
                ..Default::default()
            }),
            [p, cp]
        );
        assert_eq!(
            ids(JobFilter {
                plan: Some("daily".into()),
                ..Default::default()
            }),
            [cp, b, a]
        );
        assert_eq!(
            ids(JobFilter {
                rule: Some("nightly".into()),
                ..Default::default()
            }),
            [p, b, a]
        );
        assert_eq!(
            ids(JobFilter {
                plan: Some("daily".into()),
                rule: Some("nightly".into()),
                source: Some("etc".into()),
                ..Default::default()
            }),
            [a]
        );
        assert_eq!(
            ids(JobFilter {
                vault: Some("remote".into()),
                ..Default::default()
            }),
            [cp]
        );
        assert_eq!(
            ids(JobFilter {
                since: Some(ts("2026-03-02T00:00:00Z")),
                ..Default::default()
            }),
            [p, cp, b]
        );
        assert_eq!(
            ids(JobFilter {
                limit: Some(2),
                ..Default::default()
            }),
            [p, cp]
        );
        assert!(ids(JobFilter {
            source: Some("nothing".into()),
            ..Default::default()
        })
        .is_empty());
        let listed = c.list_jobs(&JobFilter::default()).unwrap();
        assert_eq!(listed[3].snapshot_ids, ["s1"]);
        assert_eq!(listed[3].created_at, ts("2026-03-01T00:00:00Z"));
        assert_eq!(listed[3].started_at, Some(ts("2026-03-03T00:00:00Z")));
    }

    #[test]
    fn migration_from_an_empty_file_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("catalog.sqlite");
        std::fs::write(&path, b"").unwrap();
        let c = Catalog::open_file(&path).unwrap();
        assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
        let id = c
            .create_job(&NewJob::new(JobKind::Verify, Trigger::Cli))
            .unwrap();
        c.set_last_scheduled("p", "r", ts("2026-03-01T02:00:00Z"))
            .unwrap();
        let mode: String = c
            .lock()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = c
            .lock()
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(c);
        // Reopening keeps the data and migrates nothing.
        let c = Catalog::open(tmp.path()).unwrap();
        assert_eq!(c.get_job(id).unwrap().kind, JobKind::Verify);
        assert_eq!(
            c.last_scheduled("p", "r").unwrap(),
            Some(ts("2026-03-01T02:00:00Z"))
        );
    }

    #[test]
    fn a_newer_schema_or_another_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Catalog::open(tmp.path()).unwrap();
        c.lock()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        let e = Catalog::open(tmp.path()).unwrap_err();
        assert!(
            matches!(e, CatalogError::NewerSchema { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
            "{e}"
        );
        assert!(e.to_string().contains("catalog.sqlite"), "{e}");

        let other = tmp.path().join("not-a-db");
        std::fs::write(&other, vec![b'x'; 4096]).unwrap();
        let e = Catalog::open_file(&other).unwrap_err();
        assert!(matches!(e, CatalogError::Open { .. }), "{e}");
        assert!(e.to_string().contains("not-a-db"), "{e}");

        let e = Catalog::open_existing(&tmp.path().join("nothing")).unwrap_err();
        assert!(matches!(e, CatalogError::Missing { .. }), "{e}");
        assert!(!tmp.path().join("nothing").exists());
    }

    #[test]
    fn deleting_old_jobs_cascades_to_events_and_snapshots() {
        let (_tmp, c) = catalog();
        let old = c
            .create_job(&NewJob::new(JobKind::Backup, Trigger::Cli))
            .unwrap();
        c.start_job(old).unwrap();
        c.finish_job(
            old,
            &JobOutcome::completed(JobCounters::default(), vec!["s".into()]),
        )
        .unwrap();
        let running = c
            .create_job(&NewJob::new(JobKind::Backup, Trigger::Cli))
            .unwrap();
        let n = c
            .delete_finished_before(Timestamp::now() + jiff::SignedDuration::from_secs(60))
            .unwrap();
        assert_eq!(n, 1);
        assert!(c.get_job(old).unwrap_err().is_not_found());
        assert!(c.get_job(running).is_ok());
        let left: i64 = c
            .lock()
            .query_row(
                "SELECT (SELECT COUNT(*) FROM job_events WHERE job_id = ?1) + \
                 (SELECT COUNT(*) FROM job_snapshots WHERE job_id = ?1)",
                [old.0],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn rule_state_keeps_the_last_scheduled_time() {
        let (_tmp, c) = catalog();
        assert_eq!(c.last_scheduled("daily", "nightly").unwrap(), None);
        c.set_last_scheduled("daily", "nightly", ts("2026-03-01T02:00:00Z"))
            .unwrap();
        c.set_last_scheduled("daily", "nightly", ts("2026-03-02T02:00:00Z"))
            .unwrap();
        c.set_last_scheduled("daily", "hourly", ts("2026-03-02T03:00:00Z"))
            .unwrap();
        assert_eq!(
            c.last_scheduled("daily", "nightly").unwrap(),
            Some(ts("2026-03-02T02:00:00Z"))
        );
        assert_eq!(
            c.rule_states().unwrap(),
            [
                (
                    "daily".to_string(),
                    "hourly".to_string(),
                    ts("2026-03-02T03:00:00Z")
                ),
                (
                    "daily".to_string(),
                    "nightly".to_string(),
                    ts("2026-03-02T02:00:00Z")
                ),
            ]
        );
    }

    #[test]
    fn since_takes_spans_and_times() {
        let now = ts("2026-03-10T12:00:00Z");
        assert_eq!(parse_since("24h", now).unwrap(), ts("2026-03-09T12:00:00Z"));
        assert_eq!(parse_since("7d", now).unwrap(), ts("2026-03-03T12:00:00Z"));
        assert_eq!(parse_since("2w", now).unwrap(), ts("2026-02-24T12:00:00Z"));
        assert_eq!(parse_since("90m", now).unwrap(), ts("2026-03-10T10:30:00Z"));
        assert_eq!(parse_since("P1D", now).unwrap(), ts("2026-03-09T12:00:00Z"));
        assert_eq!(
            parse_since("2026-03-01T02:00:00Z", now).unwrap(),
            ts("2026-03-01T02:00:00Z")
        );
        assert_eq!(
            parse_since("2026-03-01", now).unwrap(),
            ts("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            parse_since("2026-03-01 12:30", now).unwrap(),
            ts("2026-03-01T12:30:00Z")
        );
        let e = parse_since("yesterday", now).unwrap_err().to_string();
        assert!(e.contains("`yesterday`"), "{e}");
    }

    /// Env var that turns [`writer_child`] into a writer process.
    const WRITER_ENV: &str = "COFFER_TEST_CATALOG_WRITER_DIR";
    const JOBS_PER_WRITER: usize = 40;

    fn write_jobs(c: &Catalog, who: &str) {
        for i in 0..JOBS_PER_WRITER {
            let id = c
                .create_job(&NewJob {
                    source: Some(who.to_string()),
                    ..NewJob::new(JobKind::Backup, Trigger::Schedule)
                })
                .unwrap();
            c.start_job(id).unwrap();
            c.record_event(id, EventLevel::Info, &format!("{who} {i}"))
                .unwrap();
            // A reader in the middle of the writes.
            assert!(!c
                .list_jobs(&JobFilter {
                    limit: Some(5),
                    ..Default::default()
                })
                .unwrap()
                .is_empty());
            c.finish_job(
                id,
                &JobOutcome::completed(JobCounters::default(), vec![format!("{who}-{i}")]),
            )
            .unwrap();
        }
    }

    /// Not a test: the writer process of [`concurrent_writers`], which runs
    /// this test binary again with only this function selected.
    #[test]
    #[ignore = "helper process for concurrent_writers"]
    fn writer_child() {
        let dir = std::env::var_os(WRITER_ENV).expect("run by the parent test only");
        let c = Catalog::open(Path::new(&dir)).unwrap();
        write_jobs(&c, "process");
    }

    #[test]
    fn concurrent_writers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        // Create the schema first, so that the writers race on jobs (the
        // racing migration is covered by `concurrent_opens_migrate_once`).
        Catalog::open(&dir).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "catalog::tests::writer_child", "--ignored"])
            .env(WRITER_ENV, &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let threads: Vec<_> = ["thread-a", "thread-b"]
            .into_iter()
            .map(|who| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    // Each thread its own connection, as two processes would.
                    let c = Catalog::open(&dir).unwrap();
                    write_jobs(&c, who);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer process failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the writer process ran no test: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let c = Catalog::open(&dir).unwrap();
        let all = c.list_jobs(&JobFilter::default()).unwrap();
        assert_eq!(all.len(), 3 * JOBS_PER_WRITER);
        assert!(all.iter().all(|j| j.state == JobState::Completed));
        for who in ["thread-a", "thread-b", "process"] {
            let mine = c
                .list_jobs(&JobFilter {
                    source: Some(who.into()),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(mine.len(), JOBS_PER_WRITER, "{who}");
            for j in &mine {
                assert_eq!(c.job_events(j.id).unwrap().len(), 4);
                assert_eq!(j.snapshot_ids.len(), 1);
            }
        }
        // One shared Catalog used from several threads.
        let shared = Arc::new(c);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let c = shared.clone();
                std::thread::spawn(move || write_jobs(&c, &format!("shared-{i}")))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            shared.list_jobs(&JobFilter::default()).unwrap().len(),
            5 * JOBS_PER_WRITER
        );
    }

    #[test]
    fn concurrent_opens_migrate_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let c = Catalog::open(&dir).unwrap();
                    c.create_job(&NewJob::new(JobKind::Backup, Trigger::Cli))
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = Catalog::open(&dir).unwrap();
        assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(c.list_jobs(&JobFilter::default()).unwrap().len(), 4);
    }

    #[test]
    fn job_json_has_aws_states_and_flat_counters() {
        let (_tmp, c) = catalog();
        let id = c
            .create_job(&backup_job("daily", "nightly", "etc"))
            .unwrap();
        let v = serde_json::to_value(c.get_job(id).unwrap()).unwrap();
        assert_eq!(v["id"], serde_json::json!(id.0));
        assert_eq!(v["state"], "CREATED");
        assert_eq!(v["kind"], "backup");
        assert_eq!(v["trigger"], "schedule");
        assert_eq!(v["bytes_added"], 0);
        assert!(v["started_at"].is_null());
        assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back, c.get_job(id).unwrap());
    }
}
