//! `coffer`: the command line.
//!
//! `main` parses the command line ([`cli`]), runs the command (`cmd/`, one
//! file per verb) and turns its result into an exit code; the files beside
//! it are what the commands share (the vault, configuration and state
//! directory a command means in `context`, printing in `output`, the
//! progress line in `progress`, signals in `signal`).

// The test clock (`COFFER_NOW`) is for the test build only: an optimised
// build with it does not compile, so no release binary carries the hook
// (docs/security.md, "The clock and the lock").
#[cfg(all(feature = "test-clock", not(debug_assertions)))]
compile_error!(
    "the `test-clock` feature lets COFFER_NOW move coffer's clock: it is for the test build \
     (scripts/test.sh), never for an optimised build"
);

mod args;
mod audit;
mod audited;
mod cli;
mod clock;
mod cmd;
mod context;
mod error;
mod help;
mod notify;
mod output;
mod progress;
mod signal;
mod sources;
#[cfg(test)]
mod tests;

use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;

use crate::args::GlobalArgs;
use crate::cli::Cmd;
use crate::error::message;

fn main() -> ExitCode {
    output::quiet_on_closed_stdout();
    // glibc raises its mmap threshold (up to 32 MiB) each time an mmapped
    // block is freed; after that, 8 MiB pack buffers come from, and stay in,
    // the heap arenas. A fixed 4 MiB threshold keeps pack buffers and other
    // rare large buffers in mmap, returned to the system when freed, while
    // chunk-sized buffers (reused per thread) stay in the heap. (ea37646 set
    // 256 KiB, which put every chunk through mmap and page faults: +6 s of
    // system time on the Linux tree.)
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
    let (line, g) = match cli::parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG")
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // A storage request sent again says so, whatever the log filter.
    coffer_storage::on_retry(|n| progress::say(&format!("warning: {n}")));
    let json = g.json;
    match run(&g, line.cmd) {
        Ok(code) => ExitCode::from(code),
        // Printed by the command already.
        Err(e) if e.downcast_ref::<audit::Reported>().is_some() => {
            ExitCode::from(e.downcast_ref::<audit::Reported>().map_or(1, |r| r.code))
        }
        Err(e) => {
            let msg = message(&e);
            if json {
                println!("{}", json!({"error": msg}));
            }
            eprintln!("error: {msg}");
            ExitCode::from(crate::error::exit_code(&e))
        }
    }
}

fn run(g: &GlobalArgs, cmd: Cmd) -> Result<u8> {
    let audited = audited::action_of(&cmd, g);
    let r = dispatch(g, cmd);
    if let Some(a) = audited {
        let target = a.target.as_deref();
        audit::record(g, a.state_dir, a.action, target, &audit::outcome(&r));
    }
    r
}

fn dispatch(g: &GlobalArgs, cmd: Cmd) -> Result<u8> {
    match cmd {
        Cmd::Init { label } => cmd::init::init(g, &label),
        Cmd::Backup(a) => cmd::backup::backup(g, a),
        Cmd::Snapshots(f) => cmd::snapshots::snapshots(g, &f),
        Cmd::Ls {
            snapshot,
            inside,
            long,
            filter,
        } => cmd::ls::ls(g, &snapshot, inside.as_deref(), long, &filter.filter()),
        Cmd::Restore {
            snapshot,
            target,
            include,
            subpath,
            stream,
            filter,
            no_thaw,
            thaw,
        } => cmd::restore::run(
            g,
            snapshot,
            target,
            include,
            subpath,
            stream,
            filter,
            cmd::restore::Thaw {
                no_thaw,
                flags: thaw,
            },
        ),
        Cmd::Thaw(a) => cmd::thaw::run(g, a),
        Cmd::Diff { a, b } => cmd::diff::diff(g, &a, &b),
        Cmd::Check {
            read_data,
            read_data_subset,
        } => cmd::check::check(g, read_data, read_data_subset),
        Cmd::Copy(a) => cmd::copy::run(g, a),
        Cmd::Prune(a) => cmd::prune::run(g, a),
        Cmd::Key(k) => cmd::key::key(g, k),
        Cmd::WalPush(a) => cmd::wal::wal_push(g, a),
        Cmd::WalFetch(a) => cmd::wal::wal_fetch(g, a),
        Cmd::Pg(c) => cmd::pg::pg(g, c),
        Cmd::Forget(a) => cmd::forget::forget(g, a),
        Cmd::Rewrite(a) => cmd::rewrite::rewrite(g, a),
        Cmd::Vault(c) => cmd::vault_lock::vault(g, c),
        Cmd::Snapshot(c) => cmd::hold::snapshot(g, c),
        Cmd::Config(c) => cmd::config::run(g, c),
        Cmd::Serve { state_dir } => cmd::serve::serve(g, state_dir),
        Cmd::Plan { state_dir, cmd } => cmd::plan::plan(g, cmd, state_dir),
        Cmd::Jobs(a) => cmd::jobs::run(g, a),
        Cmd::Status(a) => cmd::status::status(g, a),
        Cmd::Report(a) => cmd::report::report(g, a),
        Cmd::RestoreTest(c) => cmd::restore_test::run(g, c),
        Cmd::Verify(a) => cmd::verify::run(g, a),
        Cmd::Events(a) => cmd::events::run(g, a),
        Cmd::Token(c) => cmd::token::run(g, c),
        Cmd::Completions { shell } => cmd::completions::completions(shell, cli::command()),
        Cmd::Man => cmd::completions::man(cli::command()),
    }
}
