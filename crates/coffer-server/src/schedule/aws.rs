//! AWS's `cron(min hour day-of-month month day-of-week year)` beyond the
//! 5-field form: the years it may name (1970–2199, AWS's bounds) and its
//! year field. The form's other parts are parsed with the 5-field grammar
//! (`cron.rs`: six fields, exactly one day field `?`; `days.rs`: `L`, `W`,
//! `#`).

use super::error::ScheduleError;
use super::fields::{items, range, FieldDef};

/// The years a cron expression may name (AWS's bounds); the search for the
/// next or previous run stops outside them.
pub(super) const MIN_YEAR: i16 = 1970;
pub(super) const MAX_YEAR: i16 = 2199;

/// The year field `(offset, text)` of an AWS expression (not `*`): its
/// years as bits from 1970.
pub(super) fn parse_years(field: (usize, &str)) -> Result<Box<[u64; 4]>, ScheduleError> {
    let (off, t) = field;
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
    Ok(Box::new(set))
}
