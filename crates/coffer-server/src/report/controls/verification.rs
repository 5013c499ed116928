//! The `verification` control: every vault's newest verification that
//! reached a verdict passed within `[compliance] verify_window`; a failed
//! one names the damaged objects and the snapshots affected.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::evidence::when;
use crate::catalog::{Catalog, CatalogError, JobState};
use crate::config::Config;
use crate::report::control::Control;
use crate::report::duration::human;

/// `verification`: every vault in use passed its newest verification
/// within the window.
pub(in crate::report) fn verification(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    used: &[String],
) -> Result<Control, CatalogError> {
    let cc = &config.compliance;
    let mut c = Control::new(
        "verification",
        format!(
            "Every vault's newest verification passed within the last {}",
            human(cc.verify_window)
        ),
    );
    let verify_start = now - cc.verify_window;
    for name in used {
        // The newest verification that reached a verdict: an ABORTED run
        // (stopped by its window or a shutdown) says nothing about the data,
        // and `coffer verify`, the API and the metrics skip it too. The age
        // test below still fails a vault whose verifications keep aborting.
        let newest = crate::verify::last_status(catalog, name)?;
        let Some(crate::verify::VerifyStatus { job: j, details: d }) = newest else {
            c.fail(format!("vault `{name}`: never verified"));
            continue;
        };
        let at = when(&j);
        let scope = d
            .as_ref()
            .map(|d| {
                format!(
                    " ({} packs read of {}, coverage {:.0}%)",
                    d.packs_read, d.packs_total, d.coverage_percent
                )
            })
            .unwrap_or_default();
        let passed = matches!(j.state, JobState::Completed | JobState::Partial)
            && d.as_ref().is_none_or(|d| d.damaged.is_empty());
        if !passed {
            let mut why = format!("vault `{name}`: verify job {} at {at:.0} {}", j.id, j.state);
            if let Some(d) = &d {
                if !d.damaged.is_empty() {
                    let objs: Vec<String> = d
                        .damaged
                        .iter()
                        .take(10)
                        .map(|x| format!("{} ({})", x.object, x.problem))
                        .collect();
                    let _ = write!(
                        why,
                        ": {} damaged objects: {}{}",
                        d.damaged.len(),
                        objs.join(", "),
                        if d.damaged.len() > 10 { ", …" } else { "" }
                    );
                }
                if !d.affected_snapshots.is_empty() {
                    let _ = write!(
                        why,
                        "; snapshots affected: {}",
                        d.affected_snapshots.join(", ")
                    );
                }
            } else if let Some(e) = &j.error {
                let _ = write!(why, ": {e}");
            }
            c.fail(why);
        } else if at < verify_start {
            c.fail(format!(
                "vault `{name}`: the newest verification, job {}, is from {at:.0}, older than {}",
                j.id,
                human(cc.verify_window)
            ));
        } else {
            c.ok(format!(
                "vault `{name}`: verify job {} passed at {at:.0}{scope}",
                j.id
            ));
        }
    }
    Ok(c.judged())
}
