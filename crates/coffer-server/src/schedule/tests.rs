//! Unit tests of schedules: each form, daylight saving time, errors, clocks.

use super::*;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

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
