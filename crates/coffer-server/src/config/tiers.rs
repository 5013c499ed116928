//! A rule's chain of tiers (issue 17): `tiers = [{ after_days = 30, vault =
//! "warm" }, { after_days = 90, vault = "cold", retention = { … } }, …]`.
//! Snapshots of the rule move from its vault into the first tier's vault
//! once older than that tier's `after_days`, from there into the next
//! tier's, and so on; each tier's vault keeps them by the tier's own
//! `retention` (the rule's retention's own fields and parser), or by the
//! rule's retention when the tier gives none.
//!
//! The older `cold_after_days = N` + `cold_vault = "V"` is read as the
//! one-entry chain `tiers = [{ after_days = N, vault = "V" }]`; the runner
//! knows only chains.
//!
//! What `config check` refuses, each at the value at fault and naming the
//! rule and the tier: `tiers` together with `cold_after_days`/`cold_vault`;
//! an `after_days` below 1 or not above the tier before's; a tier vault
//! that is the rule's own or another tier's, or a hot one, or of a lower
//! tier (hot < warm < cold < archive) than the tier before's; a retention
//! that deletes snapshots before they reach the next tier (or, in the last
//! tier, as they arrive); and (in [`super::plan`], through
//! [`super::RuleConfig::retentions`]) a tier retention that does not fit
//! its vault's lock.

use super::validate::{Validator, S};
use super::vault::{Tier, VaultConfig};
use coffer_core::RetentionPolicy;
use serde::Deserialize;
use std::ops::Range;

/// One tier of a rule's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierConfig {
    /// Snapshots older than this many days move into `vault`.
    pub after_days: u32,
    /// The tier's vault.
    pub vault: String,
    /// Which snapshots to keep in `vault`: the tier's own retention, else
    /// the rule's.
    pub retention: RetentionPolicy,
    /// Whether `retention` is the tier's own (not the rule's).
    pub own_retention: bool,
}

impl TierConfig {
    /// How a message names this tier: `tier 2 (vault `cold`)`.
    pub fn label(&self, n: usize) -> String {
        format!("tier {} (vault `{}`)", n + 1, self.vault)
    }
}

/// A `tiers` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTier {
    after_days: S<u32>,
    vault: S<String>,
    retention: Option<S<RetentionPolicy>>,
}

/// One step of a chain being checked, from `tiers` or from the older
/// `cold_after_days` + `cold_vault`.
struct Step<'a> {
    after_days: &'a S<u32>,
    vault: &'a S<String>,
    retention: Option<&'a S<RetentionPolicy>>,
    /// How messages name it.
    label: String,
}

impl Validator<'_> {
    /// The chain of rule `id` (whose vault is `own` and retention
    /// `retention`, written at `retention_span`), from `tiers` or the
    /// older pair, checked (see the module docs).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tier_chain(
        &mut self,
        id: &str,
        own: Option<&VaultConfig>,
        retention: &RetentionPolicy,
        retention_span: Range<usize>,
        tiers: &[RawTier],
        cold_after_days: Option<&S<u32>>,
        cold_vault: Option<&S<String>>,
        vaults: &[VaultConfig],
    ) -> Vec<TierConfig> {
        let legacy = match (cold_after_days, cold_vault) {
            (Some(d), None) => {
                self.at(d, format!("rule `{id}`: cold_after_days needs cold_vault = \"<a vault with tier = \\\"cold\\\">\""));
                return Vec::new();
            }
            (None, Some(c)) => {
                self.at(c, format!("rule `{id}`: cold_vault needs cold_after_days = N (move snapshots after N days)"));
                return Vec::new();
            }
            (Some(d), Some(c)) => Some((d, c)),
            (None, None) => None,
        };
        let steps: Vec<Step> = match legacy {
            Some((d, c)) => {
                if let Some(t) = tiers.first() {
                    self.at(&t.after_days, format!("rule `{id}`: give either tiers or cold_after_days and cold_vault (the same as one tier), not both"));
                }
                vec![Step {
                    after_days: d,
                    vault: c,
                    retention: None,
                    label: "cold_after_days".into(),
                }]
            }
            None => tiers
                .iter()
                .enumerate()
                .map(|(n, t)| Step {
                    after_days: &t.after_days,
                    vault: &t.vault,
                    retention: t.retention.as_ref(),
                    label: format!("tier {} (vault `{}`)", n + 1, t.vault.get_ref()),
                })
                .collect(),
        };
        let is_legacy = legacy.is_some();
        let mut out = Vec::new();
        // The stage snapshots leave a tier from: (its vault's name, its
        // tier, its retention, where that retention is written, how to name it).
        let mut prev_days: Option<u32> = None;
        let mut prev_tier = own.map(|v| v.tier).unwrap_or_default();
        let mut prev_retention = retention.clone();
        let mut prev_what = format!(
            "the retention of the rule's vault `{}`",
            own.map(|v| v.name.as_str()).unwrap_or("?")
        );
        let mut used: Vec<&str> = own.map(|v| v.name.as_str()).into_iter().collect();
        for s in &steps {
            let days = *s.after_days.get_ref();
            let who = format!("rule `{id}`: {}", s.label);
            if days == 0 {
                let field = if is_legacy {
                    "cold_after_days"
                } else {
                    "after_days"
                };
                self.at(
                    s.after_days,
                    format!("rule `{id}`: {field} must be at least 1"),
                );
            } else if let Some(p) = prev_days.filter(|p| days <= *p) {
                self.at(s.after_days, format!("{who}: after_days ({days}) must be more than the tier before's ({p}): snapshots move down the chain as they age"));
            }
            let tier_retention = s
                .retention
                .map(|r| r.get_ref().clone())
                .unwrap_or_else(|| retention.clone());
            if let Some(del) = prev_retention.delete_after_days {
                if days > 0 && del <= days {
                    let m = if is_legacy {
                        format!("rule `{id}`: cold_after_days ({days}) must be less than the retention's delete_after_days ({del})")
                    } else {
                        format!("{who}: {prev_what} deletes snapshots after {del} days, before they move here at {days} days; raise its delete_after_days above {days} or lower after_days")
                    };
                    self.at(s.after_days, m);
                }
            }
            let field = vault_field(is_legacy);
            if let Some(v) = self.vault_ref(&format!("rule `{id}`"), &field, s.vault, vaults) {
                if is_legacy && v.tier != Tier::Cold {
                    self.at(s.vault, format!("rule `{id}`: cold_vault `{}` is not a cold vault: set tier = \"cold\" on it or name a cold one", v.name));
                } else if used.contains(&v.name.as_str()) {
                    let whose = if own.is_some_and(|o| o.name == v.name) {
                        "the rule's own vault"
                    } else {
                        "the vault of another tier"
                    };
                    self.at(
                        s.vault,
                        format!(
                            "{who}: vault `{}` is {whose}; each tier needs a vault of its own",
                            v.name
                        ),
                    );
                } else if v.tier == Tier::Hot {
                    self.at(s.vault, format!("{who}: vault `{}` is a hot vault: set tier = \"warm\", \"cold\" or \"archive\" on it (with its storage_class) or name another", v.name));
                } else if v.tier < prev_tier {
                    self.at(s.vault, format!("{who}: vault `{}` is a {} vault, below the tier before's ({}); order the chain hot, warm, cold, archive", v.name, v.tier.name(), prev_tier.name()));
                }
                // The tier's retention against its vault's lock: the same
                // test as for the rule's own vault and its copies.
                let (span, what) = match s.retention {
                    Some(r) => (r.span(), "the tier's retention"),
                    None if is_legacy => (retention_span.clone(), "its retention"),
                    None => (
                        retention_span.clone(),
                        "its retention (which the tier keeps)",
                    ),
                };
                let what = if is_legacy {
                    what.to_string()
                } else {
                    format!("{what} in {}", s.label)
                };
                self.check_lock(id, v, &tier_retention, span, &what);
                used.push(&v.name);
                prev_tier = v.tier.max(prev_tier);
            }
            let what = match s.retention {
                Some(_) => format!("the retention of {}", s.label),
                None => format!("the retention of {} (the rule's)", s.label),
            };
            if let Some(r) = s.retention {
                if r.get_ref().removes_everything() {
                    self.at(r, format!("{who}: this retention keeps nothing (every count is 0); give a count above 0 or leave retention out to keep the rule's"));
                }
            }
            prev_days = Some(days);
            prev_retention = tier_retention.clone();
            prev_what = what;
            out.push(TierConfig {
                after_days: days,
                vault: s.vault.get_ref().clone(),
                retention: tier_retention,
                own_retention: s.retention.is_some(),
            });
        }
        // The last tier keeps snapshots from its after_days on: a delete
        // age not beyond that deletes each one as it arrives.
        if let (Some(s), Some(t)) = (steps.last(), out.last()) {
            if let Some(del) = t.retention.delete_after_days {
                if !is_legacy && t.after_days > 0 && del <= t.after_days {
                    let span = s.retention.map(|r| r.span()).unwrap_or(s.after_days.span());
                    self.error(Some(span), format!("rule `{id}`: {}: its retention deletes snapshots after {del} days, but they only arrive at {} days; raise delete_after_days above {} or give this tier a retention of its own", s.label, t.after_days, t.after_days));
                }
            }
        }
        out
    }
}

/// The field a chain's vault is written in.
fn vault_field(legacy: bool) -> String {
    if legacy { "cold_vault" } else { "tier vault" }.to_string()
}
