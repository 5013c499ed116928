//! `[[restore_test]]` entries: scheduled real restores into scratch
//! space, validated (checksums, queries, key counts, a command), with a
//! time limit; see `crate::restore_test`.

use super::secret::url_has_password;
use super::source::{RawSource, SourceConfig, SourceKind};
use super::validate::{Validator, S};
use super::vault::VaultConfig;
use crate::model::ServerError;
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

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
    type Err = ServerError;
    fn from_str(s: &str) -> Result<Expect, ServerError> {
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
                let n: f64 = rest.trim().parse().map_err(|_| {
                    ServerError::usage(format!(
                        "bad expect `{s}`: `{}` is not a number",
                        rest.trim()
                    ))
                })?;
                return Ok(Expect::Compare(op, n));
            }
        }
        Err(ServerError::usage(format!(
            "bad expect `{s}`: write \"> N\", \">= N\", \"= N\", \"!= N\", \"< N\", \"<= N\" or \"no error\""
        )))
    }
}

impl Expect {
    /// Checks the first column of the first row (`None`: no row). On
    /// success says what was seen; on failure, why it fails.
    pub fn check(&self, first: Option<&str>) -> Result<String, Unmet> {
        let Expect::Compare(op, want) = self else {
            return Ok(match first {
                Some(v) => format!("ran; first value {v}"),
                None => "ran; no rows".into(),
            });
        };
        let Some(v) = first else {
            return Err(Unmet(format!("returned no rows, expected {self}")));
        };
        let got: f64 = v.trim().parse().map_err(|_| {
            Unmet(format!(
                "returned `{v}`, which is not a number (expected {self})"
            ))
        })?;
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
            Err(Unmet(format!("returned {v}, expected {self}")))
        }
    }
}

/// A query result that does not meet its `expect`, saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unmet(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestoreTest {
    pub(super) name: S<String>,
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
    pub(super) fn restore_test(
        &mut self,
        t: &RawRestoreTest,
        raw_sources: &[RawSource],
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
            raw_sources,
        );
        let schedule = self.schedule(&owner, &t.schedule);
        let (timezone, timezone_name) = self.timezone(&owner, t.timezone.as_ref());
        self.vault_ref(&owner, "vault", &t.vault, vaults);
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
                    Some(e) => e.get_ref().parse().unwrap_or_else(|m: ServerError| {
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
