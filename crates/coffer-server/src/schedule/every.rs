//! `@every <interval>`: any humantime duration of at least a second; its
//! runs are the multiples of the interval since the Unix epoch, so they do
//! not depend on when the daemon started nor on the time zone.

use super::error::{err, ScheduleError};
use jiff::Timestamp;

/// Parses the interval `arg` of `@every` (`trimmed` is the schedule's
/// text without surrounding space, `lead` its offset): the interval in
/// seconds.
pub(super) fn parse(lead: usize, trimmed: &str, arg: &str) -> Result<i64, ScheduleError> {
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
    Ok(d.as_secs() as i64)
}

/// The first run strictly after `after` of an interval of `step` seconds.
pub(super) fn next_after(step: i64, after: Timestamp) -> Option<Timestamp> {
    let s = after.as_second().div_euclid(step) * step + step;
    Timestamp::from_second(s).ok()
}

/// The last run at or before `at` of an interval of `step` seconds.
pub(super) fn prev_at_or_before(step: i64, at: Timestamp) -> Option<Timestamp> {
    let s = at.as_second().div_euclid(step) * step;
    Timestamp::from_second(s).ok()
}
