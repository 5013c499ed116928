//! Whose clock a destructive decision trusts.
//!
//! Ages decide what may be deleted: a snapshot's under a vault lock, a
//! compliance lock's grace period, a writer session's freshness. They are
//! judged by this machine's clock, and on a store that has a clock of its
//! own (S3: the `Date` of a fresh response, [`crate::Backend::store_time`])
//! by the store's too: a machine whose clock runs ahead of the store's by
//! more than [`STORE_CLOCK_SKEW`], set wrongly or on purpose, refuses to
//! forget snapshots or prune, and one off by that much either way refuses
//! to change or remove a vault lock or to start a writer session. A local
//! directory has no clock of its own; there the system clock is the only
//! judge (and no environment variable or option moves it in a release
//! build).
//!
//! Which direction matters: a clock ahead makes snapshots, sessions and
//! plans look older than they are (deletes too early); a clock behind
//! makes a compliance lock's grace period look still open, and a writer's
//! session look stale to a prune whose clock is right.

use jiff::Timestamp;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::vault::handle::Vault;

/// The largest difference between this machine's clock and the store's
/// that a destructive operation tolerates (the same as
/// [`crate::session::CLOCK_SKEW`], the skew tolerated between hosts).
pub const STORE_CLOCK_SKEW: Duration = crate::format::session::CLOCK_SKEW;

/// Which difference between this machine's clock and the store's is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skew {
    /// Only a local clock ahead of the store's (forget, prune: a clock
    /// behind only keeps more).
    Ahead,
    /// A difference either way (lock changes, writer sessions).
    Either,
}

/// Checks `now` (this machine's idea of the time, which the caller decides
/// with) against the store's clock, when the store has one; `what` names
/// the operation in the message. Refused with the two times and the fix.
pub fn check_store_clock(vault: &Vault, now: Timestamp, skew: Skew, what: &str) -> Result<()> {
    let store = match vault.backend().store_time() {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(()),
        Err(e) => return Err(vault.storage_err(e)),
    };
    match judge(now, store, skew) {
        None => Ok(()),
        Some(why) => Err(Error::InvalidInput(format!(
            "refusing to {what} in vault {}: this machine's time {now:.0} is {why} the store's ({store:.0}), \
             more than the {} minutes coffer tolerates, so ages (snapshots under a lock, a lock's grace period, \
             writer sessions) cannot be trusted: set this machine's clock right (e.g. enable NTP: \
             `timedatectl set-ntp true`) and run it again",
            vault.backend().location(),
            STORE_CLOCK_SKEW.as_secs() / 60,
        ))),
    }
}

/// `Some("N s ahead of" | "N s behind")` when the difference is refused.
fn judge(now: Timestamp, store: Timestamp, skew: Skew) -> Option<String> {
    let ahead = now.as_millisecond() - store.as_millisecond();
    let limit = STORE_CLOCK_SKEW.as_millis() as i64;
    if ahead > limit {
        Some(format!("{} s ahead of", ahead / 1000))
    } else if skew == Skew::Either && -ahead > limit {
        Some(format!("{} s behind", -ahead / 1000))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, ObjectInfo, ObjectKind};
    use crate::error::StorageError;
    use crate::format::keys::Secret;
    use crate::format::lock::LockPolicy;
    use crate::format::session::{SessionGuard, SessionKind};
    use crate::test_backend::Mem;
    use crate::vault::InitOptions;
    use crate::{execute_forget, plan_forget, ForgetOptions};
    use jiff::SignedDuration;
    use std::sync::{Arc, Mutex};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// An in-memory store with a clock of its own, `offset` from the
    /// system's (`None`: no clock, as a local directory).
    #[derive(Default)]
    struct Clocked {
        mem: Mem,
        offset: Mutex<Option<SignedDuration>>,
    }

    impl Clocked {
        fn set(&self, offset: Option<SignedDuration>) {
            *self.offset.lock().unwrap() = offset;
        }
    }

    impl Backend for Clocked {
        fn location(&self) -> String {
            "mem-with-clock".into()
        }
        fn write(&self, path: &str, data: Vec<u8>) -> std::result::Result<(), StorageError> {
            self.mem.write(path, data)
        }
        fn read(&self, path: &str) -> std::result::Result<Vec<u8>, StorageError> {
            self.mem.read(path)
        }
        fn read_range(
            &self,
            path: &str,
            o: u64,
            l: u64,
        ) -> std::result::Result<Vec<u8>, StorageError> {
            self.mem.read_range(path, o, l)
        }
        fn list(&self, prefix: &str) -> std::result::Result<Vec<ObjectInfo>, StorageError> {
            self.mem.list(prefix)
        }
        fn delete(&self, path: &str) -> std::result::Result<(), StorageError> {
            self.mem.delete(path)
        }
        fn store_time(&self) -> std::result::Result<Option<Timestamp>, StorageError> {
            Ok(self.offset.lock().unwrap().map(|o| Timestamp::now() + o))
        }
    }

    fn vault() -> (Vault, Arc<Clocked>) {
        let b = Arc::new(Clocked::default());
        let v = Vault::init(
            b.clone(),
            &Secret::KeyFile([3; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        (v, b)
    }

    fn snap(v: &Vault, time: Timestamp) -> crate::Id {
        let j = serde_json::json!({
            "version": 1, "time": time.to_string(), "tree": crate::Id::default(),
            "paths": ["/data"], "hostname": "h", "username": "u",
            "source": {"kind": "files"}, "program_version": "test",
        });
        v.save_snapshot(&serde_json::from_value(j).unwrap())
            .unwrap()
    }

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    fn policy(changeable_for_days: Option<u32>) -> LockPolicy {
        LockPolicy {
            min_retention_days: 30,
            max_retention_days: 100,
            changeable_for_days,
        }
    }

    /// Issue 14: a forged (or wrong) time ahead of the store's cannot make
    /// a snapshot under a compliance lock old enough to forget.
    #[test]
    fn forget_refuses_a_time_ahead_of_the_stores() {
        let (v, b) = vault();
        let now = Timestamp::now();
        let id = snap(&v, now - hours(1));
        v.set_lock(&policy(Some(3)), "admin", now - hours(1))
            .unwrap();
        b.set(Some(SignedDuration::ZERO));
        let forged = ts("2099-01-01T00:00:00Z");
        let plan = plan_forget(
            &v,
            &ForgetOptions {
                ids: vec![id],
                now: forged,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(plan.to_remove().count(), 1, "the plan believes 2099");
        let e = execute_forget(&v, &plan).unwrap_err().to_string();
        assert!(
            e.contains("refusing to forget snapshots") && e.contains("ahead of the store's"),
            "{e}"
        );
        v.load_snapshot(&id).unwrap();
        // Without a store clock (a local directory) the caller's time is
        // all there is: hence no test clock in a release build.
        b.set(None);
        assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![id]);
    }

    #[test]
    fn forget_tolerates_small_skew_and_a_clock_behind() {
        let (v, b) = vault();
        let now = Timestamp::now();
        let ids = [snap(&v, now - hours(50)), snap(&v, now - hours(2))];
        let plan = plan_forget(
            &v,
            &ForgetOptions {
                ids: vec![ids[0]],
                ..Default::default()
            },
        )
        .unwrap();
        // The store's clock is ahead: this machine only keeps more.
        b.set(Some(hours(2)));
        assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![ids[0]]);
        let plan = plan_forget(
            &v,
            &ForgetOptions {
                ids: vec![ids[1]],
                ..Default::default()
            },
        )
        .unwrap();
        // Four minutes ahead is within the tolerance.
        b.set(Some(SignedDuration::from_secs(-240)));
        assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![ids[1]]);
    }

    /// A clock behind the store's would reopen a compliance lock's grace
    /// period; one ahead would date its record wrongly: both refused.
    #[test]
    fn lock_changes_refuse_skew_either_way() {
        let (v, b) = vault();
        let now = Timestamp::now();
        b.set(Some(hours(-1)));
        let e = v.set_lock(&policy(Some(3)), "admin", now).unwrap_err();
        assert!(e.to_string().contains("ahead of the store's"), "{e}");
        b.set(Some(SignedDuration::ZERO));
        v.set_lock(&policy(Some(3)), "admin", now).unwrap();
        // Four days later by the store, the grace period is over; a
        // machine that still believes today cannot remove the lock.
        b.set(Some(hours(96)));
        let e = v.remove_lock("admin", now + hours(1)).unwrap_err();
        assert!(e.to_string().contains("behind the store's"), "{e}");
        // A time an hour ahead of the store's is refused as well.
        b.set(Some(SignedDuration::ZERO));
        let e = v.remove_lock("admin", now + hours(1)).unwrap_err();
        assert!(e.to_string().contains("ahead of the store's"), "{e}");
        v.remove_lock("admin", Timestamp::now() + SignedDuration::from_secs(60))
            .unwrap();
    }

    /// A writer (or prune) whose clock differs from the store's refuses to
    /// start, and leaves no session object behind.
    #[test]
    fn writer_sessions_refuse_skew() {
        let (v, b) = vault();
        for off in [hours(-1), hours(1)] {
            b.set(Some(off));
            let e = SessionGuard::start(&v, SessionKind::Backup).err().unwrap();
            assert!(e.to_string().contains("start a writer session"), "{e}");
            assert!(v.list(ObjectKind::Session).unwrap().is_empty());
            let e = crate::prune(&v, &crate::PruneOptions::default()).unwrap_err();
            assert!(e.to_string().contains("tolerates"), "{e}");
            assert!(v.list(ObjectKind::Session).unwrap().is_empty());
        }
        b.set(Some(SignedDuration::from_secs(100)));
        let g = SessionGuard::start(&v, SessionKind::Backup).unwrap();
        assert_eq!(v.list(ObjectKind::Session).unwrap().len(), 1);
        drop(g);
        crate::prune(&v, &crate::PruneOptions::default()).unwrap();
    }

    #[test]
    fn judges_ahead_and_behind() {
        let store = ts("2026-12-01T12:00:00Z");
        let at = |m: i64| store + jiff::SignedDuration::from_secs(m);
        assert_eq!(judge(at(0), store, Skew::Ahead), None);
        assert_eq!(judge(at(300), store, Skew::Either), None);
        assert_eq!(judge(at(-300), store, Skew::Either), None);
        assert_eq!(
            judge(at(301), store, Skew::Ahead).as_deref(),
            Some("301 s ahead of")
        );
        // Behind only matters where it is dangerous.
        assert_eq!(judge(at(-3600), store, Skew::Ahead), None);
        assert_eq!(
            judge(at(-3600), store, Skew::Either).as_deref(),
            Some("3600 s behind")
        );
    }
}
