//! `[[source]]` entries: what is protected (files, PostgreSQL, MySQL,
//! Redis, a command's output), the fields each kind takes, its password
//! (from a file or the environment, never inline), its RPO and RTO; and the
//! selection of sources by name and tag that rules and restore tests share.

use super::secret::{url_has_password, SecretRef};
use super::validate::{Validator, S};
use coffer_sources::spec::SourceSpec;
use jiff::SignedDuration;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;

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
    /// The kind as the file writes it (`postgres-base`, …).
    pub fn name(self) -> &'static str {
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
    /// PostgreSQL base backup sources: how `coffer wal-push --source NAME`
    /// and `coffer wal-fetch --source NAME` work (flags override each).
    pub wal: super::source_wal::WalConfig,
}

impl SourceConfig {
    /// What the daemon runs for this source.
    pub fn to_spec(&self) -> SourceSpec {
        self.spec.clone()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) name: S<String>,
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
    wal_parallel: Option<S<i64>>,
    wal_max_batch: Option<S<i64>>,
    wal_max_queue: Option<S<i64>>,
    wal_prefetch: Option<S<i64>>,
    wal_spool: Option<S<PathBuf>>,
}

impl Validator<'_> {
    pub(super) fn source(&mut self, s: &RawSource) -> Option<SourceConfig> {
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
            (Some(e), None) => {
                self.env_set(&format!("source `{name}`"), "password_env", e);
                Some(SecretRef::Env(e.get_ref().clone()))
            }
            (None, Some(f)) => {
                let p = self.path(f.get_ref());
                self.readable_file(&format!("source `{name}`"), "password_file", f, &p);
                Some(SecretRef::File(p))
            }
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
                    Some(p) if !p.get_ref().is_empty() => p
                        .get_ref()
                        .iter()
                        .map(|p| {
                            let path = self.path(p.get_ref());
                            if let Err(e) = std::fs::symlink_metadata(&path) {
                                self.warn(p, format!(
                                    "source `{name}`: path {} cannot be backed up here: {e}; it fails at run time unless the daemon's machine has it",
                                    path.display()
                                ));
                            }
                            path
                        })
                        .collect(),
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
                    SourceKind::PostgresBase => SourceSpec::PostgresBase {
                        url,
                        bin_dir,
                        files: None,
                    },
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
        let wal = self.source_wal(
            &name,
            kind == SourceKind::PostgresBase,
            super::source_wal::WalFields {
                parallel: &s.wal_parallel,
                max_batch: &s.wal_max_batch,
                max_queue: &s.wal_max_queue,
                prefetch: &s.wal_prefetch,
                spool: &s.wal_spool,
            },
        );
        Some(SourceConfig {
            name,
            kind,
            tags,
            spec,
            password,
            rpo,
            rto,
            max_wal_lag,
            wal,
        })
    }

    /// The sources `names` and `tags` select, by name and by tag, each
    /// once, in file order; `owner` (`rule `p/r``) starts each message.
    pub(super) fn select_sources(
        &mut self,
        owner: &str,
        name: &S<String>,
        names: Option<&S<Vec<S<String>>>>,
        tags: Option<&S<Vec<S<String>>>>,
        raw_sources: &[RawSource],
    ) -> Vec<String> {
        let mut selected = BTreeSet::new();
        if let Some(names) = names {
            for n in names.get_ref() {
                match raw_sources
                    .iter()
                    .position(|s| s.name.get_ref() == n.get_ref())
                {
                    Some(i) => {
                        selected.insert(i);
                    }
                    None => {
                        let known: Vec<&str> = raw_sources
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
                for (i, s) in raw_sources.iter().enumerate() {
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
            .map(|i| raw_sources[i].name.get_ref().clone())
            .collect()
    }
}
