//! What the daemon runs for a source by a rule, and how a `postgres-base`
//! source backs up ([`SourceConfig::spec_for`], [`SourceConfig::files`]):
//! apart from `source_files`, which validates the fields, so that neither
//! the sources nor the rules module needs the other through it.

use coffer_sources::postgres::backup::FilesBackup;
use coffer_sources::spec::SourceSpec;

use super::plan::RuleConfig;
use super::source::SourceConfig;
use super::source_files::{METHOD_FILES, METHOD_STREAM};

impl SourceConfig {
    /// The spec the daemon runs for this source by `rule`: the source's,
    /// with the rule's `pg_backup_type` for a base backup by files.
    pub fn spec_for(&self, rule: &RuleConfig) -> SourceSpec {
        let mut spec = self.to_spec();
        if let (SourceSpec::PostgresBase { files: Some(f), .. }, Some(t)) =
            (&mut spec, rule.pg_backup_type)
        {
            f.backup_type = t;
        }
        spec
    }

    /// A base backup by files (`method = "files"`).
    pub fn by_files(&self) -> bool {
        self.files().is_some()
    }

    /// How a base backup by files is taken (`None`: another kind, or
    /// `method = "stream"`).
    pub fn files(&self) -> Option<FilesBackup> {
        match self.to_spec() {
            SourceSpec::PostgresBase { files, .. } => files,
            _ => None,
        }
    }

    /// A `postgres-base` source's `method` (`"stream"` or `"files"`).
    pub fn method(&self) -> Option<&'static str> {
        match self.to_spec() {
            SourceSpec::PostgresBase { files: Some(_), .. } => Some(METHOD_FILES),
            SourceSpec::PostgresBase { files: None, .. } => Some(METHOD_STREAM),
            _ => None,
        }
    }
}
