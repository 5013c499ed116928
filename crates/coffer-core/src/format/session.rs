//! Writer sessions: how a running backup (or prune) tells prune it is there.
//!
//! A session is a sealed JSON object `sessions/<id>` (named, like every
//! object, by the keyed hash of its stored bytes). A backup writes its
//! session *before* it loads the index and the prune plans, rewrites it every
//! [`SESSION_REFRESH`] while it runs (new object first, then the old one is
//! deleted, so one always exists; `started` is kept), and deletes it when it
//! ends, whether it succeeded or failed. A killed backup leaves its session
//! behind; it stops counting once `refreshed` is [`SESSION_LIVE`] old, and
//! prune removes it once it is [`SESSION_REMOVE_AFTER`] old.
//!
//! Prune's delete phase runs a plan only when no live backup session
//! started before the plan's creation plus [`CLOCK_SKEW`]: such a backup may
//! have loaded the index before the plan existed and deduplicated against
//! the packs the plan condemns. See `crate::prune` and docs/format.md.
//!
//! Clocks: `started` and `refreshed` are this machine's wall-clock time, and
//! prune compares them with its own, so a writer whose clock differs from
//! the store's by more than [`CLOCK_SKEW`] refuses to start
//! ([`crate::clock::check_store_clock`]). How long ago the writer itself
//! last refreshed is measured on `CLOCK_BOOTTIME` ([`boot_time`]), which
//! keeps counting while the machine is suspended (std's `Instant` is
//! `CLOCK_MONOTONIC` on Linux, which stops), so a backup that wakes from an
//! hour's sleep knows its session looked dead meanwhile.
//!
//! Staged files (a local vault's `.tmp/stage-…`) carry their writer's
//! owner tag in their name ([`crate::staging`]), so prune removes one only
//! when the session that owns it is dead, never because of its age alone.

use serde::{Deserialize, Serialize};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::vault::handle::Vault;

/// How often a running session is rewritten.
pub const SESSION_REFRESH: Duration = Duration::from_secs(5 * 60);
/// A session whose `refreshed` is younger than this is live.
pub const SESSION_LIVE: Duration = Duration::from_secs(30 * 60);
/// Prune deletes session objects whose `refreshed` is older than this.
pub const SESSION_REMOVE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest clock difference between hosts that prune tolerates.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// What a session is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// A backup (any source): adds packs, index objects and a snapshot.
    Backup,
    /// A prune: while one is live, another prune defers its delete phase.
    Prune,
}

/// The content of a `sessions/` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Format version (1).
    pub version: u32,
    /// What the session does.
    pub kind: SessionKind,
    /// Host it runs on.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// RFC 3339 time it started (before it loaded the index).
    pub started: String,
    /// RFC 3339 time of its latest refresh.
    pub refreshed: String,
    /// The boot id and PID namespace of the process (Linux), so that prune
    /// on the same machine can tell that the process is gone; empty where
    /// unknown.
    #[serde(default)]
    pub machine: String,
}

/// This process's boot id and PID namespace (`boot-id/pid:[inode]`), or
/// empty when either is unknown.
pub fn machine_id() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if boot.is_empty() || ns.is_empty() {
        String::new()
    } else {
        format!("{boot}/{ns}")
    }
}

impl Session {
    /// A session of this process, started and refreshed now.
    pub fn new(kind: SessionKind) -> Session {
        let now = jiff::Timestamp::now().to_string();
        Session {
            version: 1,
            kind,
            host: crate::hostname(),
            pid: std::process::id(),
            started: now.clone(),
            refreshed: now,
            machine: machine_id(),
        }
    }

    /// True when the session was written on this machine, in this PID
    /// namespace since the last boot, and its process no longer exists: a
    /// killed backup or prune, whose session need not wait to go stale.
    /// (A reused pid only makes a dead session look alive: the safe side.)
    pub fn is_dead_here(&self) -> bool {
        if self.machine.is_empty() || self.machine != machine_id() || self.host != crate::hostname()
        {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(self.pid as libc::pid_t, 0) };
        r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }

    /// The [`crate::staging::stage_owner`] tag of the process that wrote
    /// this session.
    pub fn owner_tag(&self) -> String {
        crate::format::staging::owner_tag(&self.host, &self.machine, self.pid)
    }

    /// `started`, parsed; an unparsable time counts as the Unix epoch, which
    /// makes the session block every plan while it is live (the safe side).
    pub fn started_at(&self) -> jiff::Timestamp {
        self.started.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// `refreshed`, parsed; an unparsable time counts as now (live).
    pub fn refreshed_at(&self) -> jiff::Timestamp {
        self.refreshed
            .parse()
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }

    /// Whether the session counts as running at `now`: refreshed less than
    /// [`SESSION_LIVE`] ago, and not known dead on this machine.
    pub fn is_live(&self, now: jiff::Timestamp) -> bool {
        age(now, self.refreshed_at()) < SESSION_LIVE && !self.is_dead_here()
    }

    /// `host pid N (kind, started T)`, for messages.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            SessionKind::Backup => "backup",
            SessionKind::Prune => "prune",
        };
        format!(
            "{kind} on {} pid {} started {}",
            self.host, self.pid, self.started
        )
    }
}

/// Time since boot, counting time spent suspended: `CLOCK_BOOTTIME` on
/// Linux and Android. Elsewhere `CLOCK_MONOTONIC` (which on macOS and the
/// BSDs keeps counting during sleep; std's `Instant` there does not).
pub fn boot_time() -> Duration {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = libc::CLOCK_BOOTTIME;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we own.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(r, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// How long ago `then` was at `now` (zero if in the future).
pub fn age(now: jiff::Timestamp, then: jiff::Timestamp) -> Duration {
    let d = now.as_millisecond() - then.as_millisecond();
    Duration::from_millis(d.max(0) as u64)
}

/// Stores a session object; returns its name.
pub fn save(vault: &Vault, s: &Session) -> Result<Id> {
    vault.save_object(
        ObjectKind::Session,
        &serde_json::to_vec(s).expect("serializable"),
    )
}

/// Loads one session object.
pub fn load(vault: &Vault, id: &Id) -> Result<Session> {
    let body = vault.load_object(ObjectKind::Session, id)?;
    serde_json::from_slice(&body)
        .map_err(|e| Error::damaged(ObjectKind::Session.path(id), format!("does not parse: {e}")))
}

/// Readable sessions and the errors of damaged ones.
pub type SessionsAndDamage = (Vec<(Id, Session)>, Vec<Error>);

/// Every session object: the readable ones and the errors of damaged ones.
/// A session deleted between the listing and the read (it ended or was
/// refreshed) is left out.
pub fn list(vault: &Vault) -> Result<SessionsAndDamage> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (id, _) in vault.list(ObjectKind::Session)? {
        match load(vault, &id) {
            Ok(s) => good.push((id, s)),
            Err(Error::Storage { source, .. }) if source.not_found => {}
            Err(e @ Error::Damaged { .. }) => bad.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((good, bad))
}

struct Current {
    id: Id,
    session: Session,
    /// When the latest refresh was stored, on [`boot_time`] (counts suspend).
    stored: Duration,
    /// The same moment on the wall clock.
    stored_wall: jiff::Timestamp,
}

impl Current {
    /// How long ago the latest refresh was stored: the larger of the boot
    /// clock's and the wall clock's view, so neither a suspend nor a clock
    /// step makes a stale session look fresh.
    fn since_stored(&self) -> Duration {
        let boot = boot_time().saturating_sub(self.stored);
        boot.max(age(jiff::Timestamp::now(), self.stored_wall))
    }
}

/// A running session: written by [`SessionGuard::start`], refreshed by a
/// background thread, deleted on drop. A killed process leaves it behind.
pub struct SessionGuard {
    vault: Vault,
    current: Arc<Mutex<Current>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SessionGuard {
    /// Writes a session of `kind` and starts refreshing it every
    /// [`SESSION_REFRESH`].
    pub fn start(vault: &Vault, kind: SessionKind) -> Result<SessionGuard> {
        Self::start_with(vault, kind, SESSION_REFRESH)
    }

    /// Like [`SessionGuard::start`] with another refresh interval (tests).
    pub fn start_with(vault: &Vault, kind: SessionKind, every: Duration) -> Result<SessionGuard> {
        // A writer whose clock is off from the store's would write times
        // that prune misjudges (too early: the session looks dead; too
        // late: it looks started after a plan it must hold back). Checked
        // before anything is written (under object lock a deleted object's
        // version stays). So is the key epoch: nothing new under an old one.
        vault.check_current_epoch()?;
        crate::clock::check_store_clock(
            vault,
            jiff::Timestamp::now(),
            crate::clock::Skew::Either,
            "start a writer session",
        )?;
        let session = Session::new(kind);
        let id = save(vault, &session)?;
        let current = Arc::new(Mutex::new(Current {
            id,
            session,
            stored: boot_time(),
            stored_wall: jiff::Timestamp::now(),
        }));
        let (tx, rx) = channel::<()>();
        let (v, cur) = (vault.clone(), current.clone());
        let thread = std::thread::Builder::new()
            .name("coffer-session".into())
            .spawn(move || loop {
                match rx.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // Stopped, or the guard is gone.
                    _ => return,
                }
                let mut c = cur.lock().unwrap();
                let mut next = c.session.clone();
                next.refreshed = jiff::Timestamp::now().to_string();
                // New object first, then the old one: a listing always finds
                // at least one. A failed refresh is retried next time; the
                // backup checks before its snapshot that it kept up.
                match save(&v, &next) {
                    Ok(new_id) => {
                        let old = std::mem::replace(&mut c.id, new_id);
                        c.session = next;
                        c.stored = boot_time();
                        c.stored_wall = jiff::Timestamp::now();
                        if let Err(e) = v.backend().delete(&ObjectKind::Session.path(&old)) {
                            tracing::warn!("cannot delete the old session object: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("cannot refresh the session object: {e}"),
                }
            })
            .map_err(|e| Error::io("a session refresh thread", e))?;
        Ok(SessionGuard {
            vault: vault.clone(),
            current,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The session's current object name.
    pub fn id(&self) -> Id {
        self.current.lock().unwrap().id
    }

    /// The session as last stored.
    pub fn session(&self) -> Session {
        self.current.lock().unwrap().session.clone()
    }

    /// Fails when the session was not refreshed for so long that prune may
    /// have taken it for dead (the process was stopped, or storage refused
    /// the refreshes): data this run deduplicated against may be gone, so
    /// the caller must not write a snapshot that relies on it.
    pub fn check_fresh(&self) -> Result<()> {
        let since = self.current.lock().unwrap().since_stored();
        // Leave room for the other host's clock to run ahead of ours.
        if since + CLOCK_SKEW >= SESSION_LIVE {
            return Err(Error::Interrupted {
                what: "the backup".into(),
                why: format!(
                    "its session in {} was not refreshed for {} s, so a prune may have taken it for dead; no snapshot was written: run the backup again",
                    self.vault.backend().location(),
                    since.as_secs()
                ),
            });
        }
        Ok(())
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let id = self.current.lock().unwrap().id;
        if let Err(e) = self.vault.backend().delete(&ObjectKind::Session.path(&id)) {
            tracing::warn!("cannot delete the session object: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::keys::Secret;
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;

    fn vault() -> Vault {
        Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile([5; 32]),
            &InitOptions::default(),
        )
        .unwrap()
    }

    /// The freshness clock counts suspend: CLOCK_BOOTTIME is never behind
    /// CLOCK_MONOTONIC (the clock of std's `Instant`, which stops while the
    /// machine sleeps), and moves with it.
    #[test]
    fn boot_time_counts_what_monotonic_does() {
        let mono = || {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: writes one timespec, which we own.
            assert_eq!(
                unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
                0
            );
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        };
        let (m, b) = (mono(), boot_time());
        assert!(b + Duration::from_millis(1) >= m, "{b:?} < {m:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(boot_time() >= b + Duration::from_millis(20));
    }

    /// A backup that was stopped or suspended past [`SESSION_LIVE`] (minus
    /// the skew a prune's clock may have) must not write its snapshot,
    /// whichever clock noticed: the boot clock (a suspend) or the wall
    /// clock (a step).
    #[test]
    fn check_fresh_after_a_suspend_or_a_clock_step() {
        let v = vault();
        let g = SessionGuard::start(&v, SessionKind::Backup).unwrap();
        g.check_fresh().unwrap();
        let stale = SESSION_LIVE - CLOCK_SKEW + Duration::from_secs(1);
        {
            let mut c = g.current.lock().unwrap();
            c.stored = boot_time().saturating_sub(stale);
        }
        let e = g.check_fresh().unwrap_err().to_string();
        assert!(e.contains("was not refreshed for"), "{e}");
        {
            let mut c = g.current.lock().unwrap();
            c.stored = boot_time();
            c.stored_wall = jiff::Timestamp::now() - jiff::SignedDuration::try_from(stale).unwrap();
        }
        assert!(g.check_fresh().is_err());
        {
            let mut c = g.current.lock().unwrap();
            c.stored_wall = jiff::Timestamp::now();
        }
        g.check_fresh().unwrap();
    }
}
