//! The `rule_state` table: the last time the scheduler ran (or caught up)
//! each rule, for catch-up after downtime.

use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::database::Catalog;
use super::error::Result;
use super::time_format::{format_time, DbTime};

impl Catalog {
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
}
