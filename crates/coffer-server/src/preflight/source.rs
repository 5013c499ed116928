//! A source tried as its backup would start: its password read, its server
//! connected to, its client tool found and not older than the server
//! (through coffer-sources' own connect and tool lookups); a files
//! source's paths read.

use crate::config::SourceConfig;
use crate::runner;
use coffer_sources::dburl::DbUrl;
use coffer_sources::mysql::{self, Mysql, MysqlOptions};
use coffer_sources::postgres::{self, PgOptions, Postgres};
use coffer_sources::redis::{self, Redis};
use coffer_sources::spec::SourceSpec;
use coffer_sources::{SourceError, SourceResult};
use std::path::Path;

/// Checks one source; `Ok` says what was found.
pub(super) fn check(source: &SourceConfig) -> Result<String, String> {
    // The password (password_env / password_file) goes into the URL here,
    // as for a backup; it is never printed.
    let spec = runner::with_password(source).map_err(|e| e.message)?;
    spec.validate().map_err(|e| e.to_string())?;
    probe(&spec).map_err(|e| e.to_string())
}

fn probe(spec: &SourceSpec) -> SourceResult<String> {
    match spec {
        SourceSpec::Files {
            paths,
            exclude_files,
            ..
        } => {
            for p in paths.iter().chain(exclude_files) {
                readable(p)?;
            }
            Ok(format!(
                "{} readable",
                coffer_core::human_count(paths.len() as u64, "path")
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
            let url = DbUrl::parse(url, postgres::SCHEMES, postgres::DEFAULT_PORT, "url")?;
            let opts = PgOptions {
                bin_dir: bin_dir.clone(),
            };
            // The URL's database, so that a missing one fails here.
            let pg = Postgres::connect(&url, &opts, None)?;
            let mut found = vec![format!("PostgreSQL {}", pg.short_version())];
            if *all_databases {
                let dbs = pg.databases(include_databases, exclude_databases)?;
                if dbs.is_empty() {
                    return Err(SourceError::Mismatch(format!(
                        "no database on {} matches the include/exclude globs",
                        url.host_port()
                    )));
                }
                found.push(format!("{} databases", dbs.len()));
            }
            found.push(pg_tool(&pg, &url, "pg_dump")?);
            if *globals {
                found.push(pg_tool(&pg, &url, "pg_dumpall")?);
            }
            Ok(found.join(", "))
        }
        SourceSpec::PostgresBase {
            url,
            bin_dir,
            files,
        } => {
            let url = DbUrl::parse(url, postgres::SCHEMES, postgres::DEFAULT_PORT, "url")?;
            let opts = PgOptions {
                bin_dir: bin_dir.clone(),
            };
            let pg = Postgres::connect(&url, &opts, None)?;
            if let Some(f) = files {
                return super::pg_files::probe(&pg, &opts, f);
            }
            let db = url.database.as_deref().unwrap_or(postgres::MAINTENANCE_DB);
            let may = pg.query(
                db,
                "select rolreplication or rolsuper from pg_roles where rolname = current_user",
            )?;
            if may.trim() != "t" {
                return Err(SourceError::Mismatch(format!(
                    "the user of {} may not stream a base backup: grant it REPLICATION (ALTER ROLE … REPLICATION)",
                    url.location(None)
                )));
            }
            let tool = pg_tool(&pg, &url, "pg_basebackup")?;
            Ok(format!(
                "PostgreSQL {}, REPLICATION granted, {tool}",
                pg.short_version()
            ))
        }
        SourceSpec::Mysql { url, bin_dir } => {
            let url = DbUrl::parse(url, mysql::SCHEMES, mysql::DEFAULT_PORT, "url")?;
            let opts = MysqlOptions {
                bin_dir: bin_dir.clone(),
            };
            let m = Mysql::connect(&url, &opts, url.database.as_deref())?;
            let (path, version) = m.dump_tool()?;
            // `mariadb-dump Ver 10.19 Distrib 10.11.19-MariaDB`: the
            // distribution's version is the one compared with the server's.
            let (product, (major, minor)) = mysql::product_version(&version);
            Ok(format!(
                "{}, {}",
                m.server_version,
                tool(&path, &format!("{product} {major}.{minor}"))
            ))
        }
        SourceSpec::Redis { url } => {
            let url = DbUrl::parse(url, redis::SCHEMES, redis::DEFAULT_PORT, "url")?;
            let r = Redis::connect(&url)?;
            Ok(format!("Redis {}", r.server_version))
        }
        SourceSpec::Command { .. } => Ok("not run (a command runs only in a backup)".into()),
    }
}

/// The PostgreSQL client tool `name` a backup of this server would use.
fn pg_tool(pg: &Postgres, url: &DbUrl, name: &str) -> SourceResult<String> {
    let needed_for = format!(
        "the PostgreSQL {} server at {}",
        pg.short_version(),
        url.host_port()
    );
    let (path, version) = pg.tool(name, pg.server_major(), &needed_for)?;
    let numbers: Vec<String> = coffer_sources::process::version_numbers(&version)
        .iter()
        .map(|n| n.to_string())
        .collect();
    Ok(tool(&path, &numbers.join(".")))
}

/// `pg_dump 15.20 (/usr/bin/pg_dump)`.
fn tool(path: &Path, version: &str) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name} {version} ({})", path.display())
}

/// A path a files source reads: a directory that can be listed, or a file
/// that can be opened.
fn readable(p: &Path) -> SourceResult<()> {
    let what = || format!("cannot read {}", p.display());
    let m = std::fs::metadata(p).map_err(|e| SourceError::io(what(), e))?;
    if m.is_dir() {
        std::fs::read_dir(p).map_err(|e| SourceError::io(what(), e))?;
    } else {
        std::fs::File::open(p).map_err(|e| SourceError::io(what(), e))?;
    }
    Ok(())
}
