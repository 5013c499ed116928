//! Durations in words (`1day 2h`, by humantime), as the evidence lines and
//! the HTML page write them.

use jiff::SignedDuration;

pub(super) fn human(d: SignedDuration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(
        d.as_secs().max(0).unsigned_abs(),
    ))
    .to_string()
}

pub(super) fn human_secs(s: f64) -> String {
    human(SignedDuration::from_secs(s.max(0.0).round() as i64))
}
