//! The configuration file, `coffer.toml`: vaults, sources, and plans of rules.
//!
//! [`Config::load`] parses strictly (an unknown field is an error naming the
//! fields allowed there, with a did-you-mean) and then validates the whole
//! file, collecting every problem as `file:line:column: message`
//! ([`ConfigErrors`]; every unknown field, not only the first: `read`), so
//! that an operator fixes them in one pass. [`Config::check`] adds warnings:
//! what is valid but fails at run time here (a key file that cannot be
//! read, a `password_env` not set). The annotated example in
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
//!
//! One file per section, each holding the section as written (its `Raw…`
//! type, every checked value [`toml::Spanned`]), the checked type the
//! daemon uses, and the validation from one to the other: `vault`,
//! `source`, `plan` (rules, windows, retention, copies, the chain of tiers),
//! `anomaly`, `compliance`, `report`, `restore_test`, `verify`, `prune`, `server`,
//! `notify`, `prices` and `fleet`. `validate` holds what they all share (the validator that
//! collects `file:line:column` errors, the spanned type, durations,
//! schedules, time zones) and `secret` where secrets come from; neither
//! imports a section. This file only puts the sections together into
//! [`Config`].

mod anomaly;
mod compliance;
mod fleet;
mod notify;
mod plan;
mod prices;
mod prune;
mod read;
mod report;
mod restore_test;
mod secret;
mod server;
mod source;
mod source_files;
mod source_rule;
mod source_wal;
mod tiers;
mod validate;
mod vault;
mod verify;

#[cfg(test)]
mod tests;

pub use anomaly::AnomalyConfig;
pub use compliance::ComplianceConfig;
pub use fleet::FleetConfig;
pub use notify::{
    EmailConfig, NotifyConfig, NotifyFilter, NotifyTarget, SnsConfig, WebhookFormat, WebhookUrl,
    DEFAULT_NOTIFY_BACKOFF, DEFAULT_NOTIFY_RETRIES, DEFAULT_NOTIFY_TIMEOUT, MAX_NOTIFY_BACKOFF,
};
pub use plan::{
    lock_problem, CopyConfig, PlanConfig, RuleConfig, DEFAULT_COMPLETION_WINDOW,
    DEFAULT_START_WINDOW,
};
pub use prices::{PriceTable, DEFAULT_PRICES, PRICES_SOURCE, PRICES_TAKEN};
pub use prune::{
    PruneConfig, DEFAULT_MAX_REPACK_PERCENT, DEFAULT_PRUNE_COMPLETION_WINDOW,
    DEFAULT_PRUNE_REPACK_BELOW, DEFAULT_PRUNE_START_WINDOW,
};
pub use report::{ReportConfig, ReportTarget};
pub use restore_test::{
    CmpOp, Expect, QueryCheck, RestoreTestConfig, SnapshotSelect, Unmet,
    DEFAULT_RESTORE_TEST_TIMEOUT,
};
pub use secret::SecretRef;
pub use server::{ServerConfig, TlsFiles, DEFAULT_STORAGE_REFRESH};
pub use source::{SourceConfig, SourceKind};
pub use source_files::{METHOD_FILES, METHOD_STREAM};
pub use source_wal::WalConfig;
pub use tiers::TierConfig;
pub use validate::{ConfigError, ConfigErrors};
pub use vault::{parse_size, KeySource, Tier, VaultConfig};
pub use verify::{VerifyConfig, DEFAULT_VERIFY_COMPLETION_WINDOW};

use serde::Deserialize;
use std::path::{Path, PathBuf};
use validate::{Validator, S};

// ---------------------------------------------------------------------------
// Public, validated configuration.

/// What checking a configuration file found ([`Config::check`]).
#[derive(Debug)]
pub struct Checked {
    /// The configuration, or every error that keeps it from running.
    pub config: Result<Config, ConfigErrors>,
    /// What is valid but fails at run time as things are on this machine
    /// (a key or password file that cannot be read, a `password_env` not
    /// set): warnings, since the daemon may run elsewhere or with another
    /// environment. `coffer config check --connect` tries for real.
    pub warnings: Vec<ConfigError>,
}

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
    /// Scheduled prunes (`[[prune]]`), in file order.
    pub prune: Vec<PruneConfig>,
    /// `[server]`: the daemon's HTTP listener (`/metrics`, `/healthz`).
    pub server: Option<ServerConfig>,
    /// `[[notify]]`: notification sinks, in file order.
    pub notify: Vec<NotifyConfig>,
    /// `[fleet]`: fleet records (defaults when absent).
    pub fleet: FleetConfig,
    /// `[prices]`: USD per GB-month by storage class (defaults when absent).
    pub prices: PriceTable,
}

impl Config {
    /// The `[[verify]]` entry named `name`.
    pub fn verify_entry(&self, name: &str) -> Option<&VerifyConfig> {
        self.verify.iter().find(|v| v.name == name)
    }

    /// Reads and checks `path`. On failure returns every problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::check(path).config
    }

    /// Checks configuration text; `path` names it in messages and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        Config::check_text(text, path).config
    }

    /// Reads and checks `path`, with the warnings: what is valid but
    /// fails at run time as things are on this machine.
    pub fn check(path: &Path) -> Checked {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::check_text(&text, path),
            Err(e) => Checked {
                config: Err(ConfigErrors(vec![ConfigError {
                    file: path.to_path_buf(),
                    line: None,
                    column: None,
                    message: format!(
                        "cannot read the configuration file: {e} (give another with --config FILE or COFFER_CONFIG)"
                    ),
                }])),
                warnings: Vec::new(),
            },
        }
    }

    /// [`Config::check`] of text; `path` names it in messages and anchors
    /// relative paths.
    pub fn check_text(text: &str, path: &Path) -> Checked {
        let mut v = Validator {
            text,
            file: path.to_path_buf(),
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let read = read::read::<RawConfig>(text);
        for (span, message) in read.errors {
            v.error(span, message);
        }
        // Past unknown fields (blanked out) the rest is checked too; past
        // other problems it is not, lest it report their consequences.
        let config = match read.raw {
            Some(raw) if read.only_unknown_fields => Some(v.config(raw)),
            _ => None,
        };
        v.errors.sort_by_key(|e| (e.line, e.column));
        v.warnings.sort_by_key(|e| (e.line, e.column));
        let config = match config {
            Some(c) if v.errors.is_empty() => Ok(c),
            _ => Err(ConfigErrors(v.errors)),
        };
        Checked {
            config,
            warnings: v.warnings,
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
// The file as written, and how its sections are put together.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<S<PathBuf>>,
    #[serde(default)]
    vault: Vec<vault::RawVault>,
    #[serde(default)]
    source: Vec<source::RawSource>,
    #[serde(default)]
    plan: Vec<plan::RawPlan>,
    server: Option<server::RawServer>,
    #[serde(default)]
    notify: Vec<notify::RawNotify>,
    anomaly: Option<anomaly::RawAnomaly>,
    compliance: Option<compliance::RawCompliance>,
    #[serde(default)]
    report: Vec<report::RawReport>,
    #[serde(default)]
    restore_test: Vec<restore_test::RawRestoreTest>,
    #[serde(default)]
    verify: Vec<verify::RawVerify>,
    #[serde(default)]
    prune: Vec<prune::RawPrune>,
    fleet: Option<fleet::RawFleet>,
    prices: Option<prices::RawPrices>,
}

impl Validator<'_> {
    fn config(&mut self, raw: RawConfig) -> Config {
        self.duplicates("vault", raw.vault.iter().map(|v| &v.name));
        self.duplicates("source", raw.source.iter().map(|s| &s.name));
        self.duplicates("plan", raw.plan.iter().map(|p| &p.name));
        let vaults: Vec<VaultConfig> = raw.vault.iter().map(|v| self.vault(v)).collect();
        let sources: Vec<SourceConfig> = raw.source.iter().filter_map(|s| self.source(s)).collect();
        let plans = raw
            .plan
            .iter()
            .map(|p| self.plan(p, &raw.source, &vaults))
            .collect();
        let anomaly = self.anomaly(raw.anomaly.as_ref());
        let compliance = self.compliance(raw.compliance.as_ref());
        let reports = self.reports(&raw.report, &vaults);
        self.duplicates("restore_test", raw.restore_test.iter().map(|t| &t.name));
        let restore_tests = raw
            .restore_test
            .iter()
            .map(|t| self.restore_test(t, &raw.source, &vaults, &sources))
            .collect();
        self.duplicates("verify", raw.verify.iter().map(|v| &v.name));
        let verify = raw.verify.iter().map(|e| self.verify(e, &vaults)).collect();
        self.duplicates("prune", raw.prune.iter().map(|p| &p.name));
        let prune = raw.prune.iter().map(|e| self.prune(e, &vaults)).collect();
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
            prune,
            server: raw.server.as_ref().map(|s| self.server(s)),
            notify: self.notify(&raw.notify),
            fleet: self.fleet(raw.fleet.as_ref()),
            prices: self.prices(raw.prices.as_ref()),
        }
    }
}
