//! Running a rule's work: one backup job per source, and what follows a
//! backup (the rule's retention, its copies into other vaults with their own
//! retention, and the moves of older snapshots down the rule's chain of
//! tiers, see [`tiers`]), each recorded
//! in the catalog. The daemon and `coffer plan run` both call
//! [`Runner::run_backup_job`], so a rule runs the same way whoever starts it.
//!
//! Snapshots written by a rule carry the tags `source:<name>` and
//! `rule:<plan>/<rule>` (beside the source's own tags). Retention, copies and
//! the tiers select by those tags, so a rule's retention never touches
//! snapshots of another rule or another source, nor snapshots made by hand.
//!
//! Job states (AWS Backup's): a backup whose every snapshot was written with
//! no warning is COMPLETED; one with unreadable files skipped, or where some
//! databases of an `all_databases` source failed while others were saved,
//! is PARTIAL; one that wrote nothing is FAILED; one stopped at its
//! completion window or by SIGTERM is ABORTED. What follows a backup never
//! changes its state: a failed copy is its own FAILED copy job, and a
//! retention that could not run is a warning event of the backup job.

use crate::catalog::{
    Catalog, EventLevel, JobCounters, JobId, JobKind, JobOutcome, JobState, NewJob, Trigger,
};
use crate::config::{Config, KeySource, RuleConfig, SourceConfig};
use crate::model::{ErrorKind, ServerError, ServerResult};
use coffer_core::copy::{copy_snapshots, CopyOptions};
use coffer_core::forget::{execute_forget, plan_forget, ForgetOptions};
use coffer_core::{BackupOptions, Cancel, Id, RetentionPolicy, Secret, SnapshotFilter, Vault};
use coffer_sources::spec::{self, SourceSpec};
use coffer_sources::{Progress, SnapshotMeta};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

mod pg_files;
mod tiers;

/// The tag every snapshot of source `name` made by a rule carries (the
/// one `coffer backup` gives its database and command snapshots, too).
pub fn source_tag(name: &str) -> String {
    spec::source_tag(name)
}

/// The source a snapshot's tags name (the inverse of [`source_tag`]):
/// the configured source that made it, when a rule did.
pub fn tagged_source(tags: &[String]) -> Option<&str> {
    spec::tagged_source(tags)
}

/// The tag every snapshot made by rule `plan/rule` carries.
pub fn rule_tag(rule: &RuleConfig) -> String {
    format!("rule:{}", rule.id())
}

/// Sees a backup job's live counters while it runs: called as the job's
/// backup begins; what it returns is dropped when that backup ends (a
/// front end's progress line: `coffer plan run` on a terminal).
pub type Watch = Arc<dyn Fn(&Arc<Progress>) -> Box<dyn std::any::Any> + Send + Sync>;

/// Runs jobs of a configuration and records them in a catalog. Opened vaults
/// are kept (unlocking a password slot costs an Argon2 derivation).
pub struct Runner {
    config: Config,
    catalog: Arc<Catalog>,
    vaults: Mutex<HashMap<String, Vault>>,
    now: Box<dyn Fn() -> Timestamp + Send + Sync>,
    /// Whether `now` is a clock given by [`Runner::with_clock`] (a test's):
    /// then snapshots record that time too, so that simulated days age
    /// them. Never set in a release build's daemon.
    driven: bool,
    watch: Option<Watch>,
}

/// What a copy job does once its snapshots are copied.
enum AfterCopy<'a> {
    /// Applies this retention in the destination (a rule's `copy_to`).
    Retention(&'a RetentionPolicy),
    /// Verifies each copy in the destination (a move into a tier): a copy
    /// that fails fails the job, and is not among the verified.
    Verify,
}

/// How a copy job ended.
struct CopyDone {
    /// The job's state.
    state: JobState,
    /// With [`AfterCopy::Verify`]: the source snapshots whose copy in the
    /// destination passed the verification (copied now or before).
    verified: Vec<Id>,
}

impl Runner {
    /// A runner for `config`, recording in `catalog`.
    pub fn new(config: Config, catalog: Arc<Catalog>) -> Runner {
        Runner {
            config,
            catalog,
            vaults: Mutex::new(HashMap::new()),
            now: Box::new(Timestamp::now),
            driven: false,
            watch: None,
        }
    }

    /// Takes "now" from `now` (tests drive retention and the cold tier
    /// through simulated time).
    pub fn with_clock(mut self, now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.now = Box::new(now);
        self.driven = true;
        self
    }

    /// Hands each backup job's live counters to `watch` while it runs.
    pub fn with_watch(mut self, watch: Watch) -> Self {
        self.watch = Some(watch);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Opens (once) the vault named `name` in the configuration. The error
    /// names the vault and what to fix, never a secret.
    pub fn vault(&self, name: &str) -> ServerResult<Vault> {
        if let Some(v) = self.vaults.lock().unwrap().get(name) {
            return Ok(v.clone());
        }
        let vault = open_vault(&self.config, name)?;
        self.vaults
            .lock()
            .unwrap()
            .insert(name.to_string(), vault.clone());
        Ok(vault)
    }

    /// Records a new backup job of `source` by `rule` (CREATED).
    pub fn create_backup_job(
        &self,
        rule: &RuleConfig,
        source: &str,
        trigger: Trigger,
        scheduled: Option<(Timestamp, Timestamp, Timestamp)>,
    ) -> Result<JobId, crate::catalog::CatalogError> {
        let mut j = rule_job(JobKind::Backup, trigger, rule, source);
        if let Some((at, start, complete)) = scheduled {
            j.scheduled_at = Some(at);
            j.start_deadline = Some(start);
            j.complete_deadline = Some(complete);
        }
        self.catalog.create_job(&j)
    }

    fn event(&self, id: JobId, level: EventLevel, msg: &str) {
        if let Err(e) = self.catalog.record_event(id, level, msg) {
            tracing::warn!(job = id.0, "cannot record an event in the catalog: {e}");
        }
    }

    fn finish(&self, id: JobId, outcome: &JobOutcome) {
        if let Err(e) = self.catalog.finish_job(id, outcome) {
            tracing::error!(
                job = id.0,
                "cannot record the end of the job in the catalog: {e}"
            );
        }
    }

    /// Runs backup job `id` (already CREATED): RUNNING, the backup, then
    /// the rule's retention, copies and cold tier; records the outcome and
    /// returns it. `cancel` stops it cleanly (the job becomes ABORTED with
    /// the reason given to the cancel).
    pub fn run_backup_job(
        &self,
        id: JobId,
        rule: &RuleConfig,
        source: &SourceConfig,
        cancel: &Cancel,
    ) -> JobOutcome {
        if let Err(e) = self.catalog.start_job(id) {
            let o = JobOutcome::failed(format!("cannot start the job in the catalog: {e}"));
            self.finish(id, &o);
            return o;
        }
        let outcome = self.backup(id, rule, source, cancel);
        let outcome = match outcome {
            Ok(o) => o,
            Err(msg) => match cancel.reason() {
                Some(why) => JobOutcome::aborted(why),
                None => JobOutcome::failed(msg.message),
            },
        };
        self.finish(id, &outcome);
        if matches!(outcome.state, JobState::Completed | JobState::Partial) {
            if let Err(e) = crate::health::check_size(&self.config, &self.catalog, id) {
                tracing::warn!(job = id.0, "size anomaly check: {e}");
            }
        }
        outcome
    }

    fn backup(
        &self,
        id: JobId,
        rule: &RuleConfig,
        source: &SourceConfig,
        cancel: &Cancel,
    ) -> ServerResult<JobOutcome> {
        let vault = self.vault(&rule.vault)?;
        // The lock stored in the vault binds every client, whatever this
        // configuration says.
        let lock = vault.lock_state().map_err(|e| {
            ServerError::vault(format!("reading the lock of vault `{}`", rule.vault), &e)
        })?;
        if let Some(l) = &lock.lock {
            l.policy.check_retention(&rule.retention).map_err(|why| {
                ServerError::new(
                    ErrorKind::Refused,
                    format!(
                        "rule {} cannot write into vault `{}`: {why} ({})",
                        rule.id(),
                        rule.vault,
                        l.describe()
                    ),
                )
            })?;
        }
        let spec = password_into(source, source.spec_for(rule))?;
        let now = (self.now)();
        let mut tags = source.tags.clone();
        tags.push(source_tag(&source.name));
        tags.push(rule_tag(rule));
        let meta = SnapshotMeta {
            host: None,
            tags,
            retain_until: retain_days(rule).map(|d| coffer_core::retention::add_days(now, d)),
            time: self.driven.then_some(now),
        };
        // A source's notices (why it waits) become the job's events.
        let catalog = self.catalog.clone();
        let progress = std::sync::Arc::new(Progress::with_notices(coffer_sources::Notices::to(
            move |line| {
                let _ = catalog.record_event(id, EventLevel::Info, line);
            },
        )));
        // Dropped when this function returns: the backup has ended.
        let _watching = self.watch.as_ref().map(|w| w(&progress));
        let opts = BackupOptions {
            cancel: Some(cancel.clone()),
            progress: Some(progress),
            ..Default::default()
        };
        self.event(
            id,
            EventLevel::Info,
            &format!(
                "backing up {} ({}{}) into vault `{}`",
                source.name,
                spec.describe(),
                pg_files::requested(&spec),
                rule.vault
            ),
        );
        let outcome = spec::backup(&vault, &spec, &opts, &meta)?;
        if let Some(why) = cancel.reason() {
            if outcome.done.is_empty() {
                return Ok(JobOutcome::aborted(why));
            }
        }
        let mut counters = JobCounters::default();
        let mut ids = Vec::new();
        for d in &outcome.done {
            counters += JobCounters::from(&d.snapshot.summary);
            for w in d.warnings.iter().take(20) {
                self.event(id, EventLevel::Warning, w);
            }
            if let Some(sid) = d.id {
                ids.push(sid);
                self.event(
                    id,
                    EventLevel::Info,
                    &format!("snapshot {} saved", sid.short()),
                );
            }
        }
        for f in &outcome.failed {
            self.event(id, EventLevel::Error, &f.to_string());
        }
        if outcome.done.is_empty() {
            let msg = outcome
                .failed
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ServerError::new(
                ErrorKind::Unavailable,
                if msg.is_empty() {
                    "the source produced no snapshot".into()
                } else {
                    msg
                },
            ));
        }
        let mut result = JobOutcome::completed(counters, ids.iter().map(|i| i.to_hex()).collect());
        let total: u64 = outcome
            .done
            .iter()
            .map(|d| d.snapshot.summary.total_bytes)
            .sum();
        result.details = Some(serde_json::json!({ crate::health::TOTAL_BYTES: total }));
        let (pg_events, pg_details) = pg_files::report(&outcome.done);
        for (level, msg) in pg_events {
            self.event(id, level, &msg);
        }
        if let (Some(serde_json::Value::Object(m)), Some(pg)) =
            (result.details.as_mut(), pg_details)
        {
            m.insert("pg_backup".into(), pg);
        }
        if !outcome.failed.is_empty() {
            result.state = JobState::Partial;
            result.reason = Some(format!(
                "{} of {} backups failed: {}",
                outcome.failed.len(),
                outcome.failed.len() + outcome.done.len(),
                outcome.failed[0]
            ));
        } else if counters.warnings > 0 {
            result.state = JobState::Partial;
            result.reason = Some(format!(
                "{} entries could not be read and were skipped (see the job's events)",
                counters.warnings
            ));
        }
        // What follows a backup: a failure here is reported, not fatal.
        // Moves down the chain of tiers come first, so that no retention
        // forgets a snapshot that is due to move (and verified there);
        // then the retention of the rule's vault and of each tier.
        self.tier_moves(id, rule, source, &vault, cancel);
        if let Err(e) =
            self.apply_retention(id, &vault, &rule.vault, rule, &source.name, &rule.retention)
        {
            self.event(
                id,
                EventLevel::Warning,
                &format!("retention not applied: {e}"),
            );
        }
        self.tier_retentions(id, rule, source);
        // A base backup rule with retention also prunes the archived WAL
        // that the remaining base backups no longer need. Its outcome goes
        // into the job's details (`wal_prune`) and events; a failure fails
        // nothing else (the backup is done and the WAL is only kept longer).
        if matches!(spec, SourceSpec::PostgresBase { .. }) && !rule.retention.keeps_everything() {
            let (level, msg, json) = prune_wal(&vault, &rule.vault, (self.now)());
            self.event(id, level, &msg);
            if let Some(serde_json::Value::Object(m)) = result.details.as_mut() {
                m.insert("wal_prune".into(), json);
            }
        }
        for copy in &rule.copy_to {
            self.copy_job(
                id,
                rule,
                source,
                (&vault, &rule.vault),
                &copy.vault,
                &ids,
                AfterCopy::Retention(&copy.retention),
                cancel,
            );
        }
        Ok(result)
    }

    /// Applies `policy` to the snapshots `rule` made of `source` in `vault`
    /// (named `name` in the configuration) after job `id`:
    /// a `forget` job of its own in the catalog (FORGET_COMPLETED or
    /// FORGET_FAILED, with what it removed and what locks or holds kept),
    /// and events of job `id` saying the same.
    fn apply_retention(
        &self,
        id: JobId,
        vault: &Vault,
        name: &str,
        rule: &RuleConfig,
        source: &str,
        policy: &RetentionPolicy,
    ) -> ServerResult<()> {
        if policy.keeps_everything() {
            return Ok(());
        }
        let mut j = rule_job(JobKind::Forget, Trigger::Rule, rule, source);
        j.vault = Some(name.to_string());
        // The record is best effort: retention runs even if the catalog fails.
        let job = match self.catalog.create_job(&j) {
            Ok(job) => {
                let _ = self.catalog.start_job(job);
                Some(job)
            }
            Err(e) => {
                self.event(
                    id,
                    EventLevel::Warning,
                    &format!("cannot record a forget job: {e}"),
                );
                None
            }
        };
        let filter = rule_filter(rule, source);
        let r = self.forget_by_policy(id, vault, name, &filter, policy);
        if let Some(job) = job {
            let o = match &r {
                Ok(stats) => JobOutcome {
                    details: Some(serde_json::json!({
                        "removed": stats.removed.iter().map(|i| i.to_hex()).collect::<Vec<_>>(),
                        "kept": stats.refused.iter().map(|r| serde_json::json!({
                            "snapshot": r.id.to_hex(),
                            "why": r.message,
                        })).collect::<Vec<_>>(),
                    })),
                    ..JobOutcome::new(JobState::Completed)
                },
                Err(e) => JobOutcome::failed(e.message.clone()),
            };
            self.finish(job, &o);
        }
        r.map(|_| ())
    }

    /// The forget of [`Self::apply_retention`]; records what it removed as
    /// an event of job `id`.
    fn forget_by_policy(
        &self,
        id: JobId,
        vault: &Vault,
        name: &str,
        filter: &SnapshotFilter,
        policy: &RetentionPolicy,
    ) -> ServerResult<coffer_core::forget::ForgetStats> {
        let opts = ForgetOptions {
            policy: policy.clone(),
            filter: filter.clone(),
            now: (self.now)(),
            ..Default::default()
        };
        let plan = plan_forget(vault, &opts)?;
        let stats = execute_forget(vault, &plan)?;
        if !stats.removed.is_empty() {
            self.event(
                id,
                EventLevel::Info,
                &format!(
                    "retention removed {} from vault `{name}`: {}",
                    coffer_core::human_count(stats.removed.len() as u64, "snapshot"),
                    stats
                        .removed
                        .iter()
                        .map(|i| i.short())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            );
        }
        for r in &stats.refused {
            self.event(
                id,
                EventLevel::Info,
                &format!("retention kept {}: {}", r.id.short(), r.message),
            );
        }
        Ok(stats)
    }

    /// A copy job (its own catalog row) of `ids` from `src` (a vault and
    /// its name) into vault `dst_name`, then `after` (a retention there, or
    /// the verification of a tier move). Returns how it ended.
    #[allow(clippy::too_many_arguments)]
    fn copy_job(
        &self,
        parent: JobId,
        rule: &RuleConfig,
        source: &SourceConfig,
        (src, src_name): (&Vault, &str),
        dst_name: &str,
        ids: &[Id],
        after: AfterCopy<'_>,
        cancel: &Cancel,
    ) -> CopyDone {
        let mut j = rule_job(JobKind::Copy, Trigger::Rule, rule, &source.name);
        j.vault = Some(src_name.to_string());
        j.destination_vault = Some(dst_name.to_string());
        let job = match self.catalog.create_job(&j) {
            Ok(job) => job,
            Err(e) => {
                self.event(
                    parent,
                    EventLevel::Error,
                    &format!("cannot record a copy job: {e}"),
                );
                return CopyDone {
                    state: JobState::Failed,
                    verified: Vec::new(),
                };
            }
        };
        self.event(
            parent,
            EventLevel::Info,
            &format!("copy job {} into vault `{dst_name}` created", job.0),
        );
        let _ = self.catalog.start_job(job);
        let mut verified = Vec::new();
        let outcome = (|| -> ServerResult<JobOutcome> {
            let dst = self.vault(dst_name)?;
            let opts = CopyOptions {
                cancel: Some(cancel.clone()),
                ..Default::default()
            };
            let stats = copy_snapshots(src, &dst, ids, &opts)?;
            let mut counters = JobCounters::default();
            let mut made = Vec::new();
            let mut failures = Vec::new();
            for s in &stats.snapshots {
                counters.bytes_read += s.counters.bytes_read;
                counters.bytes_added += s.counters.bytes_sent;
                counters.bytes_stored += s.counters.bytes_stored;
                match (&s.destination, &s.detail) {
                    (Some(d), _) => made.push(d.to_hex()),
                    (None, detail) => failures.push(format!(
                        "snapshot {}: {}",
                        s.source.short(),
                        detail.as_deref().unwrap_or("not copied")
                    )),
                }
            }
            let mut failed_check = false;
            match after {
                AfterCopy::Retention(retention) => {
                    if let Err(e) =
                        self.apply_retention(job, &dst, dst_name, rule, &source.name, retention)
                    {
                        self.event(
                            job,
                            EventLevel::Warning,
                            &format!("retention not applied: {e}"),
                        );
                    }
                }
                AfterCopy::Verify => {
                    let (ok, bad) = self.verify_copies(job, &dst, dst_name, &stats, cancel)?;
                    verified = ok;
                    failed_check = !bad.is_empty();
                    failures.extend(bad);
                }
            }
            let mut o = JobOutcome::completed(counters, made.clone());
            if !failures.is_empty() {
                o.state = if made.is_empty() || failed_check {
                    JobState::Failed
                } else {
                    JobState::Partial
                };
                o.error = Some(failures.join("; "));
            }
            Ok(o)
        })();
        let outcome = outcome.unwrap_or_else(|e| match cancel.reason() {
            Some(why) => JobOutcome::aborted(why),
            None => JobOutcome::failed(e.message),
        });
        self.finish(job, &outcome);
        CopyDone {
            state: outcome.state,
            verified,
        }
    }
}

/// Opens the vault named `name` in `config` (no cache: see [`Runner::vault`]).
/// The one place a configured vault's secret is found (key file, password
/// file or `password_env`). The error names the vault and the setting to
/// fix, never a secret; its kind is `config` for what the configuration
/// must fix (an unknown vault, an unreadable key file, an unset variable, a
/// secret that opens no key slot) and the vault error's own kind otherwise
/// (`unavailable` for a storage failure).
pub fn open_vault(config: &Config, name: &str) -> ServerResult<Vault> {
    let vc = config.vault(name).ok_or_else(|| {
        ServerError::config(format!(
            "vault `{name}` is not in {}",
            config.path.display()
        ))
    })?;
    let setting = match &vc.key {
        KeySource::KeyFile(p) => format!("key_file = \"{}\"", p.display()),
        KeySource::PasswordFile(p) => format!("password_file = \"{}\"", p.display()),
        KeySource::PasswordEnv(var) => format!("password_env = \"{var}\""),
    };
    let unusable = |e: coffer_core::Error| {
        ServerError::config(format!("vault `{name}`: {setting} cannot be used: {e}"))
    };
    let secret = match &vc.key {
        KeySource::KeyFile(p) => Secret::from_key_file(p).map_err(unusable)?,
        // The CLI's rule for password files (one trailing newline
        // dropped), so a vault made with `--password-file` opens here.
        KeySource::PasswordFile(p) => Secret::from_password_file(p).map_err(unusable)?,
        KeySource::PasswordEnv(var) => match std::env::var(var) {
            Ok(pw) if !pw.is_empty() => Secret::Password(pw),
            _ => {
                return Err(ServerError::config(format!(
                    "vault `{name}`: environment variable {var} (password_env) is not set"
                )))
            }
        },
    };
    let backend = coffer_storage::open_location(&vc.storage_url())
        .map_err(|e| ServerError::vault(format!("vault `{name}` ({})", vc.url), &e))?;
    Vault::open(backend, &secret).map_err(|e| match e {
        // The core's hint names the CLI's options; the daemon's secret
        // comes from the configuration, so name its setting instead.
        coffer_core::Error::WrongKey { vault, skipped } => ServerError::config(format!(
            "vault `{name}`: {setting} does not open vault {vault}: no key slot accepts it (check that setting){skipped}"
        )),
        e => ServerError::vault(format!("vault `{name}`"), &e),
    })
}

/// How many days a new snapshot of `rule` is kept in the rule's vault at
/// least (its `retain_until`): the retention's `delete_after_days`, but no
/// longer than the first tier's `after_days` when the rule has a chain of
/// tiers, since the move there (verified first) is how the snapshot leaves
/// this vault; a longer `retain_until` would refuse that move's forget.
fn retain_days(rule: &RuleConfig) -> Option<u32> {
    let d = rule.retention.delete_after_days?;
    Some(match rule.tiers.first() {
        Some(t) => d.min(t.after_days),
        None => d,
    })
}

/// A job row of `kind` for `source` by `rule`, writing into the rule's vault.
fn rule_job(kind: JobKind, trigger: Trigger, rule: &RuleConfig, source: &str) -> NewJob {
    let mut j = NewJob::new(kind, trigger);
    j.plan = Some(rule.plan.clone());
    j.rule = Some(rule.name.clone());
    j.source = Some(source.to_string());
    j.vault = Some(rule.vault.clone());
    j
}

/// The snapshots of `source` made by `rule`.
pub fn rule_filter(rule: &RuleConfig, source: &str) -> SnapshotFilter {
    SnapshotFilter {
        tags: vec![format!("{},{}", source_tag(source), rule_tag(rule))],
        ..Default::default()
    }
}

/// Prunes the WAL archive of vault `name` (see [`coffer_sources::wal::prune`]):
/// the event to record and the JSON for the job's details. A failure is a
/// warning with `{"error": …}` (and what was deleted before it) in the JSON.
fn prune_wal(vault: &Vault, name: &str, now: Timestamp) -> (EventLevel, String, serde_json::Value) {
    use coffer_sources::{wal, SourceError};
    let opts = wal::PruneOptions {
        dry_run: false,
        now,
    };
    match wal::prune(vault, &opts) {
        Ok(r) => {
            let msg = match &r.horizon {
                Some(h) => format!(
                    "WAL prune in vault `{name}`: deleted {} segments and {} backup history files before {h} ({} bytes); {} kept for the vault lock",
                    r.segments_deleted, r.history_files_deleted, r.bytes_freed, r.kept_for_lock
                ),
                None => format!("WAL prune in vault `{name}`: no base backup, nothing deleted"),
            };
            let json = serde_json::to_value(&r).unwrap_or_default();
            (EventLevel::Info, msg, json)
        }
        Err(e) => {
            let mut json = match &e {
                SourceError::WalPrune(r) => serde_json::to_value(r).unwrap_or_default(),
                _ => serde_json::json!({}),
            };
            json["error"] = e.to_string().into();
            tracing::warn!("WAL prune in vault `{name}` failed: {e}");
            (
                EventLevel::Warning,
                format!("WAL prune in vault `{name}` failed: {e}"),
                json,
            )
        }
    }
}

/// The source's spec with its configured password put into its URL (from
/// there the client tools get it through the environment; it is never
/// printed).
pub fn with_password(source: &SourceConfig) -> ServerResult<SourceSpec> {
    password_into(source, source.to_spec())
}

/// `spec` (the source's, as [`SourceConfig::spec_for`] made it for a
/// rule) with the source's configured password put into its URL, and into
/// the standby's of a base backup by files (a standby has the primary's
/// roles; the configuration refuses a password in either URL).
pub fn password_into(source: &SourceConfig, mut spec: SourceSpec) -> ServerResult<SourceSpec> {
    let Some(secret) = &source.password else {
        return Ok(spec);
    };
    let pw = secret
        .read()
        .map_err(|e| e.context(format!("source `{}`", source.name)))?;
    let mut urls: Vec<(&mut String, &str)> = match &mut spec {
        SourceSpec::PostgresBase { url, files, .. } => {
            let mut v = vec![(url, "URL")];
            if let Some(s) = files.as_mut().and_then(|f| f.standby.as_mut()) {
                v.push((s, "standby URL"));
            }
            v
        }
        SourceSpec::Postgres { url, .. }
        | SourceSpec::Mysql { url, .. }
        | SourceSpec::Redis { url } => vec![(url, "URL")],
        _ => return Ok(spec),
    };
    for (url, what) in urls.iter_mut() {
        let mut u = url::Url::parse(url).map_err(|e| {
            ServerError::config(format!("source `{}`: bad {what}: {e}", source.name))
        })?;
        u.set_password(Some(&pw)).map_err(|_| {
            ServerError::config(format!(
                "source `{}`: its {what} cannot carry a password",
                source.name
            ))
        })?;
        **url = u.to_string();
    }
    drop(urls);
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(v: &Vault, start: &str) -> Id {
        v.save_snapshot(&coffer_testing::snapshot(
            "2025-01-01T00:00:00Z",
            coffer_sources::pg_physical::KIND_BASE,
            &[("start_wal_file", start)],
        ))
        .unwrap()
    }

    #[test]
    fn wal_prune_after_retention_records_counts_or_the_error() {
        let v = coffer_testing::memory_vault();
        for n in ["000000010000000000000001", "000000010000000000000002"] {
            coffer_core::wal::put(&v, n, b"x").unwrap();
        }
        let now = Timestamp::now();
        let (level, msg, json) = prune_wal(&v, "pg", now);
        assert_eq!(level, EventLevel::Info);
        assert!(msg.contains("no base backup"), "{msg}");
        assert_eq!(json["segments_deleted"], 0);
        base(&v, "000000010000000000000002");
        let (level, msg, json) = prune_wal(&v, "pg", now);
        assert_eq!(level, EventLevel::Info, "{msg}");
        assert_eq!(json["segments_deleted"], 1);
        assert_eq!(json["horizon"], "000000010000000000000002");
        let bad = base(&v, "nonsense");
        let (level, msg, json) = prune_wal(&v, "pg", now);
        assert_eq!(level, EventLevel::Warning);
        assert!(msg.contains(&bad.to_hex()), "{msg}");
        assert!(json["error"].as_str().unwrap().contains("nonsense"));
    }
}
