//! The day-of-month ([`Dom`]) and day-of-week ([`Dow`]) fields: plain
//! days for both forms (day-of-week 0–7 in 5-field cron, 1–7 from Sunday
//! in AWS's), and AWS's `L` (last day, `6L` the last Friday), `W` (`15W`
//! the weekday nearest the 15th, `LW` the last weekday) and `#` (`2#1` the
//! first Monday).

use super::error::{err, ScheduleError};
use super::fields::{items, range, value, FieldDef, DAYS};
use jiff::civil::Date;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Dom {
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
pub(super) struct Dow {
    /// Bits 0..=6, 0 = Sunday.
    days: u8,
    /// `d#n`: the n-th weekday d of the month (d 0 = Sunday).
    nth: Vec<(u8, u8)>,
    /// `dL`: the last weekday d of the month.
    last: Vec<u8>,
}

pub(super) fn parse_dom(off: usize, text: &str, aws: bool) -> Result<Dom, ScheduleError> {
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

pub(super) fn parse_dow(off: usize, text: &str, aws: bool) -> Result<Dow, ScheduleError> {
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
    pub(super) fn matches(&self, d: Date) -> bool {
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
    pub(super) fn matches(&self, d: Date) -> bool {
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
