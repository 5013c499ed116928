//! Live counters of a running backup or restore, for a front end to poll
//! (`coffer backup` draws them as a progress line).
//!
//! The counters are kept where the work is done: the [`Archiver`] adds the
//! bytes it reads from a source (a file, a dump tool's standard output) and
//! the bytes it stores as it goes; the files walker adds the entries it
//! visits; a restore adds the bytes and files it writes. A front end only
//! reads them (and may compute a rate from them). They are plain relaxed
//! atomics: a reader may see one counter a moment ahead of another.
//!
//! One [`Progress`] may serve several backups in a row (the databases of
//! `--all-databases`): the counters add up over all of them and
//! [`Progress::set_part`] says which one runs now.
//!
//! [`Archiver`]: crate::Archiver

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters a front end may poll to draw progress.
#[derive(Debug, Default)]
pub struct Progress {
    /// Entries visited (a files backup).
    pub entries: AtomicU64,
    /// Bytes of content done: what a files backup covered (read, or found
    /// unchanged in the parent snapshot), or what a restore wrote.
    pub bytes: AtomicU64,
    /// Bytes read from the source: the files read, or a stream's bytes as
    /// they come from its tool (standard input, `pg_dump`, a command).
    pub bytes_read: AtomicU64,
    /// Bytes stored for new data (after compression and encryption), as it
    /// is sealed into packs.
    pub bytes_stored: AtomicU64,
    /// Bytes expected in total, when known (0: unknown).
    pub total_bytes: AtomicU64,
    /// Files finished (a restore).
    pub files: AtomicU64,
    /// Files expected (a restore; 0: unknown).
    pub total_files: AtomicU64,
    /// Lines for people about what the source waits for and why (a Redis
    /// server that delays its transfer), said when the wait begins.
    pub notices: Notices,
    part: Mutex<Part>,
}

/// Where a source's notices go: a front end's function (printing them,
/// recording them as job events), or nowhere (the default).
#[derive(Clone, Default)]
pub struct Notices(Option<std::sync::Arc<Listener>>);

/// A function that takes a notice.
type Listener = dyn Fn(&str) + Send + Sync;

impl Notices {
    /// Notices handed to `f`.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Notices {
        Notices(Some(std::sync::Arc::new(f)))
    }

    /// Says `line` (nothing happens when no one listens).
    pub fn say(&self, line: &str) {
        if let Some(f) = &self.0 {
            f(line);
        }
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Notices(listened)"
        } else {
            "Notices(none)"
        })
    }
}

/// What a [`Progress`] is working on now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// What (`/home`, `postgres://db1:5432/shop`, `snapshot 1a2b3c4d into /tmp/r`).
    pub what: String,
    /// Where a stream's bytes come from (`pg_dump`, `the command`), if a
    /// stream.
    pub from: Option<String>,
    /// Its number (from 1) and the count, for one of several parts.
    pub of: Option<(usize, usize)>,
}

impl Progress {
    /// Counters at zero whose notices go to `notices`.
    pub fn with_notices(notices: Notices) -> Progress {
        Progress {
            notices,
            ..Default::default()
        }
    }

    /// Says what runs now (see [`Part`]).
    pub fn set_part(&self, part: Part) {
        *self.part.lock().unwrap_or_else(|e| e.into_inner()) = part;
    }

    /// What runs now.
    pub fn part(&self) -> Part {
        self.part.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The counters as they are now.
    pub fn counts(&self) -> Counts {
        let ld = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            entries: ld(&self.entries),
            bytes: ld(&self.bytes),
            bytes_read: ld(&self.bytes_read),
            bytes_stored: ld(&self.bytes_stored),
            total_bytes: ld(&self.total_bytes),
            files: ld(&self.files),
            total_files: ld(&self.total_files),
        }
    }
}

/// A copy of a [`Progress`]'s counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// See [`Progress::entries`].
    pub entries: u64,
    /// See [`Progress::bytes`].
    pub bytes: u64,
    /// See [`Progress::bytes_read`].
    pub bytes_read: u64,
    /// See [`Progress::bytes_stored`].
    pub bytes_stored: u64,
    /// See [`Progress::total_bytes`].
    pub total_bytes: u64,
    /// See [`Progress::files`].
    pub files: u64,
    /// See [`Progress::total_files`].
    pub total_files: u64,
}

/// Adds `n` to counter `c` (of a [`Progress`]).
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
