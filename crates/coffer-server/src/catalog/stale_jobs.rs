//! Jobs whose owner is gone: when a daemon starts, every unfinished job
//! whose owning process no longer runs becomes `ABORTED`
//! ([`Catalog::abort_stale_running`]); jobs of a live `coffer plan run` are
//! left alone. The catalog belongs to one machine: SQLite over a network
//! file system is not supported.

use rusqlite::params;

use super::database::Catalog;
use super::error::Result;
use super::job_state::{EventLevel, JobId, JobState};
use super::liveness::Owner;
use super::time_format::format_time;

/// The reason recorded for jobs found unfinished, with their owner gone,
/// when the daemon starts.
pub const STALE_REASON: &str = "coffer serve stopped while the job ran (killed or crashed)";

impl Catalog {
    /// What the daemon calls when it starts: every unfinished job
    /// (`CREATED`, `PENDING`, `RUNNING`) whose owning process is gone — it
    /// ran in an earlier boot, or its pid no longer runs the same process —
    /// becomes `ABORTED` with `reason` (normally [`STALE_REASON`]). Jobs of
    /// live processes (a `coffer plan run` in progress) stay as they are,
    /// and so do jobs of another host when that cannot be checked. Returns
    /// the aborted jobs' ids.
    pub fn abort_stale_running(&self, reason: &str) -> Result<Vec<JobId>> {
        self.abort_where(reason, |owner, me| owner.is_alive(me) == Some(false))
    }

    /// Every unfinished job becomes `ABORTED` with `reason`, whoever owns
    /// it: for a daemon that knows it is the only runner.
    pub fn abort_all_active(&self, reason: &str) -> Result<Vec<JobId>> {
        self.abort_where(reason, |_, _| true)
    }

    fn abort_where(
        &self,
        reason: &str,
        stale: impl Fn(&Owner, &Owner) -> bool,
    ) -> Result<Vec<JobId>> {
        let now = format_time(self.now());
        self.write("aborting unfinished jobs", |tx| {
            let active: Vec<(JobId, Owner)> = {
                let mut st = tx.prepare(
                    "SELECT id, host, pid, boot_id, pid_start FROM jobs \
                     WHERE state IN ('CREATED', 'PENDING', 'RUNNING') ORDER BY id",
                )?;
                let rows = st.query_map([], |r| {
                    Ok((
                        JobId(r.get(0)?),
                        Owner {
                            host: r.get(1)?,
                            pid: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                            boot_id: r.get(3)?,
                            pid_start: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u64),
                        },
                    ))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut aborted = Vec::new();
            for (id, owner) in active {
                if !stale(&owner, &self.owner) {
                    continue;
                }
                self.enter(
                    tx,
                    id,
                    JobState::Aborted,
                    &now,
                    EventLevel::Warning,
                    &format!("aborted: {reason}"),
                )?;
                tx.execute(
                    "UPDATE jobs SET finished_at = ?2, reason = ?3 WHERE id = ?1",
                    params![id.0, now, reason],
                )?;
                aborted.push(id);
            }
            Ok(aborted)
        })
    }
}
