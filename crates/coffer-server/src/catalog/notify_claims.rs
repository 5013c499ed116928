//! Notification claims and cursors: which events each `[[notify]]` sink
//! still has to be sent, shared by every process that delivers them (the
//! daemon's sink threads, `coffer plan run`, `coffer backup`).
//!
//! A sink's cursor (`notify/SINK/cursor` in the key-value table) says that
//! every event with an id up to it is settled for that sink: sent, given up
//! on, or not selected by its filter. Ahead of the cursor, a row of
//! `notify_claims` says, per event, either that one process is sending it
//! (`owner`, with a lease `until`) or that it is settled (`done`).
//!
//! Invariants (each step is one `BEGIN IMMEDIATE` transaction, so two
//! processes see each other's claims):
//!
//! - an event is sent by at most one process at a time: a process sends
//!   only after [`Catalog::claim_notification`] returned [`Claim::Claimed`],
//!   and a claim is only taken over once its lease has run out (its owner
//!   died or hung past every retry), judged by the system clock;
//! - a settled event is never sent again: [`Catalog::claim_notification`]
//!   answers [`Claim::Settled`] for it, whoever settled it;
//! - the cursor only moves over settled events
//!   ([`Catalog::settle_notifications`]), so an event whose sender died is
//!   still ahead of it and is sent once its lease runs out; rows behind the
//!   cursor are deleted as it moves.

use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, Transaction};
use std::time::Duration;

use super::database::{Catalog, TxResult};
use super::error::Result;
use super::events::{event_from_row, Event, EVENT_COLUMNS};
use super::time_format::{format_time, DbTime};

/// The catalog key of a sink's cursor.
pub fn notify_cursor_key(sink: &str) -> String {
    format!("notify/{sink}/cursor")
}

/// What [`Catalog::claim_notification`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The event is this process's to send now.
    Claimed,
    /// Another process is sending it (its lease has not run out).
    Taken {
        /// Who (host and pid).
        owner: String,
    },
    /// It was sent, given up on or passed over already.
    Settled,
}

fn cursor_in(tx: &rusqlite::Connection, sink: &str) -> TxResult<Option<i64>> {
    let v: Option<String> = tx
        .query_row(
            "SELECT value FROM kv WHERE key = ?1",
            [notify_cursor_key(sink)],
            |r| r.get(0),
        )
        .optional()?;
    // A value that is not a number (written by hand) counts as no cursor.
    Ok(v.and_then(|v| v.parse().ok()))
}

fn set_cursor(tx: &Transaction<'_>, sink: &str, cursor: i64) -> TxResult<()> {
    tx.execute(
        "INSERT INTO kv (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![notify_cursor_key(sink), cursor.to_string()],
    )?;
    Ok(())
}

impl Catalog {
    /// The cursor of `sink`. A sink seen for the first time gets one just
    /// before the first event recorded in the last `history` (by the
    /// catalog's clock), so it is sent what happened since then, even
    /// before any daemon ran, and not the whole history.
    pub fn notify_cursor(&self, sink: &str, history: Duration) -> Result<i64> {
        let history = jiff::SignedDuration::try_from(history).unwrap_or(jiff::SignedDuration::MAX);
        let new_since = self.now().checked_sub(history).unwrap_or(Timestamp::MIN);
        self.write("starting a notification cursor", |tx| {
            if let Some(c) = cursor_in(tx, sink)? {
                return Ok(c);
            }
            let c: i64 = tx.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM events WHERE at < ?1",
                [format_time(new_since)],
                |r| r.get(0),
            )?;
            set_cursor(tx, sink, c)?;
            Ok(c)
        })
    }

    /// Up to `limit` events with an id above `after` (and above the sink's
    /// cursor) that are not settled for `sink`, oldest first.
    pub fn unsettled_events(&self, sink: &str, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.read("reading events to notify", |c| {
            let cursor = cursor_in(c, sink)?.unwrap_or(0);
            let mut st = c.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events e WHERE e.id > ?1 AND NOT EXISTS \
                 (SELECT 1 FROM notify_claims c WHERE c.sink = ?2 AND c.event_id = e.id AND c.done = 1) \
                 ORDER BY e.id LIMIT ?3"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![after.max(cursor), sink, limit], event_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Claims event `event_id` for `sink` on behalf of `owner` for `lease`
    /// (the longest its delivery may take, every retry included), unless it
    /// is settled or another owner's unexpired claim holds it.
    pub fn claim_notification(
        &self,
        sink: &str,
        event_id: i64,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim> {
        // The system clock: a lease is a real duration, whatever clock the
        // catalog records events with.
        let now = Timestamp::now();
        let until = now
            .checked_add(jiff::SignedDuration::try_from(lease).unwrap_or(jiff::SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        self.write("claiming a notification", |tx| {
            if cursor_in(tx, sink)?.is_some_and(|c| event_id <= c) {
                return Ok(Claim::Settled);
            }
            let row: Option<(String, Option<DbTime>, bool)> = tx
                .query_row(
                    "SELECT owner, until, done FROM notify_claims WHERE sink = ?1 AND event_id = ?2",
                    params![sink, event_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            match row {
                Some((_, _, true)) => return Ok(Claim::Settled),
                Some((other, Some(DbTime(t)), false)) if other != owner && t > now => {
                    return Ok(Claim::Taken { owner: other })
                }
                _ => {}
            }
            tx.execute(
                "INSERT INTO notify_claims (sink, event_id, owner, until, done) \
                 VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT (sink, event_id) DO UPDATE \
                 SET owner = excluded.owner, until = excluded.until, done = 0",
                params![sink, event_id, owner, format_time(until)],
            )?;
            Ok(Claim::Claimed)
        })
    }

    /// Drops `owner`'s claim of an event it did not finish (it was stopped
    /// between two attempts), so that the next process sends it at once.
    pub fn release_notification(&self, sink: &str, event_id: i64, owner: &str) -> Result<()> {
        self.write("releasing a notification claim", |tx| {
            tx.execute(
                "DELETE FROM notify_claims WHERE sink = ?1 AND event_id = ?2 AND owner = ?3 AND done = 0",
                params![sink, event_id, owner],
            )?;
            Ok(())
        })
    }

    /// Settles `ids` for `sink` (sent, given up on, or not selected by its
    /// filter), then moves its cursor over every settled event that
    /// directly follows it. Returns the cursor.
    pub fn settle_notifications(&self, sink: &str, ids: &[i64], owner: &str) -> Result<i64> {
        self.write("settling notifications", |tx| {
            let cursor = cursor_in(tx, sink)?.unwrap_or(0);
            for id in ids.iter().filter(|id| **id > cursor) {
                tx.execute(
                    "INSERT INTO notify_claims (sink, event_id, owner, until, done) \
                     VALUES (?1, ?2, ?3, NULL, 1) ON CONFLICT (sink, event_id) DO UPDATE \
                     SET done = 1, until = NULL",
                    params![sink, id, owner],
                )?;
            }
            let first_open: Option<i64> = tx.query_row(
                "SELECT MIN(e.id) FROM events e WHERE e.id > ?1 AND NOT EXISTS \
                 (SELECT 1 FROM notify_claims c WHERE c.sink = ?2 AND c.event_id = e.id AND c.done = 1)",
                params![cursor, sink],
                |r| r.get(0),
            )?;
            let next = match first_open {
                Some(f) => f - 1,
                None => tx.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| {
                    r.get(0)
                })?,
            }
            .max(cursor);
            if next != cursor || cursor_in(tx, sink)?.is_none() {
                set_cursor(tx, sink, next)?;
                tx.execute(
                    "DELETE FROM notify_claims WHERE sink = ?1 AND event_id <= ?2",
                    params![sink, next],
                )?;
            }
            Ok(next)
        })
    }
}
