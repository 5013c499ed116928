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
//!
//! Where things are: the parsed [`Schedule`] and which form a text is in
//! in `expression.rs`; the 5-field grammar and the search for runs (with
//! the time zone rules above) in `cron.rs`, its fields in `fields.rs`, the
//! day-of-month and day-of-week fields (AWS's `L`, `W`, `#` too) in
//! `days.rs`; AWS's year field in `aws.rs`; `@every` in `every.rs`; the
//! [`Clock`] in `clock.rs`; [`ScheduleError`] in `error.rs`.

mod aws;
mod clock;
mod cron;
mod days;
mod error;
mod every;
mod expression;
mod fields;

#[cfg(test)]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ScheduleError;
pub use expression::Schedule;
