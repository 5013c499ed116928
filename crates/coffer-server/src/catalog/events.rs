//! The `events` table: what operators are told about ([`crate::events`]),
//! written in the same transaction as what caused them — a job's state
//! change ([`insert_job_app_event`]) or a check that is not a job
//! ([`Catalog::emit`]) — and read in id order by consumers.

use jiff::Timestamp;
use rusqlite::params;
use rusqlite::types::Value;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::database::{Catalog, TxResult};
use super::error::{CatalogError, Result};
use super::event_names::{job_event_name, EventName, Severity};
use super::job_state::{JobId, JobKind, JobState};
use super::time_format::{format_time, DbTime};
use super::time_serde;

/// An event to record ([`Catalog::emit`](crate::catalog::Catalog::emit)).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its name.
    pub name: EventName,
    /// The job it is about.
    pub job_id: Option<JobId>,
    /// The plan.
    pub plan: Option<String>,
    /// The rule.
    pub rule: Option<String>,
    /// The source.
    pub source: Option<String>,
    /// The vault.
    pub vault: Option<String>,
    /// What happened, for a person (never a secret).
    pub message: String,
    /// Machine-readable facts (sizes, ages, thresholds): a JSON object.
    pub details: Option<serde_json::Value>,
}

impl NewEvent {
    /// An event named `name` with `message` and nothing else yet.
    pub fn new(name: EventName, message: impl Into<String>) -> NewEvent {
        NewEvent {
            name,
            job_id: None,
            plan: None,
            rule: None,
            source: None,
            vault: None,
            message: message.into(),
            details: None,
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Its id: increasing, never reused (consumers keep the last one seen).
    pub id: i64,
    /// When it was recorded.
    #[serde(with = "time_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Its name.
    pub name: EventName,
    /// Its severity.
    pub severity: Severity,
    /// The job it is about.
    pub job_id: Option<JobId>,
    /// The plan.
    pub plan: Option<String>,
    /// The rule.
    pub rule: Option<String>,
    /// The source.
    pub source: Option<String>,
    /// The vault.
    pub vault: Option<String>,
    /// What happened.
    pub message: String,
    /// Machine-readable facts (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Selects events for [`Catalog::events`](crate::catalog::Catalog::events).
/// Empty lists and `None` match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events with an id greater than this (a consumer's cursor).
    pub after_id: Option<i64>,
    /// Recorded at or after this time.
    pub since: Option<Timestamp>,
    /// Any of these names.
    pub names: Vec<EventName>,
    /// At least this severe.
    pub min_severity: Option<Severity>,
    /// This source.
    pub source: Option<String>,
    /// At most this many: the oldest matching when `after_id` is set (a
    /// consumer reads forward), else the newest.
    pub limit: Option<usize>,
}

impl Catalog {
    /// Records an event that is not a job's state change (an RPO violation,
    /// a size anomaly, WAL archive lag). Returns its id.
    pub fn emit(&self, event: &NewEvent) -> Result<i64> {
        let now = format_time(self.now());
        self.write("recording an event", |tx| insert_app_event(tx, &now, event))
    }

    /// Events matching `filter`, in id order.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
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
            let ok: Vec<_> = Severity::ALL.iter().filter(|s| **s >= min).collect();
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
            let rows = st.query_map(rusqlite::params_from_iter(args), event_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if newest_first {
            events.reverse();
        }
        Ok(events)
    }

    /// How many events there are of each name (metrics).
    pub fn event_counts(&self) -> Result<Vec<(EventName, u64)>> {
        self.read("counting events", |c| {
            let mut st = c.prepare("SELECT name, COUNT(*) FROM events GROUP BY name")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

/// The columns of the events table that [`event_from_row`] reads, in its
/// order.
pub(super) const EVENT_COLUMNS: &str =
    "id, at, name, severity, job_id, plan, rule, source, vault, message, details";

/// An [`Event`] from a row of [`EVENT_COLUMNS`].
pub(super) fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let details: Option<String> = r.get(10)?;
    Ok(Event {
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
}

/// Writes the [`crate::events`] event of a job entering `state`, if that
/// state has one.
pub(super) fn insert_job_app_event(
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
    let Some(name) = job_event_name(kind, state, details.as_ref()) else {
        return Ok(());
    };
    let subject = source
        .clone()
        .or_else(|| vault.clone())
        .unwrap_or_else(|| "-".into());
    let event = NewEvent {
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
fn insert_app_event(tx: &Connection, at: &str, e: &NewEvent) -> TxResult<i64> {
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
