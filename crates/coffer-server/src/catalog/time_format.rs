//! How the catalog stores times: RFC 3339 UTC strings with millisecond
//! precision and a fixed width (`2026-03-01T02:00:00.000Z`), so that they
//! sort as text ([`format_time`]); reading them back; and `--since` values
//! ([`parse_since`]).

use jiff::Timestamp;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

use super::error::{CatalogError, Result};

/// Formats a time as the catalog stores it: RFC 3339, UTC, milliseconds,
/// fixed width (so that text order is time order).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A time column (read side).
pub(super) struct DbTime(pub(super) Timestamp);

impl FromSql for DbTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse::<Timestamp>()
            .map(DbTime)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

pub(super) fn opt_time(t: Option<Timestamp>) -> Option<String> {
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
