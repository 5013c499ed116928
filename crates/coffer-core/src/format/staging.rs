//! Staged files of a local vault and who owns them.
//!
//! A backup stages each pack in the vault's `.tmp/` as it fills (see
//! coffer-storage's `local_stage`), in a file named after its writer:
//! `stage-<tag>-<pid>-<random>`, where the tag names the host and machine
//! (boot and PID namespace) and the pid the process, as its writer session
//! records them ([`Session::owner_tag`]). Prune removes a staged file only
//! when the session that owns it is dead ([`clean_tmp`]), never because of
//! its age alone: a backup suspended for a day still finds its files.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::session::{machine_id, Session};

/// Files in a local vault's `.tmp/` whose writer is unknown (not a staged
/// file that names its owner) are removed by prune once they are this old
/// and no other session is live (see [`clean_tmp`]).
pub const TMP_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// The owner tag for a host, machine id and pid: 16 hex digits of a hash of
/// the host name and machine id, a dash, the pid. (Neither name is safe in a
/// file name as it is.)
pub(crate) fn owner_tag(host: &str, machine: &str, pid: u32) -> String {
    let h = blake3::hash(format!("coffer.stage-owner\0{host}\0{machine}").as_bytes());
    format!("{}-{pid}", &h.to_hex()[..16])
}

/// The owner tag this process writes into the names of the files it stages
/// (`stage-<tag>-<random>`): the same as its [`Session::owner_tag`].
pub fn stage_owner() -> String {
    owner_tag(&crate::hostname(), &machine_id(), std::process::id())
}

/// The owner tag and pid in a staged file's name `stage-<16 hex>-<pid>-<random>`,
/// or `None` for any other name (an older coffer's `stage-<random>`, or a
/// temporary file of a whole-object write).
pub fn parse_stage_owner(name: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix("stage-")?;
    let mut parts = rest.splitn(3, '-');
    let (machine, pid, random) = (parts.next()?, parts.next()?, parts.next()?);
    if machine.len() != 16 || !machine.bytes().all(|b| b.is_ascii_hexdigit()) || random.is_empty() {
        return None;
    }
    let pid_num: u32 = pid.parse().ok()?;
    Some((format!("{machine}-{pid}"), pid_num))
}

/// Whether the owner of a staged file (its tag and pid) is alive, when it
/// is a process of this machine (same host, boot and PID namespace):
/// `Some(false)` once it is gone. `None` when the owner is elsewhere, or
/// this machine's id is unknown. (A reused pid only makes a dead owner look
/// alive: the safe side.)
pub fn stage_owner_alive_here(tag: &str, pid: u32) -> Option<bool> {
    let here = machine_id();
    if here.is_empty() || owner_tag(&crate::hostname(), &here, pid) != tag {
        return None;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    Some(!(r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)))
}

/// Removes the files in `dir/.tmp` that dead writers left; returns how
/// many. A staged file names its owner (`stage-<tag>-<pid>-<random>`, see
/// [`stage_owner`]) and is removed only when that owner's session
/// is dead: none of the `live` sessions (the others, refreshed recently and
/// not known dead) is its owner's, and the owner is a process of this
/// machine that is gone, or of another machine and no session object is
/// damaged (`unknown_sessions`: it might be the owner's). Never by its age.
/// Any other file (an older coffer's `stage-<random>`, a whole-object
/// write's temporary file) has no known owner: it is removed only when it
/// is older than [`TMP_MAX_AGE`] and no other session is live at all.
pub fn clean_tmp(
    dir: &Path,
    live: &[&Session],
    unknown_sessions: bool,
    dry_run: bool,
) -> Result<usize> {
    let tmp = dir.join(".tmp");
    let entries = match std::fs::read_dir(&tmp) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&tmp, e)),
    };
    let live_tags: HashSet<String> = live.iter().map(|s| s.owner_tag()).collect();
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&tmp, e))?;
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name();
        let dead = match parse_stage_owner(&name.to_string_lossy()) {
            Some((tag, _)) if live_tags.contains(&tag) => false,
            Some((tag, pid)) => match stage_owner_alive_here(&tag, pid) {
                Some(alive) => !alive,
                None => !unknown_sessions,
            },
            None => {
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > TMP_MAX_AGE);
                old && live.is_empty() && !unknown_sessions
            }
        };
        if dead {
            if !dry_run {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(entry.path(), e)),
                }
            }
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::session::SessionKind;
    use std::time::SystemTime;

    fn session(host: &str, machine: &str, pid: u32) -> Session {
        let now = jiff::Timestamp::now().to_string();
        Session {
            version: 1,
            kind: SessionKind::Backup,
            host: host.into(),
            pid,
            started: now.clone(),
            refreshed: now,
            machine: machine.into(),
        }
    }

    /// A pid that no process has (a child that has been waited for).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    fn file(dir: &Path, name: &str, age: Duration) -> std::path::PathBuf {
        let p = dir.join(".tmp").join(name);
        let f = std::fs::File::create(&p).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        p
    }

    #[test]
    fn parses_owner_tags() {
        let me = stage_owner();
        let pid = std::process::id();
        let name = format!("stage-{me}-0123456789abcdef0123456789abcdef");
        assert_eq!(parse_stage_owner(&name), Some((me.clone(), pid)));
        assert!(me.ends_with(&format!("-{pid}")));
        for bad in [
            "stage-0123456789abcdef0123456789abcdef",
            "stage-xyz3456789abcdef-12-ab",
            "stage-0123456789abcdef-pid-ab",
            "stage-0123456789abcdef-12-",
            "packs.tmp.123",
        ] {
            assert_eq!(parse_stage_owner(bad), None, "{bad}");
        }
        // The tag is the one the writer's session records.
        let s = crate::format::session::Session::new(SessionKind::Backup);
        assert_eq!(s.owner_tag(), me);
    }

    /// Issue 14: a staged file goes only with its owner's session, never
    /// because of its age alone.
    #[test]
    fn removes_staged_files_only_of_dead_sessions() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".tmp")).unwrap();
        let day = Duration::from_secs(86_400);
        let r = "0123456789abcdef0123456789abcdef";
        // This process: alive, however old its file.
        let mine = file(d.path(), &format!("stage-{}-{r}", stage_owner()), day);
        // A process of this machine that is gone.
        let dead = dead_pid();
        let dead_tag = owner_tag(&crate::hostname(), &machine_id(), dead);
        let gone = file(d.path(), &format!("stage-{dead_tag}-{r}"), Duration::ZERO);
        // Another machine, with a live session and without one.
        let other = session("other-host", "boot/pid:[1]", 4242);
        let other_live = file(d.path(), &format!("stage-{}-{r}", other.owner_tag()), day);
        let quiet = session("other-host", "boot/pid:[1]", 4343);
        let other_dead = file(
            d.path(),
            &format!("stage-{}-{r}", quiet.owner_tag()),
            Duration::ZERO,
        );
        // No owner named: by age, and only with no other session live.
        let legacy_old = file(d.path(), &format!("stage-{r}"), 2 * TMP_MAX_AGE);
        let legacy_new = file(d.path(), "index.abc.tmp", Duration::ZERO);

        // A damaged session object might be the other machine's owner.
        assert_eq!(clean_tmp(d.path(), &[&other], true, false).unwrap(), 1);
        assert!(!gone.exists());
        assert!(other_dead.exists() && legacy_old.exists());
        // A dry run counts and removes nothing.
        assert_eq!(clean_tmp(d.path(), &[&other], false, true).unwrap(), 1);
        assert!(other_dead.exists());
        assert_eq!(clean_tmp(d.path(), &[&other], false, false).unwrap(), 1);
        assert!(!other_dead.exists());
        assert!(mine.exists() && other_live.exists() && legacy_old.exists() && legacy_new.exists());
        // Once no other session is live: the other machine's file of a
        // session now dead, and the old ownerless file.
        assert_eq!(clean_tmp(d.path(), &[], false, false).unwrap(), 2);
        assert!(!other_live.exists() && !legacy_old.exists());
        assert!(mine.exists() && legacy_new.exists());
    }
}
