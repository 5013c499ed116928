//! Scratch space: the `coffer_rt_<test>_<random>` names (never a real
//! database's), a scratch database dropped on drop (outside the cancel
//! scope, so after a timeout too), and a scratch server process in a
//! process group of its own, stopped and then killed with its group on
//! drop, with a wait until it is ready.

use super::failure::failed;
use crate::model::ServerResult;
use coffer_core::Cancel;
use coffer_sources::process;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The prefix of every scratch database and directory.
pub const SCRATCH_PREFIX: &str = "coffer_rt_";

/// `coffer_rt_<test>_<8 hex>`: lower case, only `[a-z0-9_]`, at most 63
/// characters (PostgreSQL's and MySQL's limits).
pub fn scratch_name(test: &str) -> String {
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{SCRATCH_PREFIX}{clean}_{:08x}", rand::random::<u32>())
}

/// Drops a scratch database on drop (outside the cancel scope, so it runs
/// after a timeout too).
pub(super) type DropDb<'a> = Box<dyn Fn(&str) -> ServerResult<()> + 'a>;

pub(super) struct ScratchDb<'a> {
    pub(super) name: String,
    pub(super) drop: DropDb<'a>,
    pub(super) done: bool,
}

impl ScratchDb<'_> {
    pub(super) fn close(mut self) -> ServerResult<()> {
        self.done = true;
        let r = process::outside_cancel_scope(|| (self.drop)(&self.name));
        r.map_err(|e| failed(format!("dropping scratch database {}: {e}", self.name)))
    }
}

impl Drop for ScratchDb<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = process::outside_cancel_scope(|| (self.drop)(&self.name)) {
                tracing::error!("cannot drop scratch database {}: {e}", self.name);
            }
        }
    }
}

/// A free TCP port on the loopback interface.
pub(super) fn free_port() -> ServerResult<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed(format!("finding a free port on 127.0.0.1: {e}")))
}

/// A server process we started in a process group of its own: stopped
/// with `stop_signal`, then (after 10 s) the whole group killed.
pub(super) struct ScratchServer {
    child: Child,
    stop_signal: libc::c_int,
    what: String,
    log: PathBuf,
}

impl ScratchServer {
    pub(super) fn start(
        mut cmd: Command,
        what: String,
        log: PathBuf,
        stop_signal: libc::c_int,
    ) -> ServerResult<ScratchServer> {
        let out = std::fs::File::create(&log)
            .map_err(|e| failed(format!("creating {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| failed(format!("creating {}: {e}", log.display())))?;
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .map_err(|e| failed(format!("cannot start {what}: {e}")))?;
        Ok(ScratchServer {
            child,
            stop_signal,
            what,
            log,
        })
    }

    /// `Err` with the end of its log when it has exited.
    fn alive(&mut self) -> ServerResult<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(failed(format!(
                "{} {}: {}",
                self.what,
                process::describe_status(&status),
                self.log_tail()
            ))),
            _ => Ok(()),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: signals the server process this guard started.
            unsafe {
                libc::kill(pid, self.stop_signal);
            }
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever is left of its group (the server's children).
        // SAFETY: the group this guard's process leads.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Waits until `ready` says yes, the server dies, or the cancel fires.
pub(super) fn wait_ready(
    server: &mut ScratchServer,
    cancel: &Cancel,
    what: &str,
    mut ready: impl FnMut() -> ServerResult<bool>,
) -> ServerResult<()> {
    let mut last = String::new();
    loop {
        server.alive()?;
        if let Some(why) = cancel.reason() {
            return Err(failed(format!(
                "{why} while waiting for {what} (last: {last})"
            )));
        }
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e.message,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
