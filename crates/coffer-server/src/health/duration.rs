//! Durations as health records and event messages write them: seconds
//! as a number, and humantime text (`1day`, `15m`).

use jiff::SignedDuration;

pub(super) fn secs(d: SignedDuration) -> f64 {
    d.as_secs_f64()
}

pub(crate) fn human_secs(s: f64) -> String {
    let d = std::time::Duration::from_secs(s.max(0.0).round() as u64);
    humantime::format_duration(d).to_string()
}
