//! Printing helpers shared by several commands: byte counts ([`human`]),
//! a backup's summary or JSON ([`report_backup`]), the progress bar
//! ([`ProgressView`]) and the damage a check found ([`print_damage`]).

use anyhow::Result;
use coffer_core::Vault;
use coffer_sources::Progress;
use serde_json::json;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::args::GlobalArgs;

/// A byte count for people (`1.5 MiB`).
pub use coffer_core::human_bytes as human;

/// Prints a backup's warnings and summary; with --json prints the snapshot
/// as JSON, or (when `collect`) returns it for the caller to print in a list.
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
    let s = &result.snapshot.summary;
    let mut j = serde_json::to_value(&result.snapshot)?;
    j["id"] = json!(result.id.map(|i| i.to_hex()));
    j["dry_run"] = json!(dry_run);
    j["warnings"] = json!(result.warnings);
    if g.json {
        if !collect {
            println!("{}", serde_json::to_string_pretty(&j)?);
        }
    } else if !g.quiet {
        if result.snapshot.source.kind == "files" {
            println!(
                "files: {} new, {} changed, {} unmodified; {} directories",
                s.files_new, s.files_changed, s.files_unmodified, s.dirs
            );
        } else {
            println!(
                "{} {}",
                result.snapshot.source.kind,
                result.snapshot.paths.join(" ")
            );
        }
        println!(
            "added {} ({} stored) in {} new blobs; {} processed",
            human(s.bytes_added),
            human(s.bytes_stored),
            s.blobs_added,
            human(s.total_bytes)
        );
        match result.id {
            Some(id) => println!(
                "snapshot {} saved in {}",
                id.short(),
                vault.backend().location()
            ),
            None => println!("dry run: nothing written"),
        }
    }
    Ok(j)
}

/// A progress bar fed from [`Progress`] counters, drawn only on a terminal.
pub struct ProgressView {
    stop: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl ProgressView {
    /// Starts the bar (nothing with --json, --quiet or off a terminal).
    pub fn start(g: &GlobalArgs, p: Arc<Progress>, what: &'static str) -> Self {
        if g.json || g.quiet || !std::io::stdout().is_terminal() {
            return ProgressView { stop: None };
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::spawn(move || {
            let total = p.total_bytes.load(Ordering::Relaxed);
            let bar = if total > 0 {
                indicatif::ProgressBar::new(total)
            } else {
                indicatif::ProgressBar::new_spinner()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} {bytes} {bytes_per_sec} {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            while !s2.load(Ordering::Relaxed) {
                bar.set_position(p.bytes.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{what}: {} entries",
                    p.entries.load(Ordering::Relaxed)
                ));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressView {
            stop: Some((stop, h)),
        }
    }

    /// Stops and clears the bar.
    pub fn finish(self) {
        if let Some((s, h)) = self.stop {
            s.store(true, Ordering::Relaxed);
            let _ = h.join();
        }
    }
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
