//! `[[plan]]` and its `[[plan.rule]]`s: when to back up which sources
//! into which vault (schedule, time zone, start and completion windows),
//! how long to keep the snapshots (retention, checked against the vault's
//! lock), the chain of tiers they move through as they age (see
//! [`super::tiers`]), and the copies into other vaults.

use super::source::RawSource;
use super::tiers::{RawTier, TierConfig};
use super::validate::{Validator, S};
use super::vault::{Tier, VaultConfig};
use crate::schedule::Schedule;
use coffer_core::{LockPolicy, RetentionPolicy};
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use serde::Deserialize;
use std::ops::Range;

/// AWS Backup's default start window.
pub const DEFAULT_START_WINDOW: SignedDuration = SignedDuration::from_hours(8);
/// AWS Backup's default completion window (7 days).
pub const DEFAULT_COMPLETION_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);

/// A plan: a named group of rules.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// Its name.
    pub name: String,
    /// Its rules, in file order.
    pub rules: Vec<RuleConfig>,
}

/// A rule: when to back up which sources into which vault, and how long to
/// keep the snapshots.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// The plan's name.
    pub plan: String,
    /// The rule's name (unique within its plan).
    pub name: String,
    /// The vault written to.
    pub vault: String,
    /// The names of the sources selected (by name or by tag), in file order
    /// of the sources, each once.
    pub sources: Vec<String>,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule's local times are read in.
    pub timezone: TimeZone,
    /// The time zone's name as written (`UTC` by default).
    pub timezone_name: String,
    /// A job not started this long after its scheduled time is EXPIRED.
    pub start_window: SignedDuration,
    /// A job still running this long after its scheduled time is stopped
    /// (AWS counts from the scheduled time too).
    pub completion_window: SignedDuration,
    /// Which snapshots to keep in `vault`.
    pub retention: RetentionPolicy,
    /// The chain of tiers its snapshots move through as they age, in
    /// order (`after_days` strictly increasing); `cold_after_days` +
    /// `cold_vault` is a one-entry chain. Empty: snapshots stay in `vault`.
    pub tiers: Vec<TierConfig>,
    /// Copies into other vaults, each with its own retention.
    pub copy_to: Vec<CopyConfig>,
    /// `pg_backup_type`: the type of its base backups by files (the
    /// `postgres-base` sources with `method = "files"` it selects),
    /// instead of each source's `backup_type`.
    pub pg_backup_type: Option<coffer_sources::postgres::backup::BackupType>,
}

impl RuleConfig {
    /// `plan/rule`: the rule's identity in the catalog and in messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.plan, self.name)
    }
}

/// A copy action: every new snapshot is also copied into `vault`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyConfig {
    /// The vault copied into.
    pub vault: String,
    /// Which copies to keep there.
    pub retention: RetentionPolicy,
    /// The longest the newest copy there may be behind the newest snapshot
    /// in the rule's vault before COPY_LAG is raised (default 1 hour).
    pub max_lag: jiff::SignedDuration,
}

/// The default `max_lag` of a `copy_to` entry: the seeds' "replication lag
/// over 1 hour" alert.
pub const DEFAULT_COPY_MAX_LAG: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

impl RuleConfig {
    /// Every vault this rule keeps snapshots in, with the retention that
    /// applies there and what to call it in a message: its own vault (the
    /// rule's retention), each tier's vault (the tier's retention, else the
    /// rule's), and each copy's vault (the copy's retention). Each must fit
    /// that vault's lock.
    pub fn retentions(&self) -> Vec<(&str, &RetentionPolicy, String)> {
        let own = if self.retention.keeps_everything() {
            "no retention (keep everything)"
        } else {
            "its retention"
        };
        let mut out = vec![(self.vault.as_str(), &self.retention, own.to_string())];
        for (n, t) in self.tiers.iter().enumerate() {
            let what = match (t.own_retention, t.retention.keeps_everything()) {
                (true, true) => "no retention (keep everything)",
                (true, false) => "the tier's retention",
                (false, _) => own,
            };
            out.push((
                t.vault.as_str(),
                &t.retention,
                format!("{what} in {}", t.label(n)),
            ));
        }
        for c in &self.copy_to {
            let what = if c.retention.keeps_everything() {
                "the copy has no retention (keep everything), which"
            } else {
                "the copy's retention"
            };
            out.push((c.vault.as_str(), &c.retention, what.to_string()));
        }
        out
    }
}

/// Why `retention` (called `what` in the message) of rule `rule` does not
/// fit `lock`, the lock of vault `vault`, or `None` when it fits. The test
/// is [`LockPolicy::check_retention`], the one the runner makes before a
/// backup; the message names the rule, the vault, the lock (mode and
/// bounds), the bound broken and the fix. `config check` reports it
/// against the file's `[vault.lock]`, and `config check --connect` against
/// the lock stored in the vault.
pub fn lock_problem(
    rule: &str,
    what: &str,
    vault: &str,
    lock: &LockPolicy,
    retention: &RetentionPolicy,
) -> Option<String> {
    let why = lock.check_retention(retention).err()?;
    Some(format!(
        "rule `{rule}`: {what} does not fit the {} lock of vault `{vault}` (min {} days, max {} days): {why}",
        lock.mode(),
        lock.min_retention_days,
        lock.max_retention_days
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    pub(super) name: S<String>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: S<String>,
    vault: S<String>,
    sources: Option<S<Vec<S<String>>>>,
    source_tags: Option<S<Vec<S<String>>>>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    start_window: Option<S<String>>,
    completion_window: Option<S<String>>,
    retention: Option<S<RetentionPolicy>>,
    cold_after_days: Option<S<u32>>,
    cold_vault: Option<S<String>>,
    #[serde(default)]
    tiers: Vec<RawTier>,
    #[serde(default)]
    copy_to: Vec<RawCopy>,
    pg_backup_type: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCopy {
    vault: S<String>,
    retention: Option<S<RetentionPolicy>>,
    max_lag: Option<S<String>>,
}

impl Validator<'_> {
    pub(super) fn plan(
        &mut self,
        p: &RawPlan,
        raw_sources: &[RawSource],
        vaults: &[VaultConfig],
    ) -> PlanConfig {
        self.name("plan", &p.name);
        self.duplicates("rule", p.rule.iter().map(|r| &r.name));
        let rules = p
            .rule
            .iter()
            .map(|r| self.rule(p.name.get_ref(), r, raw_sources, vaults))
            .collect();
        PlanConfig {
            name: p.name.get_ref().clone(),
            rules,
        }
    }

    pub(super) fn check_lock(
        &mut self,
        rule: &str,
        vault: &VaultConfig,
        retention: &RetentionPolicy,
        span: Range<usize>,
        what: &str,
    ) {
        if let Some(lock) = &vault.lock {
            if let Some(m) = lock_problem(rule, what, &vault.name, lock, retention) {
                self.error(Some(span), m);
            }
        }
    }

    fn rule(
        &mut self,
        plan: &str,
        r: &RawRule,
        raw_sources: &[RawSource],
        vaults: &[VaultConfig],
    ) -> RuleConfig {
        self.name("rule", &r.name);
        let id = format!("{plan}/{}", r.name.get_ref());
        let sources = self.select_sources(
            &format!("rule `{id}`"),
            &r.name,
            r.sources.as_ref(),
            r.source_tags.as_ref(),
            raw_sources,
        );
        let pg_backup_type = r
            .pg_backup_type
            .as_ref()
            .and_then(|t| self.pg_backup_type(&id, t, &sources, raw_sources));

        let schedule = self.schedule(&format!("rule `{id}`"), &r.schedule);
        let (timezone, timezone_name) = self.timezone(&format!("rule `{id}`"), r.timezone.as_ref());
        let start_window = self.duration("start_window", &r.start_window, DEFAULT_START_WINDOW);
        let completion_window = self.duration(
            "completion_window",
            &r.completion_window,
            DEFAULT_COMPLETION_WINDOW,
        );
        if completion_window <= start_window {
            // Both count from the scheduled time: a job that starts at the
            // end of its start window would be stopped at once.
            let span = r
                .completion_window
                .as_ref()
                .or(r.start_window.as_ref())
                .map(|x| x.span())
                .unwrap_or(r.name.span());
            self.error(
                Some(span),
                format!(
                    "rule `{id}`: completion_window ({}) must be longer than start_window ({}): both count from the scheduled time",
                    humantime::format_duration(completion_window.unsigned_abs()),
                    humantime::format_duration(start_window.unsigned_abs())
                ),
            );
        }

        let retention = r
            .retention
            .as_ref()
            .map(|x| x.get_ref().clone())
            .unwrap_or_default();
        let retention_span = r
            .retention
            .as_ref()
            .map(|x| x.span())
            .unwrap_or(r.name.span());
        let vault = self.vault_ref(&format!("rule `{id}`"), "vault", &r.vault, vaults);
        if let Some(v) = vault {
            if v.tier != Tier::Hot {
                self.at(&r.vault, format!("rule `{id}`: vault `{}` is a {} vault; back up into a hot vault and move snapshots there with tiers = [{{ after_days = N, vault = \"{}\" }}]", v.name, v.tier.name(), v.name));
            }
            let what = if r.retention.is_some() {
                "its retention"
            } else {
                "no retention (keep everything)"
            };
            self.check_lock(&id, v, &retention, retention_span.clone(), what);
        }

        // The chain of tiers (or the older cold_after_days + cold_vault).
        let tiers = self.tier_chain(
            &id,
            vault,
            &retention,
            retention_span.clone(),
            &r.tiers,
            r.cold_after_days.as_ref(),
            r.cold_vault.as_ref(),
            vaults,
        );

        let mut copy_to = Vec::new();
        for c in &r.copy_to {
            let retention = c
                .retention
                .as_ref()
                .map(|x| x.get_ref().clone())
                .unwrap_or_default();
            if let Some(v) =
                self.vault_ref(&format!("rule `{id}`"), "copy_to vault", &c.vault, vaults)
            {
                if Some(&v.name) == vault.map(|x| &x.name) {
                    self.at(&c.vault, format!("rule `{id}`: copy_to names the rule's own vault `{}`; copy into another vault", v.name));
                }
                let span = c
                    .retention
                    .as_ref()
                    .map(|x| x.span())
                    .unwrap_or(c.vault.span());
                let what = if c.retention.is_some() {
                    "the copy's retention"
                } else {
                    "the copy has no retention (keep everything), which"
                };
                self.check_lock(&id, v, &retention, span, what);
            }
            let max_lag = self.duration("copy_to max_lag", &c.max_lag, DEFAULT_COPY_MAX_LAG);
            copy_to.push(CopyConfig {
                vault: c.vault.get_ref().clone(),
                retention,
                max_lag,
            });
        }

        RuleConfig {
            plan: plan.to_string(),
            name: r.name.get_ref().clone(),
            vault: r.vault.get_ref().clone(),
            sources,
            schedule,
            timezone,
            timezone_name,
            start_window,
            completion_window,
            retention,
            tiers,
            copy_to,
            pg_backup_type,
        }
    }

    /// A rule's `pg_backup_type`: a backup type, on a rule that selects a
    /// base backup by files (else refused, naming what it selects).
    fn pg_backup_type(
        &mut self,
        id: &str,
        t: &S<String>,
        sources: &[String],
        raw_sources: &[RawSource],
    ) -> Option<coffer_sources::postgres::backup::BackupType> {
        let owner = format!("rule `{id}`");
        let parsed = super::source_files::backup_type(self, &owner, "pg_backup_type", t)?;
        let selected: Vec<&RawSource> = raw_sources
            .iter()
            .filter(|s| sources.contains(s.name.get_ref()))
            .collect();
        if !selected.iter().any(|s| s.by_files()) {
            let what: Vec<String> = selected
                .iter()
                .map(|s| format!("`{}` ({})", s.name.get_ref(), s.kind_text()))
                .collect();
            self.at(
                t,
                format!(
                    "{owner}: pg_backup_type applies to base backups by files, but the rule selects {}, none of kind postgres-base with method = \"files\": select such a source, or remove pg_backup_type",
                    if what.is_empty() {
                        "no sources".to_string()
                    } else {
                        what.join(", ")
                    }
                ),
            );
            return None;
        }
        Some(parsed)
    }
}
