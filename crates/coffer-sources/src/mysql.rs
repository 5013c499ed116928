//! MariaDB and MySQL: `mariadb-dump --single-transaction` (or `mysqldump`
//! where that is the tool installed) of one database or of all, restored
//! through the `mariadb` (or `mysql`) client.
//!
//! A dump of one database has no `CREATE DATABASE`/`USE` statements, so it
//! restores under any name; a dump of all databases recreates each under its
//! own name. Passwords go to the tools through `MYSQL_PWD`, never on a
//! command line.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use coffer_core::Archiver;

use crate::dburl::DbUrl;
use crate::error::{SourceError, SourceResult};
use crate::postgres::logical::file_safe;
use crate::process::{self, Checked, ToolDirs};
use crate::{stream, SourceOutput};

/// URL schemes accepted by `--mysql`.
pub const SCHEMES: &[&str] = &["mysql", "mariadb"];
/// The default port.
pub const DEFAULT_PORT: u16 = 3306;
/// Snapshot kind.
pub const KIND: &str = "mysql";
/// The file name of an all-databases dump.
pub const ALL_DATABASES: &str = "all-databases.sql";

const DUMP_TOOLS: &[&str] = &["mariadb-dump", "mysqldump"];
const CLIENTS: &[&str] = &["mariadb", "mysql"];

/// Where the client tools are.
#[derive(Debug, Clone, Default)]
pub struct MysqlOptions {
    /// Look for `mariadb-dump`, `mariadb` … only here (`--mysql-bin-dir`).
    pub bin_dir: Option<PathBuf>,
}

/// How to restore a dump.
#[derive(Debug, Clone, Default)]
pub struct MysqlRestoreOptions {
    /// Create the database first (fails if it exists, unless `clean`).
    pub create: bool,
    /// Drop the database first (with `create`).
    pub clean: bool,
}

/// A server that answered, with its version.
#[derive(Debug)]
pub struct Mysql {
    url: DbUrl,
    dirs: ToolDirs,
    client: PathBuf,
    /// `select version()`, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub server_version: String,
}

impl Mysql {
    /// Finds the client, connects (to `database` when given) and reads the
    /// server's version. Unreachable servers, refused credentials and missing
    /// databases fail here, naming host, port and database.
    pub fn connect(url: &DbUrl, opts: &MysqlOptions, database: Option<&str>) -> SourceResult<Self> {
        let dirs = ToolDirs {
            only: opts.bin_dir.clone(),
            option: "--mysql-bin-dir".into(),
            extra: Vec::new(),
        };
        let client = dirs.find(CLIENTS, HINT)?;
        let mut m = Mysql {
            url: url.clone(),
            dirs,
            client,
            server_version: String::new(),
        };
        let out = m
            .query(database, "select version()")
            .map_err(|e| m.connect_error(database, e))?;
        m.server_version = out.trim().to_string();
        Ok(m)
    }

    fn connect_error(&self, db: Option<&str>, e: SourceError) -> SourceError {
        match e {
            SourceError::Process { detail, .. } => SourceError::Connect {
                target: format!("MySQL/MariaDB at {}", self.url.describe(db)),
                detail: detail.trim_start_matches(": ").to_string(),
            },
            other => other,
        }
    }

    fn command(&self, tool: &std::path::Path) -> Command {
        let mut c = Command::new(tool);
        if self.url.host.starts_with('/') {
            c.arg(format!("--socket={}", self.url.host));
        } else {
            c.arg(format!("--host={}", self.url.host))
                .arg(format!("--port={}", self.url.port))
                .arg("--protocol=TCP");
        }
        if let Some(u) = &self.url.user {
            c.arg(format!("--user={u}"));
        }
        if let Some(p) = &self.url.password {
            c.env("MYSQL_PWD", p);
        }
        c
    }

    fn secret(&self) -> Option<&str> {
        self.url.password.as_deref()
    }

    /// Runs SQL through the client (in `db` when given); returns its batch
    /// output without column names (columns separated by tabs).
    pub fn query(&self, db: Option<&str>, sql: &str) -> SourceResult<String> {
        let mut c = self.command(&self.client);
        c.args(["--batch", "--skip-column-names", "--connect-timeout=15"]);
        if let Some(d) = db {
            c.arg(format!("--database={d}"));
        }
        c.arg("-e").arg(sql);
        process::output(
            c,
            format!("{} on {}", tool_name(&self.client), self.url.location(db)),
            self.secret(),
        )
    }

    /// Drops database `db` if it exists.
    pub fn drop_database(&self, db: &str) -> SourceResult<()> {
        self.query(
            None,
            &format!("drop database if exists {}", quote_ident(db)),
        )
        .map_err(|e| self.connect_error(None, e))?;
        Ok(())
    }

    /// Checks every table of `db` with `mariadb-check --check` (or
    /// `mysqlcheck`): [`Checked::Unavailable`] with the reason when neither
    /// is installed; else its report, one `db.table  OK` line per sound
    /// table and `error : …` lines under a damaged one (see
    /// [`check_errors`]).
    pub fn check_tables(&self, db: &str) -> SourceResult<Checked> {
        let tool = match self.dirs.find(CHECK_TOOLS, HINT) {
            Ok(t) => t,
            Err(e @ SourceError::ToolMissing { .. }) => {
                return Ok(Checked::Unavailable(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let mut c = self.command(&tool);
        c.args(["--check", "--databases", db]);
        process::output(
            c,
            format!("{} of {}", tool_name(&tool), self.url.location(Some(db))),
            self.secret(),
        )
        .map(Checked::Ran)
    }

    /// The dump tool: the first `mariadb-dump` or `mysqldump` not older
    /// than the server (same product; versions of MySQL and MariaDB are not
    /// compared).
    pub fn dump_tool(&self) -> SourceResult<(PathBuf, String)> {
        let found = self.dirs.find_all(DUMP_TOOLS);
        if found.is_empty() {
            return Err(SourceError::ToolMissing {
                tool: DUMP_TOOLS.join(" or "),
                searched: self.dirs.searched(),
                hint: HINT.into(),
            });
        }
        let server = product_version(&self.server_version);
        let mut too_old = None;
        for p in found {
            let v = process::tool_version(&p)?;
            let tool = product_version(&v);
            if tool.0 == server.0 && tool.1 < server.1 {
                if too_old.is_none() {
                    too_old = Some((p, v, tool));
                }
                continue;
            }
            return Ok((p, v));
        }
        let (path, _, tool) = too_old.expect("found is not empty");
        let need = format!("{}.{}", server.1 .0, server.1 .1);
        Err(SourceError::ToolTooOld {
            tool: tool_name(&path),
            found: format!("{}.{}", tool.1 .0, tool.1 .1),
            path,
            needed_for: format!(
                "the {} server at {}",
                self.server_version,
                self.url.host_port()
            ),
            hint: format!(
                "a dump tool of {} {need} or newer is needed; install its client package, or point --mysql-bin-dir (COFFER_MYSQL_BIN_DIR) at the directory that holds it",
                server.0
            ),
        })
    }

    /// The dump tool's command line for `db` (all databases without one)
    /// and the stream's name. No secret is in it: the password goes
    /// through `MYSQL_PWD`.
    fn dump_command(&self, tool: &std::path::Path, db: Option<&str>) -> (Command, String) {
        let mut c = self.command(tool);
        c.args([
            "--single-transaction",
            "--quick",
            "--routines",
            "--events",
            "--triggers",
            "--hex-blob",
            "--skip-dump-date",
            "--default-character-set=utf8mb4",
        ]);
        let name = match db {
            Some(d) => {
                c.arg("--").arg(d);
                format!("{}.sql", file_safe(d))
            }
            None => {
                c.arg("--all-databases");
                ALL_DATABASES.to_string()
            }
        };
        (c, name)
    }

    /// Streams a dump of the URL's database (or of all databases when it
    /// names none) into the vault.
    pub fn backup(&self, archiver: &Archiver) -> SourceResult<SourceOutput> {
        let (tool, version) = self.dump_tool()?;
        let db = self.url.database.as_deref();
        let (c, name) = self.dump_command(&tool, db);
        let content = process::stdout_to_vault(
            archiver,
            c,
            format!("{} of {}", tool_name(&tool), self.url.location(db)),
            self.secret(),
            &name,
        )?;
        let mut d = BTreeMap::new();
        d.insert("host".into(), self.url.host.clone());
        d.insert("port".into(), self.url.port.to_string());
        d.insert("database".into(), db.unwrap_or("").to_string());
        d.insert(
            "scope".into(),
            if db.is_some() {
                "database"
            } else {
                "all-databases"
            }
            .into(),
        );
        if let Some(u) = &self.url.user {
            d.insert("user".into(), u.clone());
        }
        d.insert("server_version".into(), self.server_version.clone());
        d.insert("dump_tool".into(), version);
        d.insert(
            "format".into(),
            "SQL (mariadb-dump --single-transaction)".into(),
        );
        let (product, (maj, min)) = product_version(&self.server_version);
        d.insert(
            "restore_needs".into(),
            format!("the mariadb or mysql client and a {product} {maj}.{min} or newer server"),
        );
        let mut out = stream::one_file(archiver, content, &name, KIND, d)?;
        out.paths = vec![self.url.location(db)];
        Ok(out)
    }

    /// Restores a dump. `dumped_db` is the snapshot's database (`None` for
    /// an all-databases dump, which must be restored with a URL without a
    /// database).
    pub fn restore<R: Read>(
        &self,
        reader: R,
        dumped_db: Option<&str>,
        opts: &MysqlRestoreOptions,
    ) -> SourceResult<()> {
        let target = self.url.database.as_deref();
        match (dumped_db, target) {
            (None, Some(t)) => {
                return Err(SourceError::Mismatch(format!(
                    "the snapshot holds all databases, each restored under its own name: give a URL without a database (not /{t})"
                )))
            }
            (Some(d), None) => {
                return Err(SourceError::Usage(format!(
                    "--mysql {}: name the database to restore {d} into (mysql://host:port/newdb)",
                    self.url
                )))
            }
            _ => {}
        }
        if let Some(db) = target {
            let exists = self
                .query(
                    None,
                    &format!(
                        "select count(*) from information_schema.schemata where schema_name = {}",
                        crate::postgres::logical::quote_literal(db)
                    ),
                )
                .map_err(|e| self.connect_error(None, e))?
                .trim()
                != "0";
            if opts.create {
                if exists && !opts.clean {
                    return Err(SourceError::Mismatch(format!(
                        "database {db} already exists on {}: restore into a new name, or add --clean to drop it first",
                        self.url.host_port()
                    )));
                }
                let mut sql = String::new();
                if opts.clean {
                    sql.push_str(&format!("drop database if exists {}; ", quote_ident(db)));
                }
                sql.push_str(&format!("create database {}", quote_ident(db)));
                self.query(None, &sql)
                    .map_err(|e| self.connect_error(None, e))?;
            } else if !exists {
                return Err(SourceError::Connect {
                    target: format!("MySQL/MariaDB at {}", self.url.describe(Some(db))),
                    detail: format!("database {db} does not exist: add --create to create it"),
                });
            }
        }
        let mut c = self.command(&self.client);
        c.arg("--batch");
        if let Some(db) = target {
            c.arg(format!("--database={db}"));
        }
        c.stdout(Stdio::null());
        process::stdin_from(
            c,
            reader,
            format!(
                "{} into {}",
                tool_name(&self.client),
                self.url.location(target)
            ),
            self.secret(),
        )?;
        Ok(())
    }
}

/// The lines of a [`Mysql::check_tables`] report that say a table is
/// damaged (`error    : …`), each after the table it is about.
pub fn check_errors(report: &str) -> Vec<String> {
    let mut table = "";
    let mut out = Vec::new();
    for line in report.lines() {
        let t = line.trim();
        match t.split_once(':') {
            Some((level, what)) if level.trim().eq_ignore_ascii_case("error") => {
                out.push(format!("{table}: {}", what.trim()));
            }
            Some((level, _))
                if ["warning", "note", "status", "info"]
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(level.trim())) => {}
            _ => table = t.split_whitespace().next().unwrap_or(""),
        }
    }
    out
}

const CHECK_TOOLS: &[&str] = &["mariadb-check", "mysqlcheck"];

const HINT: &str = "install the MariaDB client (Debian: apt-get install mariadb-client), or point --mysql-bin-dir (COFFER_MYSQL_BIN_DIR) at the directory that holds it";

fn tool_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The product (`MariaDB` or `MySQL`) and (major, minor) of a server
/// version or a tool's `--version` line.
pub fn product_version(text: &str) -> (&'static str, (u32, u32)) {
    let product = if text.contains("MariaDB") {
        "MariaDB"
    } else {
        "MySQL"
    };
    // `mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB`: the client
    // protocol version comes first, the release after `Distrib`.
    let rel = text
        .split_once("Distrib ")
        .or_else(|| text.split_once(" from "))
        .map(|(_, r)| r)
        .unwrap_or(text);
    let n = process::version_numbers(rel);
    (
        product,
        (
            n.first().copied().unwrap_or(0),
            n.get(1).copied().unwrap_or(0),
        ),
    )
}

fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue14_no_secret_reaches_the_dump_tools_argv() {
        let url = DbUrl::parse(
            "mysql://root:My5ecret@db:3306/shop?password_extra=x&ssl-key-password=K3y",
            SCHEMES,
            DEFAULT_PORT,
            "--mysql",
        )
        .unwrap();
        let m = Mysql {
            url,
            dirs: ToolDirs {
                only: None,
                option: "--mysql-bin-dir".into(),
                extra: Vec::new(),
            },
            client: "mariadb".into(),
            server_version: "10.11.0-MariaDB".into(),
        };
        let (c, name) = m.dump_command(std::path::Path::new("mariadb-dump"), Some("shop"));
        assert_eq!(name, "shop.sql");
        let all: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let all = all.join(" ");
        for secret in ["My5ecret", "K3y"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert!(
            all.contains("--user=root") && all.contains("--host=db"),
            "{all}"
        );
        let pwd = c
            .get_envs()
            .find(|(k, _)| *k == "MYSQL_PWD")
            .and_then(|(_, v)| v);
        assert_eq!(pwd, Some(std::ffi::OsStr::new("My5ecret")));
        let shown = format!("{} {:?}", m.url, m.url);
        assert!(
            !shown.contains("My5ecret") && !shown.contains("K3y"),
            "{shown}"
        );
    }

    #[test]
    fn check_reports_name_the_damaged_tables() {
        let report = "shop.items                                         OK\n\
                      shop.orders\n\
                      Warning  : InnoDB: Index 'PRIMARY' is marked as corrupted\n\
                      error    : Corrupt\n\
                      shop.notes\n\
                      note     : The storage engine for the table doesn't support check\n";
        assert_eq!(check_errors(report), ["shop.orders: Corrupt"]);
        assert!(check_errors("a.b    OK\n").is_empty());
    }

    #[test]
    fn versions() {
        assert_eq!(
            product_version(
                "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"
            ),
            ("MariaDB", (10, 11))
        );
        assert_eq!(
            product_version("mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux"),
            ("MariaDB", (11, 4))
        );
        assert_eq!(
            product_version("10.11.19-MariaDB-0+deb12u1"),
            ("MariaDB", (10, 11))
        );
        assert_eq!(
            product_version(
                "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"
            ),
            ("MySQL", (8, 0))
        );
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
