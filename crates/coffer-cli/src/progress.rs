//! The progress line of a backup or restore: drawn from the counters of a
//! [`Progress`] (kept by coffer-core and coffer-sources where the work is
//! done) a few times a second, on standard error, only when standard output
//! is a terminal and neither --json nor --quiet is given. It is cleared
//! before the command prints its summary.
//!
//! A files backup: `backing up /srv: 1234 entries, 12.0 MiB read, 3.1 MiB
//! stored, 4.0 MiB/s, 3.2s`; a stream: `backing up postgres://db1:5432/shop
//! (2 of 5): 12.0 MiB read from pg_dump, 3.1 MiB stored, 4.0 MiB/s, 3.2s`;
//! a restore: `restoring snapshot 1a2b3c4d into /tmp/r: 12.0 MiB of 40.0
//! MiB (30%) written, 3 of 10 files, 4.0 MiB/s, 3.2s`; `coffer vault usage`:
//! `measuring vault main: 5120 objects listed, 310 trees read, 2.1s`. The
//! rate is that of the last few seconds.

use coffer_sources::{Counts, Part, Progress};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::GlobalArgs;
use crate::output::{duration, human, rate};

/// What the line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A backup: bytes read and stored.
    Backup,
    /// A restore: bytes (and files) written.
    Restore,
    /// `coffer vault usage`: objects listed, trees read.
    Usage,
}

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(100);
/// Nothing is drawn for work that ends sooner than this.
const FIRST_DRAW: Duration = Duration::from_millis(200);
/// The rate is measured over this much of the recent past.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The line being drawn now, if any: what [`say`] prints above.
static DRAWN: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Prints `line` on standard error, above the progress line while one is
/// drawn (a storage retry, a source's notice), so neither garbles the other.
pub fn say(line: &str) {
    let drawn = DRAWN.lock().unwrap_or_else(|e| e.into_inner());
    match drawn.as_ref() {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// A progress line fed from [`Progress`] counters (see the module doc).
pub struct ProgressView {
    stop: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl ProgressView {
    /// Starts the line (nothing with --json, --quiet or off a terminal).
    pub fn start(g: &GlobalArgs, p: Arc<Progress>, work: Work) -> Self {
        if g.json || g.quiet || !std::io::stdout().is_terminal() {
            return ProgressView::none();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::spawn(move || draw(&p, work, &s2));
        ProgressView {
            stop: Some((stop, h)),
        }
    }

    /// No line (standard output carries data, say).
    pub fn none() -> Self {
        ProgressView { stop: None }
    }

    /// Stops and clears the line.
    pub fn finish(self) {
        if let Some((s, h)) = self.stop {
            s.store(true, Ordering::Relaxed);
            let _ = h.join();
        }
    }
}

/// Draws until `stop`, then clears the line.
fn draw(p: &Progress, work: Work, stop: &AtomicBool) {
    let t0 = Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    *DRAWN.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        let c = p.counts();
        let moved = match work {
            Work::Backup => c.bytes_read,
            Work::Restore => c.bytes,
            Work::Usage => c.entries + c.files,
        };
        samples.push_back((now, moved));
        while samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            samples.pop_front();
        }
        if now.duration_since(t0) < FIRST_DRAW {
            continue;
        }
        let (t1, b1) = *samples.front().expect("pushed above");
        let per_sec = rate(
            moved.saturating_sub(b1),
            now.duration_since(t1).as_secs_f64(),
        );
        bar.set_message(line(
            work,
            &p.part(),
            &c,
            per_sec.as_deref(),
            now.duration_since(t0),
            columns().saturating_sub(2),
        ));
        bar.tick();
    }
    *DRAWN.lock().unwrap_or_else(|e| e.into_inner()) = None;
    bar.finish_and_clear();
}

/// The terminal's width in columns (standard error's; 80 if unknown).
fn columns() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize, valid for the call.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

/// `s` cut to at most `max` terminal columns, ending in `…` if cut.
fn shorten(s: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for ch in s.chars() {
        let cw = ch.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(ch);
        w += cw;
    }
    out.push('…');
    out
}

/// The text of the line, at most `width` columns where it can be: what is
/// worked on is shortened first, so that the counts stay in view.
fn line(
    work: Work,
    part: &Part,
    c: &Counts,
    per_sec: Option<&str>,
    elapsed: Duration,
    width: usize,
) -> String {
    use unicode_width::UnicodeWidthStr;
    let verb = match work {
        Work::Backup => "backing up",
        Work::Restore => "restoring",
        Work::Usage => "measuring",
    };
    let mut what = part.what.clone();
    if let Some((i, n)) = part.of {
        what.push_str(&format!(" ({i} of {n})"));
    }
    let counts = counts(work, part, c, per_sec, elapsed);
    if what.is_empty() {
        return format!("{verb}: {counts}");
    }
    // What is cut first, down to `…`: the counts are what moves.
    let room = width
        .saturating_sub(verb.width() + counts.width() + 3)
        .max(1);
    format!("{verb} {}: {counts}", shorten(&what, room))
}

/// The counts of the line.
fn counts(work: Work, part: &Part, c: &Counts, per_sec: Option<&str>, elapsed: Duration) -> String {
    let mut fields = Vec::new();
    match work {
        Work::Backup => {
            if part.from.is_none() {
                fields.push(crate::output::count(c.entries, "entry"));
            }
            fields.push(match &part.from {
                Some(f) => format!("{} read from {f}", human(c.bytes_read)),
                None => format!("{} read", human(c.bytes_read)),
            });
            fields.push(format!("{} stored", human(c.bytes_stored)));
        }
        Work::Restore => {
            let mut w = human(c.bytes);
            if c.total_bytes > 0 {
                let pct = (c.bytes as f64 * 100.0 / c.total_bytes as f64).min(100.0);
                w.push_str(&format!(" of {} ({pct:.0}%)", human(c.total_bytes)));
            }
            fields.push(format!("{w} written"));
            if c.total_files > 0 {
                fields.push(format!(
                    "{} of {}",
                    c.files,
                    crate::output::count(c.total_files, "file")
                ));
            }
        }
        Work::Usage => {
            fields.push(format!(
                "{} listed",
                crate::output::count(c.entries, "object")
            ));
            fields.push(format!("{} read", crate::output::count(c.files, "tree")));
        }
    }
    if work != Work::Usage {
        fields.push(per_sec.unwrap_or("0 B/s").to_string());
    }
    fields.push(duration(
        jiff::SignedDuration::try_from(elapsed).unwrap_or_default(),
    ));
    fields.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_backup_line_names_the_tool_and_the_part() {
        let part = Part {
            what: "postgres://db1:5432/shop".into(),
            from: Some("pg_dump".into()),
            of: Some((2, 5)),
        };
        let c = Counts {
            bytes_read: 3 << 20,
            bytes_stored: 1 << 20,
            ..Default::default()
        };
        assert_eq!(
            line(
                Work::Backup,
                &part,
                &c,
                Some("1.0 MiB/s"),
                Duration::from_millis(3200),
                200
            ),
            "backing up postgres://db1:5432/shop (2 of 5): 3.0 MiB read from pg_dump, 1.0 MiB stored, 1.0 MiB/s, 3.2s"
        );
    }

    #[test]
    fn a_usage_line_counts_objects_and_trees_without_a_rate() {
        let part = Part {
            what: "vault main".into(),
            ..Default::default()
        };
        let c = Counts {
            entries: 5120,
            files: 1,
            ..Default::default()
        };
        assert_eq!(
            line(
                Work::Usage,
                &part,
                &c,
                None,
                Duration::from_millis(2100),
                200
            ),
            "measuring vault main: 5120 objects listed, 1 tree read, 2.1s"
        );
    }

    #[test]
    fn a_files_line_counts_entries_and_a_restore_line_its_totals() {
        let files = Part {
            what: "/srv".into(),
            ..Default::default()
        };
        let c = Counts {
            entries: 1,
            bytes_read: 512,
            ..Default::default()
        };
        assert_eq!(
            line(Work::Backup, &files, &c, None, Duration::from_secs(61), 200),
            "backing up /srv: 1 entry, 512 B read, 0 B stored, 0 B/s, 1m 01s"
        );
        let r = Part {
            what: "snapshot 1a2b3c4d into /tmp/r".into(),
            ..Default::default()
        };
        let c = Counts {
            bytes: 1 << 20,
            total_bytes: 4 << 20,
            files: 3,
            total_files: 10,
            ..Default::default()
        };
        assert_eq!(
            line(
                Work::Restore,
                &r,
                &c,
                Some("2.0 MiB/s"),
                Duration::from_secs(2),
                200
            ),
            "restoring snapshot 1a2b3c4d into /tmp/r: 1.0 MiB of 4.0 MiB (25%) written, 3 of 10 files, 2.0 MiB/s, 2.0s"
        );
    }

    #[test]
    fn a_long_name_is_shortened_so_that_the_counts_stay_in_view() {
        let part = Part {
            what: format!("command `{}`", "x".repeat(200)),
            from: Some("the command".into()),
            of: None,
        };
        let l = line(
            Work::Backup,
            &part,
            &Counts::default(),
            None,
            Duration::from_secs(1),
            78,
        );
        assert!(
            l.ends_with(": 0 B read from the command, 0 B stored, 0 B/s, 1.0s"),
            "{l}"
        );
        assert!(l.contains("xxx…: "), "{l}");
        assert_eq!(unicode_width::UnicodeWidthStr::width(l.as_str()), 78, "{l}");
    }
}
