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
    /// A file holding it (one line; a trailing newline is dropped).
    File(PathBuf),
    /// An environment variable holding it.
    Env(String),
}

impl SecretRef {
    /// Reads the secret. The error names the file or variable, never the
    /// value.
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretRef::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read password file {}: {e}", p.display())),
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

impl Config {
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
        }
    }

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
        Some(SourceConfig {
            name,
            kind,
            tags,
            spec,
            password,
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
        // Sources by name and by tag, each once, in file order.
        let mut selected = BTreeSet::new();
        if let Some(names) = &r.sources {
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
                                "rule `{id}`: `{}` is not a source of this file (sources: {})",
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
        if let Some(tags) = &r.source_tags {
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
                        format!("rule `{id}`: no source has the tag `{}`", t.get_ref()),
                    );
                }
            }
        }
        let names_given = r.sources.as_ref().is_some_and(|s| !s.get_ref().is_empty())
            || r.source_tags
                .as_ref()
                .is_some_and(|s| !s.get_ref().is_empty());
        if !names_given {
            self.at(
                &r.name,
                format!("rule `{id}` selects no sources: set sources = [\"name\", …] and/or source_tags = [\"tag\", …]"),
            );
        }
        let sources: Vec<String> = selected
            .into_iter()
            .map(|i| raw.source[i].name.get_ref().clone())
            .collect();

        let schedule = match Schedule::parse(r.schedule.get_ref()) {
            Ok(s) => s,
            Err(e) => {
                // Point inside the string: past the opening quote(s).
                let start = r.schedule.span().start;
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
                    format!(
                        "rule `{id}`: bad schedule `{}`: {}",
                        r.schedule.get_ref(),
                        e.message
                    ),
                );
                Schedule::parse("@daily").expect("a valid schedule")
            }
        };
        let (timezone, timezone_name) = match &r.timezone {
            None => (TimeZone::UTC, "UTC".to_string()),
            Some(z) => match TimeZone::get(z.get_ref()) {
                Ok(tz) => (tz, z.get_ref().clone()),
                Err(e) => {
                    self.at(
                        z,
                        format!(
                            "rule `{id}`: unknown time zone `{}` ({e}); use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                            z.get_ref()
                        ),
                    );
                    (TimeZone::UTC, "UTC".to_string())
                }
            },
        };
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
}
