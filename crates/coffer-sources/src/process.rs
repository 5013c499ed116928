//! Child processes, written once for every source: dump tools (`pg_dump`,
//! `mariadb-dump`), restore tools (`pg_restore`, `psql`, `mariadb`) and
//! user commands (`sh -c`).
//!
//! Invariants:
//! - A dump is good only if its process exits with status 0. The stream is
//!   read to its end *and then* the exit status is checked, before the
//!   source hands its tree to [`crate::run_backup`]; so a dump that fails or
//!   is killed half way never gets a snapshot (its chunks stay unreferenced
//!   until prune).
//! - A process that is abandoned (the vault failed while reading its output)
//!   is killed and reaped, never left running.
//! - Standard error is captured (its last 16 KiB) for the error message, with
//!   the URL's password replaced by `***`.
//! - Inside a [`cancel_scope`] (a restore test with a time limit), every
//!   process starts in a process group of its own, and the whole group is
//!   killed as soon as the scope's [`Cancel`] fires or the process is
//!   dropped: a shell's children (`sh -c 'sleep 600'`) die with it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use coffer_core::{Archiver, Cancel, ChunkRef};

use crate::error::{SourceError, SourceResult};

/// Environment variables that hand a child a secret (`PGPASSWORD`,
/// `MYSQL_PWD`, `REDISCLI_AUTH`): the only way coffer gives a tool a
/// password, never its command line. Their values are scrubbed from what
/// the tool prints.
pub const SECRET_ENV: &[&str] = &["PGPASSWORD", "MYSQL_PWD", "REDISCLI_AUTH"];

/// How much of a process's standard error is kept for messages.
const STDERR_TAIL: usize = 16 * 1024;

/// A running child process whose standard error is being collected.
pub struct Proc {
    child: Child,
    what: String,
    /// Replaced by `***` in the standard error kept for messages.
    secrets: Vec<String>,
    stdout: Option<ChildStdout>,
    stdin: Option<ChildStdin>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    reaped: bool,
    /// Set when the process leads its own group (inside a cancel scope):
    /// the flag that stops the group's watcher thread.
    group: Option<Arc<AtomicBool>>,
}

thread_local! {
    /// The [`Cancel`] of the innermost [`cancel_scope`] on this thread.
    static SCOPE: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

/// While alive, processes this thread starts through [`Proc`] are killed
/// (with their whole process group) once `cancel` fires. Restores the outer
/// scope on drop.
#[must_use = "the scope ends when this guard is dropped"]
pub struct CancelScope {
    prev: Option<Cancel>,
}

/// Starts a [`CancelScope`] for `cancel` on this thread.
pub fn cancel_scope(cancel: &Cancel) -> CancelScope {
    let prev = SCOPE.with(|s| s.borrow_mut().replace(cancel.clone()));
    CancelScope { prev }
}

impl Drop for CancelScope {
    fn drop(&mut self) {
        let prev = self.prev.take();
        SCOPE.with(|s| *s.borrow_mut() = prev);
    }
}

/// Runs `f` outside any cancel scope: for clean-up (dropping a scratch
/// database) that must run even after the scope's cancel fired.
pub fn outside_cancel_scope<T>(f: impl FnOnce() -> T) -> T {
    let prev = SCOPE.with(|s| s.borrow_mut().take());
    let out = f();
    SCOPE.with(|s| *s.borrow_mut() = prev);
    out
}

/// Kills process group `pgid` once `cancel` fires, until `done` is set.
fn watch_group(pgid: libc::pid_t, cancel: Cancel, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            if cancel.reason().is_some() {
                // SAFETY: signals the process group that Proc::spawn started.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
}

impl Proc {
    /// Starts `cmd` with standard error captured; standard input and output
    /// are piped when asked, else left as the command set them. `what` names
    /// the process in messages; `secret`, and the value of each variable
    /// of [`SECRET_ENV`] set on `cmd`, are scrubbed from its output.
    pub fn spawn(
        mut cmd: Command,
        what: impl Into<String>,
        secret: Option<&str>,
        pipe_stdin: bool,
        pipe_stdout: bool,
    ) -> SourceResult<Proc> {
        let what = what.into();
        let mut secrets: Vec<String> = secret.into_iter().map(str::to_string).collect();
        secrets.extend(cmd.get_envs().filter_map(|(k, v)| {
            let v = v?.to_str()?;
            SECRET_ENV.iter().any(|s| k == *s).then(|| v.to_string())
        }));
        secrets.retain(|s| !s.is_empty());
        let scope = SCOPE.with(|s| s.borrow().clone());
        if let Some(c) = &scope {
            c.check(&what)?;
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        cmd.stderr(Stdio::piped());
        if pipe_stdin {
            cmd.stdin(Stdio::piped());
        }
        if pipe_stdout {
            cmd.stdout(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| SourceError::io(format!("cannot start {what}"), e))?;
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::Builder::new()
            .name("coffer-stderr".into())
            .spawn(move || {
                let mut tail = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    match err.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            tail.extend_from_slice(&buf[..n]);
                            if tail.len() > 2 * STDERR_TAIL {
                                tail.drain(..tail.len() - STDERR_TAIL);
                            }
                        }
                    }
                }
                if tail.len() > STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
                tail
            })
            .map_err(|e| SourceError::io("cannot start a thread", e))?;
        let group = scope.map(|c| {
            let done = Arc::new(AtomicBool::new(false));
            watch_group(child.id() as libc::pid_t, c, done.clone());
            done
        });
        Ok(Proc {
            group,
            stdout: child.stdout.take(),
            stdin: child.stdin.take(),
            child,
            what,
            secrets,
            stderr: Some(stderr),
            reaped: false,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The process's standard output (when piped).
    pub fn stdout(&mut self) -> &mut ChildStdout {
        self.stdout.as_mut().expect("stdout is piped")
    }

    /// Waits for the process; an exit status other than 0 (or a signal) is
    /// an error that quotes the end of its standard error.
    pub fn finish(mut self) -> SourceResult<String> {
        drop(self.stdin.take());
        drop(self.stdout.take());
        let status = self
            .child
            .wait()
            .map_err(|e| SourceError::io(format!("waiting for {}", self.what), e))?;
        self.reaped = true;
        if let Some(done) = &self.group {
            done.store(true, Ordering::SeqCst);
        }
        let tail = self.stderr_text();
        if status.success() {
            Ok(tail)
        } else {
            Err(SourceError::Process {
                what: self.what.clone(),
                status: describe_status(&status),
                detail: if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                },
            })
        }
    }

    fn stderr_text(&mut self) -> String {
        let bytes = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        // The last lines are the ones that say what failed.
        let lines: Vec<&str> = text.lines().collect();
        let text = lines[lines.len().saturating_sub(12)..].join("\n");
        self.secrets
            .iter()
            .fold(text, |t, s| t.replace(s.as_str(), "***"))
    }

    /// Kills and reaps the process.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        if let Some(done) = &self.group {
            done.store(true, Ordering::SeqCst);
            if !self.reaped {
                // SAFETY: the process leads a group of its own (see spawn).
                unsafe {
                    libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
                }
            }
        }
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_now();
        // The stderr thread ends once the process is gone.
        if let Some(h) = self.stderr.take() {
            let _ = h.join();
        }
    }
}

/// `exited with status 1`, `was killed by signal 9 (SIGKILL)`.
pub fn describe_status(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => {
            let name = match sig {
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGTERM => " (SIGTERM)",
                libc::SIGINT => " (SIGINT)",
                libc::SIGPIPE => " (SIGPIPE)",
                libc::SIGSEGV => " (SIGSEGV)",
                _ => "",
            };
            format!("was killed by signal {sig}{name}")
        }
        _ => format!("ended with {s}"),
    }
}

/// Runs `cmd` to completion and returns its standard output (for short
/// queries: versions, database lists).
pub fn output(cmd: Command, what: impl Into<String>, secret: Option<&str>) -> SourceResult<String> {
    let mut cmd = cmd;
    cmd.stdin(Stdio::null());
    let mut p = Proc::spawn(cmd, what, secret, false, true)?;
    let mut out = String::new();
    let read = p.stdout().read_to_string(&mut out);
    let what = p.what.clone();
    p.finish()?;
    read.map_err(|e| SourceError::io(format!("reading the output of {what}"), e))?;
    Ok(out)
}

/// Streams the standard output of `cmd` into the vault as the content of
/// `name`; succeeds only if the process then exits with status 0.
pub fn stdout_to_vault(
    archiver: &Archiver,
    cmd: Command,
    what: impl Into<String>,
    secret: Option<&str>,
    name: &str,
) -> SourceResult<Vec<ChunkRef>> {
    let mut cmd = cmd;
    cmd.stdin(Stdio::null());
    if let Some(progress) = archiver.progress() {
        // The progress names the tool the bytes come from (`pg_dump`),
        // unless the source named it already.
        let mut part = progress.part();
        if part.from.is_none() {
            part.from = Path::new(cmd.get_program())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            progress.set_part(part);
        }
    }
    // A stoppable run puts the process in a group of its own, so that a stop
    // request kills the whole group (a shell's children hold the pipe open
    // too) and the read below ends at once.
    let watch = archiver.cancel().cloned();
    if watch.is_some() {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let mut p = Proc::spawn(cmd, what, secret, false, true)?;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch.map(|cancel| {
        let pgid = p.child.id() as libc::pid_t;
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if cancel.reason().is_some() {
                    // SAFETY: signals the process group this function started.
                    unsafe {
                        libc::kill(-pgid, libc::SIGKILL);
                    }
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    });
    let content = archiver.save_stream(p.stdout(), Path::new(name));
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    if let Some(c) = archiver.cancel() {
        if let Err(e) = c.check("the backup") {
            p.kill();
            return Err(e.into());
        }
    }
    match content {
        Ok(c) => {
            p.finish()?;
            Ok(c)
        }
        Err(e) => {
            // Reading failed or the vault did: the dump cannot be good either way.
            p.kill();
            Err(e.into())
        }
    }
}

/// Runs `cmd` with `input` on its standard input; succeeds if the process
/// read it all and exited with status 0. Returns the bytes fed and the end
/// of the process's standard error (warnings).
pub fn stdin_from<R: Read>(
    cmd: Command,
    mut input: R,
    what: impl Into<String>,
    secret: Option<&str>,
) -> SourceResult<(u64, String)> {
    let mut p = Proc::spawn(cmd, what, secret, true, false)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let mut stdin = p.stdin.take().expect("stdin is piped");
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let what = p.what.clone();
                p.kill();
                return Err(SourceError::io(
                    format!("reading the snapshot for {what}"),
                    e,
                ));
            }
        };
        if let Err(e) = stdin.write_all(&buf[..n]) {
            // The process stopped reading: its own error says why.
            drop(stdin);
            let what = p.what.clone();
            p.finish()?;
            return Err(SourceError::io(
                format!("{what} stopped reading its input after {total} bytes"),
                e,
            ));
        }
        total += n as u64;
    }
    drop(stdin);
    let stderr = p.finish()?;
    Ok((total, stderr))
}

/// What an optional checking tool (`pg_amcheck`, `mariadb-check`) did: its
/// report, or why it could not run (not installed, too old), for the
/// caller to record the check as skipped rather than passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// It ran and exited 0; its output.
    Ran(String),
    /// It could not run: the error that says so (where it was looked for,
    /// what to install).
    Unavailable(String),
}

/// Where client tools are looked for: one directory given by the user (and
/// nothing else), or `PATH` followed by `extra` directories.
#[derive(Debug, Clone)]
pub struct ToolDirs {
    /// The user's directory (`--pg-bin-dir` …), searched alone.
    pub only: Option<PathBuf>,
    /// The option that set it, for messages.
    pub option: String,
    /// Directories searched after `PATH` when no directory is given.
    pub extra: Vec<PathBuf>,
}

impl ToolDirs {
    /// The directories, in order.
    pub fn dirs(&self) -> Vec<PathBuf> {
        if let Some(d) = &self.only {
            return vec![d.clone()];
        }
        let mut v: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        v.extend(self.extra.iter().cloned());
        v
    }

    /// Every executable called one of `names`, in search order.
    pub fn find_all(&self, names: &[&str]) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in self.dirs() {
            for n in names {
                let p = d.join(n);
                if is_executable(&p) && !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The first executable called one of `names` (earlier names first in
    /// each directory), or an error naming where it was looked for and the
    /// `hint` (which package to install).
    pub fn find(&self, names: &[&str], hint: &str) -> SourceResult<PathBuf> {
        for n in names {
            if let Some(p) = self.find_all(&[n]).into_iter().next() {
                return Ok(p);
            }
        }
        Err(SourceError::ToolMissing {
            tool: names.join(" or "),
            searched: self.searched(),
            hint: hint.to_string(),
        })
    }

    /// Where tools are looked for, for messages.
    pub fn searched(&self) -> String {
        match &self.only {
            Some(d) => format!("{} (from {})", d.display(), self.option),
            None if self.extra.is_empty() => "PATH".to_string(),
            None => format!(
                "PATH or {}",
                self.extra
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The first line of `tool --version`.
pub fn tool_version(tool: &Path) -> SourceResult<String> {
    let mut c = Command::new(tool);
    c.arg("--version");
    let out = output(c, format!("{} --version", tool.display()), None)?;
    Ok(out.lines().next().unwrap_or("").trim().to_string())
}

/// The numbers at the start of the first token of `text` that starts with a
/// digit: `"pg_dump (PostgreSQL) 15.20 (Debian)"` → `[15, 20]`.
pub fn version_numbers(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        .map(|t| {
            t.split(|c: char| !c.is_ascii_digit())
                .take_while(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            version_numbers("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            vec![15, 20]
        );
        assert_eq!(
            version_numbers("10.11.19-MariaDB-0+deb12u1"),
            vec![10, 11, 19]
        );
        assert!(version_numbers("none").is_empty());
    }

    #[test]
    fn failing_process_reports_status_and_stderr_without_secret() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "echo 'bad password hunter2' >&2; exit 3"]);
        let e = output(c, "test command", Some("hunter2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("test command exited with status 3"), "{e}");
        assert!(
            e.contains("bad password ***") && !e.contains("hunter2"),
            "{e}"
        );
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "kill -9 $$"]);
        let e = output(c, "killed", None).unwrap_err().to_string();
        assert!(e.contains("killed by signal 9"), "{e}");
    }

    #[test]
    fn stdin_reaches_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(format!("cat > {}", out.display()));
        let data = vec![7u8; 1 << 20];
        assert_eq!(stdin_from(c, &data[..], "cat", None).unwrap().0, 1 << 20);
        assert_eq!(std::fs::read(&out).unwrap(), data);
        // A process that stops reading: its failure is the error.
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "exit 4"]);
        let e = stdin_from(c, &vec![0u8; 4 << 20][..], "quitter", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("quitter exited with status 4"), "{e}");
    }
}
