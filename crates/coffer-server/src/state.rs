//! The state directory of `coffer serve`: where the job catalog
//! (`catalog.sqlite`) and the daemon's single-instance lock (`daemon.lock`)
//! live.
//!
//! Default location: `/var/lib/coffer` when running as root, else
//! `$XDG_STATE_HOME/coffer` (`~/.local/state/coffer`). Callers override it
//! with `--state-dir` / `COFFER_STATE_DIR` (the CLI) or the configuration
//! file; this module only knows the default.
//!
//! Single instance: [`StateDir::lock_daemon`] takes an exclusive `flock(2)`
//! on `daemon.lock` and keeps it as long as the returned [`DaemonLock`]
//! lives. The kernel drops the lock when the process exits however it exits
//! (SIGKILL, crash, OOM kill), so a stale lock file never blocks the next
//! start: only a *live* holder does. The pid written into the file is a
//! hint for the error message, never the truth: the lock is.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, CatalogError};

pub use crate::catalog::CATALOG_FILE;

/// The name of the daemon's lock file inside the state directory.
pub const LOCK_FILE: &str = "daemon.lock";

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file system operation on the state directory failed.
    #[error("state directory {path}: {source} (check its permissions, or choose another with --state-dir or COFFER_STATE_DIR)")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another daemon holds the lock.
    #[error("another coffer serve is running on state directory {dir} ({holder} holds {lock}): stop it first, or give this one another state directory (--state-dir or COFFER_STATE_DIR)", dir = .path.parent().unwrap_or(Path::new("")).display(), lock = .path.display(), holder = match .pid { Some(p) => format!("pid {p}"), None => "a process whose pid is not recorded yet".to_string() })]
    DaemonRunning {
        /// The lock file.
        path: PathBuf,
        /// The pid recorded by the holder, when it could be read.
        pid: Option<u32>,
    },
}

/// `$VAR/coffer`, or `~/FALLBACK/coffer` when the XDG variable `var` is
/// unset or empty (the XDG base directory rule).
pub fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    let base = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(fallback)
        });
    base.join("coffer")
}

/// The state directory of the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// A state directory at `path` (not created until something is written).
    pub fn new(path: impl Into<PathBuf>) -> StateDir {
        StateDir { path: path.into() }
    }

    /// The given directory, or else the default one ([`StateDir::default_path`]).
    pub fn resolve(explicit: Option<&Path>) -> StateDir {
        match explicit.filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => StateDir::new(p),
            None => StateDir::new(Self::default_path()),
        }
    }

    /// `/var/lib/coffer` for root; otherwise `$XDG_STATE_HOME/coffer`, or
    /// `~/.local/state/coffer` when `XDG_STATE_HOME` is unset or empty.
    pub fn default_path() -> PathBuf {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/var/lib/coffer");
        }
        xdg_dir("XDG_STATE_HOME", ".local/state")
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The catalog file (`catalog.sqlite`).
    pub fn catalog_path(&self) -> PathBuf {
        self.path.join(CATALOG_FILE)
    }

    /// The daemon's lock file (`daemon.lock`).
    pub fn lock_path(&self) -> PathBuf {
        self.path.join(LOCK_FILE)
    }

    /// Creates the directory (and its parents) if missing; a directory it
    /// creates is private to the user (0700): job records name paths,
    /// hosts and errors.
    pub fn create(&self) -> Result<(), StateError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(|source| StateError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Opens (creating the directory and the file if needed) the catalog.
    pub fn open_catalog(&self) -> Result<Catalog, CatalogError> {
        Catalog::open(&self.path)
    }

    /// Opens the catalog only if it exists ([`CatalogError::Missing`]
    /// otherwise): for readers such as `coffer jobs`, which must not leave
    /// an empty catalog behind in a mistyped directory.
    pub fn open_existing_catalog(&self) -> Result<Catalog, CatalogError> {
        Catalog::open_existing(&self.path)
    }

    /// Takes the daemon's single-instance lock: an exclusive `flock` on
    /// `daemon.lock`, held until the returned guard is dropped or the
    /// process dies. Writes this process's pid into the file. Fails with
    /// [`StateError::DaemonRunning`], naming the holder's pid, when another
    /// process holds it.
    pub fn lock_daemon(&self) -> Result<DaemonLock, StateError> {
        self.create()?;
        let path = self.lock_path();
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        // Not truncated on open: the holder's pid must stay readable for the
        // loser's error message. O_CLOEXEC (std's default) keeps the lock
        // from leaking into jobs' child processes, which would otherwise
        // hold it after the daemon died.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a valid, owned descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StateError::DaemonRunning {
                    path,
                    pid: text.trim().parse().ok(),
                });
            }
            return Err(io(err));
        }
        let pid = std::process::id();
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{pid}").map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DaemonLock { file, path, pid })
    }
}

/// The daemon's single-instance lock; released when dropped (or when the
/// process dies).
#[derive(Debug)]
pub struct DaemonLock {
    // Kept open: closing the last descriptor of the open file releases the lock.
    #[allow(dead_code)]
    file: File,
    path: PathBuf,
    pid: u32,
}

impl DaemonLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pid recorded in the lock file (this process).
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn default_path_follows_user_and_xdg() {
        let p = StateDir::default_path();
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(p, PathBuf::from("/var/lib/coffer"));
        } else {
            assert!(p.ends_with("coffer"), "{}", p.display());
        }
        let dir = StateDir::resolve(Some(Path::new("/tmp/x")));
        assert_eq!(dir.path(), Path::new("/tmp/x"));
        assert_eq!(dir.catalog_path(), Path::new("/tmp/x/catalog.sqlite"));
        assert_eq!(dir.lock_path(), Path::new("/tmp/x/daemon.lock"));
        assert_eq!(StateDir::resolve(Some(Path::new(""))).path(), p);
    }

    #[test]
    fn second_lock_is_refused_and_names_the_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("state"));
        let first = state.lock_daemon().unwrap();
        assert_eq!(first.pid(), std::process::id());
        assert_eq!(
            std::fs::read_to_string(state.lock_path()).unwrap(),
            format!("{}\n", std::process::id())
        );
        // flock locks belong to the open file, so a second open in this same
        // process conflicts exactly as a second daemon would.
        let err = state.lock_daemon().unwrap_err();
        match &err {
            StateError::DaemonRunning { pid, path } => {
                assert_eq!(*pid, Some(std::process::id()));
                assert_eq!(path, &state.lock_path());
            }
            other => panic!("expected DaemonRunning, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("--state-dir"), "{msg}");
        // The pid of the holder survived the refused attempt.
        assert_eq!(
            std::fs::read_to_string(state.lock_path()).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(first);
        let again = state.lock_daemon().unwrap();
        drop(again);
    }

    #[test]
    fn state_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("a/b"));
        state.create().unwrap();
        let mode = std::fs::metadata(state.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    /// Env var that turns [`lock_holder_child`] into the lock holder.
    const CHILD_ENV: &str = "COFFER_TEST_LOCK_HOLDER_DIR";

    /// Not a test: the child process of
    /// [`lock_is_released_when_the_holder_is_killed`], which runs this test
    /// binary again with only this function selected.
    #[test]
    #[ignore = "helper process for lock_is_released_when_the_holder_is_killed"]
    fn lock_holder_child() {
        let dir = std::env::var_os(CHILD_ENV).expect("run by the parent test only");
        let lock = StateDir::new(PathBuf::from(dir)).lock_daemon().unwrap();
        // Hold the lock until killed.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let _ = &lock;
        }
    }

    #[test]
    fn lock_is_released_when_the_holder_is_killed() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join("state"));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state::tests::lock_holder_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, state.path())
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let child_pid = child.id();
        // Wait until the child holds the lock (its pid is in the file). The
        // bound only keeps a broken child from hanging the test.
        let mut held = false;
        for _ in 0..1200 {
            if let Ok(text) = std::fs::read_to_string(state.lock_path()) {
                if text.trim() == child_pid.to_string() {
                    held = true;
                    break;
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("lock holder exited early: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(held, "the child never took the lock");
        match state.lock_daemon() {
            Err(StateError::DaemonRunning { pid, .. }) => assert_eq!(pid, Some(child_pid)),
            other => panic!("expected DaemonRunning, got {other:?}"),
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The kernel released the dead holder's lock; its stale pid in the
        // file does not matter.
        let lock = state.lock_daemon().unwrap();
        assert_eq!(lock.pid(), std::process::id());
    }
}
