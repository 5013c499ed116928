//! Owners' liveness: aborting the jobs of processes that are gone.

use std::process::Command;

use rusqlite::{params, Connection};

use super::fixtures::catalog;
use crate::catalog::database::TxResult;
use crate::catalog::liveness::{proc_start_ticks, Owner};
use crate::catalog::{JobId, JobKind, JobOutcome, JobState, NewJob, Trigger, STALE_REASON};

/// An owner whose process is certainly gone: a child that has exited
/// and been collected.
fn dead_owner() -> Owner {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    Owner {
        pid,
        pid_start: Some(1),
        ..Owner::current()
    }
}

#[test]
fn abort_stale_running_aborts_only_jobs_of_dead_owners() {
    let (_tmp, c) = catalog();
    let me = Owner::current();
    let job = |kind| NewJob::new(kind, Trigger::Schedule);

    // Ours, running: alive.
    let live = c.create_job(&job(JobKind::Backup)).unwrap();
    c.start_job(live).unwrap();
    // A collected child's pid, running.
    let dead = c
        .create_job_owned(&job(JobKind::Backup), &dead_owner())
        .unwrap();
    c.write("test", |tx| force_state(tx, dead, JobState::Running))
        .unwrap();
    // Our pid, but another process start time: a reused pid.
    let reused_owner = Owner {
        pid_start: me.pid_start.map(|t| t + 1).or(Some(1)),
        ..me.clone()
    };
    let reused = c
        .create_job_owned(&job(JobKind::Verify), &reused_owner)
        .unwrap();
    c.set_pending(reused, "waiting").unwrap();
    // A previous boot.
    let old_boot = Owner {
        boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
        ..me.clone()
    };
    let previous_boot = c.create_job_owned(&job(JobKind::Prune), &old_boot).unwrap();
    // Another host and no boot ids to compare: cannot tell, left alone.
    let elsewhere = Owner {
        host: "some-other-host".into(),
        boot_id: None,
        ..dead_owner()
    };
    let unknown = c.create_job_owned(&job(JobKind::Copy), &elsewhere).unwrap();
    // Finished jobs are not touched.
    let done = c
        .create_job_owned(&job(JobKind::Forget), &dead_owner())
        .unwrap();
    c.finish_job(done, &JobOutcome::failed("boom")).unwrap();

    let aborted = c.abort_stale_running(STALE_REASON).unwrap();
    assert_eq!(aborted, [dead, reused, previous_boot]);
    for id in [dead, reused, previous_boot] {
        let j = c.get_job(id).unwrap();
        assert_eq!(j.state, JobState::Aborted, "job {id}");
        assert_eq!(j.reason.as_deref(), Some(STALE_REASON));
        assert!(j.finished_at.is_some());
        let last = c.job_events(id).unwrap().pop().unwrap();
        assert_eq!(last.state, Some(JobState::Aborted));
        assert_eq!(last.message, format!("aborted: {STALE_REASON}"));
    }
    assert_eq!(c.get_job(live).unwrap().state, JobState::Running);
    assert_eq!(c.get_job(unknown).unwrap().state, JobState::Created);
    assert_eq!(c.get_job(done).unwrap().state, JobState::Failed);
    // Idempotent.
    assert!(c.abort_stale_running(STALE_REASON).unwrap().is_empty());
    assert_eq!(c.running_jobs().unwrap().len(), 1);
    assert_eq!(c.active_jobs().unwrap().len(), 2);

    // The only runner aborts everything unfinished.
    assert_eq!(c.abort_all_active("SIGTERM").unwrap(), [live, unknown]);
    assert!(c.active_jobs().unwrap().is_empty());
    assert_eq!(c.get_job(live).unwrap().reason.as_deref(), Some("SIGTERM"));
}

fn force_state(tx: &Connection, id: JobId, s: JobState) -> TxResult<()> {
    tx.execute("UPDATE jobs SET state = ?2 WHERE id = ?1", params![id.0, s])?;
    Ok(())
}

#[test]
fn a_killed_runner_is_detected() {
    // A real process that owns a job, killed (not exited cleanly).
    let (_tmp, c) = catalog();
    let mut child = Command::new("sleep").arg("600").spawn().unwrap();
    let pid = child.id();
    let owner = Owner {
        pid,
        pid_start: proc_start_ticks(pid).map(|(t, _)| t),
        ..Owner::current()
    };
    let id = c
        .create_job_owned(&NewJob::new(JobKind::Backup, Trigger::Schedule), &owner)
        .unwrap();
    assert!(c.abort_stale_running(STALE_REASON).unwrap().is_empty());
    child.kill().unwrap();
    // Wait until it has died, without collecting it (WNOWAIT): a
    // zombie counts as gone too.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child with a valid siginfo buffer.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    assert_eq!(c.abort_stale_running(STALE_REASON).unwrap(), [id]);
    child.wait().unwrap();
}
