//! Printing helpers shared by several commands: byte counts ([`human`]),
//! counts of things with their plural ([`count`]), durations
//! ([`duration`]), tables aligned by their widest cell ([`table`]), a
//! backup's one summary line or JSON ([`report_backup`]) and the damage a
//! check found ([`print_damage`]). The progress line is [`crate::progress`].

use anyhow::Result;
use coffer_core::Vault;
use serde_json::json;
use unicode_width::UnicodeWidthStr;

use crate::args::GlobalArgs;

/// A byte count for people (`1.5 MiB`).
pub use coffer_core::human_bytes as human;

/// `n` things: `1 snapshot`, `2 snapshots` (the core's, for every layer).
pub use coffer_core::human_count as count;

/// A duration for people: `0.4s`, `12.0s`, `2m 05s`, `1h 02m`.
pub fn duration(d: jiff::SignedDuration) -> String {
    let s = d.as_secs().max(0);
    match s {
        0..=59 => format!("{}.{}s", s, d.subsec_millis().max(0) / 100),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `bytes` over `secs` as a rate (`12.0 MiB/s`); `None` for no time.
pub fn rate(bytes: u64, secs: f64) -> Option<String> {
    (secs > 0.0).then(|| format!("{}/s", human((bytes as f64 / secs) as u64)))
}

/// The lines of a table: each column as wide as its widest cell (in
/// terminal columns, so that names in any script line up), two spaces
/// between columns, the last column not padded. No header line when there
/// are no rows.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.width());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < widths.len() {
                out.push_str(&" ".repeat(widths[i].saturating_sub(c.width())));
            }
        }
        out.trim_end().to_string()
    };
    if rows.is_empty() {
        return Vec::new();
    }
    let mut out = vec![line(&mut header.iter().copied())];
    out.extend(rows.iter().map(|r| line(&mut r.iter().map(String::as_str))));
    out
}

/// The seconds from `started` to `finished` (RFC 3339), if both parse.
pub fn seconds(started: &str, finished: &str) -> Option<f64> {
    let (a, b) = (
        started.parse::<jiff::Timestamp>().ok()?,
        finished.parse::<jiff::Timestamp>().ok()?,
    );
    Some(b.duration_since(a).as_secs_f64().max(0.0))
}

/// `read 5.0 MiB from pg_dump in 2.1s (2.4 MiB/s), added 4.0 MiB (1.2 MiB
/// stored)`: what a backup read and stored, as its summary and `plan run`
/// print it. `of`: the content covered, when more than was read (files
/// found unchanged).
pub fn data_line(
    read: u64,
    of: Option<u64>,
    from: Option<&str>,
    secs: Option<f64>,
    added: u64,
    stored: u64,
) -> String {
    let mut out = format!("read {}", human(read));
    if let Some(total) = of.filter(|t| *t > read) {
        out.push_str(&format!(" of {}", human(total)));
    }
    if let Some(f) = from {
        out.push_str(&format!(" from {f}"));
    }
    if let Some(s) = secs {
        out.push_str(&format!(
            " in {}",
            duration(jiff::SignedDuration::from_secs_f64(s))
        ));
        if let Some(r) = rate(read, s) {
            out.push_str(&format!(" ({r})"));
        }
    }
    out.push_str(&format!(
        ", added {} ({} stored)",
        human(added),
        human(stored)
    ));
    out
}

/// Prints a backup's warnings and its one summary line; with --json prints
/// the snapshot as JSON, or (when `collect`) returns it for the caller to
/// print in a list.
pub fn report_backup(
    g: &GlobalArgs,
    vault: &Vault,
    result: &coffer_sources::BackupResult,
    dry_run: bool,
    collect: bool,
) -> Result<serde_json::Value> {
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let mut j = serde_json::to_value(&result.snapshot)?;
    j["id"] = json!(result.id.map(|i| i.to_hex()));
    j["dry_run"] = json!(dry_run);
    j["warnings"] = json!(result.warnings);
    if g.json {
        if !collect {
            println!("{}", serde_json::to_string_pretty(&j)?);
        }
    } else if !g.quiet {
        println!("{}", summary_line(vault, result));
    }
    Ok(j)
}

/// The one line a backup prints for each snapshot it made, e.g.
///
/// `files /srv/www: 14 files (3 new, 1 changed, 10 unmodified), 9
/// directories (with those above the paths); read 5.0 MiB of 1.2 GiB in
/// 2.1s (2.4 MiB/s), added 4.0 MiB (1.2 MiB stored); snapshot 1a2b3c4d
/// saved in /srv/vault`
///
/// The directories are those of the snapshot, as a full restore counts
/// them: the backed-up paths' parents (which a restore makes too) included.
pub fn summary_line(vault: &Vault, result: &coffer_sources::BackupResult) -> String {
    let snap = &result.snapshot;
    let s = &snap.summary;
    let kind = &snap.source.kind;
    let paths = snap.paths.join(" ");
    // `postgres://db1:5432/shop` says its kind already.
    let mut out = if paths.starts_with(&format!("{kind}://")) {
        format!("{paths}: ")
    } else {
        format!("{kind} {paths}: ")
    };
    let from = coffer_sources::stream::origin(kind, &snap.source.details);
    if from.is_none() {
        let files = s.files_new + s.files_changed + s.files_unmodified;
        out.push_str(&format!(
            "{} ({} new, {} changed, {} unmodified), {}",
            count(files, "file"),
            s.files_new,
            s.files_changed,
            s.files_unmodified,
            count(s.dirs, "directory"),
        ));
        // Only when there are such directories: /etc lies in none.
        if snap.paths.iter().any(|p| p.trim_matches('/').contains('/')) {
            out.push_str(" (with those above the paths)");
        }
        if s.others > 0 {
            out.push_str(&format!(", {}", count(s.others, "other entry")));
        }
        out.push_str("; ");
    }
    out.push_str(&data_line(
        s.bytes_read,
        from.is_none().then_some(s.total_bytes),
        from.as_deref(),
        seconds(&s.started, &s.finished),
        s.bytes_added,
        s.bytes_stored,
    ));
    match result.id {
        Some(id) => out.push_str(&format!(
            "; snapshot {} saved in {}",
            id.short(),
            vault.backend().location()
        )),
        None => out.push_str("; dry run: nothing written"),
    }
    out
}

/// Prints each damaged object with the snapshots it affects (`coffer
/// check` and `coffer verify`).
pub(crate) fn print_damage(problems: &[coffer_core::Problem]) {
    for p in problems {
        let affected = if p.snapshots.is_empty() {
            "none".into()
        } else {
            p.snapshots.join(", ")
        };
        println!(
            "damaged: {}: {} (snapshots affected: {affected})",
            p.object, p.detail
        );
    }
}

/// Makes a closed standard output (`coffer ls latest | head`) end the
/// program quietly, as `ls | head` expects, instead of a panic with exit
/// code 101. Rust ignores SIGPIPE, so `println!` to a closed pipe panics
/// with "failed printing to stdout"; that one panic exits 0 without a word,
/// every other panic is reported as before. SIGPIPE itself stays ignored, so
/// a closed pipe to a child process (a restore into `psql`) is still an
/// error the command reports.
pub fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Writes `bytes` to standard output; a closed pipe ends the output
/// quietly (as [`quiet_on_closed_stdout`] does for `println!`).
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_their_plural() {
        assert_eq!(count(1, "snapshot"), "1 snapshot");
        assert_eq!(count(0, "snapshot"), "0 snapshots");
        assert_eq!(count(2, "directory"), "2 directories");
        assert_eq!(count(1, "other entry"), "1 other entry");
        assert_eq!(count(3, "index object"), "3 index objects");
        assert_eq!(count(2, "key"), "2 keys");
        assert_eq!(count(2, "pass"), "2 passes");
    }

    #[test]
    fn a_table_aligns_by_terminal_width() {
        let rows = vec![
            vec!["a".to_string(), "日本".to_string(), "x".to_string()],
            vec!["bbb".to_string(), "c".to_string(), "".to_string()],
        ];
        assert_eq!(
            table(&["id", "host", "tags"], &rows),
            ["id   host  tags", "a    日本  x", "bbb  c"]
        );
        assert!(table(&["id"], &[]).is_empty());
    }
}
