//! `wal-verify`: gaps in the archived WAL and the recoverable window, along
//! the timelines a restore would follow.
//!
//! A restore from a base backup on timeline `T0` follows the newest timeline
//! whose history (the archived `NNNNNNNN.history` file, which lists every
//! ancestor and the LSN where it was left) contains `T0` after the backup's
//! start — what PostgreSQL's `recovery_target_timeline = 'latest'` picks.
//! For each segment number it reads the newest timeline on that path that
//! had begun by then (as PostgreSQL's `XLogFileReadAnyTLI` does), so a
//! segment of a stray branch (a timeline not on the path, or a timeline on
//! it before it began) never fills a gap: the gap is reported.

use std::collections::{BTreeMap, BTreeSet};

use coffer_core::wal;
use coffer_core::Vault;

use super::super::physical::KIND_BASE;
use super::{parse_lsn, Segment};
use crate::error::SourceResult;

/// A run of missing segments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// The last archived segment before the gap.
    pub after: String,
    /// The first archived segment after it.
    pub before: String,
    /// Segments missing between them.
    pub missing: u64,
}

/// A base backup and whether the archive lets it recover.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaseBackupWal {
    /// Snapshot id (hex).
    pub snapshot: String,
    /// When it was taken.
    pub time: String,
    /// The first WAL file it needs.
    pub start_wal_file: String,
    /// The last WAL file it needs to become consistent (from the backup
    /// history file the server archived; `None` when that is missing).
    pub end_wal_file: Option<String>,
    /// The timelines a restore follows from it, oldest first (its own
    /// first, the newest timeline that descends from it last).
    pub timelines: Vec<u32>,
    /// Gaps on that path, from its start to the newest segment archived on
    /// the path.
    pub gaps: Vec<Gap>,
    /// Whether every segment from its start to its end is archived.
    pub consistent: bool,
    /// The newest segment reachable from its start without a gap.
    pub recoverable_to: Option<String>,
}

/// What `wal-verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Archived WAL segments.
    pub segments: usize,
    /// Other archived files (timeline history, backup history, partial).
    pub other_files: usize,
    /// Timeline history files archived (`NNNNNNNN.history`), by timeline.
    pub timeline_histories: Vec<u32>,
    /// The oldest and newest archived segment.
    pub oldest_segment: Option<String>,
    /// The newest archived segment.
    pub newest_segment: Option<String>,
    /// Gaps between the oldest and the newest segment (segment numbers no
    /// timeline has).
    pub gaps: Vec<Gap>,
    /// Gaps on the timeline path of the base backup that sets the window,
    /// after its start: they cut the recoverable window.
    pub gaps_in_window: usize,
    /// Base backups (`postgres-base` snapshots), oldest first.
    pub base_backups: Vec<BaseBackupWal>,
    /// The recoverable window: from the oldest base backup that can become
    /// consistent (its time) to the newest segment reachable from it.
    pub window: Option<(String, String)>,
    /// Names under `wal/` that do not decode.
    pub undecodable: Vec<String>,
}

/// One line of a timeline history file: `parent` was left at `switch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Branch {
    pub(crate) parent: u32,
    pub(crate) switch: u64,
}

/// The timeline of a history file name (`0000000A.history`).
pub(crate) fn history_timeline(name: &str) -> Option<u32> {
    let t = name.strip_suffix(".history")?;
    (t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(t, 16).ok())
        .flatten()
}

/// Parses a timeline history file (`parentTLI<TAB>switchpoint<TAB>reason`
/// lines; `#` comments and blank lines skipped). `None` when a line does
/// not parse or the parents do not increase: a damaged file is not guessed
/// at.
pub(crate) fn parse_history(text: &str) -> Option<Vec<Branch>> {
    let mut out: Vec<Branch> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        let parent: u32 = f.next()?.parse().ok()?;
        let switch = parse_lsn(f.next()?)?;
        if out.last().is_some_and(|b| b.parent >= parent) {
            return None;
        }
        out.push(Branch { parent, switch });
    }
    Some(out)
}

/// The path a restore from a backup on `start_tl` at `start_lsn` follows:
/// `(timeline, first segment number read from it)`, oldest first. The
/// target is the newest timeline whose history contains `start_tl` left at
/// or after `start_lsn`.
pub(crate) fn timeline_path(
    histories: &BTreeMap<u32, Vec<Branch>>,
    start_tl: u32,
    start_lsn: u64,
    seg_size: u64,
) -> Vec<(u32, u64)> {
    let descends = |h: &Vec<Branch>| {
        h.iter()
            .any(|b| b.parent == start_tl && b.switch >= start_lsn)
    };
    let target = histories
        .iter()
        .filter(|(t, h)| **t > start_tl && descends(h))
        .map(|(t, _)| *t)
        .max();
    let mut path = vec![(start_tl, 0)];
    if let Some(t) = target {
        let h = &histories[&t];
        let from = h.iter().position(|b| b.parent == start_tl).unwrap_or(0);
        // Each branch point begins the next timeline on the path.
        for (i, b) in h.iter().enumerate().skip(from) {
            let next = h.get(i + 1).map_or(t, |n| n.parent);
            path.push((next, b.switch / seg_size));
        }
    }
    path
}

/// Lists the archive and the vault's base backups and reports gaps and the
/// recoverable window. [`VerifyReport::gaps`] are segment numbers that no
/// timeline has between the oldest and the newest archived segment; each
/// base backup's own gaps follow its timeline path (see the module
/// documentation), and those of the base backup that sets the window decide
/// [`VerifyReport::gaps_in_window`].
pub fn verify(vault: &Vault) -> SourceResult<VerifyReport> {
    let (files, undecodable) = wal::list(vault)?;
    let bases: Vec<_> = vault
        .snapshots(&Default::default())?
        .into_iter()
        .filter(|(_, s)| s.source.kind == KIND_BASE)
        .collect();
    let seg_size: u64 = bases
        .iter()
        .find_map(|(_, s)| s.source.details.get("wal_segment_size")?.parse().ok())
        .filter(|s: &u64| s.is_power_of_two() && *s >= 1 << 20)
        .unwrap_or(16 << 20);
    // Segment number -> the name seen (highest timeline wins), and every
    // (timeline, number) archived.
    let mut by_number: BTreeMap<u64, String> = BTreeMap::new();
    let mut archived: BTreeSet<(u32, u64)> = BTreeSet::new();
    let mut histories: BTreeMap<u32, Vec<Branch>> = BTreeMap::new();
    let mut report = VerifyReport {
        undecodable,
        ..Default::default()
    };
    for f in &files {
        match Segment::parse(&f.name) {
            Some(s) => {
                report.segments += 1;
                by_number.insert(s.number(seg_size), f.name.clone());
                archived.insert((s.timeline, s.number(seg_size)));
            }
            None => {
                report.other_files += 1;
                if let Some(t) = history_timeline(&f.name) {
                    report.timeline_histories.push(t);
                    let text = wal::get(vault, &f.name)?.unwrap_or_default();
                    if let Some(h) = parse_history(&String::from_utf8_lossy(&text)) {
                        histories.insert(t, h);
                    }
                }
            }
        }
    }
    report.oldest_segment = by_number.values().next().cloned();
    report.newest_segment = by_number.values().next_back().cloned();
    let mut prev: Option<(u64, &String)> = None;
    for (n, name) in &by_number {
        if let Some((p, pname)) = prev {
            if *n > p + 1 {
                report.gaps.push(Gap {
                    after: pname.clone(),
                    before: name.clone(),
                    missing: n - p - 1,
                });
            }
        }
        prev = Some((*n, name));
    }
    let mut window_gaps = Vec::new();
    for (id, snap) in &bases {
        let d = &snap.source.details;
        let Some(start) = d.get("start_wal_file").and_then(|f| Segment::parse(f)) else {
            continue;
        };
        let start_lsn = d.get("start_lsn").and_then(|l| parse_lsn(l));
        // The backup history file the server archived when the backup ended.
        let history = match start_lsn {
            Some(lsn) => format!("{}.{:08X}.backup", start.name(), lsn % seg_size),
            None => String::new(),
        };
        let end = if files.iter().any(|f| f.name == history) {
            wal::get(vault, &history)?.and_then(|b| stop_file(&String::from_utf8_lossy(&b)))
        } else {
            None
        };
        let n0 = start.number(seg_size);
        let path = timeline_path(
            &histories,
            start.timeline,
            start_lsn.unwrap_or(n0 * seg_size),
            seg_size,
        );
        let walk = walk_path(&path, &archived, n0, seg_size);
        let consistent = match (&walk.reached, end) {
            (Some(r), Some(e)) => *r >= e.number(seg_size),
            // Without its history file the end is unknown: not provably consistent.
            _ => false,
        };
        let name_of = |n: u64| segment_name(tl_at(&path, n), n, seg_size);
        report.base_backups.push(BaseBackupWal {
            snapshot: id.to_hex(),
            time: snap.time.clone(),
            start_wal_file: start.name(),
            end_wal_file: end.map(|e| e.name()),
            timelines: path.iter().map(|(t, _)| *t).collect(),
            gaps: walk.gaps.clone(),
            consistent,
            recoverable_to: walk.reached.map(name_of),
        });
        if consistent && report.window.is_none() {
            window_gaps = walk.gaps;
            if let Some(to) = walk.reached {
                report.window = Some((snap.time.clone(), name_of(to)));
            }
        }
    }
    report.gaps_in_window = window_gaps.len();
    Ok(report)
}

/// The timeline read for segment number `n` on `path`.
fn tl_at(path: &[(u32, u64)], n: u64) -> u32 {
    path.iter()
        .rev()
        .find(|(_, begin)| *begin <= n)
        .map_or(path[0].0, |(t, _)| *t)
}

fn segment_name(timeline: u32, n: u64, seg_size: u64) -> String {
    let per_log = 0x1_0000_0000 / seg_size;
    Segment {
        timeline,
        log: (n / per_log) as u32,
        seg: (n % per_log) as u32,
    }
    .name()
}

struct Walk {
    /// The newest segment number reachable from the start without a gap.
    reached: Option<u64>,
    /// Gaps on the path, up to the newest segment archived on it.
    gaps: Vec<Gap>,
}

/// Walks `path` from segment number `n0` through every segment archived on
/// it, as the restore would read them.
fn walk_path(path: &[(u32, u64)], archived: &BTreeSet<(u32, u64)>, n0: u64, seg: u64) -> Walk {
    let on_path = |n: u64| archived.contains(&(tl_at(path, n), n));
    // The newest segment number archived on the path.
    let last = archived
        .iter()
        .filter(|(t, n)| *n >= n0 && tl_at(path, *n) == *t)
        .map(|(_, n)| *n)
        .max();
    let mut walk = Walk {
        reached: None,
        gaps: Vec::new(),
    };
    let Some(last) = last else {
        return walk;
    };
    let mut prev: Option<u64> = None;
    let mut n = n0;
    while n <= last {
        if on_path(n) {
            match prev {
                Some(p) if n > p + 1 => walk.gaps.push(Gap {
                    after: segment_name(tl_at(path, p), p, seg),
                    before: segment_name(tl_at(path, n), n, seg),
                    missing: n - p - 1,
                }),
                None if n > n0 => walk.gaps.push(Gap {
                    after: format!("(start) {}", segment_name(tl_at(path, n0), n0, seg)),
                    before: segment_name(tl_at(path, n), n, seg),
                    missing: n - n0,
                }),
                _ => {}
            }
            if walk.gaps.is_empty() {
                walk.reached = Some(n);
            }
            prev = Some(n);
            n += 1;
        } else {
            // Skip to the next archived number on any timeline.
            n = archived
                .iter()
                .map(|(_, m)| *m)
                .filter(|m| *m > n)
                .min()
                .unwrap_or(last + 1);
        }
    }
    walk
}

/// The segment of `STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)`
/// in a backup history file.
fn stop_file(text: &str) -> Option<Segment> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("STOP WAL LOCATION: "))?;
    Segment::parse(line.split("(file ").nth(1)?.trim_end_matches(')').trim())
}

#[cfg(test)]
mod tests {
    use super::super::format_lsn;
    use super::*;

    const SEG: u64 = 16 << 20;

    #[test]
    fn a_gap_a_stray_branch_covers_is_on_the_path() {
        let text = "# comment\n1\t0/5000064\tno recovery target specified\n";
        let h2 = parse_history(text).unwrap();
        assert_eq!(
            h2,
            vec![Branch {
                parent: 1,
                switch: 0x5000064
            }]
        );
        assert_eq!(history_timeline("00000002.history"), Some(2));
        assert_eq!(history_timeline("000000010000000000000002"), None);
        assert!(parse_history("1\tnot-an-lsn\n").is_none());
        // Timeline 3 branched from 1 before the backup started: a stray branch.
        let h3 = vec![Branch {
            parent: 1,
            switch: 2 * SEG,
        }];
        let histories = BTreeMap::from([(2, h2), (3, h3)]);
        let path = timeline_path(&histories, 1, 3 * SEG + 40, SEG);
        assert_eq!(path, vec![(1, 0), (2, 5)]);
        // 1/4 is missing; 3/4 (stray) must not hide it, nor would 2/4
        // (timeline 2 begins in segment 5).
        let archived = BTreeSet::from([(1, 3), (3, 4), (2, 4), (2, 5), (2, 6), (1, 6)]);
        let w = walk_path(&path, &archived, 3, SEG);
        assert_eq!(w.reached, Some(3));
        assert_eq!(
            w.gaps,
            vec![Gap {
                after: "000000010000000000000003".into(),
                before: "000000020000000000000005".into(),
                missing: 1
            }]
        );
        // With 1/4 archived the path is whole up to 2/6.
        let mut whole = archived.clone();
        whole.insert((1, 4));
        let w = walk_path(&path, &whole, 3, SEG);
        assert_eq!((w.reached, w.gaps.len()), (Some(6), 0));
        // A backup on timeline 2 follows timeline 2 alone.
        assert_eq!(timeline_path(&histories, 2, 6 * SEG, SEG), vec![(2, 0)]);
    }

    #[test]
    fn verify_reports_the_gap_on_the_followed_timeline() {
        use coffer_core::{InitOptions, Secret};
        let v = Vault::init(
            std::sync::Arc::new(coffer_testing::MemoryBackend::default()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        let name = |tl: u32, n: u32| {
            Segment {
                timeline: tl,
                log: 0,
                seg: n,
            }
            .name()
        };
        let details = [
            ("start_wal_file", "000000010000000000000003"),
            ("start_lsn", "0/3000028"),
            ("timeline", "1"),
            ("wal_segment_size", "16777216"),
        ];
        v.save_snapshot(&coffer_testing::snapshot(
            "2025-01-01T00:00:00Z",
            KIND_BASE,
            &details,
        ))
        .unwrap();
        wal::put(
            &v,
            "000000010000000000000003.00000028.backup",
            b"START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n\
              STOP WAL LOCATION: 0/3000100 (file 000000010000000000000003)\n",
        )
        .unwrap();
        wal::put(
            &v,
            "00000002.history",
            b"1\t0/5000000\tno recovery target specified\n",
        )
        .unwrap();
        // 1/4 is missing; 2/4 (timeline 2 before it began) must not hide it.
        for (tl, n) in [(1, 3), (2, 4), (2, 5), (2, 6)] {
            wal::put(&v, &name(tl, n), b"x").unwrap();
        }
        let r = verify(&v).unwrap();
        assert!(
            r.gaps.is_empty(),
            "every number has some timeline: {:?}",
            r.gaps
        );
        assert_eq!(r.timeline_histories, vec![2]);
        let b = &r.base_backups[0];
        assert_eq!(b.timelines, vec![1, 2]);
        assert!(b.consistent);
        assert_eq!(b.gaps.len(), 1, "{:?}", b.gaps);
        assert_eq!(b.gaps[0].before, name(2, 5));
        assert_eq!(r.gaps_in_window, 1);
        assert_eq!(b.recoverable_to.as_deref(), Some(name(1, 3).as_str()));
        wal::put(&v, &name(1, 4), b"x").unwrap();
        let r = verify(&v).unwrap();
        assert_eq!(r.gaps_in_window, 0);
        assert_eq!(
            r.window.as_ref().map(|w| w.1.clone()),
            Some(name(2, 6)),
            "{r:?}"
        );
    }

    #[test]
    fn names_and_lsns() {
        let s = Segment::parse("000000010000000A000000FF").unwrap();
        assert_eq!((s.timeline, s.log, s.seg), (1, 10, 255));
        assert_eq!(s.name(), "000000010000000A000000FF");
        assert!(Segment::parse("00000002.history").is_none());
        assert_eq!(parse_lsn("0/2000028"), Some(0x2000028));
        assert_eq!(format_lsn(0x1_0200_0028), "1/2000028");
        let seg = Segment::of_lsn(1, parse_lsn("1/2000028").unwrap(), 16 << 20);
        assert_eq!(seg.name(), "000000010000000100000002");
        assert_eq!(seg.number(16 << 20), 256 + 2);
        let h = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                 STOP WAL LOCATION: 0/3000100 (file 000000010000000000000003)\n";
        assert_eq!(stop_file(h).unwrap().name(), "000000010000000000000003");
    }
}
