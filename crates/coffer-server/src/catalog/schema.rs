//! The SQLite schema of the catalog and its migrations. The schema version
//! is `PRAGMA user_version`; opening applies the missing migrations in one
//! transaction and refuses a newer schema.

use rusqlite::{Connection, TransactionBehavior};

use super::database::Catalog;
use super::error::{CatalogError, Result};

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
    // 4: notification claims (catalog/notify_claims.rs): which process is
    // sending, or has settled, an event for a sink ahead of its cursor.
    r#"
CREATE TABLE notify_claims (
    sink     TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    owner    TEXT NOT NULL,
    until    TEXT,
    done     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, event_id)
) WITHOUT ROWID;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

impl Catalog {
    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64> {
        self.read("reading the schema version", |c| {
            Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)
        })
    }

    pub(super) fn migrate(&mut self) -> Result<()> {
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
}
