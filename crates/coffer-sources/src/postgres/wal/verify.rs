//! `wal-verify`: gaps in the archived WAL and the recoverable window, along
//! the timelines a restore would follow.
//!
//! A restore from a base backup on timeline `T0` follows what PostgreSQL's
//! `recovery_target_timeline = 'latest'` (which `coffer restore` leaves)
//! picks: the newest timeline whose history file (`NNNNNNNN.history`, which
//! lists every ancestor and the LSN where it was left) is archived, counting
//! up from `T0` without a hole. Its history must leave `T0` after the
//! backup's checkpoint, else PostgreSQL refuses to start and the base
//! backup is reported unrecoverable with the reason
//! ([`BaseBackupWal::timeline_problem`]). For each segment number it reads
//! the newest timeline on that path that had begun by then (as PostgreSQL's
//! `XLogFileReadAnyTLI` does: the segment holding a switch point comes from
//! the new timeline), so a segment of a stray branch (a timeline not on the
//! path, or a timeline on it before it began) never fills a gap: the gap is
//! reported.

use std::collections::{BTreeMap, BTreeSet};

use coffer_core::wal;
use coffer_core::Vault;

use super::super::physical::KIND_BASE;
use super::{format_lsn, parse_lsn, Segment};
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
    /// The first missing segment's name: on a base backup's path, on the
    /// timeline the restore reads that number from; in
    /// [`VerifyReport::gaps`], on the timeline of `after`.
    pub first_missing: String,
    /// The last missing segment's name (the same as `first_missing` when one
    /// is missing).
    pub last_missing: String,
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
    /// Why a restore of it with the latest timeline (what `coffer restore`
    /// does) cannot start, when the archive's newest timeline is not a
    /// descendant of it or its history file is damaged (then it is not
    /// `consistent` and reaches nothing): what PostgreSQL will say, and what
    /// to do.
    pub timeline_problem: Option<String>,
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

/// The path a restore from a backup on `start_tl` follows, as PostgreSQL's
/// `recovery_target_timeline = 'latest'` (what `coffer restore` leaves)
/// decides it: `(timeline, first segment number read from it)`, oldest
/// first. The target is the newest timeline whose history file exists,
/// counting up from `start_tl` without a hole (`findNewestTimeLine`); not
/// the newest one that descends from the backup. When that timeline did not
/// leave `start_tl` after the backup's checkpoint (`fork_after`, its LSN)
/// PostgreSQL refuses to start ("requested timeline T is not a child of
/// this server's history"): the error says so and what to do. `histories`
/// holds the parsed history files, `damaged` the timelines whose archived
/// history file does not parse (PostgreSQL refuses those too).
pub(crate) fn timeline_path(
    histories: &BTreeMap<u32, Vec<Branch>>,
    damaged: &BTreeSet<u32>,
    start_tl: u32,
    fork_after: u64,
    seg_size: u64,
) -> Result<Vec<(u32, u64)>, String> {
    let mut target = start_tl;
    while let Some(next) = target.checked_add(1) {
        if !histories.contains_key(&next) && !damaged.contains(&next) {
            break;
        }
        target = next;
    }
    let mut path = vec![(start_tl, 0)];
    if target == start_tl {
        return Ok(path);
    }
    let file = format!("{target:08X}.history");
    let Some(h) = histories.get(&target) else {
        return Err(format!(
            "the timeline history file {file} of timeline {target} (the newest, which a \
             restore follows) does not parse, and PostgreSQL refuses to restore with it: \
             replace it with the file from the server that created timeline {target}"
        ));
    };
    // The timeline to name instead: the newest that does descend from it.
    let follow = histories
        .iter()
        .filter(|(t, h)| {
            **t > start_tl
                && h.iter()
                    .any(|b| b.parent == start_tl && b.switch > fork_after)
        })
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(start_tl);
    let refused = |how: String| {
        format!(
            "timeline {target} (the newest in the archive, which a restore follows) {how}: \
             PostgreSQL refuses to restore this base backup (\"requested timeline {target} is \
             not a child of this server's history\"); to restore it, add \
             recovery_target_timeline = '{follow}' to the restored data directory's \
             postgresql.auto.conf before starting it. If timeline {target} is a stray branch \
             (a side restore that archived into this vault), its history file {file} does \
             the same to every later base backup of timeline {start_tl}"
        )
    };
    let Some(from) = h.iter().position(|b| b.parent == start_tl) else {
        return Err(refused(format!(
            "does not descend from timeline {start_tl}, the base backup's"
        )));
    };
    if h[from].switch <= fork_after {
        return Err(refused(format!(
            "left timeline {start_tl} at {}, before the base backup's checkpoint at {}",
            format_lsn(h[from].switch),
            format_lsn(fork_after)
        )));
    }
    // Each branch point begins the next timeline on the path.
    for (i, b) in h.iter().enumerate().skip(from) {
        let next = h.get(i + 1).map_or(target, |n| n.parent);
        path.push((next, b.switch / seg_size));
    }
    Ok(path)
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
    let mut damaged_histories: BTreeSet<u32> = BTreeSet::new();
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
                    match parse_history(&String::from_utf8_lossy(&text)) {
                        Some(h) => {
                            histories.insert(t, h);
                        }
                        None => {
                            damaged_histories.insert(t);
                        }
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
                let tl = Segment::parse(pname).map_or(1, |s| s.timeline);
                report.gaps.push(Gap {
                    after: pname.clone(),
                    before: name.clone(),
                    missing: n - p - 1,
                    first_missing: segment_name(tl, p + 1, seg_size),
                    last_missing: segment_name(tl, n - 1, seg_size),
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
        // PostgreSQL checks the branch point against the backup's checkpoint.
        let fork_after = d
            .get("checkpoint_lsn")
            .and_then(|l| parse_lsn(l))
            .or(start_lsn)
            .unwrap_or(n0 * seg_size);
        let (path, timeline_problem) = match timeline_path(
            &histories,
            &damaged_histories,
            start.timeline,
            fork_after,
            seg_size,
        ) {
            Ok(p) => (p, None),
            Err(e) => (vec![(start.timeline, 0)], Some(e)),
        };
        let mut walk = walk_path(&path, &archived, n0, seg_size);
        if timeline_problem.is_some() {
            // The restore does not start: nothing is reachable.
            walk.reached = None;
        }
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
            timeline_problem,
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
    let name = |n: u64| segment_name(tl_at(path, n), n, seg);
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
                    after: name(p),
                    before: name(n),
                    missing: n - p - 1,
                    first_missing: name(p + 1),
                    last_missing: name(n - 1),
                }),
                None if n > n0 => walk.gaps.push(Gap {
                    after: format!("(start) {}", name(n0)),
                    before: name(n),
                    missing: n - n0,
                    first_missing: name(n0),
                    last_missing: name(n - 1),
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
        let text = "# comment\n1\t0/5000064\tat restore point \"rp\"\n";
        let h3 = parse_history(text).unwrap();
        assert_eq!(
            h3,
            vec![Branch {
                parent: 1,
                switch: 0x5000064
            }]
        );
        assert_eq!(history_timeline("00000002.history"), Some(2));
        assert_eq!(history_timeline("000000010000000000000002"), None);
        assert!(parse_history("1\tnot-an-lsn\n").is_none());
        // Timeline 2 branched from 1 before the backup started: a stray
        // branch, older than timeline 3, the newest, which a restore follows.
        let h2 = vec![Branch {
            parent: 1,
            switch: 2 * SEG,
        }];
        let histories = BTreeMap::from([(2, h2), (3, h3.clone())]);
        let none = BTreeSet::new();
        let path = timeline_path(&histories, &none, 1, 3 * SEG + 40, SEG).unwrap();
        assert_eq!(path, vec![(1, 0), (3, 5)]);
        // 1/4 is missing; 2/4 (stray) must not hide it, nor would 3/4
        // (timeline 3 begins in segment 5).
        let archived = BTreeSet::from([(1, 3), (2, 4), (3, 4), (3, 5), (3, 6), (1, 6)]);
        let w = walk_path(&path, &archived, 3, SEG);
        assert_eq!(w.reached, Some(3));
        assert_eq!(
            w.gaps,
            vec![Gap {
                after: "000000010000000000000003".into(),
                before: "000000030000000000000005".into(),
                missing: 1,
                first_missing: "000000010000000000000004".into(),
                last_missing: "000000010000000000000004".into(),
            }]
        );
        // With 1/4 archived the path is whole up to 3/6.
        let mut whole = archived.clone();
        whole.insert((1, 4));
        let w = walk_path(&path, &whole, 3, SEG);
        assert_eq!((w.reached, w.gaps.len()), (Some(6), 0));
        // A backup on timeline 3 follows timeline 3 alone.
        assert_eq!(
            timeline_path(&histories, &none, 3, 6 * SEG, SEG),
            Ok(vec![(3, 0)])
        );
    }

    #[test]
    fn the_latest_timeline_is_the_newest_as_postgresql_finds_it() {
        let none = BTreeSet::new();
        let b = |parent, switch| Branch { parent, switch };
        // 2 stray (from 1 before the backups), 3 from 1 at 0/5000064, 4 from 3.
        let mut histories = BTreeMap::from([
            (2, vec![b(1, 2 * SEG)]),
            (3, vec![b(1, 0x5000064)]),
            (4, vec![b(1, 0x5000064), b(3, 7 * SEG + 0x28)]),
        ]);
        assert_eq!(
            timeline_path(&histories, &none, 1, 3 * SEG, SEG),
            Ok(vec![(1, 0), (3, 5), (4, 7)])
        );
        // A backup on the stray branch: timeline 4 does not descend from it.
        let e = timeline_path(&histories, &none, 2, 3 * SEG, SEG).unwrap_err();
        assert!(
            e.contains("timeline 4") && e.contains("does not descend from timeline 2"),
            "{e}"
        );
        assert!(
            e.contains("00000004.history") && e.contains("not a child"),
            "{e}"
        );
        // A backup of timeline 1 after timeline 3 (and so 4) left it.
        let e = timeline_path(&histories, &none, 1, 6 * SEG, SEG).unwrap_err();
        assert!(e.contains("left timeline 1 at 0/5000064"), "{e}");
        assert!(e.contains("checkpoint at 0/6000000"), "{e}");
        assert!(e.contains("recovery_target_timeline = '1'"), "{e}");
        // A backup of timeline 1 that timeline 3 descends from, but 4 too:
        // the refusal of a newer stray 5 names 4 to follow.
        histories.insert(5, vec![b(1, SEG)]);
        let e = timeline_path(&histories, &none, 1, 3 * SEG, SEG).unwrap_err();
        assert!(
            e.contains("timeline 5 ") && e.contains("recovery_target_timeline = '4'"),
            "{e}"
        );
        histories.remove(&5);
        // PostgreSQL counts up without a hole: with 3's history missing,
        // a backup on 1 follows the newest of 1 and 2, which is 2 (stray).
        histories.remove(&3);
        let e = timeline_path(&histories, &none, 1, 3 * SEG, SEG).unwrap_err();
        assert!(
            e.contains("timeline 2 ") && e.contains("left timeline 1 at 0/2000000"),
            "{e}"
        );
        histories.remove(&2);
        assert_eq!(
            timeline_path(&histories, &none, 1, 3 * SEG, SEG),
            Ok(vec![(1, 0)])
        );
        // Damaged history files below the newest are not read; a damaged
        // newest one is refused, as PostgreSQL refuses it.
        let damaged = BTreeSet::from([2, 3]);
        assert_eq!(
            timeline_path(&histories, &damaged, 1, 3 * SEG, SEG),
            Ok(vec![(1, 0), (3, 5), (4, 7)])
        );
        let e = timeline_path(&BTreeMap::new(), &damaged, 1, 3 * SEG, SEG).unwrap_err();
        assert!(
            e.contains("00000003.history") && e.contains("does not parse"),
            "{e}"
        );
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
        // A newer timeline that left timeline 1 before the backup began:
        // PostgreSQL's latest timeline, and the restore cannot start.
        wal::put(
            &v,
            "00000003.history",
            b"1\t0/2000000\tno recovery target specified\n",
        )
        .unwrap();
        let r = verify(&v).unwrap();
        let b = &r.base_backups[0];
        assert!(!b.consistent && b.recoverable_to.is_none(), "{b:?}");
        let why = b.timeline_problem.as_deref().unwrap_or_default();
        assert!(
            why.contains("timeline 3") && why.contains("00000003.history"),
            "{why}"
        );
        assert!(r.window.is_none(), "{r:?}");
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
