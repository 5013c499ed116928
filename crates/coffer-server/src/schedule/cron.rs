//! A cron expression ([`Cron`]): the 5-field form, as in Vixie cron, and
//! AWS's 6-field `cron(…)` parsed by the same grammar, as bit sets; and
//! the search for its next and previous run in a time zone, with the
//! daylight saving time rules of the module doc.

use super::aws::{parse_years, MAX_YEAR, MIN_YEAR};
use super::days::{parse_dom, parse_dow, Dom, Dow};
use super::error::{err, ScheduleError};
use super::fields::{bits, fields, FieldDef, MONTHS};
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// One cron expression as bit sets; see the module doc for the semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cron {
    /// Bits 0..=59.
    minutes: u64,
    /// Bits 0..=23.
    hours: u32,
    /// Bits 1..=12.
    months: u16,
    /// `None`: the field is `?` (AWS form only).
    dom: Option<Dom>,
    /// `None`: the field is `?` (AWS form only).
    dow: Option<Dow>,
    /// Whether a day field starts with `*` (Vixie: such a field does not
    /// take part in the OR rule).
    dom_star: bool,
    dow_star: bool,
    /// Years 1970..=2199 as bits from 1970; `None`: every year.
    years: Option<Box<[u64; 4]>>,
}

pub(super) fn parse_cron(text: &str, base: usize, aws: bool) -> Result<Cron, ScheduleError> {
    let f = fields(text, base);
    let want = if aws { 6 } else { 5 };
    if f.len() != want {
        let what = if aws {
            "an AWS cron expression has 6 fields: `cron(min hour day-of-month month day-of-week year)`, e.g. `cron(0 5 ? * * *)`"
        } else {
            "a cron expression has 5 fields: `min hour day-of-month month day-of-week`, e.g. `30 2 * * *` (or use AWS's `cron(…)` form)"
        };
        return Err(err(
            base,
            text.len(),
            format!("`{}` has {} fields: {what}", text.trim(), f.len()),
        ));
    }
    let minutes = bits(
        f[0],
        &FieldDef {
            name: "minute",
            min: 0,
            max: 59,
            names: None,
        },
    )?;
    let hours = bits(
        f[1],
        &FieldDef {
            name: "hour",
            min: 0,
            max: 23,
            names: None,
        },
    )? as u32;
    let months = bits(
        f[3],
        &FieldDef {
            name: "month",
            min: 1,
            max: 12,
            names: Some((&MONTHS[..], 1)),
        },
    )? as u16;
    let (dom_off, dom_text) = f[2];
    let (dow_off, dow_text) = f[4];
    let dom = if dom_text == "?" {
        if !aws {
            return Err(err(
                dom_off,
                1,
                "`?` is only allowed in AWS's `cron(…)` form; in a 5-field expression use `*`",
            ));
        }
        None
    } else {
        Some(parse_dom(dom_off, dom_text, aws)?)
    };
    let dow = if dow_text == "?" {
        if !aws {
            return Err(err(
                dow_off,
                1,
                "`?` is only allowed in AWS's `cron(…)` form; in a 5-field expression use `*`",
            ));
        }
        None
    } else {
        Some(parse_dow(dow_off, dow_text, aws)?)
    };
    if aws && dom.is_some() == dow.is_some() {
        let (o, t) = if dom.is_some() { f[4] } else { f[2] };
        return Err(err(
            o,
            t.len(),
            "in AWS's cron form exactly one of day-of-month and day-of-week must be `?` \
             (e.g. `cron(0 5 ? * MON-FRI *)` or `cron(0 5 1 * ? *)`)",
        ));
    }
    let years = if aws && f[5].1 != "*" {
        Some(parse_years(f[5])?)
    } else {
        None
    };
    Ok(Cron {
        minutes,
        hours,
        months,
        dom_star: dom_text.starts_with('*'),
        dow_star: dow_text.starts_with('*'),
        dom,
        dow,
        years,
    })
}

impl Cron {
    fn year_ok(&self, y: i16) -> bool {
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return false;
        }
        match &self.years {
            None => true,
            Some(set) => {
                let i = (y - MIN_YEAR) as usize;
                set[i / 64] & (1 << (i % 64)) != 0
            }
        }
    }

    fn day_ok(&self, d: Date) -> bool {
        match (&self.dom, &self.dow) {
            (Some(dom), None) => dom.matches(d),
            (None, Some(dow)) => dow.matches(d),
            (Some(dom), Some(dow)) => {
                if self.dom_star || self.dow_star {
                    dom.matches(d) && dow.matches(d)
                } else {
                    dom.matches(d) || dow.matches(d)
                }
            }
            (None, None) => false,
        }
    }

    /// The first matching day at or after `d` (forward) or at or before it
    /// (backward), skipping whole years and months that cannot match.
    pub(super) fn next_day(&self, mut d: Date, forward: bool) -> Option<Date> {
        loop {
            if !(MIN_YEAR..=MAX_YEAR).contains(&d.year()) {
                return None;
            }
            if !self.year_ok(d.year()) {
                d = if forward {
                    jiff::civil::date(d.year().checked_add(1)?, 1, 1)
                } else {
                    jiff::civil::date(d.year().checked_sub(1)?, 12, 31)
                };
                continue;
            }
            if self.months & (1 << d.month()) == 0 {
                d = if forward {
                    d.last_of_month().tomorrow().ok()?
                } else {
                    d.first_of_month().yesterday().ok()?
                };
                continue;
            }
            if self.day_ok(d) {
                return Some(d);
            }
            d = if forward {
                d.tomorrow().ok()?
            } else {
                d.yesterday().ok()?
            };
        }
    }

    /// The day's run times, ascending.
    fn times(&self) -> impl DoubleEndedIterator<Item = (i8, i8)> + '_ {
        (0..24i8)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| {
                (0..60i8)
                    .filter(|m| self.minutes & (1 << m) != 0)
                    .map(move |m| (h, m))
            })
    }

    pub(super) fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(after);
        // Start a day early: with a fold around midnight, a run dated the
        // day before can still lie after `after`.
        let mut day = local.date().yesterday().ok()?;
        loop {
            day = self.next_day(day, true)?;
            for (h, m) in self.times() {
                let dt = day.at(h, m, 0, 0);
                // Offsets change by at most a few hours: far earlier local
                // times cannot be later instants; skip resolving them.
                if dt.saturating_add(SignedDuration::from_hours(4)) < local {
                    continue;
                }
                if let Some(ts) = resolve(tz, dt) {
                    if ts > after {
                        return Some(ts);
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
    }

    pub(super) fn prev_at_or_before(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(at);
        let mut day = local.date().tomorrow().ok()?;
        loop {
            day = self.next_day(day, false)?;
            for (h, m) in self.times().rev() {
                let dt = day.at(h, m, 0, 0);
                if dt.saturating_sub(SignedDuration::from_hours(4)) > local {
                    continue;
                }
                if let Some(ts) = resolve(tz, dt) {
                    if ts <= at {
                        return Some(ts);
                    }
                }
            }
            day = day.yesterday().ok()?;
        }
    }
}

/// The instant a local time names: the first of two in a fold, the end of
/// the gap for a time that does not exist. Monotone in `dt`, which the
/// searches above rely on.
fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, `dt` falls just before the
            // transition; the transition is the first instant after the gap.
            let ts = after.to_timestamp(dt).ok()?;
            tz.following(ts).next().map(|t| t.timestamp())
        }
    }
}
