//! The configuration file, `coffer.toml`: vaults, sources, and plans of rules.
//!
//! [`Config::load`] parses strictly (an unknown field is an error naming the
//! fields allowed there) and then validates the whole file, collecting every
//! problem as `file:line:column: message` ([`ConfigErrors`]), so that an
//! operator fixes them in one pass. The annotated example in
//! `examples/coffer.toml` shows every field.
//!
//! Secrets never sit in the file: a vault is unlocked by `key_file`,
//! `password_file` or `password_env`; a database source takes its password
//! from `password_file` or `password_env` (the daemon hands it to the client
//! tool through the environment). An inline `password`, or a password inside
//! a database URL, is refused, and the message never repeats it.
//!
//! Relative paths (`state_dir`, key and password files, a local vault's
//! `url`, a files source's `paths`, …) are read relative to the directory of
//! the configuration file, so a config and its key files can move together.

use crate::schedule::Schedule;
use coffer_core::{LockPolicy, RetentionPolicy};
use coffer_sources::spec::SourceSpec;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

mod monitoring;
pub use monitoring::{
    parse_size, EmailConfig, NotifyConfig, NotifyFilter, NotifyTarget, ServerConfig, TlsFiles,
    WebhookFormat, WebhookUrl, DEFAULT_NOTIFY_BACKOFF, DEFAULT_NOTIFY_RETRIES,
    DEFAULT_NOTIFY_TIMEOUT, DEFAULT_STORAGE_REFRESH, MAX_NOTIFY_BACKOFF,
};

/// AWS Backup's default start window.
pub const DEFAULT_START_WINDOW: SignedDuration = SignedDuration::from_hours(8);
/// AWS Backup's default completion window (7 days).
pub const DEFAULT_COMPLETION_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);

// ---------------------------------------------------------------------------
// Public, validated configuration.

/// A checked configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Where the daemon keeps its catalog and lock.
    pub state_dir: PathBuf,
    /// The vaults, in file order.
    pub vaults: Vec<VaultConfig>,
    /// The sources, in file order.
    pub sources: Vec<SourceConfig>,
    /// The plans, in file order.
    pub plans: Vec<PlanConfig>,
    /// Thresholds of the anomaly checks (`[anomaly]`; defaults when absent).
    pub anomaly: AnomalyConfig,
    /// Minimums of the compliance report (`[compliance]`; defaults when absent).
    pub compliance: ComplianceConfig,
    /// Scheduled reports (`[[report]]`), in file order.
    pub reports: Vec<ReportConfig>,
    /// The restore tests (`[[restore_test]]`), in file order.
    pub restore_tests: Vec<RestoreTestConfig>,
    /// Scheduled verifications (`[[verify]]`), in file order.
    pub verify: Vec<VerifyConfig>,
    /// `[server]`: the daemon's HTTP listener (`/metrics`, `/healthz`).
    pub server: Option<ServerConfig>,
    /// `[[notify]]`: notification sinks, in file order.
    pub notify: Vec<NotifyConfig>,
}

/// A vault the daemon writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// Its name in the file (rules refer to it).
    pub name: String,
    /// Storage location: a directory (made absolute) or `s3://bucket/prefix?…`.
    pub url: String,
    /// How to unlock it.
    pub key: KeySource,
    /// Hot (default) or cold storage.
    pub tier: Tier,
    /// The S3 storage class of a cold vault (`GLACIER`, `DEEP_ARCHIVE`, …).
    pub storage_class: Option<String>,
    /// The vault lock: retention bounds every rule writing here must meet.
    pub lock: Option<LockPolicy>,
    /// The space the vault may use, in bytes (metrics and the
    /// storage-nearly-full alert); local vaults default to their file system's.
    pub capacity: Option<u64>,
}

/// Where a vault's secret comes from. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file.
    KeyFile(PathBuf),
    /// A file holding the password (one line).
    PasswordFile(PathBuf),
    /// An environment variable holding the password.
    PasswordEnv(String),
}

/// Where a database source's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A file holding it (less one trailing `\n` or `\r\n`, as every
    /// password file: `coffer_core::keys::read_password_file`).
    File(PathBuf),
    /// An environment variable holding it.
    Env(String),
}

impl SecretRef {
    /// Reads the secret. The error names the file or variable, never the
    /// value.
    pub fn read(&self) -> Result<String, String> {
        match self {
            // The one rule for password files (less one trailing newline),
            // as the CLI reads them.
            SecretRef::File(p) => coffer_core::keys::read_password_file(p).map_err(|e| match e {
                coffer_core::Error::Io { source, .. } => {
                    format!("cannot read password file {}: {source}", p.display())
                }
                e => e.to_string(),
            }),
            SecretRef::Env(v) => std::env::var(v)
                .map_err(|_| format!("environment variable {v} (password_env) is not set")),
        }
    }
}

/// A vault's storage tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Ordinary storage: backups are written here.
    #[default]
    Hot,
    /// Archive storage: snapshots move here after `cold_after_days`.
    Cold,
}

/// The kinds of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Directory trees.
    Files,
    /// PostgreSQL logical dumps.
    Postgres,
    /// A PostgreSQL base backup.
    PostgresBase,
    /// MariaDB/MySQL dumps.
    Mysql,
    /// A Redis RDB.
    Redis,
    /// A command's standard output.
    Command,
}

impl SourceKind {
    fn name(self) -> &'static str {
        match self {
            SourceKind::Files => "files",
            SourceKind::Postgres => "postgres",
            SourceKind::PostgresBase => "postgres-base",
            SourceKind::Mysql => "mysql",
            SourceKind::Redis => "redis",
            SourceKind::Command => "command",
        }
    }

    /// The optional fields a source of this kind takes (besides `name`,
    /// `kind` and `tags`).
    fn fields(self) -> &'static [&'static str] {
        match self {
            SourceKind::Files => &[
                "paths",
                "exclude",
                "include",
                "exclude_files",
                "one_file_system",
            ],
            SourceKind::Postgres => &[
                "url",
                "all_databases",
                "globals",
                "include_databases",
                "exclude_databases",
                "bin_dir",
                "password_env",
                "password_file",
            ],
            SourceKind::PostgresBase | SourceKind::Mysql => {
                &["url", "bin_dir", "password_env", "password_file"]
            }
            SourceKind::Redis => &["url", "password_env", "password_file"],
            SourceKind::Command => &["command", "stream_name", "restore_command"],
        }
    }
}

/// A source the daemon backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Its name in the file (rules refer to it; snapshots are tagged with it).
    pub name: String,
    /// Its kind.
    pub kind: SourceKind,
    /// Tags: rules can select sources by tag; snapshots carry them.
    pub tags: Vec<String>,
    /// What to run.
    spec: SourceSpec,
    /// A database source's password, passed to the client tool through the
    /// environment (`PGPASSWORD`, `MYSQL_PWD`, `REDISCLI_AUTH`).
    pub password: Option<SecretRef>,
    /// Recovery point objective: the newest good snapshot (for a
    /// PostgreSQL base backup source with WAL archiving, the newest archived
    /// WAL) must be younger than this.
    pub rpo: Option<SignedDuration>,
    /// Recovery time objective: the last measured restore (by a restore
    /// test) must have taken less than this.
    pub rto: Option<SignedDuration>,
    /// PostgreSQL base backup sources: the newest archived WAL file must
    /// be younger than this (default: `[anomaly] max_wal_lag`).
    pub max_wal_lag: Option<SignedDuration>,
}

impl SourceConfig {
    /// What the daemon runs for this source.
    pub fn to_spec(&self) -> SourceSpec {
        self.spec.clone()
    }
}

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
    /// Move snapshots to `cold_vault` after this many days.
    pub cold_after_days: Option<u32>,
    /// The cold vault (`tier = "cold"`), set exactly when `cold_after_days` is.
    pub cold_vault: Option<String>,
    /// Copies into other vaults, each with its own retention.
    pub copy_to: Vec<CopyConfig>,
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
}

// --- Health, anomalies, compliance and reports (see health.rs, report.rs).

/// `[anomaly]`: thresholds of the checks that raise `SIZE_ANOMALY` and
/// `WAL_ARCHIVE_LAG`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// A backup whose size deviates more than this many percent from the
    /// moving median of the earlier ones is an anomaly (default 20).
    pub size_change_percent: f64,
    /// How many earlier backups of the source make the median (default 7).
    pub size_window: usize,
    /// The fewest earlier backups before the size check fires (default 3).
    pub size_min_history: usize,
    /// The default WAL archive lag threshold of PostgreSQL base backup
    /// sources (default 1h); a source's `max_wal_lag` overrides it.
    pub max_wal_lag: SignedDuration,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            size_change_percent: 20.0,
            size_window: 7,
            size_min_history: 3,
            max_wal_lag: SignedDuration::from_hours(1),
        }
    }
}

/// `[compliance]`: the minimums the compliance report's controls check.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceConfig {
    /// Every rule runs at least this often (default 24h).
    pub min_backup_frequency: SignedDuration,
    /// Every rule (and copy) keeps snapshots at least this many days (default 7).
    pub min_retention_days: u32,
    /// Every source has a successful restore test this recent (default 7d).
    pub restore_test_window: SignedDuration,
    /// Every vault has a passed verification this recent (default 7d).
    pub verify_window: SignedDuration,
    /// Every key slot was added within this period (default 90d): the
    /// `key-age` control.
    pub key_rotation: SignedDuration,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig {
            min_backup_frequency: SignedDuration::from_hours(24),
            min_retention_days: 7,
            restore_test_window: SignedDuration::from_hours(7 * 24),
            verify_window: SignedDuration::from_hours(7 * 24),
            key_rotation: SignedDuration::from_hours(90 * 24),
        }
    }
}

/// Where a scheduled report is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    /// A directory: one file per run (`report-NAME-TIME.EXT`).
    Dir(PathBuf),
    /// A vault: a snapshot of the stream `report-NAME.EXT`.
    Vault(String),
}

/// `[[report]]`: a compliance report written on a schedule.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// Its name (unique).
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule is read in.
    pub timezone: TimeZone,
    /// Its format.
    pub format: crate::model::ReportFormat,
    /// The period reported on, back from the run's time (default 24h).
    pub since: SignedDuration,
    /// Where it goes.
    pub target: ReportTarget,
}

// --- End of health, anomalies, compliance and reports.
/// A scheduled verification of a vault (`[[verify]]`): the daemon runs it
/// as a `verify` job when due (see [`crate::verify`]).
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Its name (unique among `[[verify]]` entries).
    pub name: String,
    /// The vault verified.
    pub vault: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule's local times are read in.
    pub timezone: TimeZone,
    /// The time zone's name as written (`UTC` by default).
    pub timezone_name: String,
    /// What it reads: structure only, all pack data, or a share of it.
    pub data: crate::model::VerifyData,
    /// A run still going this long after it started is stopped (ABORTED).
    pub completion_window: SignedDuration,
}

/// The default completion window of a `[[verify]]` entry.
pub const DEFAULT_VERIFY_COMPLETION_WINDOW: SignedDuration = SignedDuration::from_hours(24);

impl Config {
    /// The `[[verify]]` entry named `name`.
    pub fn verify_entry(&self, name: &str) -> Option<&VerifyConfig> {
        self.verify.iter().find(|v| v.name == name)
    }

    /// Reads and checks `path`. On failure returns every problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                message: format!(
                    "cannot read the configuration file: {e} (give another with --config FILE or COFFER_CONFIG)"
                ),
            }])
        })?;
        Config::parse(&text, path)
    }

    /// Checks configuration text; `path` names it in messages and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        let mut v = Validator {
            text,
            file: path.to_path_buf(),
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            errors: Vec::new(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                v.error(e.span(), e.message().trim_end().to_string());
                return Err(ConfigErrors(v.errors));
            }
        };
        let config = v.config(raw);
        if v.errors.is_empty() {
            Ok(config)
        } else {
            v.errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(v.errors))
        }
    }

    /// The vault named `name`.
    pub fn vault(&self, name: &str) -> Option<&VaultConfig> {
        self.vaults.iter().find(|v| v.name == name)
    }

    /// The source named `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Every rule of every plan, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleConfig> {
        self.plans.iter().flat_map(|p| p.rules.iter())
    }

    /// The rule whose [`RuleConfig::id`] is `id` (`plan/rule`).
    pub fn rule(&self, id: &str) -> Option<&RuleConfig> {
        self.rules().find(|r| r.id() == id)
    }

    /// The restore test named `name`.
    pub fn restore_test(&self, name: &str) -> Option<&RestoreTestConfig> {
        self.restore_tests.iter().find(|t| t.name == name)
    }
}

/// The default state directory: `/var/lib/coffer` for root, else
/// `$XDG_STATE_HOME/coffer` (`~/.local/state/coffer`).
pub fn default_state_dir() -> PathBuf {
    crate::state::StateDir::default_path()
}

// ---------------------------------------------------------------------------
// Errors.

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a place.
    pub column: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---------------------------------------------------------------------------
// The file as written. Every value validated after parsing is `Spanned` so
// that its error can point at it.

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<S<PathBuf>>,
    #[serde(default)]
    vault: Vec<RawVault>,
    #[serde(default)]
    source: Vec<RawSource>,
    #[serde(default)]
    plan: Vec<RawPlan>,
    server: Option<monitoring::RawServer>,
    #[serde(default)]
    notify: Vec<monitoring::RawNotify>,
    anomaly: Option<RawAnomaly>,
    compliance: Option<RawCompliance>,
    #[serde(default)]
    report: Vec<RawReport>,
    #[serde(default)]
    restore_test: Vec<RawRestoreTest>,
    #[serde(default)]
    verify: Vec<RawVerify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerify {
    name: S<String>,
    vault: S<String>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    read_data: Option<S<bool>>,
    read_data_subset: Option<S<String>>,
    completion_window: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVault {
    name: S<String>,
    url: S<String>,
    key_file: Option<S<PathBuf>>,
    password_file: Option<S<PathBuf>>,
    password_env: Option<S<String>>,
    /// Only to refuse it with a useful message.
    password: Option<S<toml::Value>>,
    tier: Option<S<Tier>>,
    storage_class: Option<S<String>>,
    lock: Option<S<LockPolicy>>,
    capacity: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: S<String>,
    kind: S<SourceKind>,
    tags: Option<S<Vec<S<String>>>>,
    paths: Option<S<Vec<S<PathBuf>>>>,
    exclude: Option<S<Vec<String>>>,
    include: Option<S<Vec<String>>>,
    exclude_files: Option<S<Vec<PathBuf>>>,
    one_file_system: Option<S<bool>>,
    url: Option<S<String>>,
    all_databases: Option<S<bool>>,
    globals: Option<S<bool>>,
    include_databases: Option<S<Vec<String>>>,
    exclude_databases: Option<S<Vec<String>>>,
    bin_dir: Option<S<PathBuf>>,
    password_env: Option<S<String>>,
    password_file: Option<S<PathBuf>>,
    /// Only to refuse it with a useful message.
    password: Option<S<toml::Value>>,
    command: Option<S<String>>,
    stream_name: Option<S<String>>,
    restore_command: Option<S<String>>,
    rpo: Option<S<String>>,
    rto: Option<S<String>>,
    max_wal_lag: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: S<String>,
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
    copy_to: Vec<RawCopy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCopy {
    vault: S<String>,
    retention: Option<S<RetentionPolicy>>,
}

// --- Raw health, anomaly, compliance and report sections.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnomaly {
    size_change_percent: Option<S<f64>>,
    size_window: Option<S<i64>>,
    size_min_history: Option<S<i64>>,
    max_wal_lag: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompliance {
    min_backup_frequency: Option<S<String>>,
    min_retention_days: Option<S<u32>>,
    restore_test_window: Option<S<String>>,
    verify_window: Option<S<String>>,
    key_rotation: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    name: S<String>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    format: Option<S<crate::model::ReportFormat>>,
    since: Option<S<String>>,
    to_dir: Option<S<PathBuf>>,
    to_vault: Option<S<String>>,
}

// ---------------------------------------------------------------------------
// Validation.

struct Validator<'a> {
    text: &'a str,
    file: PathBuf,
    base: PathBuf,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = self.line_col(s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    fn at<T>(&mut self, v: &S<T>, message: impl Into<String>) {
        self.error(Some(v.span()), message);
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Checks a name (vault, source, plan, rule, tag): non-empty, and only
    /// characters safe in a catalog key, a tag and a log line.
    fn name(&mut self, what: &str, n: &S<String>) {
        let s = n.get_ref();
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.at(
                n,
                format!("bad {what} name `{s}`: use letters, digits, `.`, `_` and `-`"),
            );
        }
    }

    fn duplicates<'n>(&mut self, what: &str, names: impl Iterator<Item = &'n S<String>>) {
        let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
        let mut dups = Vec::new();
        for n in names {
            let pos = self.line_col(n.span().start);
            if let Some(first) = seen.get(n.get_ref().as_str()) {
                dups.push((n.span(), n.get_ref().clone(), *first));
            } else {
                seen.insert(n.get_ref(), pos);
            }
        }
        for (span, name, (l, c)) in dups {
            self.error(
                Some(span),
                format!("duplicate {what} name `{name}` (first defined at line {l}, column {c}): names must be unique"),
            );
        }
    }

    /// An optional duration: `None` when absent (or invalid, reported).
    fn opt_duration(&mut self, field: &str, v: &Option<S<String>>) -> Option<SignedDuration> {
        v.as_ref()?;
        Some(self.duration(field, v, SignedDuration::ZERO)).filter(|d| !d.is_zero())
    }

    fn duration(
        &mut self,
        field: &str,
        v: &Option<S<String>>,
        default: SignedDuration,
    ) -> SignedDuration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => SignedDuration::try_from(d).unwrap_or(default),
            Ok(_) => {
                self.at(v, format!("{field} must be longer than zero"));
                default
            }
            Err(e) => {
                self.at(
                    v,
                    format!(
                        "bad {field} `{}`: {e} (write a duration such as \"30m\", \"1h\" or \"7d\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        self.duplicates("vault", raw.vault.iter().map(|v| &v.name));
        self.duplicates("source", raw.source.iter().map(|s| &s.name));
        self.duplicates("plan", raw.plan.iter().map(|p| &p.name));
        let vaults: Vec<VaultConfig> = raw.vault.iter().map(|v| self.vault(v)).collect();
        let sources: Vec<SourceConfig> = raw.source.iter().filter_map(|s| self.source(s)).collect();
        let plans = raw
            .plan
            .iter()
            .map(|p| self.plan(p, &raw, &vaults))
            .collect();
        let anomaly = self.anomaly(raw.anomaly.as_ref());
        let compliance = self.compliance(raw.compliance.as_ref());
        let reports = self.reports(&raw.report, &vaults);
        self.duplicates("restore_test", raw.restore_test.iter().map(|t| &t.name));
        let restore_tests = raw
            .restore_test
            .iter()
            .map(|t| self.restore_test(t, &raw, &vaults, &sources))
            .collect();
        self.duplicates("verify", raw.verify.iter().map(|v| &v.name));
        let verify = raw.verify.iter().map(|e| self.verify(e, &vaults)).collect();
        Config {
            path: self.file.clone(),
            state_dir: raw
                .state_dir
                .as_ref()
                .map(|p| self.path(p.get_ref()))
                .unwrap_or_else(default_state_dir),
            vaults,
            sources,
            plans,
            anomaly,
            compliance,
            reports,
            restore_tests,
            verify,
            server: raw.server.as_ref().map(|s| self.server(s)),
            notify: self.notify(&raw.notify),
        }
    }

    // --- Health, anomaly, compliance and report sections.

    fn anomaly(&mut self, a: Option<&RawAnomaly>) -> AnomalyConfig {
        let mut c = AnomalyConfig::default();
        let Some(a) = a else { return c };
        if let Some(p) = &a.size_change_percent {
            if !(p.get_ref().is_finite() && *p.get_ref() > 0.0) {
                self.at(
                    p,
                    "[anomaly] size_change_percent must be a number above 0 (e.g. 20)",
                );
            } else {
                c.size_change_percent = *p.get_ref();
            }
        }
        for (field, v, out, min) in [
            ("size_window", &a.size_window, &mut c.size_window, 1),
            (
                "size_min_history",
                &a.size_min_history,
                &mut c.size_min_history,
                1,
            ),
        ] {
            if let Some(v) = v {
                match usize::try_from(*v.get_ref()) {
                    Ok(n) if (min..=1000).contains(&n) => *out = n,
                    _ => self.at(
                        v,
                        format!("[anomaly] {field} must be between {min} and 1000"),
                    ),
                }
            }
        }
        if c.size_min_history > c.size_window {
            let span = a.size_min_history.as_ref().map(|v| v.span());
            self.error(
                span,
                format!(
                    "[anomaly] size_min_history ({}) is above size_window ({}): the median never has that many backups",
                    c.size_min_history, c.size_window
                ),
            );
        }
        c.max_wal_lag = self.duration("max_wal_lag", &a.max_wal_lag, c.max_wal_lag);
        c
    }

    fn compliance(&mut self, a: Option<&RawCompliance>) -> ComplianceConfig {
        let mut c = ComplianceConfig::default();
        let Some(a) = a else { return c };
        c.min_backup_frequency = self.duration(
            "min_backup_frequency",
            &a.min_backup_frequency,
            c.min_backup_frequency,
        );
        if let Some(d) = &a.min_retention_days {
            c.min_retention_days = *d.get_ref();
        }
        c.restore_test_window = self.duration(
            "restore_test_window",
            &a.restore_test_window,
            c.restore_test_window,
        );
        c.verify_window = self.duration("verify_window", &a.verify_window, c.verify_window);
        c.key_rotation = self.duration("key_rotation", &a.key_rotation, c.key_rotation);
        c
    }

    fn reports(&mut self, raw: &[RawReport], vaults: &[VaultConfig]) -> Vec<ReportConfig> {
        self.duplicates("report", raw.iter().map(|r| &r.name));
        let mut out = Vec::new();
        for r in raw {
            self.name("report", &r.name);
            let name = r.name.get_ref().clone();
            let schedule = match Schedule::parse(r.schedule.get_ref()) {
                Ok(s) => s,
                Err(e) => {
                    self.at(
                        &r.schedule,
                        format!(
                            "report `{name}`: bad schedule `{}`: {}",
                            r.schedule.get_ref(),
                            e.message
                        ),
                    );
                    continue;
                }
            };
            let timezone = match &r.timezone {
                None => TimeZone::UTC,
                Some(z) => match TimeZone::get(z.get_ref()) {
                    Ok(tz) => tz,
                    Err(e) => {
                        self.at(z, format!("report `{name}`: unknown time zone `{}` ({e}); use an IANA name such as \"Europe/Berlin\" or \"UTC\"", z.get_ref()));
                        TimeZone::UTC
                    }
                },
            };
            let since = self.duration("since", &r.since, SignedDuration::from_hours(24));
            let target = match (&r.to_dir, &r.to_vault) {
                (Some(d), None) => ReportTarget::Dir(self.path(d.get_ref())),
                (None, Some(v)) => {
                    if !vaults.iter().any(|x| &x.name == v.get_ref()) {
                        let known: Vec<&str> = vaults.iter().map(|v| v.name.as_str()).collect();
                        self.at(v, format!(
                            "report `{name}`: to_vault `{}` is not a vault of this file (vaults: {})",
                            v.get_ref(),
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        ));
                    }
                    ReportTarget::Vault(v.get_ref().clone())
                }
                (Some(_), Some(v)) => {
                    self.at(
                        v,
                        format!("report `{name}`: give only one of to_dir and to_vault"),
                    );
                    continue;
                }
                (None, None) => {
                    self.at(&r.name, format!("report `{name}` goes nowhere: set to_dir = \"DIR\" or to_vault = \"VAULT\""));
                    continue;
                }
            };
            out.push(ReportConfig {
                name,
                schedule,
                timezone,
                format: r.format.as_ref().map(|f| *f.get_ref()).unwrap_or_default(),
                since,
                target,
            });
        }
        out
    }

    // --- End of health, anomaly, compliance and report sections.

    fn vault(&mut self, v: &RawVault) -> VaultConfig {
        self.name("vault", &v.name);
        let name = v.name.get_ref();
        if let Some(p) = &v.password {
            self.at(
                p,
                format!(
                    "vault `{name}`: an inline password is not allowed; put it in a file \
                     (password_file = \"…\") or an environment variable (password_env = \"VAR\"), or use key_file"
                ),
            );
        }
        let mut keys = Vec::new();
        if let Some(k) = &v.key_file {
            keys.push((k.span(), KeySource::KeyFile(self.path(k.get_ref()))));
        }
        if let Some(k) = &v.password_file {
            keys.push((k.span(), KeySource::PasswordFile(self.path(k.get_ref()))));
        }
        if let Some(k) = &v.password_env {
            if k.get_ref().is_empty() {
                self.at(k, format!("vault `{name}`: password_env names no variable"));
            }
            keys.push((k.span(), KeySource::PasswordEnv(k.get_ref().clone())));
        }
        if keys.len() > 1 {
            self.error(
                Some(keys[1].0.clone()),
                format!(
                    "vault `{name}`: give only one of key_file, password_file and password_env"
                ),
            );
        }
        let key = match keys.into_iter().next() {
            Some((_, k)) => k,
            None => {
                if v.password.is_none() {
                    self.at(
                        &v.name,
                        format!(
                            "vault `{name}` has no key: set key_file, password_file or password_env"
                        ),
                    );
                }
                KeySource::PasswordEnv(String::new())
            }
        };
        let url = v.url.get_ref();
        let is_s3 = url.starts_with("s3://");
        let url = if url.is_empty() {
            self.at(
                &v.url,
                format!("vault `{name}`: url is empty: give a directory or s3://bucket/prefix"),
            );
            String::new()
        } else if is_s3 {
            if url.len() <= "s3://".len() || url["s3://".len()..].starts_with(['/', '?']) {
                self.at(
                    &v.url,
                    format!(
                        "vault `{name}`: url `{url}` names no bucket: write s3://bucket/prefix"
                    ),
                );
            }
            if url_has_password(url) {
                self.at(&v.url, format!("vault `{name}`: the url must not carry credentials; give them to the daemon as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
            }
            url.clone()
        } else if url.contains("://") {
            self.at(&v.url, format!("vault `{name}`: unsupported url scheme in `{}`: give a directory or s3://bucket/prefix", url.split("://").next().unwrap_or_default()));
            url.clone()
        } else {
            self.path(Path::new(url)).to_string_lossy().into_owned()
        };
        let tier = v.tier.as_ref().map(|t| *t.get_ref()).unwrap_or_default();
        if let Some(sc) = &v.storage_class {
            if !is_s3 {
                self.at(
                    sc,
                    format!("vault `{name}`: storage_class applies to s3:// vaults only"),
                );
            }
        }
        let lock = v.lock.as_ref().map(|l| {
            let lp = l.get_ref().clone();
            if lp.min_retention_days > lp.max_retention_days {
                self.at(
                    l,
                    format!(
                        "vault `{name}`: lock min_retention_days ({}) is above max_retention_days ({})",
                        lp.min_retention_days, lp.max_retention_days
                    ),
                );
            }
            if let Some(g) = lp.changeable_for_days {
                if g < 3 {
                    self.at(l, format!("vault `{name}`: lock changeable_for_days is {g}; compliance mode needs at least 3 days"));
                }
            }
            lp
        });
        VaultConfig {
            name: name.clone(),
            url,
            key,
            tier,
            storage_class: v.storage_class.as_ref().map(|s| s.get_ref().clone()),
            lock,
            capacity: self.capacity(name, &v.capacity),
        }
    }

    fn source(&mut self, s: &RawSource) -> Option<SourceConfig> {
        self.name("source", &s.name);
        let name = s.name.get_ref().clone();
        let kind = *s.kind.get_ref();
        let tags: Vec<String> = match &s.tags {
            Some(t) => t
                .get_ref()
                .iter()
                .map(|tag| {
                    self.name("tag", tag);
                    tag.get_ref().clone()
                })
                .collect(),
            None => Vec::new(),
        };
        if let Some(p) = &s.password {
            self.at(
                p,
                format!(
                    "source `{name}`: an inline password is not allowed; put it in a file \
                     (password_file = \"…\") or an environment variable (password_env = \"VAR\"), \
                     which the daemon passes to the database tool through the environment"
                ),
            );
        }
        // Fields that do not apply to this kind.
        let present: [(&str, Option<Range<usize>>); 16] = [
            ("paths", s.paths.as_ref().map(|v| v.span())),
            ("exclude", s.exclude.as_ref().map(|v| v.span())),
            ("include", s.include.as_ref().map(|v| v.span())),
            ("exclude_files", s.exclude_files.as_ref().map(|v| v.span())),
            (
                "one_file_system",
                s.one_file_system.as_ref().map(|v| v.span()),
            ),
            ("url", s.url.as_ref().map(|v| v.span())),
            ("all_databases", s.all_databases.as_ref().map(|v| v.span())),
            ("globals", s.globals.as_ref().map(|v| v.span())),
            (
                "include_databases",
                s.include_databases.as_ref().map(|v| v.span()),
            ),
            (
                "exclude_databases",
                s.exclude_databases.as_ref().map(|v| v.span()),
            ),
            ("bin_dir", s.bin_dir.as_ref().map(|v| v.span())),
            ("password_env", s.password_env.as_ref().map(|v| v.span())),
            ("password_file", s.password_file.as_ref().map(|v| v.span())),
            ("command", s.command.as_ref().map(|v| v.span())),
            ("stream_name", s.stream_name.as_ref().map(|v| v.span())),
            (
                "restore_command",
                s.restore_command.as_ref().map(|v| v.span()),
            ),
        ];
        let allowed = kind.fields();
        for (field, span) in present {
            if let Some(span) = span {
                if !allowed.contains(&field) {
                    self.error(
                        Some(span),
                        format!(
                            "source `{name}`: `{field}` does not apply to a source of kind {}; it takes {}",
                            kind.name(),
                            allowed.join(", ")
                        ),
                    );
                }
            }
        }
        let password = match (&s.password_env, &s.password_file) {
            (Some(e), Some(_)) => {
                self.at(
                    e,
                    format!("source `{name}`: give only one of password_env and password_file"),
                );
                None
            }
            (Some(e), None) => Some(SecretRef::Env(e.get_ref().clone())),
            (None, Some(f)) => Some(SecretRef::File(self.path(f.get_ref()))),
            (None, None) => None,
        };
        let strings = |v: &Option<S<Vec<String>>>| {
            v.as_ref().map(|v| v.get_ref().clone()).unwrap_or_default()
        };
        let flag = |v: &Option<S<bool>>| v.as_ref().is_some_and(|v| *v.get_ref());
        let bin_dir = s.bin_dir.as_ref().map(|p| self.path(p.get_ref()));
        let spec = match kind {
            SourceKind::Files => {
                let paths: Vec<PathBuf> = match &s.paths {
                    Some(p) if !p.get_ref().is_empty() => {
                        p.get_ref().iter().map(|p| self.path(p.get_ref())).collect()
                    }
                    Some(p) => {
                        self.at(
                            p,
                            format!(
                                "source `{name}`: paths is empty: list the directories to back up"
                            ),
                        );
                        Vec::new()
                    }
                    None => {
                        self.at(
                            &s.kind,
                            format!("source `{name}` of kind files needs paths = [\"/dir\", …]"),
                        );
                        Vec::new()
                    }
                };
                SourceSpec::Files {
                    paths,
                    exclude: strings(&s.exclude),
                    exclude_files: s
                        .exclude_files
                        .as_ref()
                        .map(|v| v.get_ref().iter().map(|p| self.path(p)).collect())
                        .unwrap_or_default(),
                    include: strings(&s.include),
                    one_file_system: flag(&s.one_file_system),
                    force: false,
                }
            }
            SourceKind::Postgres
            | SourceKind::PostgresBase
            | SourceKind::Mysql
            | SourceKind::Redis => {
                let schemes: &[&str] = match kind {
                    SourceKind::Mysql => &["mysql", "mariadb"],
                    SourceKind::Redis => &["redis"],
                    _ => &["postgres", "postgresql"],
                };
                let url = match &s.url {
                    Some(u) => {
                        let text = u.get_ref();
                        let scheme = text.split_once("://").map(|(s, _)| s);
                        if !scheme.is_some_and(|s| schemes.contains(&s)) {
                            self.at(
                                u,
                                format!(
                                    "source `{name}`: the url of a {} source starts with {}://",
                                    kind.name(),
                                    schemes[0]
                                ),
                            );
                        } else if url_has_password(text) {
                            // Never echo the URL: it holds the password.
                            self.at(u, format!(
                                "source `{name}`: the url carries a password; remove it from the url and set \
                                 password_env = \"VAR\" or password_file = \"…\" on the source instead"
                            ));
                        }
                        text.clone()
                    }
                    None => {
                        self.at(
                            &s.kind,
                            format!(
                                "source `{name}` of kind {} needs url = \"{}://…\"",
                                kind.name(),
                                schemes[0]
                            ),
                        );
                        String::new()
                    }
                };
                match kind {
                    SourceKind::Postgres => SourceSpec::Postgres {
                        url,
                        all_databases: flag(&s.all_databases),
                        globals: flag(&s.globals),
                        include_databases: strings(&s.include_databases),
                        exclude_databases: strings(&s.exclude_databases),
                        bin_dir,
                    },
                    SourceKind::PostgresBase => SourceSpec::PostgresBase { url, bin_dir },
                    SourceKind::Mysql => SourceSpec::Mysql { url, bin_dir },
                    _ => SourceSpec::Redis { url },
                }
            }
            SourceKind::Command => {
                let command = match &s.command {
                    Some(c) if !c.get_ref().trim().is_empty() => c.get_ref().clone(),
                    Some(c) => {
                        self.at(c, format!("source `{name}`: command is empty"));
                        String::new()
                    }
                    None => {
                        self.at(
                            &s.kind,
                            format!("source `{name}` of kind command needs command = \"…\""),
                        );
                        String::new()
                    }
                };
                SourceSpec::Command {
                    command,
                    name: s
                        .stream_name
                        .as_ref()
                        .map(|n| n.get_ref().clone())
                        .unwrap_or_else(|| name.clone()),
                    restore_command: s.restore_command.as_ref().map(|c| c.get_ref().clone()),
                }
            }
        };
        let rpo = self.opt_duration("rpo", &s.rpo);
        let rto = self.opt_duration("rto", &s.rto);
        let max_wal_lag = self.opt_duration("max_wal_lag", &s.max_wal_lag);
        if let (Some(m), false) = (&s.max_wal_lag, kind == SourceKind::PostgresBase) {
            self.at(
                m,
                format!(
                    "source `{name}`: max_wal_lag applies to sources of kind postgres-base only"
                ),
            );
        }
        Some(SourceConfig {
            name,
            kind,
            tags,
            spec,
            password,
            rpo,
            rto,
            max_wal_lag,
        })
    }

    fn plan(&mut self, p: &RawPlan, raw: &RawConfig, vaults: &[VaultConfig]) -> PlanConfig {
        self.name("plan", &p.name);
        self.duplicates("rule", p.rule.iter().map(|r| &r.name));
        let rules = p
            .rule
            .iter()
            .map(|r| self.rule(p.name.get_ref(), r, raw, vaults))
            .collect();
        PlanConfig {
            name: p.name.get_ref().clone(),
            rules,
        }
    }

    /// A vault by name, or an error at `n` listing the vaults there are.
    fn vault_ref<'v>(
        &mut self,
        rule: &str,
        field: &str,
        n: &S<String>,
        vaults: &'v [VaultConfig],
    ) -> Option<&'v VaultConfig> {
        let found = vaults.iter().find(|v| &v.name == n.get_ref());
        if found.is_none() {
            let known: Vec<&str> = vaults.iter().map(|v| v.name.as_str()).collect();
            self.at(
                n,
                format!(
                    "rule `{rule}`: {field} `{}` is not a vault of this file (vaults: {}); add a [[vault]] with that name or fix the name",
                    n.get_ref(),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        found
    }

    fn check_lock(
        &mut self,
        rule: &str,
        vault: &VaultConfig,
        retention: &RetentionPolicy,
        span: Range<usize>,
        what: &str,
    ) {
        if let Some(lock) = &vault.lock {
            if let Err(why) = lock.check_retention(retention) {
                self.error(
                    Some(span),
                    format!(
                        "rule `{rule}`: {what} does not fit the lock of vault `{}` (min {} days, max {} days): {why}",
                        vault.name, lock.min_retention_days, lock.max_retention_days
                    ),
                );
            }
        }
    }

    fn rule(
        &mut self,
        plan: &str,
        r: &RawRule,
        raw: &RawConfig,
        vaults: &[VaultConfig],
    ) -> RuleConfig {
        self.name("rule", &r.name);
        let id = format!("{plan}/{}", r.name.get_ref());
        let sources = self.select_sources(
            &format!("rule `{id}`"),
            &r.name,
            r.sources.as_ref(),
            r.source_tags.as_ref(),
            raw,
        );

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
        let vault = self.vault_ref(&id, "vault", &r.vault, vaults);
        if let Some(v) = vault {
            if v.tier == Tier::Cold {
                self.at(&r.vault, format!("rule `{id}`: vault `{}` is a cold vault; back up into a hot vault and move snapshots there with cold_after_days and cold_vault", v.name));
            }
            let what = if r.retention.is_some() {
                "its retention"
            } else {
                "no retention (keep everything)"
            };
            self.check_lock(&id, v, &retention, retention_span.clone(), what);
        }

        // Cold storage.
        match (&r.cold_after_days, &r.cold_vault) {
            (Some(d), None) => self.at(d, format!("rule `{id}`: cold_after_days needs cold_vault = \"<a vault with tier = \\\"cold\\\">\"")),
            (None, Some(c)) => self.at(c, format!("rule `{id}`: cold_vault needs cold_after_days = N (move snapshots after N days)")),
            (Some(d), Some(c)) => {
                if *d.get_ref() == 0 {
                    self.at(d, format!("rule `{id}`: cold_after_days must be at least 1"));
                }
                if let Some(cv) = self.vault_ref(&id, "cold_vault", c, vaults) {
                    if cv.tier != Tier::Cold {
                        self.at(c, format!("rule `{id}`: cold_vault `{}` is not a cold vault: set tier = \"cold\" on it or name a cold one", cv.name));
                    }
                    self.check_lock(&id, cv, &retention, retention_span.clone(), "its retention");
                }
                if let Some(del) = retention.delete_after_days {
                    if del <= *d.get_ref() {
                        self.at(d, format!("rule `{id}`: cold_after_days ({}) must be less than the retention's delete_after_days ({del})", d.get_ref()));
                    }
                }
            }
            (None, None) => {}
        }

        let mut copy_to = Vec::new();
        for c in &r.copy_to {
            let retention = c
                .retention
                .as_ref()
                .map(|x| x.get_ref().clone())
                .unwrap_or_default();
            if let Some(v) = self.vault_ref(&id, "copy_to vault", &c.vault, vaults) {
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
            copy_to.push(CopyConfig {
                vault: c.vault.get_ref().clone(),
                retention,
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
            cold_after_days: r.cold_after_days.as_ref().map(|d| *d.get_ref()),
            cold_vault: r.cold_vault.as_ref().map(|c| c.get_ref().clone()),
            copy_to,
        }
    }
}

// ---------------------------------------------------------------------------
// Restore tests (`[[restore_test]]`): scheduled real restores into scratch
// space, validated; see `crate::restore_test`. Also the helpers rules and
// restore tests share (source selection, schedule, time zone).

/// The default time limit of a restore test.
pub const DEFAULT_RESTORE_TEST_TIMEOUT: SignedDuration = SignedDuration::from_hours(1);

/// A restore test: which snapshot to restore when, and how to validate it.
#[derive(Debug, Clone)]
pub struct RestoreTestConfig {
    /// Its name (unique).
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule's local times are read in.
    pub timezone: TimeZone,
    /// The time zone's name as written (`UTC` by default).
    pub timezone_name: String,
    /// The vault restored from.
    pub vault: String,
    /// The sources whose snapshots it tests (by name and by tag, in file
    /// order of the sources, each once). A run tests one of them: the one
    /// whose last test by this entry is the oldest.
    pub sources: Vec<String>,
    /// Which snapshot of the source.
    pub select: SnapshotSelect,
    /// Restore and validation together must end within this.
    pub timeout: SignedDuration,
    /// Where scratch directories go (default: the system's temporary
    /// directory).
    pub scratch_dir: Option<PathBuf>,
    /// PostgreSQL/MySQL dumps: the server to restore into (default: the
    /// source's server, with its password).
    pub target_url: Option<String>,
    /// Files: compare this many random files with the live source too
    /// (differences are information only).
    pub sample_live: Option<u32>,
    /// Databases: queries run on the restored data, in order.
    pub queries: Vec<QueryCheck>,
    /// Redis: the restored RDB must hold at least this many keys.
    pub min_keys: Option<u64>,
    /// Redis: keys that must exist.
    pub keys: Vec<String>,
    /// Command sources: a shell command fed the restored stream on its
    /// standard input; exit status 0 is success.
    pub validate_command: Option<String>,
}

/// Which snapshot a restore test restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSelect {
    /// The newest.
    Latest,
    /// A random one of the last `within_days` days.
    Random {
        /// How far back to pick from.
        within_days: u32,
    },
}

/// A validation query and what its answer must be.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCheck {
    /// The SQL.
    pub sql: String,
    /// The expectation on the first column of the first row.
    pub expect: Expect,
}

/// What a validation query must return.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Only that it runs without an error.
    NoError,
    /// The first column of the first row, as a number, compared with a
    /// number (`> 0`, `>= 10`, `= 3`, `!= 0`, `< 5`, `<= 5`).
    Compare(CmpOp, f64),
}

/// A comparison of [`Expect::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::NoError => f.write_str("no error"),
            Expect::Compare(op, n) => write!(f, "{} {n}", op.symbol()),
        }
    }
}

impl std::str::FromStr for Expect {
    type Err = String;
    fn from_str(s: &str) -> Result<Expect, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("no error") {
            return Ok(Expect::NoError);
        }
        let ops = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("!=", CmpOp::Ne),
            ("==", CmpOp::Eq),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
            ("=", CmpOp::Eq),
        ];
        for (sym, op) in ops {
            if let Some(rest) = t.strip_prefix(sym) {
                let n: f64 = rest
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad expect `{s}`: `{}` is not a number", rest.trim()))?;
                return Ok(Expect::Compare(op, n));
            }
        }
        Err(format!(
            "bad expect `{s}`: write \"> N\", \">= N\", \"= N\", \"!= N\", \"< N\", \"<= N\" or \"no error\""
        ))
    }
}

impl Expect {
    /// Checks the first column of the first row (`None`: no row). On
    /// success says what was seen; on failure, why it fails.
    pub fn check(&self, first: Option<&str>) -> Result<String, String> {
        let Expect::Compare(op, want) = self else {
            return Ok(match first {
                Some(v) => format!("ran; first value {v}"),
                None => "ran; no rows".into(),
            });
        };
        let Some(v) = first else {
            return Err(format!("returned no rows, expected {self}"));
        };
        let got: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("returned `{v}`, which is not a number (expected {self})"))?;
        let ok = match op {
            CmpOp::Gt => got > *want,
            CmpOp::Ge => got >= *want,
            CmpOp::Eq => got == *want,
            CmpOp::Ne => got != *want,
            CmpOp::Lt => got < *want,
            CmpOp::Le => got <= *want,
        };
        if ok {
            Ok(format!("returned {v} ({self})"))
        } else {
            Err(format!("returned {v}, expected {self}"))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestoreTest {
    name: S<String>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    vault: S<String>,
    sources: Option<S<Vec<S<String>>>>,
    source_tags: Option<S<Vec<S<String>>>>,
    select: Option<S<String>>,
    within_days: Option<S<u32>>,
    timeout: Option<S<String>>,
    scratch_dir: Option<S<PathBuf>>,
    target_url: Option<S<String>>,
    sample_live: Option<S<u32>>,
    #[serde(default)]
    query: Vec<RawQuery>,
    min_keys: Option<S<u64>>,
    keys: Option<S<Vec<String>>>,
    validate_command: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    sql: S<String>,
    expect: Option<S<String>>,
}

impl Validator<'_> {
    /// The sources `names` and `tags` select, by name and by tag, each
    /// once, in file order; `owner` (`rule `p/r``) starts each message.
    fn select_sources(
        &mut self,
        owner: &str,
        name: &S<String>,
        names: Option<&S<Vec<S<String>>>>,
        tags: Option<&S<Vec<S<String>>>>,
        raw: &RawConfig,
    ) -> Vec<String> {
        let mut selected = BTreeSet::new();
        if let Some(names) = names {
            for n in names.get_ref() {
                match raw
                    .source
                    .iter()
                    .position(|s| s.name.get_ref() == n.get_ref())
                {
                    Some(i) => {
                        selected.insert(i);
                    }
                    None => {
                        let known: Vec<&str> = raw
                            .source
                            .iter()
                            .map(|s| s.name.get_ref().as_str())
                            .collect();
                        self.at(
                            n,
                            format!(
                                "{owner}: `{}` is not a source of this file (sources: {})",
                                n.get_ref(),
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                }
            }
        }
        if let Some(tags) = tags {
            for t in tags.get_ref() {
                let mut any = false;
                for (i, s) in raw.source.iter().enumerate() {
                    if s.tags
                        .as_ref()
                        .is_some_and(|ts| ts.get_ref().iter().any(|x| x.get_ref() == t.get_ref()))
                    {
                        selected.insert(i);
                        any = true;
                    }
                }
                if !any {
                    self.at(
                        t,
                        format!("{owner}: no source has the tag `{}`", t.get_ref()),
                    );
                }
            }
        }
        let names_given = names.is_some_and(|s| !s.get_ref().is_empty())
            || tags.is_some_and(|s| !s.get_ref().is_empty());
        if !names_given {
            self.at(
                name,
                format!("{owner} selects no sources: set sources = [\"name\", …] and/or source_tags = [\"tag\", …]"),
            );
        }
        selected
            .into_iter()
            .map(|i| raw.source[i].name.get_ref().clone())
            .collect()
    }

    /// A schedule; an error points inside the string.
    fn schedule(&mut self, owner: &str, v: &S<String>) -> Schedule {
        match Schedule::parse(v.get_ref()) {
            Ok(s) => s,
            Err(e) => {
                // Point inside the string: past the opening quote(s).
                let start = v.span().start;
                let quote = if self.text[start..].starts_with("\"\"\"")
                    || self.text[start..].starts_with("'''")
                {
                    3
                } else {
                    1
                };
                let at = start + quote + e.offset;
                self.error(
                    Some(at..at + e.len),
                    format!("{owner}: bad schedule `{}`: {}", v.get_ref(), e.message),
                );
                Schedule::parse("@daily").expect("a valid schedule")
            }
        }
    }

    /// A time zone (UTC when absent or unknown, reported).
    fn timezone(&mut self, owner: &str, v: Option<&S<String>>) -> (TimeZone, String) {
        match v {
            None => (TimeZone::UTC, "UTC".to_string()),
            Some(z) => match TimeZone::get(z.get_ref()) {
                Ok(tz) => (tz, z.get_ref().clone()),
                Err(e) => {
                    self.at(
                        z,
                        format!(
                            "{owner}: unknown time zone `{}` ({e}); use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                            z.get_ref()
                        ),
                    );
                    (TimeZone::UTC, "UTC".to_string())
                }
            },
        }
    }

    fn restore_test(
        &mut self,
        t: &RawRestoreTest,
        raw: &RawConfig,
        vaults: &[VaultConfig],
        sources: &[SourceConfig],
    ) -> RestoreTestConfig {
        self.name("restore_test", &t.name);
        let name = t.name.get_ref().clone();
        let owner = format!("restore_test `{name}`");
        let selected = self.select_sources(
            &owner,
            &t.name,
            t.sources.as_ref(),
            t.source_tags.as_ref(),
            raw,
        );
        let schedule = self.schedule(&owner, &t.schedule);
        let (timezone, timezone_name) = self.timezone(&owner, t.timezone.as_ref());
        if !vaults.iter().any(|v| &v.name == t.vault.get_ref()) {
            let known: Vec<&str> = vaults.iter().map(|v| v.name.as_str()).collect();
            self.at(
                &t.vault,
                format!(
                    "{owner}: vault `{}` is not a vault of this file (vaults: {}); add a [[vault]] with that name or fix the name",
                    t.vault.get_ref(),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        let select = match t.select.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "latest")) => {
                if let Some(w) = &t.within_days {
                    self.at(
                        w,
                        format!("{owner}: within_days goes with select = \"random\""),
                    );
                }
                SnapshotSelect::Latest
            }
            Some((_, "random")) => match &t.within_days {
                Some(w) if *w.get_ref() > 0 => SnapshotSelect::Random {
                    within_days: *w.get_ref(),
                },
                Some(w) => {
                    self.at(w, format!("{owner}: within_days must be at least 1"));
                    SnapshotSelect::Latest
                }
                None => {
                    self.at(
                        t.select.as_ref().expect("select is set"),
                        format!("{owner}: select = \"random\" needs within_days = N (pick among the snapshots of the last N days)"),
                    );
                    SnapshotSelect::Latest
                }
            },
            Some((s, other)) => {
                self.at(
                    s,
                    format!("{owner}: bad select `{other}`: use \"latest\" or \"random\""),
                );
                SnapshotSelect::Latest
            }
        };
        let timeout = self.duration("timeout", &t.timeout, DEFAULT_RESTORE_TEST_TIMEOUT);
        let kinds: Vec<SourceKind> = sources
            .iter()
            .filter(|s| selected.contains(&s.name))
            .map(|s| s.kind)
            .collect();
        let has = |k: &[SourceKind]| kinds.iter().any(|x| k.contains(x));
        // Fields that apply to none of the selected sources are mistakes.
        let db = [
            SourceKind::Postgres,
            SourceKind::PostgresBase,
            SourceKind::Mysql,
        ];
        type Misplaced<'k> = (Option<Range<usize>>, &'k [SourceKind], &'k str);
        let misplaced: [Misplaced<'_>; 6] = [
            (
                t.sample_live.as_ref().map(|v| v.span()),
                &[SourceKind::Files],
                "sample_live applies to files sources",
            ),
            (
                t.query.first().map(|q| q.sql.span()),
                &db,
                "[[restore_test.query]] applies to postgres, postgres-base and mysql sources",
            ),
            (
                t.target_url.as_ref().map(|v| v.span()),
                &[SourceKind::Postgres, SourceKind::Mysql],
                "target_url applies to postgres and mysql sources",
            ),
            (
                t.min_keys.as_ref().map(|v| v.span()),
                &[SourceKind::Redis],
                "min_keys applies to redis sources",
            ),
            (
                t.keys.as_ref().map(|v| v.span()),
                &[SourceKind::Redis],
                "keys applies to redis sources",
            ),
            (
                t.validate_command.as_ref().map(|v| v.span()),
                &[SourceKind::Command],
                "validate_command applies to command sources",
            ),
        ];
        if !kinds.is_empty() {
            for (span, applies, msg) in misplaced {
                if let Some(span) = span {
                    if !has(applies) {
                        self.error(Some(span), format!("{owner}: {msg}, and it selects none"));
                    }
                }
            }
        }
        let validate_command = t
            .validate_command
            .as_ref()
            .map(|c| c.get_ref().clone())
            .filter(|c| !c.trim().is_empty());
        if has(&[SourceKind::Command]) && validate_command.is_none() {
            self.at(
                &t.name,
                format!("{owner} selects a command source: set validate_command = \"…\" (a shell command fed the restored stream; exit 0 is success)"),
            );
        }
        if let Some(u) = &t.target_url {
            let text = u.get_ref();
            let scheme = text.split_once("://").map(|(s, _)| s).unwrap_or("");
            if !["postgres", "postgresql", "mysql", "mariadb"].contains(&scheme) {
                self.at(
                    u,
                    format!("{owner}: target_url starts with postgres:// or mysql://"),
                );
            } else if url_has_password(text) {
                self.at(u, format!("{owner}: target_url carries a password; the restore test uses the source's password_env or password_file"));
            }
        }
        let queries = t
            .query
            .iter()
            .map(|q| {
                if q.sql.get_ref().trim().is_empty() {
                    self.at(&q.sql, format!("{owner}: a query's sql is empty"));
                }
                let expect = match &q.expect {
                    None => Expect::NoError,
                    Some(e) => e.get_ref().parse().unwrap_or_else(|m: String| {
                        self.at(e, format!("{owner}: {m}"));
                        Expect::NoError
                    }),
                };
                QueryCheck {
                    sql: q.sql.get_ref().clone(),
                    expect,
                }
            })
            .collect();
        RestoreTestConfig {
            name,
            schedule,
            timezone,
            timezone_name,
            vault: t.vault.get_ref().clone(),
            sources: selected,
            select,
            timeout,
            scratch_dir: t.scratch_dir.as_ref().map(|p| self.path(p.get_ref())),
            target_url: t.target_url.as_ref().map(|u| u.get_ref().clone()),
            sample_live: t.sample_live.as_ref().map(|v| *v.get_ref()),
            queries,
            min_keys: t.min_keys.as_ref().map(|v| *v.get_ref()),
            keys: t
                .keys
                .as_ref()
                .map(|k| k.get_ref().clone())
                .unwrap_or_default(),
            validate_command,
        }
    }
}

// `[[verify]]` entries.
impl Validator<'_> {
    fn verify(&mut self, e: &RawVerify, vaults: &[VaultConfig]) -> VerifyConfig {
        use crate::model::VerifyData;
        self.name("verify", &e.name);
        let what = format!("verify `{}`", e.name.get_ref());
        if !vaults.iter().any(|v| &v.name == e.vault.get_ref()) {
            let known: Vec<&str> = vaults.iter().map(|v| v.name.as_str()).collect();
            self.at(
                &e.vault,
                format!(
                    "{what}: vault `{}` is not a vault of this file (vaults: {}); add a [[vault]] with that name or fix the name",
                    e.vault.get_ref(),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        let schedule = self.schedule(&what, &e.schedule);
        let (timezone, timezone_name) = self.timezone(&what, e.timezone.as_ref());
        let all = e.read_data.as_ref().is_some_and(|b| *b.get_ref());
        let data = match (&e.read_data_subset, all) {
            (Some(s), true) => {
                self.at(
                    s,
                    format!("{what}: give either read_data = true (every pack) or read_data_subset (a share), not both"),
                );
                VerifyData::All
            }
            (Some(s), false) => match VerifyData::parse_subset(s.get_ref()) {
                Ok(d) => d,
                Err(m) => {
                    self.at(s, format!("{what}: read_data_subset {m}"));
                    VerifyData::Structure
                }
            },
            (None, true) => VerifyData::All,
            (None, false) => VerifyData::Structure,
        };
        let completion_window = self.duration(
            "completion_window",
            &e.completion_window,
            DEFAULT_VERIFY_COMPLETION_WINDOW,
        );
        VerifyConfig {
            name: e.name.get_ref().clone(),
            vault: e.vault.get_ref().clone(),
            schedule,
            timezone,
            timezone_name,
            data,
            completion_window,
        }
    }
}

/// Whether a URL's user information holds a password (`scheme://user:pw@host`).
fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.contains(':'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` as `t.toml` and returns the error lines.
    fn errors(text: &str) -> Vec<String> {
        match Config::parse(text, Path::new("t.toml")) {
            Ok(_) => panic!("expected errors in:\n{text}"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    const BASE: &str = r#"
[[vault]]
name = "main"
url = "/srv/main"
key_file = "main.key"
[vault.lock]
min_retention_days = 7
max_retention_days = 400

[[vault]]
name = "cold"
url = "s3://b/p"
password_env = "PW"
tier = "cold"

[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]
tags = ["system"]
"#;

    /// BASE plus one plan whose single rule has `rule` as its body.
    fn with_rule(rule: &str) -> String {
        format!("{BASE}\n[[plan]]\nname = \"p\"\n[[plan.rule]]\nname = \"r\"\n{rule}\n")
    }

    /// The line (1-based) of `BASE + plan header` where a rule body starts.
    fn rule_line() -> usize {
        with_rule("").lines().count()
    }

    #[test]
    fn the_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coffer.toml");
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.vaults.len(), 3);
        assert_eq!(c.sources.len(), 7);
        assert_eq!(c.rules().count(), 3);
        assert_eq!(c.verify.len(), 2);
        assert_eq!(
            c.verify_entry("nightly-sample").unwrap().data,
            crate::model::VerifyData::Percent(5.0)
        );
        let nightly = c.rules().next().unwrap();
        assert_eq!(nightly.id(), "daily/nightly");
        // By name and by tag, in file order, each once.
        assert_eq!(
            nightly.sources,
            ["etc", "app-db", "app-db-base", "shop-db", "ldap"]
        );
        assert_eq!(nightly.start_window, SignedDuration::from_hours(1));
        assert_eq!(nightly.retention.keep_daily, Some(7));
        assert_eq!(nightly.copy_to[0].retention.delete_after_days, Some(90));
        let db = c.source("app-db").unwrap();
        assert_eq!(db.password, Some(SecretRef::Env("APP_DB_PASSWORD".into())));
        assert_eq!(db.rpo, Some(SignedDuration::from_hours(25)));
        assert_eq!(db.rto, Some(SignedDuration::from_mins(30)));
        assert_eq!(c.source("etc").unwrap().rpo, None);
        assert!(matches!(
            db.to_spec(),
            SourceSpec::Postgres { globals: true, .. }
        ));
        let ldap = c.source("ldap").unwrap().to_spec();
        assert!(matches!(ldap, SourceSpec::Command { ref name, .. } if name == "ldap.ldif"));
        assert_eq!(c.vault("archive").unwrap().tier, Tier::Cold);
        let every = c.rules().nth(2).unwrap();
        assert_eq!(every.completion_window, SignedDuration::from_hours(1));
        assert_eq!(every.timezone_name, "UTC");
        assert_eq!(c.restore_tests.len(), 2);
        let rt = c.restore_test("app-db-weekly").unwrap();
        assert_eq!(rt.select, SnapshotSelect::Random { within_days: 7 });
        assert_eq!(rt.timeout, SignedDuration::from_mins(30));
        assert_eq!(rt.queries[0].expect, Expect::Compare(CmpOp::Gt, 0.0));
        assert_eq!(
            c.restore_test("etc-daily").unwrap().timeout,
            DEFAULT_RESTORE_TEST_TIMEOUT
        );
    }

    #[test]
    fn restore_test_problems_have_positions() {
        let text = format!(
            "{BASE}
[[restore_test]]
name = \"t\"
schedule = \"0 5 * * MOX\"
vault = \"mian\"
sources = [\"ect\"]
select = \"random\"
keys = [\"k\"]
tmeout = \"1h\"
"
        );
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("unknown field `tmeout`"), "{e:?}");
        let text = text.replace("tmeout", "timeout");
        let e = errors(&text);
        let all = e.join("\n");
        let l = BASE.lines().count() + 4;
        for want in [
            format!("t.toml:{l}:21: restore_test `t`: bad schedule"),
            format!(
                "t.toml:{}:9: restore_test `t`: vault `mian` is not a vault",
                l + 1
            ),
            format!(
                "t.toml:{}:12: restore_test `t`: `ect` is not a source",
                l + 2
            ),
            "select = \"random\" needs within_days".to_string(),
        ] {
            assert!(all.contains(&want), "missing {want:?} in:\n{all}");
        }
        let e = errors(&format!(
            "{BASE}\n[[restore_test]]\nname = \"t\"\nschedule = \"@daily\"\nvault = \"main\"\nsources = [\"etc\"]\nkeys = [\"k\"]\n[[restore_test.query]]\nsql = \"select 1\"\nexpect = \"about 3\"\n"
        ));
        let all = e.join("\n");
        assert!(all.contains("keys applies to redis sources"), "{all}");
        assert!(all.contains("bad expect `about 3`"), "{all}");
    }

    #[test]
    fn expectations() {
        let e: Expect = ">= 10".parse().unwrap();
        assert!(e.check(Some("10")).is_ok());
        assert_eq!(
            e.check(Some("9")).unwrap_err(),
            "returned 9, expected >= 10"
        );
        assert!(e.check(None).is_err());
        assert!(e.check(Some("x")).is_err());
        assert!("!= 0".parse::<Expect>().unwrap().check(Some("1")).is_ok());
        assert!("= 3".parse::<Expect>().unwrap().check(Some("3")).is_ok());
        assert_eq!("no error".parse::<Expect>().unwrap(), Expect::NoError);
        assert!("~ 3".parse::<Expect>().is_err());
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = Config::parse(
            &with_rule("vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { delete_after_days = 30 }"),
            Path::new("/etc/coffer/coffer.toml"),
        )
        .unwrap();
        let r = c.rules().next().unwrap();
        assert_eq!(r.start_window, DEFAULT_START_WINDOW);
        assert_eq!(r.completion_window, DEFAULT_COMPLETION_WINDOW);
        assert_eq!(
            c.vaults[0].key,
            KeySource::KeyFile("/etc/coffer/main.key".into())
        );
        assert_eq!(c.vaults[0].url, "/srv/main");
    }

    #[test]
    fn unknown_field_names_the_allowed_ones() {
        let e = errors(&format!("{BASE}\n[[source]]\nname = \"x\"\nkind = \"files\"\npaths = [\"/x\"]\nexclud = [\"a\"]\n"));
        let line = BASE.lines().count() + 6;
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!("t.toml:{line}:1: unknown field `exclud`")),
            "{e:?}"
        );
        assert!(e[0].contains("`exclude`"), "{e:?}");
    }

    #[test]
    fn syntax_error_has_a_position() {
        let e = errors("[[vault]]\nname = \"a\nurl = 1\n");
        assert!(e[0].starts_with("t.toml:2:"), "{e:?}");
    }

    #[test]
    fn bad_cron_points_inside_the_string() {
        let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"0 5 * * MOX\"\nretention = { delete_after_days = 30 }",
        ));
        let line = rule_line() + 2;
        // `schedule = "` is 12 characters; MOX is the 9th of the expression.
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!("t.toml:{line}:21: rule `p/r`: bad schedule")),
            "{e:?}"
        );
        assert!(e[0].contains("day-of-week"), "{e:?}");
        let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"cron(0 5 * * * *)\"\nretention = { delete_after_days = 30 }",
        ));
        assert!(e[0].starts_with(&format!("t.toml:{line}:26:")), "{e:?}");
    }

    #[test]
    fn unknown_vault_and_source() {
        let e = errors(&with_rule(
            "vault = \"mian\"\nsources = [\"etc\", \"ect\"]\nschedule = \"@daily\"\ncopy_to = [{ vault = \"dr\" }]",
        ));
        let l = rule_line();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with(&format!("t.toml:{l}:9: rule `p/r`: vault `mian` is not a vault of this file (vaults: main, cold)")), "{e:?}");
        assert!(
            e[1].starts_with(&format!(
                "t.toml:{}:19: rule `p/r`: `ect` is not a source",
                l + 1
            )),
            "{e:?}"
        );
        assert!(
            e[2].starts_with(&format!(
                "t.toml:{}:22: rule `p/r`: copy_to vault `dr`",
                l + 3
            )),
            "{e:?}"
        );
    }

    #[test]
    fn retention_outside_the_lock() {
        let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { keep_daily = 3, delete_after_days = 3 }",
        ));
        let l = rule_line() + 3;
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!(
                "t.toml:{l}:13: rule `p/r`: its retention does not fit the lock of vault `main`"
            )),
            "{e:?}"
        );
        assert!(e[0].contains("below the lock's minimum of 7 days"), "{e:?}");
        // No retention at all keeps everything: beyond the maximum.
        let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"",
        ));
        assert!(e[0].contains("indefinitely"), "{e:?}");
        // A copy's retention is checked against the copy vault's lock.
        let text = with_rule(
            "vault = \"cold2\"\nsources = [\"etc\"]\nschedule = \"@daily\"\ncopy_to = [{ vault = \"main\", retention = { delete_after_days = 500 } }]",
        )
        .replace("[[source]]", "[[vault]]\nname = \"cold2\"\nurl = \"/x\"\nkey_file = \"k\"\n\n[[source]]");
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("the copy's retention does not fit the lock of vault `main`"),
            "{e:?}"
        );
        assert!(
            e[0].contains("beyond the lock's maximum of 400 days"),
            "{e:?}"
        );
    }

    #[test]
    fn secrets_are_refused_and_never_echoed() {
        let text = format!(
            "{BASE}\n[[source]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/db\"\npassword = \"hunter2\"\n"
        )
        .replace("key_file = \"main.key\"", "password = \"hunter2\"");
        let e = errors(&text);
        let all = e.join("\n");
        assert!(!all.contains("hunter2") && !all.contains("s3cret"), "{all}");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:5:12: vault `main`: an inline password is not allowed"),
            "{e:?}"
        );
        assert!(
            all.contains("source `db`: the url carries a password"),
            "{all}"
        );
        assert!(
            all.contains("source `db`: an inline password is not allowed"),
            "{all}"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let text = format!(
            "{BASE}
[[source]]
name = \"etc\"
kind = \"postgres\"
paths = [\"/x\"]
rpo = \"yesterday\"

[[vault]]
name = \"nokey\"
url = \"/v\"

[[plan]]
name = \"p\"
[[plan.rule]]
name = \"r\"
vault = \"main\"
schedule = \"@daily\"
timezone = \"Mars/Olympus\"
start_window = \"0s\"
completion_window = \"soon\"
retention = {{ delete_after_days = 30 }}
cold_after_days = 10
[[plan.rule]]
name = \"r\"
vault = \"main\"
source_tags = [\"nope\"]
schedule = \"@daily\"
retention = {{ delete_after_days = 30 }}
cold_after_days = 10
cold_vault = \"main\"
"
        );
        let e = errors(&text);
        let all = e.join("\n");
        for want in [
            "duplicate source name `etc`",
            "`paths` does not apply to a source of kind postgres",
            "source `etc` of kind postgres needs url",
            "vault `nokey` has no key",
            "duplicate rule name `r`",
            "rule `p/r` selects no sources",
            "unknown time zone `Mars/Olympus`",
            "start_window must be longer than zero",
            "bad completion_window `soon`",
            "bad rpo `yesterday`",
            "cold_after_days needs cold_vault",
            "no source has the tag `nope`",
            "cold_vault `main` is not a cold vault",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        // In file order, each with a position.
        let lines: Vec<usize> = e
            .iter()
            .map(|l| l.split(':').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{all}");
    }

    #[test]
    fn cold_storage_needs_a_cold_vault_and_shorter_age() {
        let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { delete_after_days = 30 }\ncold_after_days = 30\ncold_vault = \"cold\"",
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("must be less than the retention's delete_after_days (30)"),
            "{e:?}"
        );
        Config::parse(
            &with_rule("vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { delete_after_days = 30 }\ncold_after_days = 10\ncold_vault = \"cold\""),
            Path::new("t.toml"),
        )
        .unwrap();
    }

    #[test]
    fn url_passwords() {
        assert!(url_has_password("postgres://u:p@h/db"));
        assert!(url_has_password("redis://:p@h:6379"));
        assert!(!url_has_password("postgres://u@h/db"));
        assert!(!url_has_password("postgres://h:5432/db?x=a:b@c"));
        assert!(!url_has_password("s3://bucket/p?endpoint=http://h:3900"));
    }

    /// BASE plus one `[[verify]]` entry whose body is `body`.
    fn with_verify(body: &str) -> String {
        format!("{BASE}\n[[verify]]\nname = \"v\"\n{body}\n")
    }

    /// The line where a `[[verify]]` body starts.
    fn verify_line() -> usize {
        with_verify("").lines().count()
    }

    #[test]
    fn verify_entries_parse() {
        use crate::model::VerifyData;
        let c = Config::parse(
            &with_verify("vault = \"main\"\nschedule = \"0 4 * * 0\"\ntimezone = \"Europe/Berlin\"\nread_data_subset = \"5%\"\ncompletion_window = \"6h\""),
            Path::new("t.toml"),
        )
        .unwrap();
        let v = c.verify_entry("v").unwrap();
        assert_eq!(v.vault, "main");
        assert_eq!(v.data, VerifyData::Percent(5.0));
        assert_eq!(v.timezone_name, "Europe/Berlin");
        assert_eq!(v.completion_window, SignedDuration::from_hours(6));
        let c = Config::parse(
            &with_verify("vault = \"main\"\nschedule = \"@weekly\"\nread_data = true"),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.verify[0].data, VerifyData::All);
        assert_eq!(
            c.verify[0].completion_window,
            DEFAULT_VERIFY_COMPLETION_WINDOW
        );
        let c = Config::parse(
            &with_verify("vault = \"main\"\nschedule = \"@daily\""),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.verify[0].data, VerifyData::Structure);
    }

    #[test]
    fn verify_entries_are_checked_with_positions() {
        let l = verify_line();
        let e = errors(&with_verify(
            "vault = \"main\"\nschedule = \"@daily\"\nread_dta = true",
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!("t.toml:{}:1: unknown field `read_dta`", l + 2)),
            "{e:?}"
        );
        assert!(e[0].contains("`read_data_subset`"), "{e:?}");
        let e = errors(&with_verify(
            "vault = \"mian\"\nschedule = \"0 5 * * MOX\"\nread_data_subset = \"150%\"\ntimezone = \"Mars/Base\"",
        ));
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].starts_with(&format!("t.toml:{l}:9: verify `v`: vault `mian` is not a vault of this file (vaults: main, cold)")), "{e:?}");
        assert!(
            e[1].starts_with(&format!("t.toml:{}:21: verify `v`: bad schedule", l + 1)),
            "{e:?}"
        );
        assert!(
            e[2].starts_with(&format!(
                "t.toml:{}:20: verify `v`: read_data_subset `150%`: give a percentage",
                l + 2
            )),
            "{e:?}"
        );
        assert!(
            e[3].starts_with(&format!(
                "t.toml:{}:12: verify `v`: unknown time zone",
                l + 3
            )),
            "{e:?}"
        );
        let e = errors(&with_verify(
            "vault = \"main\"\nschedule = \"@daily\"\nread_data = true\nread_data_subset = \"5%\"",
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("not both"), "{e:?}");
        let e = errors(&format!(
            "{}[[verify]]\nname = \"v\"\nvault = \"main\"\nschedule = \"@daily\"\n",
            with_verify("vault = \"main\"\nschedule = \"@daily\"")
        ));
        assert!(e[0].contains("duplicate verify name `v`"), "{e:?}");
    }
}
