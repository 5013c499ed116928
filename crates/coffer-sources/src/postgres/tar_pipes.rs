//! `pg_basebackup -D DIR -Ft` of a cluster with tablespaces, streamed into
//! the vault through named pipes: nothing of the cluster is staged on local
//! disk.
//!
//! pg_basebackup writes only one tar to standard output, so a cluster with
//! tablespaces is backed up into a directory: `base.tar` and one `OID.tar`
//! per tablespace, written one after the other. coffer makes that directory
//! (private, in the temporary directory) with a named pipe for each of those
//! names, and a thread per pipe reads it into the archiver as pg_basebackup
//! writes (the [`Archiver`] is shared by the threads; the pipes give
//! pg_basebackup the vault's pace, so at most a pipe's buffer is in flight).
//!
//! pg_basebackup refuses a directory that is not empty, so the pipes are
//! made just after it has looked at the directory (the close of the
//! directory, seen with inotify) and before it has received the first tar
//! from the server (which comes after the server's checkpoint). Should
//! pg_basebackup win that race, the name it created is a regular file and
//! making the pipe fails: that attempt is killed (the server aborts the
//! backup when the connection drops) and the backup is started again, up to
//! [`ATTEMPTS`] times, each time saying so in the log.
//!
//! Other choices considered: a plain-format backup (`-Fp`, with
//! `--tablespace-mapping`) stages the whole cluster; the replication protocol
//! spoken directly would mean a PostgreSQL client (authentication, TLS) in
//! coffer; regular files read while they grow have no back-pressure.
//!
//! The tablespaces are read from `pg_tablespace` before the backup; one
//! created meanwhile leaves a file that is not one of the pipes, and one
//! dropped meanwhile a pipe nothing was written to: both fail the backup
//! with advice to run it again (no snapshot is written).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use coffer_core::{Archiver, ChunkRef};

use super::pages::PageSplitter;
use super::physical::LabelSniffer;
use crate::error::{SourceError, SourceResult};
use crate::process::Proc;

/// How often a backup whose pipe pg_basebackup beat is started again.
pub const ATTEMPTS: u32 = 3;

/// One tar as saved.
#[derive(Debug)]
pub struct SavedTar {
    /// Its chunks.
    pub content: Vec<ChunkRef>,
    /// The `backup_label` bytes seen in it (the base tar's).
    pub label: Vec<u8>,
    /// Where the page splitter fell back to fixed offsets.
    pub fallback_at: Option<u64>,
}

/// Why an attempt failed.
enum Failure {
    /// pg_basebackup created `name` before the pipe was made.
    Raced(String),
    /// Anything else: the backup's error.
    Error(SourceError),
}

impl From<SourceError> for Failure {
    fn from(e: SourceError) -> Self {
        Failure::Error(e)
    }
}

fn io(what: impl Into<String>, e: std::io::Error) -> SourceError {
    SourceError::io(what, e)
}

/// Runs the pg_basebackup that `command(DIR)` builds (with `-D DIR -Ft`,
/// `--no-sync` and `--no-manifest`) and saves the tars called `names`
/// (`base.tar` first), in that order; see the module documentation.
pub fn stream_tars(
    command: impl Fn(&Path) -> Command,
    what: &str,
    secret: Option<&str>,
    names: &[String],
    archiver: &Archiver,
) -> SourceResult<Vec<SavedTar>> {
    for attempt in 1..=ATTEMPTS {
        match attempt_once(&command, what, secret, names, archiver) {
            Ok(v) => return Ok(v),
            Err(Failure::Error(e)) => return Err(e),
            Err(Failure::Raced(name)) if attempt < ATTEMPTS => {
                tracing::warn!(
                    "{what}: pg_basebackup created {name} before coffer made its pipe \
                     (attempt {attempt} of {ATTEMPTS}); starting the backup again"
                );
            }
            Err(Failure::Raced(name)) => {
                return Err(SourceError::Protocol {
                    target: what.to_string(),
                    detail: format!(
                    "pg_basebackup created {name} before coffer could make its pipe, {ATTEMPTS} \
                         times; no snapshot was written: run the backup again when the machine is \
                         less loaded"
                ),
                })
            }
        }
    }
    unreachable!("the last attempt returns")
}

fn attempt_once(
    command: &impl Fn(&Path) -> Command,
    what: &str,
    secret: Option<&str>,
    names: &[String],
    archiver: &Archiver,
) -> Result<Vec<SavedTar>, Failure> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("coffer-basebackup-")
        .tempdir()
        .map_err(|e| io("making a directory for pg_basebackup's pipes", e))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io(format!("chmod 0700 {}", dir.path().display()), e))?;
    let watch = Watch::new(dir.path())?;
    let p = Proc::spawn(command(dir.path()), what, secret, false, false)?;
    let pid = p.id();
    // pg_basebackup checks that the directory is empty, then asks the
    // server for the backup.
    loop {
        match watch.next(Duration::from_millis(100)) {
            Ok(Seen::DirClosed) => break,
            Ok(Seen::Created(name)) => {
                p.kill();
                return Err(Failure::Raced(name));
            }
            Ok(Seen::Nothing) if has_exited(pid) => {
                p.finish()?;
                return Err(SourceError::Protocol {
                    target: what.to_string(),
                    detail: "pg_basebackup exited without looking at its directory".into(),
                }
                .into());
            }
            Ok(Seen::Nothing) => {}
            Err(e) => {
                p.kill();
                return Err(e.into());
            }
        }
    }
    let mut pipes = Vec::new();
    for n in names {
        match make_pipe(&dir.path().join(n)) {
            Ok(f) => pipes.push(f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                p.kill();
                return Err(Failure::Raced(n.clone()));
            }
            Err(e) => {
                p.kill();
                return Err(io(format!("making the pipe {n}"), e).into());
            }
        }
    }
    drop(watch);
    let done = AtomicBool::new(false);
    let failed = AtomicBool::new(false);
    let (status, saved) = std::thread::scope(|s| {
        let handles: Vec<_> = pipes
            .into_iter()
            .zip(names)
            .map(|(f, n)| {
                let (done, failed) = (&done, &failed);
                s.spawn(move || {
                    let r = save_pipe(f, n, archiver, done);
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    r
                })
            })
            .collect();
        while !has_exited(pid) && !failed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = if has_exited(pid) {
            p.finish().map(|_| ())
        } else {
            p.kill();
            Err(SourceError::Protocol {
                target: what.to_string(),
                detail: "stopped: saving one of its tars failed".into(),
            })
        };
        done.store(true, Ordering::SeqCst);
        let saved: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(thread_panicked())))
            .collect();
        (status, saved)
    });
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for r in saved {
        match r {
            Ok(t) => out.push(t),
            Err(e) => errors.push(e),
        }
    }
    // Which failure to report: the vault's (pg_basebackup then died of the
    // closed pipe), else pg_basebackup's own (the readers saw its end or
    // nothing), else a reader's (a pipe nothing was written to).
    let vault_failed = errors.iter().position(
        |e| matches!(e, SourceError::Vault(v) if !matches!(v, coffer_core::Error::Io { .. })),
    );
    if let Some(i) = vault_failed {
        return Err(errors.swap_remove(i).into());
    }
    status?;
    if let Some(e) = errors.into_iter().next() {
        return Err(e.into());
    }
    for e in std::fs::read_dir(dir.path()).map_err(|e| io("reading the pipes' directory", e))? {
        let e = e.map_err(|e| io("reading the pipes' directory", e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !names.contains(&name) {
            return Err(SourceError::Protocol {
                target: what.to_string(),
                detail: format!(
                    "pg_basebackup wrote {name}, which is not one of the tablespaces listed before \
                     the backup (was a tablespace created during it?); no snapshot was written: run \
                     the backup again"
                ),
            }
            .into());
        }
    }
    Ok(out)
}

fn thread_panicked() -> SourceError {
    SourceError::Protocol {
        target: "pg_basebackup".into(),
        detail: "a thread reading one of its tars panicked".into(),
    }
}

/// Saves one pipe's tar; `base.tar` is watched for its backup_label.
fn save_pipe(
    f: File,
    name: &str,
    archiver: &Archiver,
    done: &AtomicBool,
) -> SourceResult<SavedTar> {
    let mut pipe = Pipe {
        file: f,
        done,
        seen_writer: false,
    };
    let mut sniff = LabelSniffer::new(&mut pipe);
    let mut split = PageSplitter::new(&mut sniff);
    let content = archiver.save_chunks(&mut split, Path::new(name));
    let fallback_at = split.fallback_at();
    drop(split);
    let label = std::mem::take(&mut sniff.captured);
    drop(sniff);
    let content = content.map_err(|e| match e {
        coffer_core::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            SourceError::Protocol {
                target: "pg_basebackup".into(),
                detail: format!(
                    "it wrote nothing to {name} (was its tablespace dropped during the backup?); \
                     no snapshot was written: run the backup again"
                ),
            }
        }
        e => e.into(),
    })?;
    Ok(SavedTar {
        content,
        label: if name == super::physical::BASE_TAR {
            label
        } else {
            Vec::new()
        },
        fallback_at,
    })
}

/// Makes a named pipe (mode 0600) and opens it for reading without
/// waiting for a writer.
fn make_pipe(path: &Path) -> std::io::Result<File> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("a NUL in the path"))?;
    // SAFETY: c is a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above; the descriptor is owned by the File.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A pipe opened without waiting for its writer: reads wait (polling) for
/// data, and end at the end of what the writer wrote once it has been
/// seen; a pipe nobody opened by the time `done` is set is an error
/// (`NotFound`).
struct Pipe<'a> {
    file: File,
    done: &'a AtomicBool,
    seen_writer: bool,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, 100) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if rc == 0 {
                // The end (POLLHUP) is reported only once a writer came and
                // went; before that, nothing to read is "not yet".
                if self.done.load(Ordering::SeqCst) && !self.seen_writer {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "pg_basebackup never opened this pipe",
                    ));
                }
                continue;
            }
            self.seen_writer = true;
            match (&self.file).read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether process `pid` (our child) has exited, without reaping it.
fn has_exited(pid: u32) -> bool {
    // SAFETY: a zeroed siginfo_t is valid; waitid only writes it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    rc != 0 || unsafe { info.si_pid() } != 0
}

/// What the directory's watch saw.
enum Seen {
    /// Nothing within the time given.
    Nothing,
    /// The directory itself was closed (pg_basebackup read it).
    DirClosed,
    /// An entry was created in it.
    Created(String),
}

/// An inotify watch on a directory: closes of the directory and entries
/// created in it.
struct Watch {
    fd: OwnedFd,
}

impl Watch {
    fn new(dir: &Path) -> SourceResult<Watch> {
        // SAFETY: plain system calls; the descriptor is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(io("inotify_init1", std::io::Error::last_os_error()));
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io("inotify", std::io::Error::other("a NUL in the path")))?;
        let mask = libc::IN_CLOSE_NOWRITE | libc::IN_CREATE | libc::IN_MOVED_TO;
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) } < 0 {
            return Err(io(
                format!("watching {}", dir.display()),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Watch { fd })
    }

    /// The first event within `timeout` that matters.
    fn next(&self, timeout: Duration) -> SourceResult<Seen> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
        if rc <= 0 {
            return Ok(Seen::Nothing);
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reads into buf, within its length.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n <= 0 {
            return Ok(Seen::Nothing);
        }
        let mut at = 0usize;
        let n = n as usize;
        let mut closed = false;
        while at + 16 <= n {
            let word = |o: usize| u32::from_ne_bytes(buf[at + o..at + o + 4].try_into().unwrap());
            let (mask, len) = (word(4), word(12) as usize);
            let name_bytes = &buf[(at + 16).min(n)..(at + 16 + len).min(n)];
            let name_end = name_bytes
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(name_bytes.len());
            let name = String::from_utf8_lossy(&name_bytes[..name_end]).into_owned();
            if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 && !name.is_empty() {
                return Ok(Seen::Created(name));
            }
            if mask & libc::IN_CLOSE_NOWRITE != 0 && name.is_empty() {
                closed = true;
            }
            at += 16 + len;
        }
        Ok(if closed {
            Seen::DirClosed
        } else {
            Seen::Nothing
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archiver_is_shared_by_threads() {
        fn sync<T: Sync>() {}
        sync::<Archiver<'static>>();
    }

    #[test]
    fn a_pipe_reads_what_its_writer_wrote_and_one_never_opened_fails() {
        let d = tempfile::tempdir().unwrap();
        let done = AtomicBool::new(false);
        let f = make_pipe(&d.path().join("a.tar")).unwrap();
        let g = make_pipe(&d.path().join("b.tar")).unwrap();
        assert_eq!(
            make_pipe(&d.path().join("a.tar")).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        let path = d.path().join("a.tar");
        let w = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(250));
            std::fs::write(path, vec![7u8; 300_000]).unwrap();
        });
        let mut p = Pipe {
            file: f,
            done: &done,
            seen_writer: false,
        };
        let mut got = Vec::new();
        p.read_to_end(&mut got).unwrap();
        w.join().unwrap();
        assert_eq!(got.len(), 300_000);
        done.store(true, Ordering::SeqCst);
        let mut q = Pipe {
            file: g,
            done: &done,
            seen_writer: false,
        };
        let e = q.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn the_watch_sees_the_directory_read_and_an_entry_made() {
        let d = tempfile::tempdir().unwrap();
        let w = Watch::new(d.path()).unwrap();
        assert!(matches!(
            w.next(Duration::from_millis(10)).unwrap(),
            Seen::Nothing
        ));
        let _ = std::fs::read_dir(d.path()).unwrap().count();
        assert!(matches!(
            w.next(Duration::from_millis(500)).unwrap(),
            Seen::DirClosed
        ));
        std::fs::write(d.path().join("base.tar"), b"x").unwrap();
        match w.next(Duration::from_millis(500)).unwrap() {
            Seen::Created(n) => assert_eq!(n, "base.tar"),
            _ => panic!("no create seen"),
        }
    }
}
