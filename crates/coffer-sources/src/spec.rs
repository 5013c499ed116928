//! What to back up, as data: the one description of a source that the
//! command line, the configuration file, the daemon and the HTTP API all
//! build, and [`backup`] runs. Nothing about a source is decided twice.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A source to back up.
///
/// Its `Debug` shows URLs with their password and secret parameters as
/// `***` (a URL may carry the password a front end read from a file).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Directory trees.
    Files {
        /// Paths to back up (made absolute before use).
        paths: Vec<PathBuf>,
        /// Globs of entries to leave out.
        #[serde(default)]
        exclude: Vec<String>,
        /// Files holding exclude globs, one a line.
        #[serde(default)]
        exclude_files: Vec<PathBuf>,
        /// Globs of the only files to back up.
        #[serde(default)]
        include: Vec<String>,
        /// Do not cross file system boundaries.
        #[serde(default)]
        one_file_system: bool,
        /// Read every file, ignoring the parent snapshot.
        #[serde(default)]
        force: bool,
    },
    /// PostgreSQL logical dumps (`pg_dump -Fc -Z0`), one snapshot a database.
    Postgres {
        /// `postgres://user[:password]@host:port[/db]`.
        url: String,
        /// Each database but templates (the URL names none).
        #[serde(default)]
        all_databases: bool,
        /// Also the cluster's roles and tablespaces, once.
        #[serde(default)]
        globals: bool,
        /// With `all_databases`: only these globs.
        #[serde(default)]
        include_databases: Vec<String>,
        /// With `all_databases`: not these globs.
        #[serde(default)]
        exclude_databases: Vec<String>,
        /// Where the client tools are (only this directory is searched).
        #[serde(default)]
        bin_dir: Option<PathBuf>,
    },
    /// A PostgreSQL base backup for point-in-time recovery: streamed from
    /// `pg_basebackup`, or, with `files`, the data directory read between
    /// `pg_backup_start` and `pg_backup_stop` (`coffer pg backup`).
    PostgresBase {
        /// `postgres://user@host:port/` of a user with REPLICATION (a
        /// superuser for a backup by files).
        url: String,
        /// Where the client tools are (only this directory is searched).
        #[serde(default)]
        bin_dir: Option<PathBuf>,
        /// Back up by files, as this says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        files: Option<postgres::backup::FilesBackup>,
    },
    /// MariaDB/MySQL dumps (`mariadb-dump --single-transaction`).
    Mysql {
        /// `mysql://user[:password]@host:port[/db]`; no database: all of them.
        url: String,
        /// Where the client tools are (only this directory is searched).
        #[serde(default)]
        bin_dir: Option<PathBuf>,
    },
    /// A Redis RDB taken over the replication protocol.
    Redis {
        /// `redis://[user:password@]host:port`.
        url: String,
    },
    /// A shell command's standard output.
    Command {
        /// The shell command.
        command: String,
        /// The snapshot's (the stream's) name.
        name: String,
        /// A shell command that restores the stream from its standard input.
        #[serde(default)]
        restore_command: Option<String>,
    },
}

use crate::dburl::DbUrl;
use crate::filter::Patterns;

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        if let Some(u) = v.get_mut("url") {
            *u = crate::dburl::redact(u.as_str().unwrap_or_default()).into();
        }
        if let Some(u) = v.pointer_mut("/files/standby") {
            *u = crate::dburl::redact(u.as_str().unwrap_or_default()).into();
        }
        write!(f, "SourceSpec({v})")
    }
}
use crate::{command, files, mysql, postgres, redis, run_backup, BackupResult, Part, Progress};
use crate::{SnapshotMeta, SourceError, SourceOutput};
use coffer_core::{Archiver, BackupOptions, SnapshotFilter, Vault};

/// One failed backup of a source that makes several snapshots.
#[derive(Debug)]
pub struct Failure {
    /// What failed (`postgres://host:5432/shop`, `the globals of …`).
    pub what: String,
    /// Why.
    pub error: SourceError,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backup of {} failed; no snapshot was written: {}",
            self.what, self.error
        )
    }
}

/// What a [`backup`] did: the snapshots written, and the parts that failed
/// (a source that makes one snapshot has at most one failure).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each snapshot made (on a dry run: computed, not written).
    pub done: Vec<BackupResult>,
    /// Each part that failed.
    pub failed: Vec<Failure>,
}

impl Outcome {
    fn one(what: String, r: Result<BackupResult, SourceError>) -> Outcome {
        let mut o = Outcome::default();
        o.push(what, r);
        o
    }

    fn push(&mut self, what: String, r: Result<BackupResult, SourceError>) {
        match r {
            Ok(b) => self.done.push(b),
            Err(error) => self.failed.push(Failure { what, error }),
        }
    }

    /// Warnings of every snapshot (unreadable files …).
    pub fn warnings(&self) -> usize {
        self.done.iter().map(|d| d.warnings.len()).sum()
    }
}

/// The prefix of the tag that names a snapshot's source: `source:NAME`.
pub const SOURCE_TAG_PREFIX: &str = "source:";

/// The tag that names a snapshot's source (`source:NAME`), as the daemon
/// tags the snapshots of a configured source and `coffer backup` those of a
/// database or command ([`Naming`]).
pub fn source_tag(name: &str) -> String {
    format!("{SOURCE_TAG_PREFIX}{name}")
}

/// The source a snapshot's tags name (the inverse of [`source_tag`]), if
/// any tag does.
pub fn tagged_source(tags: &[String]) -> Option<&str> {
    tags.iter().find_map(|t| t.strip_prefix(SOURCE_TAG_PREFIX))
}

/// Checks a source name given with option `flag`: not empty, no comma (a
/// tag filter splits at commas), no space at either end.
pub fn check_source_name(name: &str, flag: &str) -> Result<(), SourceError> {
    if name.trim().is_empty() || name.contains(',') || name.trim() != name {
        return Err(SourceError::Usage(format!(
            "{flag} {name:?}: give a name without commas or surrounding spaces, e.g. {flag} shop"
        )));
    }
    Ok(())
}

/// How [`backup_named`] tags each snapshot with its source's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Naming {
    /// No name tag beyond the caller's (the daemon adds its own).
    #[default]
    Untagged,
    /// Every snapshot tagged `source:NAME`.
    Named(String),
    /// Each snapshot tagged with the name of what it holds (see
    /// [`SourceSpec::default_name`]): for all databases, each database its
    /// own name.
    Default,
}

impl Naming {
    /// The tags of a snapshot of `part` (its default name, if any): the
    /// caller's, and the name tag this naming gives, once.
    pub fn meta(&self, meta: &SnapshotMeta, part: Option<&str>) -> SnapshotMeta {
        let name = match self {
            Naming::Untagged => None,
            Naming::Named(n) => Some(n.as_str()),
            Naming::Default => part,
        };
        let mut m = meta.clone();
        if let Some(n) = name {
            let tag = source_tag(n);
            if !m.tags.contains(&tag) {
                m.tags.push(tag);
            }
        }
        m
    }
}

/// The default name of a PostgreSQL globals snapshot.
pub const GLOBALS_NAME: &str = "globals";
/// The default name of a MySQL dump of every database.
pub const ALL_DATABASES_NAME: &str = "all-databases";

impl SourceSpec {
    /// The name a snapshot of this source is tagged with (`source:NAME`)
    /// when none is given: the database's name (with all databases, each
    /// database's own; [`GLOBALS_NAME`] for the globals), for MySQL without
    /// a database [`ALL_DATABASES_NAME`], `redis` for Redis, a command's
    /// `name`; files and base backups have none (their paths name them).
    pub fn default_name(&self) -> Option<String> {
        let db = |u: &str, schemes: &[&str], port: u16| {
            DbUrl::parse(u, schemes, port, "url")
                .ok()
                .and_then(|u| u.database)
        };
        match self {
            SourceSpec::Files { .. } | SourceSpec::PostgresBase { .. } => None,
            SourceSpec::Postgres {
                url, all_databases, ..
            } => match db(url, postgres::SCHEMES, postgres::DEFAULT_PORT) {
                Some(d) if !*all_databases => Some(d),
                _ => None,
            },
            SourceSpec::Mysql { url, .. } => Some(
                db(url, mysql::SCHEMES, mysql::DEFAULT_PORT)
                    .unwrap_or_else(|| ALL_DATABASES_NAME.into()),
            ),
            SourceSpec::Redis { .. } => Some(redis::KIND.into()),
            SourceSpec::Command { name, .. } => Some(name.clone()),
        }
    }
}

impl SourceSpec {
    /// A short description for messages and job records (never a password).
    pub fn describe(&self) -> String {
        let url = |u: &str, schemes: &[&str], port: u16| {
            DbUrl::parse(u, schemes, port, "url")
                .map(|u| u.to_string())
                .unwrap_or_else(|_| "(an invalid URL)".into())
        };
        match self {
            SourceSpec::Files { paths, .. } => paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            SourceSpec::Postgres { url: u, .. } => {
                url(u, postgres::SCHEMES, postgres::DEFAULT_PORT)
            }
            SourceSpec::PostgresBase { url: u, .. } => format!(
                "a base backup of {}",
                url(u, postgres::SCHEMES, postgres::DEFAULT_PORT)
            ),
            SourceSpec::Mysql { url: u, .. } => url(u, mysql::SCHEMES, mysql::DEFAULT_PORT),
            SourceSpec::Redis { url: u } => url(u, redis::SCHEMES, redis::DEFAULT_PORT),
            SourceSpec::Command { command, .. } => format!("command `{command}`"),
        }
    }

    /// Checks what can be checked without touching a server or the vault
    /// (URLs, option combinations); a failure is a usage error.
    pub fn validate(&self) -> Result<(), SourceError> {
        let usage = |m: String| Err(SourceError::Usage(m));
        match self {
            SourceSpec::Files {
                paths,
                exclude,
                include,
                ..
            } => {
                if paths.is_empty() {
                    return usage("a files source needs at least one path".into());
                }
                Patterns::new(exclude, "exclude")?;
                Patterns::new(include, "include")?;
            }
            SourceSpec::Postgres {
                url,
                all_databases,
                globals,
                include_databases,
                exclude_databases,
                ..
            } => {
                let u = DbUrl::parse(url, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")?;
                match (&u.database, *all_databases, *globals) {
                    (Some(_), true, _) => {
                        return usage(format!(
                        "all databases takes a URL without a database (postgres://host:port), not {u}"
                    ))
                    }
                    (None, false, false) => return usage(format!(
                        "{u} names no database: add it (postgres://host:port/db), or ask for all databases or the globals"
                    )),
                    _ => {}
                }
                let filtered = !include_databases.is_empty() || !exclude_databases.is_empty();
                if filtered && !*all_databases {
                    return usage(
                        "database include/exclude globs go with all databases".to_string(),
                    );
                }
            }
            SourceSpec::PostgresBase { url, .. } => {
                DbUrl::parse(url, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")?;
            }
            SourceSpec::Mysql { url, .. } => {
                DbUrl::parse(url, mysql::SCHEMES, mysql::DEFAULT_PORT, "--mysql")?;
            }
            SourceSpec::Redis { url } => {
                DbUrl::parse(url, redis::SCHEMES, redis::DEFAULT_PORT, "--redis")?;
            }
            SourceSpec::Command { command, name, .. } => {
                if command.trim().is_empty() || name.trim().is_empty() {
                    return usage("a command source needs a command and a name".into());
                }
            }
        }
        Ok(())
    }
}

/// Backs up `spec` into `vault`: the one implementation behind `coffer
/// backup`, `coffer pg basebackup`, the daemon's jobs and the HTTP API.
///
/// The progress of `opts.progress` (if any) says which part runs (the
/// paths, each database) and adds up the counters of all of them. Once
/// `opts.cancel` fires, the databases not yet begun are not begun.
///
/// A usage error (bad URL, bad glob) or a failure before anything could be
/// attempted (the server cannot be reached, no database matches) is `Err`;
/// once backups run, each snapshot's success or failure is in the
/// [`Outcome`], so one failing database of many does not hide the others.
pub fn backup(
    vault: &Vault,
    spec: &SourceSpec,
    opts: &BackupOptions,
    meta: &SnapshotMeta,
) -> Result<Outcome, SourceError> {
    backup_named(vault, spec, opts, meta, &Naming::Untagged)
}

/// [`backup`], each snapshot tagged with its source's name as `naming`
/// says (`coffer backup` names database and command snapshots by default,
/// one name a database with all databases).
pub fn backup_named(
    vault: &Vault,
    spec: &SourceSpec,
    opts: &BackupOptions,
    meta: &SnapshotMeta,
    naming: &Naming,
) -> Result<Outcome, SourceError> {
    spec.validate()?;
    let caller = meta;
    let default = spec.default_name();
    let meta = &naming.meta(caller, default.as_deref());
    let begin = |what: &str, from: Option<&str>, of: Option<(usize, usize)>| {
        if let Some(p) = &opts.progress {
            p.set_part(Part {
                what: what.to_string(),
                from: from.map(str::to_string),
                of,
            });
        }
    };
    // Once stopped, a part not begun fails as the vault's archiver would
    // fail it, without starting its dump.
    let stopped = || {
        opts.cancel
            .as_ref()
            .and_then(|c| c.check("the backup").err())
            .map(SourceError::from)
    };
    let one = |what: String,
               from: Option<&str>,
               f: &dyn Fn(&Archiver) -> Result<SourceOutput, SourceError>|
     -> Outcome {
        begin(&what, from, None);
        let r = run_backup(vault, opts, meta, |arch, _| f(arch));
        Outcome::one(what, r)
    };
    match spec {
        SourceSpec::Files {
            paths,
            exclude,
            exclude_files,
            include,
            one_file_system,
            force,
        } => {
            let paths: Vec<PathBuf> = paths
                .iter()
                .map(|p| files::absolute(p))
                .collect::<Result<_, _>>()?;
            for p in &paths {
                std::fs::symlink_metadata(p)
                    .map_err(|e| SourceError::io(format!("cannot back up {}", p.display()), e))?;
            }
            let path_strings: Vec<String> = paths
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let parent = if *force {
                None
            } else {
                let host = meta.host.clone().unwrap_or_else(coffer_core::hostname);
                vault
                    .snapshots(&SnapshotFilter {
                        hosts: vec![host],
                        tags: vec![],
                        paths: path_strings.clone(),
                    })?
                    .into_iter()
                    .rev()
                    .find(|(_, s)| s.paths.len() == path_strings.len() && s.source.kind == "files")
            };
            let fopts = files::FilesOptions {
                paths,
                excludes: Patterns::with_files(exclude.clone(), exclude_files, "exclude")?,
                includes: Patterns::new(include, "include")?,
                one_file_system: *one_file_system,
                parent,
            };
            begin(&path_strings.join(" "), None, None);
            let none = Progress::default();
            let r = run_backup(vault, opts, meta, |arch, index| {
                files::backup(arch, index, &fopts, arch.progress().unwrap_or(&none))
            });
            Ok(Outcome::one(
                path_strings.join(" "),
                r.map_err(SourceError::from),
            ))
        }
        SourceSpec::Postgres {
            url,
            all_databases,
            globals,
            include_databases,
            exclude_databases,
            bin_dir,
        } => {
            let url = DbUrl::parse(url, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")?;
            let pgo = postgres::PgOptions {
                bin_dir: bin_dir.clone(),
            };
            let pg = postgres::Postgres::connect(&url, &pgo, None)?;
            let dbs = if *all_databases {
                let d = pg.databases(include_databases, exclude_databases)?;
                if d.is_empty() {
                    return Err(SourceError::Mismatch(format!(
                        "no database on {} matches the include/exclude globs",
                        url.host_port()
                    )));
                }
                d
            } else {
                url.database.iter().cloned().collect()
            };
            let mut out = Outcome::default();
            // Named one by one: the globals and each database their own.
            let parts = dbs.len() + usize::from(*globals);
            let of = |i: usize| (parts > 1).then_some((i, parts));
            if *globals {
                let what = format!("the globals of {}", url.location(None));
                let m = naming.meta(caller, Some(GLOBALS_NAME));
                begin(&what, None, of(1));
                out.push(
                    what,
                    run_backup(vault, opts, &m, |arch, _| pg.backup_globals(arch)),
                );
            }
            for (i, db) in dbs.iter().enumerate() {
                let what = url.location(Some(db));
                if let Some(error) = stopped() {
                    out.failed.push(Failure { what, error });
                    continue;
                }
                let m = naming.meta(caller, Some(db));
                begin(&what, None, of(i + 1 + usize::from(*globals)));
                out.push(
                    what,
                    run_backup(vault, opts, &m, |arch, _| pg.backup_database(arch, db)),
                );
            }
            Ok(out)
        }
        SourceSpec::PostgresBase {
            url,
            bin_dir,
            files,
        } => {
            let url = DbUrl::parse(url, postgres::SCHEMES, postgres::DEFAULT_PORT, "--postgres")?;
            let pgo = postgres::PgOptions {
                bin_dir: bin_dir.clone(),
            };
            let pg = postgres::Postgres::connect(&url, &pgo, None)?;
            if let Some(f) = files {
                let standby = match &f.standby {
                    Some(s) => {
                        let su = DbUrl::parse(
                            s,
                            postgres::SCHEMES,
                            postgres::DEFAULT_PORT,
                            "--standby",
                        )?;
                        Some(postgres::Postgres::connect(&su, &pgo, None)?)
                    }
                    None => None,
                };
                let what = format!("a base backup by files of {}", url.location(None));
                begin(&what, None, None);
                let none = Progress::default();
                let r = run_backup(vault, opts, meta, |arch, index| {
                    pg.backup_files(
                        arch,
                        index,
                        f,
                        standby.as_ref(),
                        arch.progress().unwrap_or(&none),
                    )
                });
                return Ok(Outcome::one(what, r));
            }
            Ok(one(
                format!("a base backup of {}", url.location(None)),
                Some("pg_basebackup"),
                &|arch| pg.base_backup(arch),
            ))
        }
        SourceSpec::Mysql { url, bin_dir } => {
            let url = DbUrl::parse(url, mysql::SCHEMES, mysql::DEFAULT_PORT, "--mysql")?;
            let mo = mysql::MysqlOptions {
                bin_dir: bin_dir.clone(),
            };
            let m = mysql::Mysql::connect(&url, &mo, url.database.as_deref())?;
            Ok(one(url.location(url.database.as_deref()), None, &|arch| {
                m.backup(arch)
            }))
        }
        SourceSpec::Redis { url } => {
            let url = DbUrl::parse(url, redis::SCHEMES, redis::DEFAULT_PORT, "--redis")?;
            let r = redis::Redis::connect(&url)?;
            let what = url.location(None);
            begin(&what, Some(crate::stream::FROM_REDIS), None);
            // Redis::backup consumes the connection: one attempt.
            let none = Progress::default();
            let res = run_backup(vault, opts, meta, |arch, _| {
                r.backup(arch, arch.progress().unwrap_or(&none))
            });
            Ok(Outcome::one(what, res))
        }
        SourceSpec::Command {
            command,
            name,
            restore_command,
        } => {
            let src = command::CommandSource::new(
                command.clone(),
                name.clone(),
                restore_command.clone(),
            )?;
            Ok(one(
                format!("command `{command}`"),
                Some(crate::stream::FROM_COMMAND),
                &|arch| src.backup(arch),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue14_debug_of_a_spec_shows_no_secret() {
        let spec = SourceSpec::Postgres {
            url: "postgres://app:Pw0rd@db/shop?sslpassword=K3y".into(),
            all_databases: false,
            globals: false,
            include_databases: vec![],
            exclude_databases: vec![],
            bin_dir: None,
        };
        let shown = format!("{spec:?} {}", spec.describe());
        assert!(
            !shown.contains("Pw0rd") && !shown.contains("K3y"),
            "{shown}"
        );
        assert!(shown.contains("db") && shown.contains("shop"), "{shown}");
    }
}
