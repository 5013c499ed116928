//! The controls on the recovery objectives: `rpo` (every source with an RPO
//! has a recovery point, a snapshot or archived WAL, younger than it) and
//! `restore-test` (every source's newest restore test succeeded within
//! `[compliance] restore_test_window`, faster than its RTO).

use jiff::Timestamp;

use super::evidence::when;
use crate::catalog::{Catalog, CatalogError, JobFilter, JobKind, JobState};
use crate::config::Config;
use crate::records::{RestoreTestDetails, SourceHealth, Validation};
use crate::report::control::Control;
use crate::report::duration::{human, human_secs};

/// `rpo`: the newest recovery point of every source with an RPO is
/// younger than it, judged from the sources' health.
pub(in crate::report) fn rpo(healths: &[SourceHealth], now: Timestamp) -> Control {
    let mut c = Control::new(
        "rpo",
        "The newest recovery point of every source is younger than its RPO".into(),
    );
    for h in healths {
        let Some(rpo) = h.rpo_seconds else { continue };
        let point = h.newest_good_at.max(h.wal_newest_at);
        let what = if h.wal_newest_at.is_some() && h.wal_newest_at >= h.newest_good_at {
            "archived WAL"
        } else {
            "snapshot"
        };
        match (h.rpo_ok, point) {
            (Some(true), Some(p)) => c.ok(format!(
                "source `{}`: newest {what} at {p:.0}, {} old (RPO {})",
                h.source,
                human(now.duration_since(p)),
                human_secs(rpo)
            )),
            (_, Some(p)) => c.fail(format!(
                "source `{}`: newest {what} at {p:.0} is {} old, beyond its RPO of {}",
                h.source,
                human(now.duration_since(p)),
                human_secs(rpo)
            )),
            (_, None) => c.fail(format!(
                "source `{}`: no good backup (RPO {})",
                h.source,
                human_secs(rpo)
            )),
        }
    }
    c.judged()
}

/// `restore-test`: every source's newest restore test succeeded within the
/// window, faster than its RTO.
pub(in crate::report) fn restore_test(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Control, CatalogError> {
    let cc = &config.compliance;
    let mut c = Control::new(
        "restore-test",
        format!(
            "Every source's newest restore test succeeded within the last {}, faster than its RTO",
            human(cc.restore_test_window)
        ),
    );
    let window_start = now - cc.restore_test_window;
    for s in &config.sources {
        let newest = catalog
            .list_jobs(&JobFilter {
                kinds: vec![JobKind::RestoreTest],
                // A SKIPPED test (no snapshot yet) tested nothing.
                states: JobState::VERDICT.to_vec(),
                source: Some(s.name.clone()),
                limit: Some(1),
                ..Default::default()
            })?
            .into_iter()
            .next();
        let Some(j) = newest else {
            c.fail(format!("source `{}`: never restore-tested", s.name));
            continue;
        };
        let d = RestoreTestDetails::of(&j);
        let validation = d.as_ref().map(|d| d.validation);
        let secs = d.as_ref().and_then(|d| d.restore_seconds);
        let test = d
            .as_ref()
            .map(|d| format!(" (test `{}`)", d.test))
            .unwrap_or_default();
        let at = when(&j);
        let measured = secs
            .map(|s| format!(", restore took {}", human_secs(s)))
            .unwrap_or_default();
        let rto = s.rto.map(|r| r.as_secs_f64());
        let good = matches!(j.state, JobState::Completed | JobState::Partial)
            && validation.is_none_or(|v| v == Validation::Successful);
        if !good {
            c.fail(format!(
                "source `{}`: the newest restore test, job {}{test} at {at:.0}, {}{measured}",
                s.name,
                j.id,
                match validation {
                    Some(Validation::TimedOut) => "TIMED_OUT".to_string(),
                    _ => format!(
                        "FAILED{}",
                        j.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                }
            ));
        } else if at < window_start {
            c.fail(format!(
                "source `{}`: the newest restore test, job {}{test}, is from {at:.0}, older than {}",
                s.name,
                j.id,
                human(cc.restore_test_window)
            ));
        } else if let (Some(rto), Some(took)) = (rto, secs) {
            if took > rto {
                c.fail(format!(
                    "source `{}`: restore test job {}{test} at {at:.0} took {}, beyond its RTO of {}",
                    s.name,
                    j.id,
                    human_secs(took),
                    human_secs(rto)
                ));
            } else {
                c.ok(format!(
                    "source `{}`: restore test job {}{test} SUCCESSFUL at {at:.0}{measured} (RTO {})",
                    s.name,
                    j.id,
                    human_secs(rto)
                ));
            }
        } else if rto.is_some() {
            c.fail(format!(
                "source `{}`: restore test job {}{test} at {at:.0} recorded no restore time to compare with its RTO",
                s.name, j.id
            ));
        } else {
            c.ok(format!(
                "source `{}`: restore test job {}{test} SUCCESSFUL at {at:.0}{measured} (no RTO set)",
                s.name, j.id
            ));
        }
    }
    Ok(c.judged())
}
