//! The `backup-frequency` control, judged per source by every rule that
//! backs it up: the source's most frequent rule (the shortest longest gap
//! between runs) must run at least every `[compliance]
//! min_backup_frequency`, and the source's newest snapshot, from any of its
//! rules, must be younger than that rule's longest gap plus its start window
//! (a run due may start that late). A weekly or monthly rule beside a daily
//! one is listed with its own newest snapshot but never fails on its own
//! cadence.
//!
//! The snapshots counted are the backup jobs of the catalog that each rule
//! ran for the source into the rule's own vault, COMPLETED, PARTIAL or still
//! RUNNING (a snapshot is dated by its job's start, so a long backup under
//! way is not late): copies (`copy_to`) and moves to the cold tier keep a
//! snapshot's time and add no recovery point, and a manual `coffer backup`
//! (no rule) is left to the `rpo` control.

use jiff::{SignedDuration, Timestamp};

use super::coverage::{longest_gap, rules_of};
use super::evidence::taken;
use crate::catalog::{Catalog, CatalogError, Job, JobFilter, JobKind, JobState};
use crate::config::{Config, RuleConfig};
use crate::report::control::Control;
use crate::report::duration::human;

/// One rule of a source, as judged.
struct Seen<'c> {
    rule: &'c RuleConfig,
    /// Its longest gap between runs (`None`: fewer than two runs in 35 days).
    gap: Option<SignedDuration>,
    /// Its newest good backup of the source into its vault.
    newest: Option<Job>,
}

impl Seen<'_> {
    /// How old the source's newest snapshot may be under this rule.
    fn allowed(&self) -> Option<SignedDuration> {
        self.gap.map(|g| g + self.rule.start_window)
    }

    fn schedule(&self) -> String {
        format!(
            "schedule `{}` ({})",
            self.rule.schedule, self.rule.timezone_name
        )
    }

    fn cadence(&self) -> String {
        match self.gap {
            Some(g) => format!("{}, at most {} between runs", self.schedule(), human(g)),
            None => format!(
                "{}, fewer than two runs in the next 35 days",
                self.schedule()
            ),
        }
    }
}

/// The newest COMPLETED, PARTIAL or RUNNING backup of `source` by `rule`
/// into its vault.
fn newest_backup(
    catalog: &Catalog,
    rule: &RuleConfig,
    source: &str,
) -> Result<Option<Job>, CatalogError> {
    Ok(catalog
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::Backup],
            states: vec![JobState::Completed, JobState::Partial, JobState::Running],
            plan: Some(rule.plan.clone()),
            rule: Some(rule.name.clone()),
            source: Some(source.to_string()),
            vault: Some(rule.vault.clone()),
            limit: Some(1),
            ..Default::default()
        })?
        .into_iter()
        .find(|j| j.vault.as_deref() == Some(rule.vault.as_str())))
}

fn age(now: Timestamp, job: &Job) -> SignedDuration {
    now.duration_since(taken(job)).max(SignedDuration::ZERO)
}

/// `backup-frequency`: every source backed up by a rule is backed up at
/// least every `min_backup_frequency` by its most frequent rule, and on
/// time. Sources without a rule are `rule-coverage`'s.
pub(in crate::report) fn backup_frequency(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Control, CatalogError> {
    let min = config.compliance.min_backup_frequency;
    let mut c = Control::new(
        "backup-frequency",
        format!(
            "Every source is backed up at least every {} by its most frequent rule, and its newest snapshot is on time",
            human(min)
        ),
    );
    for s in &config.sources {
        let mut seen = Vec::new();
        for rule in rules_of(config, &s.name) {
            seen.push(Seen {
                rule,
                gap: longest_gap(rule, now),
                newest: newest_backup(catalog, rule, &s.name)?,
            });
        }
        // Most frequent first; a rule that hardly runs last.
        seen.sort_by_key(|x| (x.gap.is_none(), x.gap));
        let Some(best) = seen.first() else {
            continue;
        };
        for x in &seen {
            let newest = match &x.newest {
                Some(j) => format!(
                    "newest snapshot at {:.0} (job {}{}), {} ago",
                    taken(j),
                    j.id,
                    if j.state == JobState::Running {
                        ", still running"
                    } else {
                        ""
                    },
                    human(age(now, j))
                ),
                None => "no snapshot yet".to_string(),
            };
            let own = if std::ptr::eq(x, best) {
                String::new()
            } else {
                let late = match (&x.newest, x.allowed()) {
                    (Some(j), Some(a)) => age(now, j) > a,
                    _ => true,
                };
                if late {
                    format!(
                        "; not on time for its own cadence, but the source is covered by the more frequent rule {}",
                        best.rule.id()
                    )
                } else {
                    "; on time for its own cadence".to_string()
                }
            };
            c.ok(format!(
                "source `{}`, rule {} (vault `{}`): {}; {newest}{own}",
                s.name,
                x.rule.id(),
                x.rule.vault,
                x.cadence()
            ));
        }
        let newest = seen
            .iter()
            .filter_map(|x| x.newest.as_ref().map(|j| (x.rule, j)))
            .max_by_key(|(_, j)| taken(j));
        let head = if seen.len() == 1 {
            format!(
                "source `{}`: its only rule {}, {}",
                s.name,
                best.rule.id(),
                best.schedule()
            )
        } else {
            format!(
                "source `{}`: rule {}, the most frequent of its {} rules, {}",
                s.name,
                best.rule.id(),
                seen.len(),
                best.schedule()
            )
        };
        match (best.gap, best.allowed(), newest) {
            (None, _, _) | (_, None, _) => {
                c.fail(format!("{head}, runs fewer than twice in the next 35 days"))
            }
            (Some(g), _, _) if g > min => c.fail(format!(
                "{head}, leaves up to {} between backups, more than {}",
                human(g),
                human(min)
            )),
            (_, _, None) => c.fail(format!(
                "{head}: the source was never backed up by its rules (run `coffer plan run {}`)",
                best.rule.id()
            )),
            (Some(g), Some(a), Some((r, j))) => {
                let what = format!(
                    "the newest snapshot, at {:.0} by rule {}, is {} old",
                    taken(j),
                    r.id(),
                    human(age(now, j))
                );
                let limit = format!(
                    "{} (its longest gap {} plus its start window {})",
                    human(a),
                    human(g),
                    human(best.rule.start_window)
                );
                if age(now, j) > a {
                    c.fail(format!(
                        "{head}: {what}, older than {limit}: backups are late (see why with \
                         `coffer jobs list --plan {} --rule {} --source {}`)",
                        best.rule.plan, best.rule.name, s.name
                    ))
                } else {
                    c.ok(format!("{head}: {what}, within {limit}"))
                }
            }
        }
    }
    Ok(c.judged())
}
