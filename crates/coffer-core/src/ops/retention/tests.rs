//! Tests of retention: the GFS counts, age limits, holds and protections,
//! time zones and DST, and properties over simulated years.

use super::policy::Period;
use super::*;
use crate::format::id::Id;
use crate::format::snapshot::Snapshot;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// US Eastern time as a POSIX rule (independent of the system's tz
/// database): DST from the second Sunday of March to the first Sunday of
/// November.
fn eastern() -> TimeZone {
    TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn id(n: u64) -> Id {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_be_bytes());
    Id(b)
}

fn cand(n: u64, time: Timestamp) -> Candidate {
    Candidate {
        id: id(n),
        time,
        group: String::new(),
        held: false,
        protections: vec![],
    }
}

fn kept(d: &[Decision]) -> Vec<Timestamp> {
    let mut v: Vec<Timestamp> = d.iter().filter(|d| d.keep).map(|d| d.time).collect();
    v.sort();
    v
}

/// Hourly snapshots (on the hour, UTC) from `from` to `to` inclusive.
fn hourly(from: &str, to: &str) -> Vec<Candidate> {
    let (mut t, end) = (ts(from), ts(to));
    let mut out = Vec::new();
    let mut n = 0;
    while t <= end {
        out.push(cand(n, t));
        n += 1;
        t += SignedDuration::from_hours(1);
    }
    out
}

fn policy(f: impl FnOnce(&mut RetentionPolicy)) -> RetentionPolicy {
    let mut p = RetentionPolicy::default();
    f(&mut p);
    p
}

#[test]
fn hand_checked_small_case() {
    // Five snapshots over three days, UTC.
    let snaps = vec![
        cand(1, ts("2026-11-18T10:00:00Z")),
        cand(2, ts("2026-11-19T09:00:00Z")),
        cand(3, ts("2026-11-19T18:00:00Z")),
        cand(4, ts("2026-11-20T08:00:00Z")),
        cand(5, ts("2026-11-20T12:00:00Z")),
    ];
    let p = policy(|p| {
        p.keep_last = Some(1);
        p.keep_daily = Some(2);
    });
    let now = ts("2026-11-20T13:00:00Z");
    let d = plan_retention(&snaps, &p, now, &TimeZone::UTC);
    let by_id: BTreeMap<Id, &Decision> = d.iter().map(|d| (d.id, d)).collect();
    assert_eq!(
        by_id[&id(5)].reasons,
        vec!["last 1 of 1", "daily 2026-11-20"]
    );
    assert!(!by_id[&id(4)].keep);
    assert_eq!(by_id[&id(4)].reasons, vec!["not kept by any rule"]);
    assert_eq!(by_id[&id(3)].reasons, vec!["daily 2026-11-19"]);
    assert!(!by_id[&id(2)].keep && !by_id[&id(1)].keep);
    // Newest first.
    assert_eq!(
        d.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![id(5), id(4), id(3), id(2), id(1)]
    );
}

#[test]
fn reasons_name_weeks_months_years() {
    let snaps = vec![cand(1, ts("2026-11-20T12:00:00Z"))];
    let p = policy(|p| {
        p.keep_hourly = Some(1);
        p.keep_weekly = Some(1);
        p.keep_monthly = Some(1);
        p.keep_yearly = Some(1);
    });
    let d = plan_retention(&snaps, &p, ts("2026-11-21T00:00:00Z"), &TimeZone::UTC);
    assert_eq!(
        d[0].reasons,
        vec![
            "hourly 2026-11-20 12:00",
            "weekly 2026-W47",
            "monthly 2026-11",
            "yearly 2026"
        ]
    );
}

#[test]
fn iso_week_year_differs_from_calendar_year() {
    // 2027-01-01 is a Friday: ISO week 53 of 2026. With 2026-12-31 it
    // forms one week, so keep_weekly = 1 keeps only the newer one.
    let snaps = vec![
        cand(1, ts("2026-12-31T12:00:00Z")),
        cand(2, ts("2027-01-01T12:00:00Z")),
    ];
    let p = policy(|p| p.keep_weekly = Some(2));
    let d = plan_retention(&snaps, &p, ts("2027-01-02T00:00:00Z"), &TimeZone::UTC);
    assert_eq!(d[0].reasons, vec!["weekly 2026-W53"]);
    assert_eq!(d[1].reasons, vec!["not kept by any rule"]);
}

#[test]
fn days_follow_the_time_zone() {
    // 03:00 UTC on the 20th is still the 19th in New York.
    let snaps = vec![
        cand(1, ts("2026-11-19T20:00:00Z")),
        cand(2, ts("2026-11-20T03:00:00Z")),
    ];
    let p = policy(|p| p.keep_daily = Some(5));
    let utc = plan_retention(&snaps, &p, ts("2026-11-21T00:00:00Z"), &TimeZone::UTC);
    assert_eq!(kept(&utc).len(), 2);
    let ny = plan_retention(&snaps, &p, ts("2026-11-21T00:00:00Z"), &eastern());
    assert_eq!(kept(&ny), vec![ts("2026-11-20T03:00:00Z")]);
    assert_eq!(ny[0].reasons, vec!["daily 2026-11-19"]);
}

#[test]
fn delete_after_days_overrides_counts() {
    let snaps = vec![
        cand(1, ts("2026-10-01T00:00:00Z")),
        cand(2, ts("2026-11-01T00:00:00Z")),
        cand(3, ts("2026-11-30T00:00:00Z")),
    ];
    let now = ts("2026-12-01T00:00:00Z");
    let p = policy(|p| {
        p.keep_daily = Some(12);
        p.delete_after_days = Some(30);
    });
    let d = plan_retention(&snaps, &p, now, &TimeZone::UTC);
    // Exactly 30 days old is kept; 31 days old is not.
    assert_eq!(
        kept(&d),
        vec![ts("2026-11-01T00:00:00Z"), ts("2026-11-30T00:00:00Z")]
    );
    assert_eq!(d[2].reasons, vec!["older than delete_after_days = 30"]);
    // Without counts, age alone decides.
    let p = policy(|p| p.delete_after_days = Some(10));
    let d = plan_retention(&snaps, &p, now, &TimeZone::UTC);
    assert_eq!(kept(&d), vec![ts("2026-11-30T00:00:00Z")]);
    assert_eq!(d[0].reasons, vec!["within delete_after_days = 10"]);
}

#[test]
fn holds_and_protections_keep_and_explain() {
    let mut a = cand(1, ts("2026-11-01T00:00:00Z"));
    a.held = true;
    let mut b = cand(2, ts("2026-11-02T00:00:00Z"));
    b.protections.push(Protection {
        until: ts("2026-12-02T00:00:00Z"),
        what: "locked (compliance)".into(),
        absolute: true,
    });
    let mut c = cand(3, ts("2026-11-03T00:00:00Z"));
    c.protections.push(Protection {
        until: ts("2026-11-10T00:00:00Z"),
        what: "locked (governance)".into(),
        absolute: false,
    });
    let d4 = cand(4, ts("2026-11-30T00:00:00Z"));
    let snaps = vec![a, b, c, d4];
    let p = policy(|p| p.keep_last = Some(1));
    let d = plan_retention(&snaps, &p, ts("2026-12-01T00:00:00Z"), &TimeZone::UTC);
    let by_id: BTreeMap<Id, &Decision> = d.iter().map(|d| (d.id, d)).collect();
    assert!(by_id[&id(1)].keep && !by_id[&id(1)].by_policy);
    assert_eq!(by_id[&id(1)].reasons, vec!["not kept by any rule", "held"]);
    assert_eq!(
        by_id[&id(2)].reasons,
        vec![
            "not kept by any rule",
            "locked (compliance) until 2026-12-02T00:00:00Z"
        ]
    );
    // An expired protection does nothing.
    assert!(!by_id[&id(3)].keep);
    assert!(by_id[&id(4)].keep && by_id[&id(4)].by_policy);
    // Explicit removal honours the same protections.
    let r = plan_removal(&snaps, ts("2026-12-01T00:00:00Z"));
    assert_eq!(
        r.iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![id(2), id(1)]
    );
}

#[test]
fn groups_count_separately() {
    let mut snaps = Vec::new();
    for (n, g) in ["a", "a", "b", "b", "b"].iter().enumerate() {
        let mut c = cand(
            n as u64,
            ts("2026-11-01T00:00:00Z") + SignedDuration::from_hours(n as i64),
        );
        c.group = g.to_string();
        snaps.push(c);
    }
    let p = policy(|p| p.keep_last = Some(1));
    let d = plan_retention(&snaps, &p, ts("2026-12-01T00:00:00Z"), &TimeZone::UTC);
    assert_eq!(d.iter().filter(|d| d.keep).count(), 2);
    assert_eq!(d[0].group, "a");
    assert!(d[0].keep && d[2].keep && d[2].group == "b");
}

#[test]
fn group_by_parses_and_keys() {
    assert_eq!(
        "host,paths".parse::<GroupBy>().unwrap(),
        GroupBy {
            host: true,
            kind: false,
            paths: true,
            tags: false
        }
    );
    assert_eq!("".parse::<GroupBy>().unwrap(), GroupBy::NONE);
    assert!("hosts".parse::<GroupBy>().is_err());
    // Built from JSON, as a reader would, so fields added later with
    // defaults need no change here.
    let s: Snapshot = serde_json::from_value(serde_json::json!({
        "version": 1, "time": "2026-11-01T00:00:00Z", "tree": Id::default(),
        "paths": ["/b", "/a"], "hostname": "web1", "username": "root",
        "tags": ["y", "x"], "source": {"kind": "files"}, "program_version": "0",
    }))
    .unwrap();
    assert_eq!(
        GroupBy::default().key(&s),
        "host=web1 kind=files paths=/a,/b"
    );
    assert_eq!("tags".parse::<GroupBy>().unwrap().key(&s), "tags=x,y");
    assert_eq!(GroupBy::NONE.key(&s), "");
}

#[test]
fn empty_and_zero_policies() {
    let snaps = vec![cand(1, ts("2026-11-01T00:00:00Z"))];
    let d = plan_retention(
        &snaps,
        &RetentionPolicy::default(),
        ts("2026-12-01T00:00:00Z"),
        &TimeZone::UTC,
    );
    assert!(d[0].keep);
    let zero = policy(|p| p.keep_daily = Some(0));
    assert!(zero.removes_everything());
    assert!(!policy(|p| {
        p.keep_daily = Some(0);
        p.keep_last = Some(1)
    })
    .removes_everything());
    assert!(!RetentionPolicy::default().removes_everything());
    assert_eq!(
        policy(|p| {
            p.keep_last = Some(3);
            p.delete_after_days = Some(30)
        })
        .to_string(),
        "keep_last = 3, delete_after_days = 30"
    );
}

// ---- Simulated years ---------------------------------------------

/// Two years of hourly snapshots in US Eastern time, through four DST
/// changes: each rule alone keeps exactly its count, each kept snapshot
/// is the last one of its local period, and the periods are consecutive.
#[test]
fn two_years_hourly_through_dst() {
    let tz = eastern();
    // Ends 2026-11-01 at 12:00 UTC: the clocks went back that morning
    // at 06:00 UTC (02:00 EDT -> 01:00 EST).
    let snaps = hourly("2024-11-01T12:00:00Z", "2026-11-01T12:00:00Z");
    let now = ts("2026-11-01T12:30:00Z");
    let local = |t: Timestamp| tz.to_datetime(t);

    // Daily: the last snapshot of each local day is at 23:00 local,
    // whether the day had 23, 24 or 25 hours.
    let d = plan_retention(&snaps, &policy(|p| p.keep_daily = Some(400)), now, &tz);
    let k = kept(&d);
    assert_eq!(k.len(), 400);
    let days: BTreeSet<_> = k.iter().map(|t| local(*t).date()).collect();
    assert_eq!(days.len(), 400);
    // All but the newest (today, partial) end at 23:00 local.
    for t in &k[..k.len() - 1] {
        assert_eq!(local(*t).hour(), 23, "{t} is not the day's last");
    }
    // Consecutive days, across both DST changes of 2025 and 2026.
    let days: Vec<_> = days.into_iter().collect();
    for w in days.windows(2) {
        assert_eq!(w[0].tomorrow().unwrap(), w[1]);
    }

    // Weekly: each kept one is Sunday 23:00 local (ISO weeks end on
    // Sunday), but the newest.
    let d = plan_retention(&snaps, &policy(|p| p.keep_weekly = Some(60)), now, &tz);
    let k = kept(&d);
    assert_eq!(k.len(), 60);
    for t in &k[..59] {
        let l = local(*t);
        assert_eq!((l.weekday(), l.hour()), (jiff::civil::Weekday::Sunday, 23));
    }

    // Monthly: the last day of each month at 23:00 local.
    let d = plan_retention(&snaps, &policy(|p| p.keep_monthly = Some(24)), now, &tz);
    let k = kept(&d);
    assert_eq!(k.len(), 24);
    for t in &k[..23] {
        let l = local(*t);
        assert_eq!(l.date().tomorrow().unwrap().day(), 1);
        assert_eq!(l.hour(), 23);
    }
    // The data starts on 2024-11-01 08:00 local: 25 months hold a
    // snapshot, so a larger count keeps 25.
    let d = plan_retention(&snaps, &policy(|p| p.keep_monthly = Some(100)), now, &tz);
    assert_eq!(kept(&d).len(), 25);

    // Yearly: 2024, 2025, 2026 hold snapshots.
    let d = plan_retention(&snaps, &policy(|p| p.keep_yearly = Some(10)), now, &tz);
    let k = kept(&d);
    assert_eq!(k.len(), 3);
    assert_eq!(local(k[0]).to_string(), "2024-12-31T23:00:00");
    assert_eq!(local(k[1]).to_string(), "2025-12-31T23:00:00");

    // Hourly across the fall-back: 01:00-02:00 local happened twice
    // (05:00 and 06:00 UTC) and is one period, so 12 hourly periods
    // span 13 real hours, and the earlier 01:xx snapshot is dropped.
    let d = plan_retention(&snaps, &policy(|p| p.keep_hourly = Some(12)), now, &tz);
    let k = kept(&d);
    assert_eq!(k.len(), 12);
    assert_eq!(k[0], ts("2026-11-01T00:00:00Z"));
    assert!(!k.contains(&ts("2026-11-01T05:00:00Z")));
    assert!(k.contains(&ts("2026-11-01T06:00:00Z")));
    let hours: BTreeSet<_> = k
        .iter()
        .map(|t| local(*t).strftime("%d %H").to_string())
        .collect();
    assert_eq!(hours.len(), 12);

    // keep_last is plain.
    let d = plan_retention(&snaps, &policy(|p| p.keep_last = Some(5)), now, &tz);
    assert_eq!(kept(&d).len(), 5);
}

/// Spring forward: 02:00-03:00 local does not exist, so the day has 23
/// hourly snapshots and its last is still 23:00 local.
#[test]
fn spring_forward_day() {
    let tz = eastern();
    // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC).
    let snaps = hourly("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z");
    assert_eq!(snaps.len(), 24);
    let days: BTreeSet<_> = snaps
        .iter()
        .map(|c| tz.to_datetime(c.time).date())
        .collect();
    // 00:00 EST on the 8th to 00:00 EDT on the 9th: 23 hours on the 8th.
    assert_eq!(days.len(), 2);
    let d = plan_retention(
        &snaps,
        &policy(|p| p.keep_hourly = Some(100)),
        ts("2026-03-10T00:00:00Z"),
        &tz,
    );
    assert_eq!(kept(&d).len(), 24);
    let d = plan_retention(
        &snaps,
        &policy(|p| p.keep_daily = Some(100)),
        ts("2026-03-10T00:00:00Z"),
        &tz,
    );
    let k = kept(&d);
    assert_eq!(k.len(), 2);
    assert_eq!(tz.to_datetime(k[0]).to_string(), "2026-03-08T23:00:00");
}

/// Deterministic pseudo-random numbers (no test dependency needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Properties over random schedules and policies: the kept set is the
/// union of what each rule keeps alone; each count keeps min(N, periods)
/// snapshots, each the newest of its period and of the N newest periods;
/// the input order does not matter; the newest snapshot is kept when any
/// count is positive.
#[test]
fn random_schedules_properties() {
    let tz = eastern();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let start = ts("2024-01-01T00:00:00Z");
    for round in 0..200 {
        let n = 1 + rng.below(400) as usize;
        let span_h = 1 + rng.below(24 * 800) as i64;
        let mut snaps: Vec<Candidate> = (0..n)
            .map(|i| {
                let secs = rng.below(span_h as u64 * 3600) as i64;
                cand(i as u64, start + SignedDuration::from_secs(secs))
            })
            .collect();
        let now = start + SignedDuration::from_hours(span_h + 1);
        let mut pick = || match rng.below(3) {
            0 => None,
            _ => Some(rng.below(40) as u32),
        };
        let p = RetentionPolicy {
            keep_last: pick(),
            keep_hourly: pick(),
            keep_daily: pick(),
            keep_weekly: pick(),
            keep_monthly: pick(),
            keep_yearly: pick(),
            delete_after_days: None,
        };
        let d = plan_retention(&snaps, &p, now, &tz);
        assert_eq!(d.len(), n);
        let all: BTreeSet<Id> = d.iter().filter(|d| d.keep).map(|d| d.id).collect();

        // Union of single-rule plans.
        let mut union = BTreeSet::new();
        for (period, count) in p.counts() {
            let Some(count) = count else { continue };
            let mut single = RetentionPolicy::default();
            match period {
                Period::Last => single.keep_last = Some(count),
                Period::Hourly => single.keep_hourly = Some(count),
                Period::Daily => single.keep_daily = Some(count),
                Period::Weekly => single.keep_weekly = Some(count),
                Period::Monthly => single.keep_monthly = Some(count),
                Period::Yearly => single.keep_yearly = Some(count),
            }
            let sd = plan_retention(&snaps, &single, now, &tz);
            let ks: Vec<&Decision> = sd.iter().filter(|d| d.keep).collect();
            // Expected: the newest snapshot of each of the `count`
            // newest periods.
            let mut newest: BTreeMap<String, (Timestamp, Id)> = BTreeMap::new();
            for c in &snaps {
                let key = match period {
                    Period::Last => c.id.to_hex(),
                    _ => period.label(tz.to_datetime(c.time)),
                };
                let e = newest.entry(key).or_insert((c.time, c.id));
                if (c.time, c.id) > *e {
                    *e = (c.time, c.id);
                }
            }
            let mut tops: Vec<(Timestamp, Id)> = newest.into_values().collect();
            tops.sort();
            tops.reverse();
            tops.truncate(count as usize);
            let expect: BTreeSet<Id> = tops.iter().map(|t| t.1).collect();
            let got: BTreeSet<Id> = ks.iter().map(|d| d.id).collect();
            assert_eq!(got, expect, "round {round}: {period:?} = {count}");
            union.extend(got);
        }
        if p.has_counts() {
            assert_eq!(all, union, "round {round}: union");
        } else {
            assert_eq!(all.len(), n);
        }
        if p.counts().iter().any(|(_, c)| c.unwrap_or(0) > 0) {
            let newest = snaps.iter().max_by_key(|c| (c.time, c.id)).unwrap().id;
            assert!(all.contains(&newest), "round {round}: newest not kept");
        }

        // Order independence.
        for i in (1..snaps.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            snaps.swap(i, j);
        }
        assert_eq!(plan_retention(&snaps, &p, now, &tz), d);
    }
}
