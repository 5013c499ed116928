//! When a rule runs: cron expressions and intervals, evaluated in a time zone,
//! and the [`Clock`] the scheduler reads the time from.
//!
//! Accepted forms (see [`Schedule::parse`]):
//!
//! - 5-field cron, `min hour day-of-month month day-of-week`, as in Vixie
//!   cron: `*`, lists `1,15`, ranges `1-5`, steps `*/10` and `8-18/2`, names
//!   `JAN`–`DEC` and `SUN`–`SAT`; day-of-week 0–7 (0 and 7 are Sunday). When
//!   both day fields are restricted (neither starts with `*`), a day matches
//!   when either does (Vixie's OR rule); otherwise both must match.
//! - AWS's `cron(min hour day-of-month month day-of-week year)`: exactly one
//!   of the two day fields is `?`; day-of-week 1–7 is SUN–SAT; `L` (last day
//!   of the month, or with a weekday `6L` the last Friday), `W` (`15W` the
//!   weekday nearest the 15th, `LW` the last weekday), `#` (`2#1` the first
//!   Monday); year 1970–2199.
//! - `@every 10m` (any humantime duration of at least a second): multiples
//!   of the interval since the Unix epoch, so the instants do not depend on
//!   when the daemon started nor on the time zone.
//! - `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly`
//!   (`@annually`): the usual 5-field equivalents.
//!
//! Time zones and daylight saving time: a cron expression names local
//! times. A local time that does not exist (the hour skipped in spring) fires
//! at the first instant after the gap, once however many of its minutes
//! match; a local time that occurs twice (the hour repeated in autumn) fires
//! only at its first occurrence. So a daily job runs exactly once every day.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The years a cron expression may name (AWS's bounds); the search for the
/// next or previous run stops outside them.
const MIN_YEAR: i16 = 1970;
const MAX_YEAR: i16 = 2199;

/// An invalid schedule: what is wrong and where, as a byte offset and
/// length inside the schedule text (so that the configuration checker can
/// point at the exact column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    /// Byte offset of the bad part in the schedule text.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
    /// What is wrong, naming the field and what would be accepted.
    pub message: String,
}

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

/// One cron expression as bit sets; see the module doc for the semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Dom {
    /// Bits 1..=31.
    days: u32,
    /// `L`: the last day of the month.
    last: bool,
    /// `LW`: the last weekday (Mon–Fri) of the month.
    last_weekday: bool,
    /// `nW`: the weekday nearest day n, within the month.
    nearest_weekday: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Dow {
    /// Bits 0..=6, 0 = Sunday.
    days: u8,
    /// `d#n`: the n-th weekday d of the month (d 0 = Sunday).
    nth: Vec<(u8, u8)>,
    /// `dL`: the last weekday d of the month.
    last: Vec<u8>,
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
            Kind::Every(step) => {
                let s = after.as_second().div_euclid(*step) * step + step;
                Timestamp::from_second(s).ok()
            }
            Kind::Cron(c) => c.next_after(after, tz),
        }
    }

    /// The last run at or before `at` (for catch-up: the newest run the
    /// daemon may have missed). `None` when there is none since 1970.
    pub fn prev_at_or_before(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(step) => {
                let s = at.as_second().div_euclid(*step) * step;
                Timestamp::from_second(s).ok()
            }
            Kind::Cron(c) => c.prev_at_or_before(at, tz),
        }
    }
}

fn err(offset: usize, len: usize, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        offset,
        len,
        message: message.into(),
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
            "every" => {
                let arg_off = lead + trimmed.len() - arg.len();
                if arg.is_empty() {
                    return Err(err(
                        lead,
                        trimmed.len(),
                        "`@every` needs an interval, as in `@every 10m` or `@every 1h30m`",
                    ));
                }
                let d = humantime::parse_duration(arg).map_err(|e| {
                    err(
                        arg_off,
                        arg.len(),
                        format!("bad interval `{arg}` in `@every`: {e} (write e.g. `10m`, `1h`, `2h30m`)"),
                    )
                })?;
                if d.as_secs() < 1 {
                    return Err(err(
                        arg_off,
                        arg.len(),
                        format!("interval `{arg}` in `@every` is shorter than one second"),
                    ));
                }
                return Ok(Kind::Every(d.as_secs() as i64));
            }
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

/// Splits on whitespace, keeping each field's byte offset.
fn fields(text: &str, base: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in text.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((base + s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((base + s, &text[s..]));
    }
    out
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field's grammar: its name (for messages), bounds, and names.
struct FieldDef {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names and the value of the first (JAN = 1; SUN = 0 or 1).
    names: Option<(&'static [&'static str], u32)>,
}

fn parse_cron(text: &str, base: usize, aws: bool) -> Result<Cron, ScheduleError> {
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
        let (off, t) = f[5];
        let mut set = [0u64; 4];
        for (item_off, item) in items(off, t) {
            let (lo, hi, step) = range(
                item_off,
                item,
                &FieldDef {
                    name: "year",
                    min: MIN_YEAR as u32,
                    max: MAX_YEAR as u32,
                    names: None,
                },
            )?;
            let mut y = lo;
            while y <= hi {
                let i = (y - MIN_YEAR as u32) as usize;
                set[i / 64] |= 1 << (i % 64);
                y += step;
            }
        }
        Some(Box::new(set))
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

/// Comma-separated items with their offsets.
fn items(off: usize, text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = off;
    text.split(',').map(move |it| {
        let o = pos;
        pos += it.len() + 1;
        (o, it)
    })
}

fn value(off: usize, text: &str, def: &FieldDef) -> Result<u32, ScheduleError> {
    if let Some((names, first)) = def.names {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            return Ok(first + i as u32);
        }
    }
    let v: u32 = text.parse().map_err(|_| {
        let names = def
            .names
            .map(|(n, _)| format!(" or a name {}-{}", n[0], n[n.len() - 1]))
            .unwrap_or_default();
        err(
            off,
            text.len(),
            format!(
                "bad {} `{text}`: expected a number {}-{}{names}",
                def.name, def.min, def.max
            ),
        )
    })?;
    if v < def.min || v > def.max {
        return Err(err(
            off,
            text.len(),
            format!(
                "{} `{v}` is out of range: {} allows {}-{}",
                def.name, def.name, def.min, def.max
            ),
        ));
    }
    Ok(v)
}

/// One item `*`, `a`, `a-b`, with an optional `/step`: (low, high, step).
fn range(off: usize, item: &str, def: &FieldDef) -> Result<(u32, u32, u32), ScheduleError> {
    if item.is_empty() {
        return Err(err(
            off,
            0,
            format!(
                "empty item in the {} field (two commas in a row?)",
                def.name
            ),
        ));
    }
    let (r, step) = match item.split_once('/') {
        Some((r, s)) => {
            let step_off = off + r.len() + 1;
            let step: u32 = s.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                err(
                    step_off,
                    s.len(),
                    format!(
                        "bad step `{s}` in the {} field: expected a positive number",
                        def.name
                    ),
                )
            })?;
            (r, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = if r == "*" {
        (def.min, def.max)
    } else if let Some((a, b)) = r.split_once('-') {
        let lo = value(off, a, def)?;
        let hi = value(off + a.len() + 1, b, def)?;
        if lo > hi {
            return Err(err(
                off,
                r.len(),
                format!(
                    "range `{r}` in the {} field runs backwards: write the smaller value first",
                    def.name
                ),
            ));
        }
        (lo, hi)
    } else {
        let v = value(off, r, def)?;
        // `5/15` means from 5 to the end in steps of 15.
        (v, if step.is_some() { def.max } else { v })
    };
    Ok((lo, hi, step.unwrap_or(1)))
}

fn bits((off, text): (usize, &str), def: &FieldDef) -> Result<u64, ScheduleError> {
    let mut set = 0u64;
    for (item_off, item) in items(off, text) {
        let (lo, hi, step) = range(item_off, item, def)?;
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn parse_dom(off: usize, text: &str, aws: bool) -> Result<Dom, ScheduleError> {
    let def = FieldDef {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: None,
    };
    let mut dom = Dom::default();
    for (o, item) in items(off, text) {
        let special = item.contains(['L', 'W', 'l', 'w']);
        if special && !aws {
            return Err(err(
                o,
                item.len(),
                format!("`{item}`: `L` and `W` in day-of-month need AWS's `cron(…)` form"),
            ));
        }
        let up = item.to_ascii_uppercase();
        if up == "L" {
            dom.last = true;
        } else if up == "LW" {
            dom.last_weekday = true;
        } else if let Some(n) = up.strip_suffix('W') {
            dom.nearest_weekday
                .push(value(o, &item[..n.len()], &def)? as u8);
        } else if special {
            return Err(err(
                o,
                item.len(),
                format!("bad day-of-month `{item}`: `L` (last day), `LW` (last weekday) or `15W` (weekday nearest the 15th)"),
            ));
        } else {
            let (lo, hi, step) = range(o, item, &def)?;
            let mut v = lo;
            while v <= hi {
                dom.days |= 1 << v;
                v += step;
            }
        }
    }
    Ok(dom)
}

fn parse_dow(off: usize, text: &str, aws: bool) -> Result<Dow, ScheduleError> {
    // AWS counts 1-7 from Sunday; Vixie 0-7 with both 0 and 7 Sunday.
    let def = FieldDef {
        name: "day-of-week",
        min: if aws { 1 } else { 0 },
        max: 7,
        names: Some((&DAYS[..], if aws { 1 } else { 0 })),
    };
    let norm = |v: u32| -> u8 {
        if aws {
            (v - 1) as u8
        } else {
            (v % 7) as u8
        }
    };
    let mut dow = Dow::default();
    for (o, item) in items(off, text) {
        let special =
            item.contains(['L', '#', 'l']) && !DAYS.iter().any(|d| item.eq_ignore_ascii_case(d));
        if special && !aws {
            return Err(err(
                o,
                item.len(),
                format!("`{item}`: `L` and `#` in day-of-week need AWS's `cron(…)` form"),
            ));
        }
        if let Some((d, n)) = item.split_once('#') {
            let d = norm(value(o, d, &def)?);
            let n_off = o + item.len() - n.len();
            let n: u8 = n.parse().ok().filter(|n| (1..=5).contains(n)).ok_or_else(|| {
                err(
                    n_off,
                    n.len(),
                    format!("bad `#{n}` in day-of-week: the occurrence in the month is 1-5 (`2#1` is the first Monday)"),
                )
            })?;
            dow.nth.push((d, n));
        } else if item.eq_ignore_ascii_case("L") {
            // Quartz/AWS: `L` alone is the last day of the week, Saturday.
            dow.days |= 1 << 6;
        } else if item.len() > 1 && (item.ends_with('L') || item.ends_with('l')) {
            let d = &item[..item.len() - 1];
            dow.last.push(norm(value(o, d, &def)?));
        } else {
            let (lo, hi, step) = range(o, item, &def)?;
            let mut v = lo;
            while v <= hi {
                dow.days |= 1 << norm(v);
                v += step;
            }
        }
    }
    Ok(dow)
}

impl Dom {
    fn matches(&self, d: Date) -> bool {
        let day = d.day() as u8;
        let last = d.days_in_month() as u8;
        if self.days & (1 << day) != 0 || (self.last && day == last) {
            return true;
        }
        if self.last_weekday && day == nearest_weekday(d, last) {
            return true;
        }
        self.nearest_weekday
            .iter()
            .any(|&n| n <= last && day == nearest_weekday(d, n))
    }
}

/// The weekday (Mon–Fri) nearest day `n` of `d`'s month, not leaving the
/// month (Quartz's `W`).
fn nearest_weekday(d: Date, n: u8) -> u8 {
    let last = d.days_in_month() as u8;
    let target = jiff::civil::date(d.year(), d.month(), n as i8);
    match target.weekday().to_sunday_zero_offset() {
        6 if n == 1 => 3,        // Saturday the 1st: Monday the 3rd.
        6 => n - 1,              // Saturday: the Friday before.
        0 if n == last => n - 2, // Sunday the last: the Friday before.
        0 => n + 1,              // Sunday: the Monday after.
        _ => n,
    }
}

impl Dow {
    fn matches(&self, d: Date) -> bool {
        let wd = d.weekday().to_sunday_zero_offset() as u8;
        let day = d.day() as u8;
        if self.days & (1 << wd) != 0 {
            return true;
        }
        if self
            .nth
            .iter()
            .any(|&(w, n)| w == wd && (day - 1) / 7 + 1 == n)
        {
            return true;
        }
        self.last
            .iter()
            .any(|&w| w == wd && day + 7 > d.days_in_month() as u8)
    }
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
    fn next_day(&self, mut d: Date, forward: bool) -> Option<Date> {
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

    fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
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

    fn prev_at_or_before(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
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

/// Where the scheduler reads the time from.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to. Clones share one time, so a test
/// can hand a clone to the daemon's threads and move them all at once.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Sets the time (it may go backwards, as a real clock can).
    pub fn set(&self, t: Timestamp) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// Moves the time forward by `d` and returns the new time.
    pub fn advance(&self, d: SignedDuration) -> Timestamp {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now
            .saturating_add(d)
            .expect("a SignedDuration is a valid time span");
        *now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }
    fn runs(s: &str, from: &str, zone: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(s).unwrap();
        let z = tz(zone);
        let mut t = ts(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(t, &z).unwrap();
            out.push(
                t.to_zoned(z.clone())
                    .strftime("%Y-%m-%d %H:%M %a %z")
                    .to_string(),
            );
        }
        out
    }

    #[test]
    fn five_field_basics() {
        assert_eq!(
            runs("30 2 * * *", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2026-01-01 02:30 Thu +0000", "2026-01-02 02:30 Fri +0000"]
        );
        assert_eq!(
            runs("*/20 9-10 * * MON-FRI", "2026-01-02T09:30:00Z", "UTC", 4),
            [
                "2026-01-02 09:40 Fri +0000",
                "2026-01-02 10:00 Fri +0000",
                "2026-01-02 10:20 Fri +0000",
                "2026-01-02 10:40 Fri +0000"
            ]
        );
        // Sunday as 7, and month names.
        assert_eq!(
            runs("0 0 * feb 7", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-02-01 00:00 Sun +0000"]
        );
        // Vixie OR: the 13th or any Friday.
        assert_eq!(
            runs("0 0 13 * 5", "2026-02-01T00:00:00Z", "UTC", 3),
            [
                "2026-02-06 00:00 Fri +0000",
                "2026-02-13 00:00 Fri +0000",
                "2026-02-20 00:00 Fri +0000"
            ]
        );
        assert_eq!(
            runs("0 0 12 * 5", "2026-02-07T00:00:00Z", "UTC", 2),
            ["2026-02-12 00:00 Thu +0000", "2026-02-13 00:00 Fri +0000"]
        );
        // A day field starting with `*` joins with AND.
        assert_eq!(
            runs("0 0 */2 * 1", "2026-02-01T00:00:00Z", "UTC", 2),
            ["2026-02-09 00:00 Mon +0000", "2026-02-23 00:00 Mon +0000"]
        );
        // Leap day.
        assert_eq!(
            runs("0 0 29 2 *", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2028-02-29 00:00 Tue +0000"]
        );
    }

    #[test]
    fn shorthands() {
        assert_eq!(
            runs("@daily", "2026-03-03T10:00:00Z", "UTC", 1),
            ["2026-03-04 00:00 Wed +0000"]
        );
        assert_eq!(
            runs("@weekly", "2026-03-03T10:00:00Z", "UTC", 1),
            ["2026-03-08 00:00 Sun +0000"]
        );
        assert_eq!(
            runs("@monthly", "2026-03-03T10:00:00Z", "UTC", 1),
            ["2026-04-01 00:00 Wed +0000"]
        );
        assert_eq!(
            runs("@hourly", "2026-03-03T10:00:00Z", "UTC", 1),
            ["2026-03-03 11:00 Tue +0000"]
        );
        assert_eq!(
            runs("@yearly", "2026-03-03T10:00:00Z", "UTC", 1),
            ["2027-01-01 00:00 Fri +0000"]
        );
    }

    #[test]
    fn aws_form() {
        // Every day at 05:00.
        assert_eq!(
            runs("cron(0 5 ? * * *)", "2026-01-01T06:00:00Z", "UTC", 1),
            ["2026-01-02 05:00 Fri +0000"]
        );
        // 1-7 is SUN-SAT: 2 is Monday.
        assert_eq!(
            runs("cron(0 5 ? * 2 *)", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-01-05 05:00 Mon +0000"]
        );
        // Last day of the month.
        assert_eq!(
            runs("cron(0 0 L * ? *)", "2026-02-01T00:00:00Z", "UTC", 2),
            ["2026-02-28 00:00 Sat +0000", "2026-03-31 00:00 Tue +0000"]
        );
        // Last weekday of the month (2026-02-28 is a Saturday).
        assert_eq!(
            runs("cron(0 0 LW * ? *)", "2026-02-01T00:00:00Z", "UTC", 1),
            ["2026-02-27 00:00 Fri +0000"]
        );
        // Weekday nearest the 1st: 2026-08-01 is a Saturday -> Monday the 3rd.
        assert_eq!(
            runs("cron(0 0 1W 8 ? *)", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-08-03 00:00 Mon +0000"]
        );
        // Nearest the 15th: 2026-03-15 is a Sunday -> Monday the 16th.
        assert_eq!(
            runs("cron(0 0 15W 3 ? *)", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-03-16 00:00 Mon +0000"]
        );
        // The first Monday, the last Friday.
        assert_eq!(
            runs("cron(0 0 ? * 2#1 *)", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2026-01-05 00:00 Mon +0000", "2026-02-02 00:00 Mon +0000"]
        );
        assert_eq!(
            runs("cron(0 0 ? * 6L *)", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2026-01-30 00:00 Fri +0000", "2026-02-27 00:00 Fri +0000"]
        );
        assert_eq!(
            runs("cron(0 0 ? * FRI#2 *)", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-01-09 00:00 Fri +0000"]
        );
        // Years: nothing after the last one.
        let s = Schedule::parse("cron(0 0 1 1 ? 2027-2028)").unwrap();
        let t = s.next_after(ts("2028-06-01T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(t, None);
        assert_eq!(
            runs(
                "cron(0 0 1 1 ? 2027-2028)",
                "2020-01-01T00:00:00Z",
                "UTC",
                2
            ),
            ["2027-01-01 00:00 Fri +0000", "2028-01-01 00:00 Sat +0000"]
        );
    }

    #[test]
    fn every() {
        let s = Schedule::parse("@every 10m").unwrap();
        assert_eq!(s.interval(), Some(SignedDuration::from_mins(10)));
        let z = tz("Europe/Berlin");
        assert_eq!(
            s.next_after(ts("2026-01-01T00:05:00Z"), &z),
            Some(ts("2026-01-01T00:10:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-01-01T00:10:00Z"), &z),
            Some(ts("2026-01-01T00:20:00Z"))
        );
        assert_eq!(
            s.prev_at_or_before(ts("2026-01-01T00:10:00Z"), &z),
            Some(ts("2026-01-01T00:10:00Z"))
        );
        assert_eq!(
            s.prev_at_or_before(ts("2026-01-01T00:19:59Z"), &z),
            Some(ts("2026-01-01T00:10:00Z"))
        );
    }

    #[test]
    fn dst_spring_forward_skips_to_after_the_gap() {
        // Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 02:30 does not exist.
        assert_eq!(
            runs("30 2 * * *", "2026-03-27T12:00:00Z", "Europe/Berlin", 3),
            [
                "2026-03-28 02:30 Sat +0100",
                "2026-03-29 03:00 Sun +0200",
                "2026-03-30 02:30 Mon +0200"
            ]
        );
        // Every 15 minutes: the four runs in the gap collapse into one at 03:00.
        assert_eq!(
            runs("*/15 * * * *", "2026-03-29T00:40:00Z", "Europe/Berlin", 4),
            [
                "2026-03-29 01:45 Sun +0100",
                "2026-03-29 03:00 Sun +0200",
                "2026-03-29 03:15 Sun +0200",
                "2026-03-29 03:30 Sun +0200"
            ]
        );
    }

    #[test]
    fn dst_fall_back_fires_once() {
        // Europe/Berlin: 2026-10-25 03:00 CEST -> 02:00 CET; 02:30 happens twice.
        assert_eq!(
            runs("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin", 2),
            ["2026-10-25 02:30 Sun +0200", "2026-10-26 02:30 Mon +0100"]
        );
        assert_eq!(
            runs("0 * * * *", "2026-10-24T23:30:00Z", "Europe/Berlin", 3),
            [
                "2026-10-25 02:00 Sun +0200",
                "2026-10-25 03:00 Sun +0100",
                "2026-10-25 04:00 Sun +0100"
            ]
        );
        // From inside the repeated hour, the next run is after it.
        let s = Schedule::parse("30 2 * * *").unwrap();
        let z = tz("Europe/Berlin");
        let inside = ts("2026-10-25T01:10:00Z"); // 02:10 CET, the second pass
        assert_eq!(s.next_after(inside, &z), Some(ts("2026-10-26T01:30:00Z")));
        assert_eq!(
            s.prev_at_or_before(inside, &z),
            Some(ts("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn prev_matches_next() {
        // For many instants, prev(next(t) - 1s) is the run before next(t),
        // and next(prev(t)) > t.
        let z = tz("America/New_York");
        for expr in [
            "30 2 * * *",
            "*/7 1-3 * * *",
            "cron(0 0 L * ? *)",
            "0 12 * * MON",
        ] {
            let s = Schedule::parse(expr).unwrap();
            let mut t = ts("2026-03-01T00:00:00Z");
            for _ in 0..300 {
                let n = s.next_after(t, &z).unwrap();
                assert!(n > t, "{expr}: {n} after {t}");
                assert_eq!(s.prev_at_or_before(n, &z), Some(n), "{expr}");
                let p = s
                    .prev_at_or_before(n - SignedDuration::from_secs(1), &z)
                    .unwrap();
                assert!(p <= t, "{expr}: prev {p} of {n} is after {t}");
                assert_eq!(s.next_after(p, &z), Some(n), "{expr}");
                t = n;
            }
        }
    }

    #[test]
    fn errors_point_at_the_field() {
        let e = Schedule::parse("0 5 * * MOX").unwrap_err();
        assert_eq!((e.offset, e.len), (8, 3), "{e}");
        assert!(e.message.contains("day-of-week"), "{e}");
        let e = Schedule::parse("61 5 * * *").unwrap_err();
        assert_eq!((e.offset, e.len), (0, 2));
        assert!(e.message.contains("0-59"), "{e}");
        let e = Schedule::parse("cron(0 5 * * * *)").unwrap_err();
        assert_eq!(e.offset, 13, "{e}");
        assert!(e.message.contains("`?`"), "{e}");
        let e = Schedule::parse("cron(0 25 ? * * *)").unwrap_err();
        assert_eq!((e.offset, e.len), (7, 2), "{e}");
        let e = Schedule::parse("cron(0 5 ? * 2#6 *)").unwrap_err();
        assert_eq!((e.offset, e.len), (15, 1), "{e}");
        let e = Schedule::parse("0 5 * *").unwrap_err();
        assert!(e.message.contains("5 fields"), "{e}");
        let e = Schedule::parse("0 5 L * *").unwrap_err();
        assert!(e.message.contains("AWS"), "{e}");
        let e = Schedule::parse("@every 10x").unwrap_err();
        assert_eq!(e.offset, 7, "{e}");
        let e = Schedule::parse("0 0 30 2 *").unwrap_err();
        assert!(e.message.contains("no day"), "{e}");
        let e = Schedule::parse("0 5-3 * * *").unwrap_err();
        assert!(e.message.contains("backwards"), "{e}");
        assert!(Schedule::parse("@fortnightly").is_err());
        assert!(Schedule::parse("*/0 * * * *").is_err());
    }

    #[test]
    fn manual_clock_is_shared() {
        let c = ManualClock::new(ts("2026-01-01T00:00:00Z"));
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.advance(SignedDuration::from_hours(1)))
            .join()
            .unwrap();
        assert_eq!(c.now(), t);
        assert_eq!(t, ts("2026-01-01T01:00:00Z"));
        c.set(ts("2025-01-01T00:00:00Z"));
        assert_eq!(c.now(), ts("2025-01-01T00:00:00Z"));
        let sys: &dyn Clock = &SystemClock;
        assert!(sys.now() > ts("2020-01-01T00:00:00Z"));
    }
}
