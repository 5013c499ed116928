//! Moving a rule's snapshots down its chain of tiers (issue 17): after each
//! backup, for each tier in order, the rule's snapshots of the source that
//! are older than the tier's `after_days` and still in the vault before it
//! (the rule's own vault for the first tier) move into the tier's vault.
//! Only once every move is done do the retentions run (the rule's in its
//! vault, then each tier's in its vault), so that a retention never forgets
//! a snapshot that is due to move, and a snapshot whose daemon was stopped
//! for months moves down several tiers in one run.
//!
//! One move is:
//!
//! 1. a **copy job** (its own catalog row, `vault` the tier before,
//!    `destination_vault` the tier's) that copies the snapshots and then
//!    **verifies** each copy in the tier's vault with
//!    [`coffer_core::check_snapshots`]: the snapshot object opens, every
//!    tree below it loads, verifies and decodes, every chunk is in the
//!    tier's index, and every pack holding them is there and long enough.
//!    No data pack is read, so this works on a tier whose data packs sit in
//!    an archive storage class (the copy itself read and verified every
//!    source blob, and the archiver wrote each destination pack whole
//!    before indexing it). A copy that fails this fails the job (FAILED,
//!    its error naming the snapshot and what is wrong) and an error event
//!    of the backup job says both copies were kept;
//! 2. a **forget job** in the tier before (its own catalog row) that
//!    forgets only the snapshots whose copy passed (a lock or hold there
//!    still keeps them, and says so);
//! 3. after every move, the tier's **retention** in the tier's vault (a
//!    forget job, as for the rule's own vault), whether or not anything
//!    moved this time.
//!
//! A tier whose move failed does not stop the next tier: that one moves
//! what is already old enough in its own predecessor.

use super::{rule_filter, rule_job, AfterCopy, Runner};
use crate::catalog::{EventLevel, JobId, JobKind, JobOutcome, JobState, Trigger};
use crate::config::{RuleConfig, SourceConfig, TierConfig};
use crate::model::ServerResult;
use coffer_core::copy::{CopyStats, CopyStatus};
use coffer_core::forget::{execute_forget, plan_forget, ForgetOptions};
use coffer_core::{Cancel, Id, Vault};
use std::collections::HashMap;

impl Runner {
    /// Moves the rule's snapshots of `source` down its chain of tiers,
    /// starting from its own vault `own` (see the module docs). Every
    /// failure is an event of job `parent` (and a failed job of its own);
    /// none fails the backup.
    pub(super) fn tier_moves(
        &self,
        parent: JobId,
        rule: &RuleConfig,
        source: &SourceConfig,
        own: &Vault,
        cancel: &Cancel,
    ) {
        let mut from = (own.clone(), rule.vault.clone());
        for (n, tier) in rule.tiers.iter().enumerate() {
            if cancel.reason().is_some() {
                return;
            }
            let label = tier.label(n);
            let to = match self.vault(&tier.vault) {
                Ok(v) => v,
                Err(e) => {
                    self.event(
                        parent,
                        EventLevel::Warning,
                        &format!("{label}: {e}; snapshots stay in vault `{}`", from.1),
                    );
                    return;
                }
            };
            self.move_into(parent, rule, source, (&from.0, &from.1), n, tier, cancel);
            from = (to, tier.vault.clone());
        }
    }

    /// Applies each tier's retention in its vault to the rule's snapshots
    /// of `source` (after [`Self::tier_moves`]); a failure is a warning
    /// event of job `parent`.
    pub(super) fn tier_retentions(&self, parent: JobId, rule: &RuleConfig, source: &SourceConfig) {
        for (n, tier) in rule.tiers.iter().enumerate() {
            let r = self.vault(&tier.vault).and_then(|to| {
                self.apply_retention(
                    parent,
                    &to,
                    &tier.vault,
                    rule,
                    &source.name,
                    &tier.retention,
                )
            });
            if let Err(e) = r {
                self.event(
                    parent,
                    EventLevel::Warning,
                    &format!("{}: retention not applied: {e}", tier.label(n)),
                );
            }
        }
    }

    /// Moves the rule's snapshots of `source` older than `tier.after_days`
    /// from `from` (a vault and its name) into tier `n`: the copy job with
    /// its verification, then the forget job in `from`.
    #[allow(clippy::too_many_arguments)]
    fn move_into(
        &self,
        parent: JobId,
        rule: &RuleConfig,
        source: &SourceConfig,
        (from, from_name): (&Vault, &str),
        n: usize,
        tier: &TierConfig,
        cancel: &Cancel,
    ) {
        let label = tier.label(n);
        let now = (self.now)();
        let cutoff = now - jiff::SignedDuration::from_hours(24 * tier.after_days as i64);
        let old: Vec<Id> = match from.snapshots(&rule_filter(rule, &source.name)) {
            Ok(s) => s
                .into_iter()
                .filter(|(_, s)| s.timestamp() < cutoff)
                .map(|(id, _)| id)
                .collect(),
            Err(e) => {
                self.event(
                    parent,
                    EventLevel::Warning,
                    &format!("{label}: listing vault `{from_name}`: {e}"),
                );
                return;
            }
        };
        if old.is_empty() {
            return;
        }
        let done = self.copy_job(
            parent,
            rule,
            source,
            (from, from_name),
            &tier.vault,
            &old,
            AfterCopy::Verify,
            cancel,
        );
        let kept = old.len() - done.verified.len();
        if done.state != JobState::Completed {
            self.event(
                parent,
                EventLevel::Error,
                &format!(
                    "{label}: the move of {} older than {} days from vault `{from_name}` did not complete ({}); {} stay in both vaults or in `{from_name}` alone (see the copy job)",
                    coffer_core::human_count(old.len() as u64, "snapshot"),
                    tier.after_days,
                    done.state,
                    coffer_core::human_count(kept as u64, "snapshot"),
                ),
            );
        }
        if done.verified.is_empty() {
            return;
        }
        self.forget_moved(
            parent,
            rule,
            source,
            (from, from_name),
            &label,
            tier,
            done.verified,
        );
    }

    /// The forget job of a move: forgets `ids` (whose copies in the tier
    /// passed verification) in `from`.
    #[allow(clippy::too_many_arguments)]
    fn forget_moved(
        &self,
        parent: JobId,
        rule: &RuleConfig,
        source: &SourceConfig,
        (from, from_name): (&Vault, &str),
        label: &str,
        tier: &TierConfig,
        ids: Vec<Id>,
    ) {
        let mut j = rule_job(JobKind::Forget, Trigger::Rule, rule, &source.name);
        j.vault = Some(from_name.to_string());
        let job = match self.catalog.create_job(&j) {
            Ok(job) => {
                let _ = self.catalog.start_job(job);
                Some(job)
            }
            Err(e) => {
                self.event(
                    parent,
                    EventLevel::Warning,
                    &format!("cannot record a forget job: {e}"),
                );
                None
            }
        };
        let opts = ForgetOptions {
            ids,
            now: (self.now)(),
            ..Default::default()
        };
        let r = plan_forget(from, &opts).and_then(|p| execute_forget(from, &p));
        let (level, msg, outcome) = match &r {
            Ok(st) => (
                EventLevel::Info,
                format!(
                    "{label}: moved {} older than {} days from vault `{from_name}` into vault `{}`{}",
                    coffer_core::human_count(st.removed.len() as u64, "snapshot"),
                    tier.after_days,
                    tier.vault,
                    if st.refused.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} kept in `{from_name}` too by a lock or hold)",
                            st.refused.len()
                        )
                    }
                ),
                JobOutcome {
                    details: Some(serde_json::json!({
                        "moved_to": tier.vault,
                        "removed": st.removed.iter().map(|i| i.to_hex()).collect::<Vec<_>>(),
                        "kept": st.refused.iter().map(|r| serde_json::json!({
                            "snapshot": r.id.to_hex(),
                            "why": r.message,
                        })).collect::<Vec<_>>(),
                    })),
                    ..JobOutcome::new(JobState::Completed)
                },
            ),
            Err(e) => (
                EventLevel::Warning,
                format!("{label}: the copies are verified, but forgetting them in vault `{from_name}` failed: {e}; they stay in both vaults and the next run tries again"),
                JobOutcome::failed(format!("forgetting moved snapshots in vault `{from_name}`: {e}")),
            ),
        };
        self.event(parent, level, &msg);
        if let Some(job) = job {
            self.event(job, level, &msg);
            self.finish(job, &outcome);
        }
    }

    /// Verifies in `dst` (named `dst_name`) the copies a copy job made or
    /// found (see the module docs), recording the outcome as events of job
    /// `job`. Returns the source snapshots whose copy passed, and one
    /// failure line per copy that did not. `Err` when the check could not
    /// run at all (the index of `dst` unreadable, a cancel).
    pub(super) fn verify_copies(
        &self,
        job: JobId,
        dst: &Vault,
        dst_name: &str,
        stats: &CopyStats,
        cancel: &Cancel,
    ) -> ServerResult<(Vec<Id>, Vec<String>)> {
        let pairs: Vec<(Id, Id)> = stats
            .snapshots
            .iter()
            .filter(|s| s.status != CopyStatus::Failed)
            .filter_map(|s| s.destination.map(|d| (s.source, d)))
            .collect();
        if pairs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let dsts: Vec<Id> = pairs.iter().map(|(_, d)| *d).collect();
        let report = coffer_core::check_snapshots(dst, &dsts, cancel).map_err(|e| {
            crate::model::ServerError::vault(
                format!("verifying the copies in vault `{dst_name}`"),
                &e,
            )
        })?;
        let mut why: HashMap<Id, Vec<String>> = HashMap::new();
        for p in &report.problems {
            for s in &p.snapshot_ids {
                why.entry(*s)
                    .or_default()
                    .push(format!("{} {}", p.object, p.detail));
            }
        }
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (src, d) in pairs {
            match why.get(&d) {
                None => ok.push(src),
                Some(w) => {
                    let line = format!(
                        "snapshot {} copied as {} into vault `{dst_name}` fails verification ({}); both copies are kept",
                        src.short(),
                        d.short(),
                        w.join("; ")
                    );
                    self.event(job, EventLevel::Error, &line);
                    bad.push(line);
                }
            }
        }
        self.event(
            job,
            if bad.is_empty() {
                EventLevel::Info
            } else {
                EventLevel::Error
            },
            &format!(
                "verified {} of {} in vault `{dst_name}` ({} walked, no data pack read)",
                ok.len(),
                coffer_core::human_count((ok.len() + bad.len()) as u64, "copy"),
                coffer_core::human_count(report.trees as u64, "tree"),
            ),
        );
        Ok((ok, bad))
    }
}
