//! A parsed schedule ([`Schedule`]): which of the forms of the module doc
//! a text is in (`@every`, the `@` shorthands, AWS's `cron(…)`, 5-field
//! cron), and its next and previous runs.

use super::aws::{MAX_YEAR, MIN_YEAR};
use super::cron::{parse_cron, Cron};
use super::error::{err, ScheduleError};
use super::every;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::fmt;

/// A parsed schedule. Displays as the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Seconds; at least 1.
    Every(i64),
    Cron(Box<Cron>),
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

impl Schedule {
    /// Parses any of the forms in the module doc. Errors carry the position
    /// of the bad field.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let kind = parse_kind(text)?;
        let s = Schedule {
            text: text.to_string(),
            kind,
        };
        if let Kind::Cron(c) = &s.kind {
            // Refuse an expression that names no real day (`0 0 30 2 *`), so
            // that a rule cannot silently never run.
            let from = jiff::civil::date(MIN_YEAR, 1, 1);
            if c.next_day(from, true).is_none() {
                return Err(ScheduleError {
                    offset: 0,
                    len: text.len(),
                    message: format!(
                        "schedule `{text}` names no day that exists between {MIN_YEAR} and {MAX_YEAR}"
                    ),
                });
            }
        }
        Ok(s)
    }

    /// The interval of an `@every` schedule.
    pub fn interval(&self) -> Option<SignedDuration> {
        match &self.kind {
            Kind::Every(s) => Some(SignedDuration::from_secs(*s)),
            Kind::Cron(_) => None,
        }
    }

    /// The first run strictly after `after`, with local times read in `tz`.
    /// `None` when the schedule has no later run (a year field in the past).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(step) => every::next_after(*step, after),
            Kind::Cron(c) => c.next_after(after, tz),
        }
    }

    /// The last run at or before `at` (for catch-up: the newest run the
    /// daemon may have missed). `None` when there is none since 1970.
    pub fn prev_at_or_before(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(step) => every::prev_at_or_before(*step, at),
            Kind::Cron(c) => c.prev_at_or_before(at, tz),
        }
    }
}

fn parse_kind(text: &str) -> Result<Kind, ScheduleError> {
    let trimmed = text.trim();
    let lead = text.len() - text.trim_start().len();
    if trimmed.is_empty() {
        return Err(err(
            0,
            text.len(),
            "empty schedule: give a cron expression (`30 2 * * *`), `cron(0 5 ? * * *)` or `@every 10m`",
        ));
    }
    if let Some(rest) = trimmed.strip_prefix('@') {
        let (word, arg) = match rest.split_once(char::is_whitespace) {
            Some((w, a)) => (w, a.trim()),
            None => (rest, ""),
        };
        let five = match word.to_ascii_lowercase().as_str() {
            "every" => return every::parse(lead, trimmed, arg).map(Kind::Every),
            "hourly" => "0 * * * *",
            "daily" | "midnight" => "0 0 * * *",
            "weekly" => "0 0 * * 0",
            "monthly" => "0 0 1 * *",
            "yearly" | "annually" => "0 0 1 1 *",
            _ => {
                return Err(err(
                    lead,
                    trimmed.len(),
                    format!(
                        "unknown schedule `{trimmed}`: the @ forms are @every <interval>, @hourly, @daily, @weekly, @monthly and @yearly"
                    ),
                ))
            }
        };
        if !arg.is_empty() {
            return Err(err(
                lead,
                trimmed.len(),
                format!("`@{word}` takes no argument"),
            ));
        }
        return parse_cron(five, 0, false)
            .map(|c| Kind::Cron(Box::new(c)))
            .map_err(|mut e| {
                e.offset = lead;
                e.len = trimmed.len();
                e
            });
    }
    if let Some(inner) = trimmed.strip_prefix("cron(") {
        let Some(inner) = inner.strip_suffix(')') else {
            return Err(err(
                lead,
                trimmed.len(),
                "an AWS cron expression ends with `)`: `cron(min hour day-of-month month day-of-week year)`",
            ));
        };
        return parse_cron(inner, lead + 5, true).map(|c| Kind::Cron(Box::new(c)));
    }
    parse_cron(text, 0, false).map(|c| Kind::Cron(Box::new(c)))
}
