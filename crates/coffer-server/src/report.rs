//! The compliance report: controls, each with a status (`PASS`, `FAIL`,
//! `NOT_EVALUATED`), the evidence it was judged on, and the resources that
//! fail it. [`build`] evaluates them from the configuration, the catalog and
//! the vaults; [`Report::render`] writes text, JSON, CSV or a self-contained
//! HTML page. `coffer report`, scheduled reports ([`run_scheduled`]) and the
//! HTTP API all go through these two, so they say the same thing.
//!
//! | control | passes when |
//! | --- | --- |
//! | `rule-coverage` | every configured source is selected by a rule |
//! | `backup-frequency` | every rule runs at least every `[compliance] min_backup_frequency` |
//! | `retention-minimum` | every rule and copy keeps snapshots at least `min_retention_days` |
//! | `encryption` | every vault opens as a coffer vault (always encrypted: the evidence is its cipher and format version) |
//! | `key-age` | every key slot of every vault was added within `[compliance] key_rotation` (default 90 days); a slot whose `created` does not parse (age unknown) or that is damaged fails |
//! | `vault-lock` | every vault has a lock (in the configuration or stored in the vault) |
//! | `cross-vault-copy` | every source is copied into a second vault, and a copy job completed in the period |
//! | `rpo` | every source with an RPO has a recovery point younger than it |
//! | `restore-test` | every source's newest restore test succeeded within `restore_test_window`, faster than its RTO |
//! | `verification` | every vault's newest verification passed within `verify_window` |
//!
//! A control with nothing to judge (no source has an RPO, no vault) is
//! `NOT_EVALUATED`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use coffer_core::Vault;
use coffer_storage::Location;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::catalog::{time_serde, Catalog, CatalogError, Job, JobFilter, JobKind, JobState};
use crate::config::{Config, ReportTarget, RuleConfig};
use crate::health::{self, Status, WalProbe};
use crate::records::{RestoreTestDetails, SourceHealth, Validation};

pub use crate::model::ReportFormat;

/// A control's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlStatus {
    /// Every resource meets it.
    Pass,
    /// At least one resource fails it.
    Fail,
    /// Nothing to judge.
    NotEvaluated,
}

impl ControlStatus {
    /// `PASS`, `FAIL` or `NOT_EVALUATED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Pass => "PASS",
            ControlStatus::Fail => "FAIL",
            ControlStatus::NotEvaluated => "NOT_EVALUATED",
        }
    }
}

impl std::fmt::Display for ControlStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluated control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Its stable id (`rpo`, `vault-lock`, …).
    pub id: String,
    /// What it requires, with the configured thresholds.
    pub title: String,
    /// The verdict.
    pub status: ControlStatus,
    /// What was looked at, one line per resource.
    pub evidence: Vec<String>,
    /// The resources that fail it, each with why.
    pub failing: Vec<String>,
}

impl Control {
    fn new(id: &str, title: String) -> Control {
        Control {
            id: id.to_string(),
            title,
            status: ControlStatus::NotEvaluated,
            evidence: Vec::new(),
            failing: Vec::new(),
        }
    }

    fn ok(&mut self, evidence: String) {
        self.evidence.push(evidence);
    }

    fn fail(&mut self, resource: String) {
        self.evidence.push(resource.clone());
        self.failing.push(resource);
    }

    /// PASS or FAIL once something was judged; NOT_EVALUATED otherwise.
    fn judged(mut self) -> Control {
        self.status = if !self.failing.is_empty() {
            ControlStatus::Fail
        } else if self.evidence.is_empty() {
            ControlStatus::NotEvaluated
        } else {
            ControlStatus::Pass
        };
        self
    }
}

/// Jobs of one kind in the period, by final state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobCount {
    /// The job kind.
    pub kind: String,
    /// Jobs per state (`COMPLETED`, `FAILED`, …).
    pub states: BTreeMap<String, u64>,
}

/// A source's protection status in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// OK, VIOLATED or UNKNOWN.
    pub status: Status,
    /// The numbers behind it.
    #[serde(flatten)]
    pub health: SourceHealth,
}

/// Tallies of the controls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Controls passed.
    pub pass: usize,
    /// Controls failed.
    pub fail: usize,
    /// Controls not evaluated.
    pub not_evaluated: usize,
}

/// A compliance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When it was made.
    #[serde(with = "time_serde")]
    pub generated_at: Timestamp,
    /// The start of the period it covers (jobs since then).
    #[serde(with = "time_serde")]
    pub period_start: Timestamp,
    /// The configuration file evaluated.
    pub config: PathBuf,
    /// Tallies of the controls.
    pub summary: Summary,
    /// The controls, in a fixed order.
    pub controls: Vec<Control>,
    /// Each source's RPO/RTO status.
    pub sources: Vec<SourceStatus>,
    /// Jobs in the period.
    pub jobs: Vec<JobCount>,
}

/// Why a report could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// No `[[report]]` of that name.
    #[error("no [[report]] named `{name}` in {config} (reports: {known})")]
    UnknownReport {
        /// The name asked for.
        name: String,
        /// The configuration file.
        config: PathBuf,
        /// The names there are.
        known: String,
    },
    /// Writing the report file failed.
    #[error("cannot write report `{name}` to {path}: {source}")]
    Write {
        /// The report.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the report into a vault failed.
    #[error("cannot write report `{name}` into vault `{vault}`: {message}")]
    Vault {
        /// The report.
        name: String,
        /// The vault.
        vault: String,
        /// Why.
        message: String,
    },
}

/// Opens a vault of the configuration by name.
pub type VaultOpener<'a> = &'a dyn Fn(&str) -> Result<Vault, String>;

fn human(d: SignedDuration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(
        d.as_secs().max(0).unsigned_abs(),
    ))
    .to_string()
}

fn human_secs(s: f64) -> String {
    human(SignedDuration::from_secs(s.max(0.0).round() as i64))
}

/// The vaults rules write into (their own, copies, the cold tier), in
/// configuration order.
fn vaults_in_use(config: &Config) -> Vec<String> {
    let mut used = BTreeSet::new();
    for r in config.rules() {
        used.insert(r.vault.clone());
        used.extend(r.copy_to.iter().map(|c| c.vault.clone()));
        used.extend(r.cold_vault.clone());
    }
    config
        .vaults
        .iter()
        .filter(|v| used.contains(&v.name))
        .map(|v| v.name.clone())
        .collect()
}

/// An error about vault `name` without its leading "vault `name`: ".
fn unprefixed<'e>(name: &str, e: &'e str) -> &'e str {
    e.strip_prefix(&format!("vault `{name}`: ")).unwrap_or(e)
}

fn rules_of<'c>(config: &'c Config, source: &str) -> Vec<&'c RuleConfig> {
    config
        .rules()
        .filter(|r| r.sources.iter().any(|s| s == source))
        .collect()
}

/// The longest wait between two runs of `rule` over the next 35 days (at
/// most 2000 runs); `None` when it runs fewer than twice in that time.
fn longest_gap(rule: &RuleConfig, now: Timestamp) -> Option<SignedDuration> {
    if let Some(i) = rule.schedule.interval() {
        return Some(i);
    }
    let horizon = now + SignedDuration::from_hours(35 * 24);
    let mut prev = rule.schedule.next_after(now, &rule.timezone)?;
    let mut longest: Option<SignedDuration> = None;
    for _ in 0..2000 {
        let Some(next) = rule.schedule.next_after(prev, &rule.timezone) else {
            break;
        };
        let gap = next.duration_since(prev);
        longest = Some(longest.map_or(gap, |l| l.max(gap)));
        if next > horizon {
            break;
        }
        prev = next;
    }
    longest
}

/// How many days a retention policy keeps a snapshot at least (`None`:
/// forever), given the rule's longest gap between backups.
fn kept_days(p: &coffer_core::RetentionPolicy, gap: Option<SignedDuration>) -> Option<f64> {
    if p.keeps_everything() {
        return None;
    }
    let gap_days = gap.map_or(1.0, |g| g.as_secs_f64() / 86400.0);
    let by_counts = [
        p.keep_last.map(|n| n as f64 * gap_days),
        p.keep_hourly.map(|n| n as f64 / 24.0),
        p.keep_daily.map(|n| n as f64),
        p.keep_weekly.map(|n| n as f64 * 7.0),
        p.keep_monthly.map(|n| n as f64 * 30.0),
        p.keep_yearly.map(|n| n as f64 * 365.0),
    ]
    .into_iter()
    .flatten()
    .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    match (by_counts, p.delete_after_days) {
        (Some(c), Some(d)) => Some(c.min(d as f64)),
        (Some(c), None) => Some(c),
        (None, Some(d)) => Some(d as f64),
        (None, None) => None,
    }
}

fn when(job: &Job) -> Timestamp {
    job.finished_at.or(job.started_at).unwrap_or(job.created_at)
}

/// Evaluates every control at `now` for the period since `since`. Vaults
/// are opened with `open` (for their format, lock and archived WAL).
/// Reads only; stores and emits nothing.
pub fn build(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    since: Timestamp,
    open: VaultOpener,
) -> Result<Report, CatalogError> {
    let cc = &config.compliance;
    let used = vaults_in_use(config);
    let mut opened: BTreeMap<String, Result<Vault, String>> = BTreeMap::new();
    for v in &used {
        opened.insert(v.clone(), open(v));
    }
    let probe_fn = |v: &str| -> Result<Option<Timestamp>, String> {
        match opened.get(v) {
            Some(Ok(vault)) => coffer_core::wal::newest(vault)
                .map(|n| n.and_then(|(_, t)| t))
                .map_err(|e| format!("vault `{v}`: {e}")),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    };
    let probe: WalProbe = &probe_fn;
    let mut controls = Vec::new();

    // Every source is covered by a rule.
    let mut c = Control::new(
        "rule-coverage",
        "Every configured source is backed up by a rule".into(),
    );
    for s in &config.sources {
        let rules = rules_of(config, &s.name);
        if rules.is_empty() {
            c.fail(format!("source `{}`: no rule selects it", s.name));
        } else {
            let ids: Vec<String> = rules.iter().map(|r| r.id()).collect();
            c.ok(format!(
                "source `{}`: backed up by {}",
                s.name,
                ids.join(", ")
            ));
        }
    }
    controls.push(c.judged());

    // Backup frequency.
    let mut c = Control::new(
        "backup-frequency",
        format!(
            "Every rule backs up at least every {}",
            human(cc.min_backup_frequency)
        ),
    );
    for r in config.rules() {
        match longest_gap(r, now) {
            Some(g) if g <= cc.min_backup_frequency => c.ok(format!(
                "rule {}: schedule `{}` ({}) runs at least every {}",
                r.id(),
                r.schedule,
                r.timezone_name,
                human(g)
            )),
            Some(g) => c.fail(format!(
                "rule {}: schedule `{}` ({}) leaves up to {} between backups",
                r.id(),
                r.schedule,
                r.timezone_name,
                human(g)
            )),
            None => c.fail(format!(
                "rule {}: schedule `{}` runs fewer than twice in the next 35 days",
                r.id(),
                r.schedule
            )),
        }
    }
    controls.push(c.judged());

    // Retention minimum.
    let mut c = Control::new(
        "retention-minimum",
        format!(
            "Every rule and copy keeps snapshots at least {} days",
            cc.min_retention_days
        ),
    );
    for r in config.rules() {
        let gap = longest_gap(r, now);
        let mut check = |what: String, p: &coffer_core::RetentionPolicy| match kept_days(p, gap) {
            None => c.ok(format!("{what}: keeps every snapshot")),
            Some(d) if d >= cc.min_retention_days as f64 => {
                c.ok(format!("{what}: keeps snapshots at least {d:.0} days"))
            }
            Some(d) => c.fail(format!(
                "{what}: keeps snapshots only {d:.1} days (minimum {})",
                cc.min_retention_days
            )),
        };
        check(
            format!("rule {} in vault `{}`", r.id(), r.vault),
            &r.retention,
        );
        for cp in &r.copy_to {
            check(
                format!("rule {} copy in vault `{}`", r.id(), cp.vault),
                &cp.retention,
            );
        }
    }
    controls.push(c.judged());

    // Encryption.
    let mut c = Control::new(
        "encryption",
        "Every snapshot is encrypted (authenticated encryption of every object)".into(),
    );
    for name in &used {
        match &opened[name] {
            Ok(v) => {
                let vc = v.config();
                c.ok(format!(
                    "vault `{name}`: {} format version {}, every object sealed with XChaCha20-Poly1305 \
                     (random nonces), object names keyed hashes, key epoch {} wrapped per key slot",
                    vc.format,
                    vc.version,
                    v.epoch().generation
                ));
            }
            Err(e) => c.fail(format!(
                "vault `{name}`: cannot be opened to show its encryption: {}",
                unprefixed(name, e)
            )),
        }
    }
    controls.push(c.judged());

    // Key age.
    let mut c = Control::new(
        "key-age",
        format!(
            "Every key slot was added within the rotation period of {}",
            human(cc.key_rotation)
        ),
    );
    for name in &used {
        let vault = match &opened[name] {
            Ok(v) => v,
            Err(e) => {
                c.fail(format!(
                    "vault `{name}`: cannot be opened to list its key slots: {}",
                    unprefixed(name, e)
                ));
                continue;
            }
        };
        let (slots, damaged) = match coffer_core::keys::list_slots_checked(vault.backend().as_ref())
        {
            Ok(l) => l,
            Err(e) => {
                c.fail(format!("vault `{name}`: cannot list its key slots: {e}"));
                continue;
            }
        };
        for s in &slots {
            let slot = format!(
                "vault `{name}`: key slot {} ({:?})",
                s.id.short(),
                s.slot.label
            );
            match coffer_core::keys::slot_age(&s.slot, now) {
                Some(age) if age > cc.key_rotation => c.fail(format!(
                    "{slot} was added {} ago ({}), more than the rotation period: rotate the key (coffer key rotate), or add a new slot and remove this one (coffer key add, coffer key remove)",
                    human(age),
                    s.slot.created
                )),
                Some(age) => c.ok(format!("{slot} was added {} ago", human(age))),
                None => c.fail(format!(
                    "{slot}: age unknown (its created time {:?} does not parse): replace it with a new slot",
                    s.slot.created
                )),
            }
        }
        for d in &damaged {
            c.fail(format!("vault `{name}`: {d}: its age cannot be judged"));
        }
        // The key epoch ages too: new slots of an old epoch wrap an old key.
        let epoch = vault.epoch();
        let what = format!("vault `{name}`: key epoch {}", epoch.generation);
        match epoch.created.parse::<jiff::Timestamp>() {
            Ok(t) => {
                let age = now.duration_since(t).max(jiff::SignedDuration::ZERO);
                if age > cc.key_rotation {
                    c.fail(format!(
                        "{what} began {} ago ({}), more than the rotation period: start a new one (coffer key rotate)",
                        human(age),
                        epoch.created
                    ))
                } else {
                    c.ok(format!("{what} began {} ago", human(age)))
                }
            }
            Err(_) => c.fail(format!(
                "{what}: age unknown (its start {:?} does not parse): start a new one (coffer key rotate)",
                epoch.created
            )),
        }
    }
    controls.push(c.judged());

    // Vault lock.
    let mut c = Control::new(
        "vault-lock",
        "Every vault is locked (manual deletion of snapshots disabled)".into(),
    );
    for name in &used {
        let configured = config.vault(name).and_then(|v| v.lock.clone());
        let stored = match &opened[name] {
            Ok(v) => v.lock_state().map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        match (&stored, &configured) {
            (Ok(st), _) if st.lock.is_some() => {
                let lock = st.lock.as_ref().expect("checked");
                let on_s3 = config
                    .vault(name)
                    .is_some_and(|v| matches!(Location::parse(&v.url), Ok(Location::S3(_))));
                if lock.store_enforced {
                    c.ok(format!(
                        "vault `{name}`: {}, enforced by the store (S3 Object Lock) and by coffer",
                        lock.describe()
                    ))
                } else if on_s3 {
                    c.fail(format!(
                        "vault `{name}`: {}, but enforced by coffer only: the S3 bucket accepts \
                         deletes (use a bucket with versioning and Object Lock, check it with \
                         `coffer vault probe`, then run `coffer vault lock` again)",
                        lock.describe()
                    ))
                } else {
                    c.ok(format!(
                        "vault `{name}`: {}, enforced by coffer (a local directory cannot enforce \
                         object lock)",
                        lock.describe()
                    ))
                }
            }
            (_, Some(l)) => c.ok(format!(
                "vault `{name}`: {:?} lock in the configuration (min {}, max {} days){}",
                l.mode(),
                l.min_retention_days,
                l.max_retention_days,
                match &stored {
                    Ok(_) => String::from("; not yet stored in the vault"),
                    Err(e) => format!(
                        "; the vault's lock records could not be read: {}",
                        unprefixed(name, e)
                    ),
                }
            )),
            (Ok(_), None) => c.fail(format!(
                "vault `{name}`: no lock (set [vault.lock] or run `coffer vault lock`)"
            )),
            (Err(e), None) => c.fail(format!(
                "vault `{name}`: no lock in the configuration, and the vault cannot be read: {}",
                unprefixed(name, e)
            )),
        }
    }
    controls.push(c.judged());

    // Copies into a second vault.
    let mut c = Control::new(
        "cross-vault-copy",
        "Every source is copied into a second vault, with a completed copy in the period".into(),
    );
    for s in &config.sources {
        let targets: BTreeSet<String> = rules_of(config, &s.name)
            .iter()
            .flat_map(|r| r.copy_to.iter().map(|c| c.vault.clone()))
            .collect();
        if targets.is_empty() {
            c.fail(format!(
                "source `{}`: no rule copies it into a second vault (copy_to)",
                s.name
            ));
            continue;
        }
        let copies = catalog.list_jobs(&JobFilter {
            kinds: vec![JobKind::Copy],
            states: vec![JobState::Completed, JobState::Partial],
            source: Some(s.name.clone()),
            since: Some(since),
            limit: Some(1),
            ..Default::default()
        })?;
        let list = targets.into_iter().collect::<Vec<_>>().join(", ");
        match copies.first() {
            Some(j) => c.ok(format!(
                "source `{}`: copied into {list}; copy job {} {} at {:.0}",
                s.name,
                j.id,
                j.state,
                when(j)
            )),
            None => c.fail(format!(
                "source `{}`: copied into {list} by its rules, but no copy job completed since {since:.0}",
                s.name
            )),
        }
    }
    controls.push(c.judged());

    // RPO.
    let mut healths = Vec::new();
    for s in &config.sources {
        healths.push(health::source_health(config, catalog, s, now, probe)?);
    }
    let mut c = Control::new(
        "rpo",
        "The newest recovery point of every source is younger than its RPO".into(),
    );
    for h in &healths {
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
    controls.push(c.judged());

    // Restore tests.
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
                states: JobState::FINAL.to_vec(),
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
    controls.push(c.judged());

    // Verification.
    let mut c = Control::new(
        "verification",
        format!(
            "Every vault's newest verification passed within the last {}",
            human(cc.verify_window)
        ),
    );
    let verify_start = now - cc.verify_window;
    for name in &used {
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
    controls.push(c.judged());

    // Jobs in the period.
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for j in catalog.list_jobs(&JobFilter {
        since: Some(since),
        ..Default::default()
    })? {
        *counts
            .entry(j.kind.to_string())
            .or_default()
            .entry(j.state.to_string())
            .or_default() += 1;
    }
    let jobs = counts
        .into_iter()
        .map(|(kind, states)| JobCount { kind, states })
        .collect();

    let summary = Summary {
        pass: count(&controls, ControlStatus::Pass),
        fail: count(&controls, ControlStatus::Fail),
        not_evaluated: count(&controls, ControlStatus::NotEvaluated),
    };
    Ok(Report {
        generated_at: now,
        period_start: since,
        config: config.path.clone(),
        summary,
        controls,
        sources: healths
            .into_iter()
            .map(|h| SourceStatus {
                status: Status::overall(&h),
                health: h,
            })
            .collect(),
        jobs,
    })
}

fn count(c: &[Control], s: ControlStatus) -> usize {
    c.iter().filter(|c| c.status == s).count()
}

impl Report {
    /// Whether any control failed.
    pub fn failed(&self) -> bool {
        self.summary.fail > 0
    }

    /// The report in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Text => self.text(),
            ReportFormat::Json => {
                serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
            }
            ReportFormat::Csv => self.csv(),
            ReportFormat::Html => self.html(),
        }
    }

    fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "coffer compliance report, {:.0} (period since {:.0})\nconfiguration: {}\n{} passed, {} failed, {} not evaluated\n",
            self.generated_at,
            self.period_start,
            self.config.display(),
            self.summary.pass,
            self.summary.fail,
            self.summary.not_evaluated
        );
        for c in &self.controls {
            let _ = writeln!(o, "[{}] {}: {}", c.status, c.id, c.title);
            for e in &c.evidence {
                let mark = if c.failing.contains(e) { "FAIL" } else { "ok" };
                let _ = writeln!(o, "    {mark:<4} {e}");
            }
            if c.evidence.is_empty() {
                let _ = writeln!(o, "    nothing to evaluate");
            }
        }
        let _ = writeln!(o, "\nsources:");
        for s in &self.sources {
            let _ = writeln!(o, "    {:<9} {}", s.status.as_str(), s.health.source);
        }
        let _ = writeln!(o, "\njobs since {:.0}:", self.period_start);
        if self.jobs.is_empty() {
            let _ = writeln!(o, "    none");
        }
        for j in &self.jobs {
            let states: Vec<String> = j.states.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let _ = writeln!(o, "    {:<13} {}", j.kind, states.join(", "));
        }
        o
    }

    fn csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut o = String::from("control,title,status,failing_resources,evidence\r\n");
        for c in &self.controls {
            let _ = write!(
                o,
                "{},{},{},{},{}\r\n",
                field(&c.id),
                field(&c.title),
                c.status,
                field(&c.failing.join("\n")),
                field(&c.evidence.join("\n"))
            );
        }
        o
    }

    fn html(&self) -> String {
        fn esc(s: &str) -> String {
            let mut o = String::with_capacity(s.len());
            for ch in s.chars() {
                match ch {
                    '&' => o.push_str("&amp;"),
                    '<' => o.push_str("&lt;"),
                    '>' => o.push_str("&gt;"),
                    '"' => o.push_str("&quot;"),
                    '\'' => o.push_str("&#39;"),
                    c => o.push(c),
                }
            }
            o
        }
        let class = |s: ControlStatus| match s {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "fail",
            ControlStatus::NotEvaluated => "na",
        };
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>coffer compliance report {gen}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}}
h1{{font-size:1.5em}} h2{{font-size:1.15em;margin-top:2em}}
table{{border-collapse:collapse;width:100%}} th,td{{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}}
th{{background:#f3f3f3}} .pass{{color:#0a6b2d;font-weight:bold}} .fail{{color:#b00020;font-weight:bold}} .na{{color:#666;font-weight:bold}}
ul{{margin:.2em 0;padding-left:1.2em}} li.fail{{font-weight:normal}} .meta{{color:#555}}
</style></head><body>
<h1>coffer compliance report</h1>
<p class="meta">Generated {gen} for the period since {since}.<br>Configuration: <code>{cfg}</code></p>
<p><span class="pass">{p} passed</span>, <span class="fail">{f} failed</span>, <span class="na">{n} not evaluated</span>.</p>
<h2>Controls</h2>
<table><thead><tr><th>Control</th><th>Status</th><th>Evidence</th></tr></thead><tbody>
"#,
            gen = esc(&format!("{:.0}", self.generated_at)),
            since = esc(&format!("{:.0}", self.period_start)),
            cfg = esc(&self.config.display().to_string()),
            p = self.summary.pass,
            f = self.summary.fail,
            n = self.summary.not_evaluated,
        );
        for c in &self.controls {
            let _ = write!(
                o,
                "<tr id=\"{id}\"><td><b>{id}</b><br>{title}</td><td class=\"{cls}\">{status}</td><td>",
                id = esc(&c.id),
                title = esc(&c.title),
                cls = class(c.status),
                status = c.status
            );
            if c.evidence.is_empty() {
                o.push_str("nothing to evaluate");
            } else {
                o.push_str("<ul>");
                for e in &c.evidence {
                    let failing = c.failing.contains(e);
                    let _ = write!(
                        o,
                        "<li{}>{}{}</li>",
                        if failing { " class=\"fail\"" } else { "" },
                        if failing { "FAIL: " } else { "" },
                        esc(e)
                    );
                }
                o.push_str("</ul>");
            }
            o.push_str("</td></tr>\n");
        }
        o.push_str("</tbody></table>\n<h2>Sources</h2>\n<table><thead><tr><th>Source</th><th>Status</th><th>Newest good backup</th><th>RPO</th><th>Newest archived WAL</th><th>Last restore</th><th>RTO</th></tr></thead><tbody>\n");
        let opt_t =
            |t: Option<Timestamp>| t.map(|t| format!("{t:.0}")).unwrap_or_else(|| "—".into());
        let opt_s = |s: Option<f64>| s.map(human_secs).unwrap_or_else(|| "—".into());
        for s in &self.sources {
            let h = &s.health;
            let cls = match s.status {
                Status::Ok => "pass",
                Status::Violated => "fail",
                Status::Unknown => "na",
            };
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&h.source),
                s.status,
                esc(&opt_t(h.newest_good_at)),
                esc(&opt_s(h.rpo_seconds)),
                esc(&opt_t(h.wal_newest_at)),
                esc(&opt_s(h.last_restore_seconds)),
                esc(&opt_s(h.rto_seconds)),
            );
        }
        o.push_str("</tbody></table>\n<h2>Jobs in the period</h2>\n");
        if self.jobs.is_empty() {
            o.push_str("<p>None.</p>\n");
        } else {
            o.push_str("<table><thead><tr><th>Kind</th><th>States</th></tr></thead><tbody>\n");
            for j in &self.jobs {
                let states: Vec<String> =
                    j.states.iter().map(|(s, n)| format!("{n} {s}")).collect();
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(&j.kind),
                    esc(&states.join(", "))
                );
            }
            o.push_str("</tbody></table>\n");
        }
        o.push_str("</body></html>\n");
        o
    }
}

/// Where a scheduled report went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    /// A file.
    File(PathBuf),
    /// A snapshot in a vault.
    Snapshot {
        /// The vault.
        vault: String,
        /// The snapshot id.
        id: String,
    },
}

/// Runs `[[report]]` `name` at `now`: builds the report for the period of
/// its `since`, renders it and writes it into its directory (a new file
/// `report-NAME-TIME.EXT`, written then renamed into place) or its vault (a
/// snapshot of the stream `report-NAME.EXT`, tagged `report` and
/// `report:NAME`). Returns where it went and the report.
pub fn run_scheduled(
    config: &Config,
    catalog: &Catalog,
    name: &str,
    now: Timestamp,
) -> Result<(Written, Report), ReportError> {
    let rc = config
        .reports
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ReportError::UnknownReport {
            name: name.to_string(),
            config: config.path.clone(),
            known: if config.reports.is_empty() {
                "none".into()
            } else {
                config
                    .reports
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
    let open = |v: &str| crate::runner::open_vault(config, v);
    let report = build(config, catalog, now, now - rc.since, &open)?;
    let body = report.render(rc.format);
    let file = format!("report-{}.{}", rc.name, rc.format.extension());
    let written = match &rc.target {
        ReportTarget::Dir(dir) => {
            let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
            let path = dir.join(format!(
                "report-{}-{stamp}.{}",
                rc.name,
                rc.format.extension()
            ));
            let tmp = dir.join(format!(".{file}.tmp"));
            let io = |source| ReportError::Write {
                name: rc.name.clone(),
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::write(&tmp, body.as_bytes()).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Written::File(path)
        }
        ReportTarget::Vault(vname) => {
            let verr = |message: String| ReportError::Vault {
                name: rc.name.clone(),
                vault: vname.clone(),
                message,
            };
            let vault = open(vname).map_err(verr)?;
            let meta = coffer_sources::SnapshotMeta {
                host: None,
                tags: vec!["report".into(), format!("report:{}", rc.name)],
                retain_until: None,
            };
            let mut details = BTreeMap::new();
            details.insert("report".to_string(), rc.name.clone());
            details.insert("format".to_string(), rc.format.extension().to_string());
            details.insert("generated_at".to_string(), format!("{now:.0}"));
            let r = coffer_sources::run_backup(
                &vault,
                &coffer_core::BackupOptions::default(),
                &meta,
                |a, _| {
                    coffer_sources::stream::save_stream(
                        a,
                        body.as_bytes(),
                        &file,
                        "report",
                        details,
                    )
                },
            )
            .map_err(|e: coffer_core::Error| verr(e.to_string()))?;
            Written::Snapshot {
                vault: vname.clone(),
                id: r.id.map(|i| i.to_hex()).unwrap_or_default(),
            }
        }
    };
    Ok((written, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::tests::{config, ts, Fixture};
    use crate::health::TOTAL_BYTES;
    use crate::records::{Damage, DataScope, VerifyDetails};

    /// Two local vaults (main locked by the config, dr not), three sources.
    fn setup(extra: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let secret = coffer_core::keys::write_new_key_file(&dir.path().join("k")).unwrap();
        for v in ["main", "dr"] {
            let backend =
                coffer_storage::open_location(dir.path().join(v).to_str().unwrap()).unwrap();
            Vault::init(backend, &secret, &Default::default()).unwrap();
        }
        let text = format!(
            r#"
state_dir = "state"
[[vault]]
name = "main"
url = "main"
key_file = "k"
[vault.lock]
min_retention_days = 7
max_retention_days = 400
[[vault]]
name = "dr"
url = "dr"
key_file = "k"
[[source]]
name = "db"
kind = "command"
command = "echo"
rpo = "24h"
rto = "30m"
[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["db", "etc"]
schedule = "0 3 * * *"
retention = {{ keep_daily = 7, delete_after_days = 30 }}
copy_to = [{{ vault = "dr", retention = {{ delete_after_days = 30 }} }}]
{extra}"#
        );
        let path = dir.path().join("coffer.toml");
        std::fs::write(&path, &text).unwrap();
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        (dir, c)
    }

    fn report(c: &Config, f: &Fixture) -> Report {
        let open = |v: &str| crate::runner::open_vault(c, v);
        build(
            c,
            &f.catalog,
            f.now(),
            f.now() - SignedDuration::from_hours(24),
            &open,
        )
        .unwrap()
    }

    fn control<'r>(r: &'r Report, id: &str) -> &'r Control {
        r.controls.iter().find(|c| c.id == id).unwrap()
    }

    /// A catalog where everything was done within the last day.
    fn healthy(f: &Fixture) {
        for s in ["db", "etc"] {
            f.job(
                JobKind::Backup,
                s,
                "main",
                JobState::Completed,
                Some(serde_json::json!({ TOTAL_BYTES: 10 })),
            );
            f.job(JobKind::Copy, s, "main", JobState::Completed, None);
            f.restore_test(s, Validation::Successful, Some(60.0));
        }
        for v in ["main", "dr"] {
            verify(f, v, true);
        }
    }

    fn verify(f: &Fixture, vault: &str, good: bool) {
        let d = VerifyDetails {
            scope: DataScope::All,
            subset_percent: None,
            packs_read: 4,
            packs_total: 4,
            bytes_read: 100,
            coverage_percent: 100.0,
            damaged: if good {
                vec![]
            } else {
                vec![Damage {
                    object: "packs/ab/ab12".into(),
                    problem: "blob 3 fails authentication".into(),
                }]
            },
            affected_snapshots: if good {
                vec![]
            } else {
                vec!["cafe01".into(), "cafe02".into()]
            },
        };
        f.job(
            JobKind::Verify,
            "",
            vault,
            if good {
                JobState::Completed
            } else {
                JobState::Failed
            },
            Some(d.to_json()),
        );
    }

    #[test]
    fn every_control_passes_on_a_healthy_setup_except_the_lock_of_dr() {
        let (_d, c) = setup("");
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        f.set(ts("2026-03-01T06:00:00Z"));
        let r = report(&c, &f);
        for ctl in &r.controls {
            let want = if ctl.id == "vault-lock" {
                ControlStatus::Fail
            } else {
                ControlStatus::Pass
            };
            assert_eq!(ctl.status, want, "{ctl:#?}");
        }
        let lock = control(&r, "vault-lock");
        assert_eq!(lock.failing.len(), 1);
        assert!(
            lock.failing[0].starts_with("vault `dr`: no lock"),
            "{lock:?}"
        );
        let enc = control(&r, "encryption");
        assert!(
            enc.evidence[0].contains("coffer-vault format version 2")
                && enc.evidence[0].contains("XChaCha20-Poly1305"),
            "{enc:?}"
        );
        assert_eq!(r.summary.fail, 1);
        assert_eq!(r.summary.pass, 9);
        // Every format carries the verdicts.
        let html = r.render(ReportFormat::Html);
        assert!(
            html.starts_with("<!DOCTYPE html>") && html.contains("<td class=\"fail\">FAIL</td>")
        );
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("<script")
        );
        let csv = r.render(ReportFormat::Csv);
        assert!(csv.starts_with("control,title,status,failing_resources,evidence\r\n"));
        assert!(csv.contains("\r\nvault-lock,"), "{csv}");
        assert_eq!(csv.matches("\r\n").count(), 11);
        let text = r.render(ReportFormat::Text);
        assert!(text.contains("[FAIL] vault-lock"), "{text}");
        let back: Report = serde_json::from_str(&r.render(ReportFormat::Json)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn issue14_key_slots_older_than_the_rotation_period_fail_key_age() {
        let (_d, c) = setup("");
        // Slots were added just now; the report is 100 days on.
        let later = Timestamp::now() + SignedDuration::from_hours(100 * 24);
        let f = Fixture::new(&later.to_string());
        let r = report(&c, &f);
        let k = control(&r, "key-age");
        assert_eq!(k.status, ControlStatus::Fail, "{k:#?}");
        // Two vaults: each one's slot and each one's key epoch.
        assert_eq!(k.failing.len(), 4, "{k:#?}");
        assert_eq!(
            k.failing
                .iter()
                .filter(|f| f.contains(": key epoch 0 began") && f.contains("coffer key rotate"))
                .count(),
            2,
            "{k:#?}"
        );
        assert!(
            k.failing
                .iter()
                .any(|f| f.starts_with("vault `main`: key slot "))
                && k.failing[0].contains("more than the rotation period"),
            "{k:#?}"
        );
        // A longer rotation period, or a report right away: it passes.
        let (_d2, c2) = setup("[compliance]\nkey_rotation = \"120d\"\n");
        let r = report(&c2, &f);
        assert_eq!(control(&r, "key-age").status, ControlStatus::Pass);
        // A slot whose time does not parse is of unknown age, and fails.
        let main = c2.vault("main").unwrap().url.clone();
        let keys = std::path::Path::new(&main).join("keys");
        let slot = std::fs::read_dir(&keys)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&slot).unwrap()).unwrap();
        v["created"] = "last spring".into();
        std::fs::write(keys.join("c".repeat(64)), serde_json::to_vec(&v).unwrap()).unwrap();
        let r = report(&c2, &f);
        let k = control(&r, "key-age");
        assert_eq!(k.status, ControlStatus::Fail);
        assert!(
            k.failing.iter().any(|f| f.contains("age unknown")),
            "{k:#?}"
        );
    }

    #[test]
    fn each_control_fails_on_its_own_problem() {
        // A source without rule, a weekly schedule, a 3-day copy retention,
        // no copy for the second rule.
        let (_d, c) = setup(
            r#"[[source]]
name = "orphan"
kind = "command"
command = "echo"
[[plan.rule]]
name = "weekly"
vault = "dr"
sources = ["etc"]
schedule = "0 3 * * 0"
retention = { delete_after_days = 3 }
[compliance]
min_backup_frequency = "24h"
min_retention_days = 7
restore_test_window = "2d"
verify_window = "1d"
"#,
        );
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        let r = report(&c, &f);
        let cov = control(&r, "rule-coverage");
        assert_eq!(cov.status, ControlStatus::Fail);
        assert_eq!(cov.failing, vec!["source `orphan`: no rule selects it"]);
        let freq = control(&r, "backup-frequency");
        assert_eq!(freq.status, ControlStatus::Fail);
        assert!(
            freq.failing[0].contains("rule p/weekly") && freq.failing[0].contains("7days"),
            "{freq:?}"
        );
        let ret = control(&r, "retention-minimum");
        assert_eq!(ret.status, ControlStatus::Fail);
        assert!(
            ret.failing[0].contains("rule p/weekly in vault `dr`: keeps snapshots only 3.0 days"),
            "{ret:?}"
        );
        let copy = control(&r, "cross-vault-copy");
        assert!(
            copy.failing
                .iter()
                .any(|f| f.contains("`orphan`: no rule copies it")),
            "{copy:?}"
        );

        // Two days later nothing new ran: RPO, restore-test and verify
        // windows, and copies in the period all fail.
        f.set(ts("2026-03-03T01:00:00Z"));
        let r = report(&c, &f);
        let rpo = control(&r, "rpo");
        assert_eq!(rpo.status, ControlStatus::Fail);
        assert!(
            rpo.failing[0].contains("source `db`")
                && rpo.failing[0].contains("beyond its RPO of 1day"),
            "{rpo:?}"
        );
        let rt = control(&r, "restore-test");
        assert_eq!(rt.status, ControlStatus::Fail);
        assert!(
            rt.failing.iter().any(|x| x.contains("older than 2days")),
            "{rt:?}"
        );
        assert!(
            rt.failing
                .iter()
                .any(|x| x.contains("`orphan`: never restore-tested")),
            "{rt:?}"
        );
        let v = control(&r, "verification");
        assert_eq!(v.status, ControlStatus::Fail);
        assert!(v.failing[0].contains("older than 1day"), "{v:?}");
        assert!(control(&r, "cross-vault-copy")
            .failing
            .iter()
            .any(|x| x.contains("no copy job completed since")));
    }

    #[test]
    fn a_slow_or_failed_restore_test_fails_the_rto() {
        let (_d, c) = setup("");
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        f.restore_test("db", Validation::Successful, Some(3600.0));
        let r = report(&c, &f);
        let rt = control(&r, "restore-test");
        assert_eq!(rt.status, ControlStatus::Fail);
        assert!(
            rt.failing[0].contains("took 1h, beyond its RTO of 30m"),
            "{rt:?}"
        );
        f.restore_test("etc", Validation::TimedOut, None);
        let r = report(&c, &f);
        assert!(control(&r, "restore-test")
            .failing
            .iter()
            .any(|x| x.contains("`etc`") && x.contains("TIMED_OUT")));
    }

    #[test]
    fn a_damaged_vault_fails_verification_naming_vault_and_snapshots() {
        let (_d, c) = setup("");
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        verify(&f, "dr", false);
        let r = report(&c, &f);
        let v = control(&r, "verification");
        assert_eq!(v.status, ControlStatus::Fail);
        assert_eq!(v.failing.len(), 1);
        let msg = &v.failing[0];
        assert!(msg.starts_with("vault `dr`: verify job"), "{msg}");
        assert!(
            msg.contains("packs/ab/ab12 (blob 3 fails authentication)"),
            "{msg}"
        );
        assert!(msg.contains("snapshots affected: cafe01, cafe02"), "{msg}");
        assert!(v
            .evidence
            .iter()
            .any(|e| e.starts_with("vault `main`: verify job") && e.contains("passed")));
    }

    #[test]
    fn an_aborted_verification_is_passed_over_but_a_failed_one_is_not() {
        let (_d, c) = setup("");
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        // A good verify, then one stopped by its window: the good one counts.
        f.job(JobKind::Verify, "", "dr", JobState::Aborted, None);
        let v = control(&report(&c, &f), "verification").clone();
        assert_eq!(v.status, ControlStatus::Pass, "{v:?}");
        // A failed one after it is the newest verdict.
        verify(&f, "dr", false);
        f.job(JobKind::Verify, "", "dr", JobState::Aborted, None);
        let v = control(&report(&c, &f), "verification").clone();
        assert_eq!(v.status, ControlStatus::Fail, "{v:?}");
        assert!(v.failing[0].contains("FAILED"), "{v:?}");
    }

    #[test]
    fn a_stored_software_lock_on_a_local_vault_passes_and_says_so() {
        let (d, c) = setup("");
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        let dr = crate::runner::open_vault(&c, "dr").unwrap();
        let policy = coffer_core::LockPolicy {
            min_retention_days: 7,
            max_retention_days: 400,
            changeable_for_days: None,
        };
        dr.set_lock_with(&policy, "test", f.now(), false).unwrap();
        let lock = control(&report(&c, &f), "vault-lock").clone();
        assert_eq!(lock.status, ControlStatus::Pass, "{lock:?}");
        assert!(
            lock.evidence
                .iter()
                .any(|e| e.starts_with("vault `dr`: governance lock")
                    && e.contains("a local directory cannot enforce object lock")),
            "{lock:?}"
        );
        drop(d);
    }

    #[test]
    fn nothing_to_judge_is_not_evaluated() {
        let c = config(
            "[[vault]]\nname = \"v\"\nurl = \"/nonexistent/v\"\nkey_file = \"k\"\n[[source]]\nname = \"s\"\nkind = \"command\"\ncommand = \"echo\"\n",
        );
        let f = Fixture::new("2026-03-01T00:00:00Z");
        let r = report(&c, &f);
        for id in [
            "backup-frequency",
            "retention-minimum",
            "encryption",
            "vault-lock",
            "verification",
            "rpo",
        ] {
            assert_eq!(control(&r, id).status, ControlStatus::NotEvaluated, "{id}");
        }
        assert_eq!(control(&r, "rule-coverage").status, ControlStatus::Fail);
    }

    #[test]
    fn scheduled_reports_go_to_a_directory_or_a_vault() {
        let (d, c) = setup(
            r#"[[report]]
name = "daily"
schedule = "0 6 * * *"
format = "html"
to_dir = "reports"
[[report]]
name = "audit"
schedule = "@weekly"
format = "json"
since = "7d"
to_vault = "dr"
"#,
        );
        let f = Fixture::new("2026-03-01T00:00:00Z");
        healthy(&f);
        let (w, _) = run_scheduled(&c, &f.catalog, "daily", f.now()).unwrap();
        let want = d.path().join("reports/report-daily-20260301T000000Z.html");
        assert_eq!(w, Written::File(want.clone()));
        assert!(std::fs::read_to_string(&want)
            .unwrap()
            .contains("coffer compliance report"));
        let (w, r) = run_scheduled(&c, &f.catalog, "audit", f.now()).unwrap();
        assert_eq!(r.period_start, ts("2026-02-22T00:00:00Z"));
        let Written::Snapshot { vault, id } = w else {
            panic!("{w:?}")
        };
        assert_eq!(vault, "dr");
        let v = crate::runner::open_vault(&c, "dr").unwrap();
        let (_, snap) = v.find_snapshot(&id, &Default::default()).unwrap();
        assert_eq!(snap.paths, vec!["report-audit.json"]);
        assert!(snap.tags.contains(&"report:audit".to_string()));
        let e = run_scheduled(&c, &f.catalog, "nope", f.now())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no [[report]] named `nope`") && e.contains("daily, audit"),
            "{e}"
        );
    }

    #[test]
    fn the_example_has_reports() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coffer.toml");
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.reports.len(), 2);
        assert_eq!(c.reports[0].format, ReportFormat::Html);
        assert_eq!(c.reports[1].target, ReportTarget::Vault("dr".into()));
        assert_eq!(c.compliance, crate::config::ComplianceConfig::default());
        assert_eq!(c.anomaly, crate::config::AnomalyConfig::default());
    }

    #[test]
    fn report_sections_are_strict() {
        let bad = |extra: &str| {
            Config::parse(
                &format!("[[vault]]\nname = \"v\"\nurl = \"/v\"\nkey_file = \"k\"\n{extra}"),
                std::path::Path::new("t.toml"),
            )
            .unwrap_err()
            .to_string()
        };
        let e = bad("[[report]]\nname = \"r\"\nschedule = \"@daily\"\n");
        assert!(e.contains("report `r` goes nowhere"), "{e}");
        let e = bad(
            "[[report]]\nname = \"r\"\nschedule = \"@daily\"\nto_dir = \"d\"\nto_vault = \"v\"\n",
        );
        assert!(e.contains("give only one of to_dir and to_vault"), "{e}");
        let e = bad("[[report]]\nname = \"r\"\nschedule = \"@daily\"\nto_vault = \"x\"\n");
        assert!(
            e.contains("to_vault `x` is not a vault of this file (vaults: v)"),
            "{e}"
        );
        let e = bad(
            "[[report]]\nname = \"r\"\nschedule = \"@daily\"\nto_dir = \"d\"\nformat = \"pdf\"\n",
        );
        assert!(e.contains("unknown variant `pdf`"), "{e}");
        let e = bad("[compliance]\nverify_window = \"soon\"\n");
        assert!(e.contains("t.toml:6:17: bad verify_window `soon`"), "{e}");
        let e = bad("[compliance]\nmin_retention = 7\n");
        assert!(e.contains("unknown field `min_retention`"), "{e}");
    }
}
