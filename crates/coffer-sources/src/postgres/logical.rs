//! PostgreSQL, logical: `pg_dump` of one database per snapshot, the
//! cluster's globals (`pg_dumpall --globals-only`), and their restores.
//!
//! Dumps use the custom format without pg_dump's compression
//! (`pg_dump -Fc -Z0`): the vault compresses, and an uncompressed dump
//! deduplicates from day to day (pg_dump writes each row as its own
//! length-prefixed block, so a change stays local). The custom format lets
//! `pg_restore` rebuild a database in parallel (`--jobs`), which needs a
//! seekable file: the stream is then spooled to a temporary file first.
//!
//! The client tools are looked for in `--pg-bin-dir` (alone), else in `PATH`
//! and then Debian's `/usr/lib/postgresql/*/bin`; the first one whose major
//! version is at least the server's is used (pg_dump refuses newer servers).
//! Passwords go to the tools through `PGPASSWORD`, never on a command line.
//! Other secret URL parameters (`sslpassword`, `oauth_client_secret`: libpq
//! reads no environment variable for them) go into a temporary service file
//! of mode 0600 (`PGSERVICEFILE`, with `service=coffer` in the connection
//! string), which lives as long as the [`Postgres`] and is removed with it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use coffer_core::Archiver;

use crate::dburl::DbUrl;
use crate::error::{SourceError, SourceResult};
use crate::process::{self, Checked, ToolDirs};
use crate::{stream, SourceOutput};

/// URL schemes accepted by `--postgres`.
pub const SCHEMES: &[&str] = &["postgres", "postgresql"];
/// PostgreSQL's default port.
pub const DEFAULT_PORT: u16 = 5432;
/// The database connected to when the URL names none (or the target does
/// not exist yet).
pub const MAINTENANCE_DB: &str = "postgres";
/// Snapshot kind of a database dump.
pub const KIND: &str = "postgres";
/// Snapshot kind of the cluster's globals.
pub const KIND_GLOBALS: &str = "postgres-globals";

/// Where the client tools are.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Look for `pg_dump`, `psql` … only here (`--pg-bin-dir`).
    pub bin_dir: Option<PathBuf>,
}

/// How to restore a dump.
#[derive(Debug, Clone, Default)]
pub struct PgRestoreOptions {
    /// Create the database first (fails if it exists, unless `clean`).
    pub create: bool,
    /// Drop what exists first: with `create`, the whole database; without,
    /// each object the dump recreates (`pg_restore --clean --if-exists`).
    pub clean: bool,
    /// Parallel jobs of `pg_restore` (1: stream straight into it).
    pub jobs: u32,
    /// Where to spool the dump when `jobs > 1` (default: the temp dir).
    pub temp_dir: Option<PathBuf>,
}

/// A PostgreSQL server that answered, with its version.
#[derive(Debug)]
pub struct Postgres {
    url: DbUrl,
    /// The service file holding the URL's secret parameters, if it has any.
    service_file: Option<tempfile::NamedTempFile>,
    dirs: ToolDirs,
    psql: PathBuf,
    /// `server_version_num` (e.g. 150020).
    pub server_version_num: u32,
    /// `server_version` (e.g. `15.20 (Debian 15.20-0+deb12u1)`).
    pub server_version: String,
}

impl Postgres {
    /// Finds `psql`, connects to `database` (or the URL's, or `postgres`)
    /// and reads the server's version. Unreachable servers, refused
    /// credentials and missing databases fail here, naming host, port and
    /// database.
    pub fn connect(url: &DbUrl, opts: &PgOptions, database: Option<&str>) -> SourceResult<Self> {
        let dirs = tool_dirs(opts);
        let psql = dirs.find(&["psql"], &install_hint(None))?;
        let db = database
            .or(url.database.as_deref())
            .unwrap_or(MAINTENANCE_DB)
            .to_string();
        let mut pg = Postgres {
            url: url.clone(),
            service_file: service_file(url)?,
            dirs,
            psql,
            server_version_num: 0,
            server_version: String::new(),
        };
        let out = pg
            .query(
                &db,
                "select current_setting('server_version_num') || '|' || current_setting('server_version')",
            )
            .map_err(|e| pg.connect_error(&db, e))?;
        let (num, ver) = out
            .trim()
            .split_once('|')
            .ok_or_else(|| SourceError::Protocol {
                target: url.host_port(),
                detail: format!("unexpected answer to a version query: {out:?}"),
            })?;
        pg.server_version_num = num.trim().parse().unwrap_or(0);
        pg.server_version = ver.trim().to_string();
        Ok(pg)
    }

    /// The server's URL (its password is never printed).
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// The server's major version as [`pg_major`] counts it (1500 for 15,
    /// 906 for 9.6).
    pub fn server_major(&self) -> u32 {
        let n = self.server_version_num;
        if n >= 100_000 {
            n / 10_000 * 100
        } else {
            n / 100
        }
    }

    /// The server's version without the distribution suffix (`15.20`).
    pub fn short_version(&self) -> &str {
        self.server_version
            .split_whitespace()
            .next()
            .unwrap_or(&self.server_version)
    }

    pub(crate) fn connect_error(&self, db: &str, e: SourceError) -> SourceError {
        match e {
            SourceError::Process { detail, .. } => SourceError::Connect {
                target: format!("PostgreSQL at {}", self.url.describe(Some(db))),
                detail: detail.trim_start_matches(": ").to_string(),
            },
            other => other,
        }
    }

    /// A libpq connection string for `db`, without the password.
    pub(crate) fn conninfo(&self, db: &str) -> String {
        self.conninfo_as(db, "coffer")
    }

    /// The psql this connection runs.
    pub(crate) fn psql(&self) -> &Path {
        &self.psql
    }

    /// [`Postgres::conninfo`] with `application_name` `app` (unless the URL
    /// sets one).
    pub(crate) fn conninfo_as(&self, db: &str, app: &str) -> String {
        let mut parts = vec![
            kv("host", &self.url.host),
            kv("port", &self.url.port.to_string()),
            kv("dbname", db),
        ];
        if let Some(u) = &self.url.user {
            parts.push(kv("user", u));
        }
        for (k, v) in &self.url.params {
            // Secrets never go on a command line (see `service_file`).
            let secret = crate::dburl::is_secret_param(k);
            if !secret && !matches!(k.as_str(), "password" | "host" | "port" | "dbname" | "user") {
                parts.push(kv(k, v));
            }
        }
        if self.service_file.is_some() {
            parts.push(kv("service", SERVICE));
        }
        if self.url.param("connect_timeout").is_none() {
            parts.push(kv("connect_timeout", "15"));
        }
        if self.url.param("application_name").is_none() {
            parts.push(kv("application_name", app));
        }
        parts.join(" ")
    }

    pub(crate) fn command(&self, tool: &Path) -> Command {
        let mut c = Command::new(tool);
        if let Some(p) = &self.url.password {
            c.env("PGPASSWORD", p);
        }
        if let Some(f) = &self.service_file {
            c.env("PGSERVICEFILE", f.path());
        }
        c
    }

    pub(crate) fn secret(&self) -> Option<&str> {
        self.url.password.as_deref()
    }

    /// Runs one SQL statement in `db` through psql; returns its unaligned,
    /// tuples-only output (columns separated by `|`).
    pub fn query(&self, db: &str, sql: &str) -> SourceResult<String> {
        let mut c = self.command(&self.psql);
        c.args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.conninfo(db))
            .arg("-c")
            .arg(sql);
        process::output(
            c,
            format!("psql on {}", self.url.location(Some(db))),
            self.secret(),
        )
    }

    /// The client tool `name` of major version `need` or newer (in
    /// [`Postgres::server_major`] units); `needed_for` says why, for the error.
    pub fn tool(&self, name: &str, need: u32, needed_for: &str) -> SourceResult<(PathBuf, String)> {
        let found = self.dirs.find_all(&[name]);
        if found.is_empty() {
            return Err(SourceError::ToolMissing {
                tool: name.to_string(),
                searched: self.dirs.searched(),
                hint: install_hint(Some(need)),
            });
        }
        let mut newest: Option<(u32, PathBuf, String)> = None;
        for p in found {
            let v = process::tool_version(&p)?;
            let major = pg_major(&v);
            if major >= need {
                return Ok((p, v));
            }
            if newest.as_ref().is_none_or(|(m, _, _)| major > *m) {
                newest = Some((major, p, v));
            }
        }
        let (_, path, v) = newest.expect("found is not empty");
        Err(SourceError::ToolTooOld {
            tool: name.to_string(),
            found: process::version_numbers(&v)
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("."),
            path,
            needed_for: needed_for.to_string(),
            hint: format!(
                "{name} {} or newer is needed; {}",
                show_major(need),
                install_hint(Some(need))
            ),
        })
    }

    pub(crate) fn server_needs(&self) -> String {
        format!(
            "the PostgreSQL {} server at {}",
            self.short_version(),
            self.url.host_port()
        )
    }

    /// The databases a `--all-databases` backup covers: all but templates
    /// and those that refuse connections, filtered by `include` and
    /// `exclude` globs (an empty `include` takes all).
    pub fn databases(&self, include: &[String], exclude: &[String]) -> SourceResult<Vec<String>> {
        let out = self
            .query(
                MAINTENANCE_DB,
                "select datname from pg_database where not datistemplate and datallowconn order by datname",
            )
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        let inc = globs(include)?;
        let exc = globs(exclude)?;
        Ok(out
            .lines()
            .map(str::to_string)
            .filter(|d| !d.is_empty())
            .filter(|d| include.is_empty() || inc.is_match(d))
            .filter(|d| !exc.is_match(d))
            .collect())
    }

    /// The `pg_dump -Fc -Z0` command line of `db` (no secret in it).
    fn dump_command(&self, pg_dump: &Path, db: &str) -> Command {
        let mut c = self.command(pg_dump);
        c.args(["--format=custom", "--compress=0", "--no-password", "-d"])
            .arg(self.conninfo(db));
        c
    }

    /// Streams `pg_dump -Fc -Z0` of `db` into the vault as `DB.pgdump`.
    pub fn backup_database(&self, archiver: &Archiver, db: &str) -> SourceResult<SourceOutput> {
        let (pg_dump, version) = self.tool("pg_dump", self.server_major(), &self.server_needs())?;
        let c = self.dump_command(&pg_dump, db);
        let name = format!("{}.pgdump", file_safe(db));
        let content = process::stdout_to_vault(
            archiver,
            c,
            format!("pg_dump of {}", self.url.location(Some(db))),
            self.secret(),
            &name,
        )?;
        let mut d = self.details(Some(db));
        d.insert("pg_dump".into(), version.clone());
        d.insert("pg_dump_path".into(), pg_dump.display().to_string());
        d.insert(
            "format".into(),
            "pg_dump custom format, uncompressed (-Fc -Z0)".into(),
        );
        d.insert(
            "restore_needs".into(),
            format!(
                "pg_restore {} or newer and a PostgreSQL server; roles and tablespaces from a postgres-globals snapshot",
                show_major(pg_major(&version))
            ),
        );
        let mut out = stream::one_file(archiver, content, &name, KIND, d)?;
        out.paths = vec![self.url.location(Some(db))];
        Ok(out)
    }

    /// Streams `pg_dumpall --globals-only` (roles, tablespaces) into the
    /// vault as `globals.sql`.
    pub fn backup_globals(&self, archiver: &Archiver) -> SourceResult<SourceOutput> {
        let (tool, version) = self.tool("pg_dumpall", self.server_major(), &self.server_needs())?;
        let mut c = self.command(&tool);
        c.args(["--globals-only", "--no-password", "-d"])
            .arg(self.conninfo(MAINTENANCE_DB));
        let name = "globals.sql";
        let content = process::stdout_to_vault(
            archiver,
            c,
            format!("pg_dumpall --globals-only of {}", self.url.location(None)),
            self.secret(),
            name,
        )?;
        let mut d = self.details(None);
        d.insert("pg_dumpall".into(), version);
        d.insert(
            "format".into(),
            "SQL script (pg_dumpall --globals-only)".into(),
        );
        d.insert(
            "restore_needs".into(),
            "psql and a PostgreSQL superuser; restore before the databases".into(),
        );
        let mut out = stream::one_file(archiver, content, name, KIND_GLOBALS, d)?;
        out.paths = vec![self.url.location(None)];
        Ok(out)
    }

    pub(crate) fn details(&self, db: Option<&str>) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        d.insert("host".into(), self.url.host.clone());
        d.insert("port".into(), self.url.port.to_string());
        if let Some(db) = db {
            d.insert("database".into(), db.to_string());
        }
        if let Some(u) = &self.url.user {
            d.insert("user".into(), u.clone());
        }
        d.insert("server_version".into(), self.server_version.clone());
        d.insert(
            "server_version_num".into(),
            self.server_version_num.to_string(),
        );
        d
    }

    /// Whether database `db` exists.
    pub fn database_exists(&self, db: &str) -> SourceResult<bool> {
        let out = self
            .query(
                MAINTENANCE_DB,
                &format!(
                    "select count(*) from pg_database where datname = {}",
                    quote_literal(db)
                ),
            )
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        Ok(out.trim() != "0")
    }

    /// Drops database `db` if it exists, ending its sessions first
    /// (`WITH (FORCE)` from PostgreSQL 13 on).
    pub fn drop_database(&self, db: &str) -> SourceResult<()> {
        let force = if self.server_version_num >= 130_000 {
            " with (force)"
        } else {
            ""
        };
        self.query(
            MAINTENANCE_DB,
            &format!("drop database if exists {}{force}", quote_ident(db)),
        )
        .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        Ok(())
    }

    /// Checks the indexes and tables of `db` with `pg_amcheck
    /// --install-missing` (which creates the amcheck extension in `db`:
    /// meant for scratch databases). [`Checked::Unavailable`] with the
    /// reason when pg_amcheck is not installed (or too old); else its
    /// report (empty when it found nothing).
    pub fn amcheck(&self, db: &str) -> SourceResult<Checked> {
        let tool = match self.tool("pg_amcheck", self.server_major().min(1400), "amcheck") {
            Ok((t, _)) => t,
            Err(e @ (SourceError::ToolMissing { .. } | SourceError::ToolTooOld { .. })) => {
                return Ok(Checked::Unavailable(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let mut c = self.command(&tool);
        c.args(["--no-password", "--install-missing", "--heapallindexed"])
            .arg(self.conninfo(db));
        process::output(
            c,
            format!("pg_amcheck of {}", self.url.location(Some(db))),
            self.secret(),
        )
        .map(Checked::Ran)
    }

    /// Restores a dump made by `pg_dump` version `dump_version` (from the
    /// snapshot's details) into the URL's database.
    pub fn restore<R: Read>(
        &self,
        reader: R,
        dump_version: &str,
        opts: &PgRestoreOptions,
    ) -> SourceResult<()> {
        let db = self.url.database.clone().ok_or_else(|| {
            SourceError::Usage(format!(
                "--postgres {}: name the database to restore into (postgres://host:port/newdb)",
                self.url
            ))
        })?;
        let need = pg_major(dump_version);
        let (pg_restore, _) = self.tool(
            "pg_restore",
            need,
            &format!("a dump made by {dump_version}"),
        )?;
        let target = format!("PostgreSQL at {}", self.url.describe(Some(&db)));
        if opts.create {
            if opts.clean {
                self.query(
                    MAINTENANCE_DB,
                    &format!("drop database if exists {}", quote_ident(&db)),
                )
                .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
            } else if self.database_exists(&db)? {
                return Err(SourceError::Mismatch(format!(
                    "database {db} already exists on {}: restore into a new name, or add --clean to drop it first",
                    self.url.host_port()
                )));
            }
            self.query(
                MAINTENANCE_DB,
                &format!("create database {} template template0", quote_ident(&db)),
            )
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        } else if !self.database_exists(&db)? {
            return Err(SourceError::Connect {
                target,
                detail: format!("database {db} does not exist: add --create to create it"),
            });
        }
        let mut c = self.command(&pg_restore);
        c.args(["--no-password", "--exit-on-error"]);
        if opts.clean && !opts.create {
            c.args(["--clean", "--if-exists"]);
        }
        c.arg("-d").arg(self.conninfo(&db)).stdout(Stdio::null());
        let what = format!("pg_restore into {}", self.url.location(Some(&db)));
        if opts.jobs > 1 {
            // pg_restore -j reads the archive at several places at once.
            let dir = opts.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
            let mut spool = tempfile::Builder::new()
                .prefix("coffer-pg-restore-")
                .tempfile_in(&dir)
                .map_err(|e| {
                    SourceError::io(format!("creating a spool file in {}", dir.display()), e)
                })?;
            let mut reader = reader;
            std::io::copy(&mut reader, spool.as_file_mut()).map_err(|e| {
                SourceError::io(
                    format!("spooling the dump to {}", spool.path().display()),
                    e,
                )
            })?;
            c.arg("--jobs").arg(opts.jobs.to_string()).arg(spool.path());
            c.stdin(Stdio::null());
            process::output(c, what, self.secret())?;
        } else {
            process::stdin_from(c, reader, what, self.secret())?;
        }
        Ok(())
    }

    /// Replays a globals script through psql. Statements that fail (a role
    /// that exists already) do not stop it; their errors come back as
    /// warnings.
    pub fn restore_globals<R: Read>(&self, reader: R) -> SourceResult<Vec<String>> {
        let mut c = self.command(&self.psql);
        c.args(["-X", "-w", "-q", "-d"])
            .arg(self.conninfo(MAINTENANCE_DB))
            .args(["-f", "-"])
            .stdout(Stdio::null());
        let (_, stderr) = process::stdin_from(
            c,
            reader,
            format!("psql on {}", self.url.location(Some(MAINTENANCE_DB))),
            self.secret(),
        )
        .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        Ok(stderr
            .lines()
            .filter(|l| l.contains("ERROR"))
            .map(str::to_string)
            .collect())
    }
}

/// The server program `name` (`postgres`, `pg_ctl`) of exactly major
/// version `major` (in [`pg_major`] units), as a data directory of that
/// version needs: looked for like the client tools.
pub fn server_tool(opts: &PgOptions, name: &str, major: u32) -> SourceResult<PathBuf> {
    let dirs = tool_dirs(opts);
    let found = dirs.find_all(&[name]);
    for p in &found {
        if pg_major(&process::tool_version(p)?) == major {
            return Ok(p.clone());
        }
    }
    Err(SourceError::ToolMissing {
        tool: format!("{name} {}", show_major(major)),
        searched: dirs.searched(),
        hint: format!(
            "install the PostgreSQL {} server (Debian: apt-get install postgresql-{}), or point bin_dir at its bin directory",
            show_major(major),
            show_major(major)
        ),
    })
}

fn tool_dirs(opts: &PgOptions) -> ToolDirs {
    // Debian installs each major version's tools in its own directory.
    let mut extra: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    extra.sort_by_key(|e| std::cmp::Reverse(e.0));
    ToolDirs {
        only: opts.bin_dir.clone(),
        option: "--pg-bin-dir".into(),
        extra: extra.into_iter().map(|(_, p)| p).collect(),
    }
}

fn install_hint(major: Option<u32>) -> String {
    let pkg = match major {
        Some(m) if m > 0 => format!("postgresql-client-{}", show_major(m)),
        _ => "postgresql-client".to_string(),
    };
    format!(
        "install the PostgreSQL client tools (Debian: apt-get install {pkg}), or point --pg-bin-dir (COFFER_PG_BIN_DIR) at the directory that holds them"
    )
}

/// The major version of a `pg_dump --version` line as one comparable
/// number: 100 × major from PostgreSQL 10 on (1500 for 15), 100 × major +
/// minor before (906 for 9.6, whose major versions had two parts).
pub fn pg_major(version: &str) -> u32 {
    let n = process::version_numbers(version);
    match n.as_slice() {
        [] => 0,
        [a, ..] if *a >= 10 => a * 100,
        [a] => a * 100,
        [a, b, ..] => a * 100 + b,
    }
}

/// A [`pg_major`] number as PostgreSQL writes it (`15`, `9.6`).
fn show_major(m: u32) -> String {
    if m >= 1000 {
        (m / 100).to_string()
    } else {
        format!("{}.{}", m / 100, m % 100)
    }
}

fn kv(k: &str, v: &str) -> String {
    format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An SQL identifier, quoted.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The service name of [`service_file`].
const SERVICE: &str = "coffer";

/// A temporary service file (mode 0600) holding the URL's secret
/// parameters, or `None` when it has none. libpq takes a service file's
/// values verbatim up to the end of the line, less trailing white space,
/// so a value with a line break or trailing white space is refused rather
/// than changed; so is a URL that names a service of its own (its file
/// would be the one libpq reads).
fn service_file(url: &DbUrl) -> SourceResult<Option<tempfile::NamedTempFile>> {
    use std::io::Write;
    let secrets: Vec<&(String, String)> = url.secret_params().collect();
    if secrets.is_empty() {
        return Ok(None);
    }
    let names = || {
        secrets
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if url.param("service").is_some() {
        return Err(SourceError::Usage(format!(
            "{url}: a URL with service= cannot also carry {}: put {} into that service's entry in pg_service.conf",
            names(),
            names()
        )));
    }
    let mut text = format!("[{SERVICE}]\n");
    for (k, v) in &secrets {
        if v.contains(['\n', '\r']) || v.ends_with(char::is_whitespace) {
            return Err(SourceError::Usage(format!(
                "{url}: the value of {k} ends in white space or holds a line break, which libpq cannot read from a file: change it"
            )));
        }
        text.push_str(&format!("{k}={v}\n"));
    }
    // NamedTempFile makes the file with mode 0600.
    let mut f = tempfile::Builder::new()
        .prefix("coffer-pg-service-")
        .tempfile()
        .map_err(|e| SourceError::io("creating a temporary PostgreSQL service file", e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.flush())
        .map_err(|e| SourceError::io("writing a temporary PostgreSQL service file", e))?;
    Ok(Some(f))
}

/// An SQL string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A database name made safe as a file name.
pub(crate) fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect()
}

pub(crate) fn globs(patterns: &[String]) -> SourceResult<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        b.add(
            globset::Glob::new(p)
                .map_err(|e| SourceError::Usage(format!("database pattern `{p}`: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| SourceError::Usage(format!("database patterns: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors() {
        let v15 = pg_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)");
        let v96 = pg_major("pg_dump (PostgreSQL) 9.6.24");
        assert_eq!((v15, v96), (1500, 906));
        assert!(v96 < v15 && v15 < pg_major("pg_dump (PostgreSQL) 17devel"));
        assert_eq!(show_major(v15), "15");
        assert_eq!(show_major(v96), "9.6");
    }

    /// A Postgres for `url` without a server (for command lines).
    fn offline(url: &str) -> Postgres {
        let url = DbUrl::parse(url, SCHEMES, DEFAULT_PORT, "--postgres").unwrap();
        Postgres {
            service_file: service_file(&url).unwrap(),
            url,
            dirs: tool_dirs(&PgOptions::default()),
            psql: "psql".into(),
            server_version_num: 150000,
            server_version: "15.0".into(),
        }
    }

    #[test]
    fn issue14_no_secret_reaches_pg_dump_argv() {
        let pg = offline(
            "postgres://app:Pw0rd@db:5432/shop?sslmode=require&sslpassword=Key%20Pass&oauth_client_secret=0auth",
        );
        let c = pg.dump_command(Path::new("pg_dump"), "shop");
        let argv: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let all = argv.join(" ");
        for secret in ["Pw0rd", "Key Pass", "Key%20Pass", "0auth"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert!(all.contains("sslmode='require'"), "{all}");
        assert!(all.contains("service='coffer'"), "{all}");
        let envs: Vec<(String, String)> = c
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_string_lossy().into(), v?.to_string_lossy().into())))
            .collect();
        assert!(
            envs.contains(&("PGPASSWORD".into(), "Pw0rd".into())),
            "{envs:?}"
        );
        let file = pg.service_file.as_ref().unwrap().path();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            "[coffer]\nsslpassword=Key Pass\noauth_client_secret=0auth\n"
        );
        assert!(envs
            .iter()
            .any(|(k, v)| k == "PGSERVICEFILE" && Path::new(v) == file));
        // Without secret parameters there is no service file.
        let plain = offline("postgres://app@db/shop?sslmode=disable");
        assert!(plain.service_file.is_none());
        assert!(!plain.conninfo("shop").contains("service"));
    }

    #[test]
    fn issue14_secret_parameters_that_cannot_go_into_a_file_are_refused() {
        for bad in [
            "postgres://db/x?sslpassword=a&service=mine",
            "postgres://db/x?sslpassword=trailing%20",
            "postgres://db/x?sslpassword=two%0Alines",
        ] {
            let u = DbUrl::parse(bad, SCHEMES, DEFAULT_PORT, "--postgres").unwrap();
            let e = service_file(&u).unwrap_err();
            assert!(e.is_usage(), "{e}");
            let m = e.to_string();
            assert!(m.contains("sslpassword") && !m.contains("lines"), "{m}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(kv("password", r"a'b\c"), r"password='a\'b\\c'");
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
