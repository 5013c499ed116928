//! Restore tests of PostgreSQL snapshots: a dump restored into a scratch
//! database on `target_url` or the source's server (`pg_amcheck`, SKIPPED
//! when it is not installed; then the queries), and a base backup restored into a scratch
//! cluster recovered with the archived WAL to its newest point, on a free
//! loopback port (as the `postgres` user when run as root), then the
//! queries.

use super::context::{restore_into_db, Ctx};
use super::failure::failed;
use super::scratch::{free_port, scratch_name, wait_ready, ScratchDb, ScratchServer};
use super::validate::{run_queries, Run};
use crate::config::KeySource;
use crate::model::ServerResult;
use coffer_sources::dburl::DbUrl;
use coffer_sources::pg_physical::{
    self, PgdataOptions, RecoveryOptions, RecoveryTarget, WalSecret,
};
use coffer_sources::postgres::{self, PgOptions, PgRestoreOptions, Postgres};
use coffer_sources::process::Checked;
use coffer_sources::restore::Destination;
use coffer_sources::spec::SourceSpec;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub(super) fn test_pg_dump(c: &Ctx<'_>, t: &mut Run) -> ServerResult<()> {
    let bin_dir = match c.spec {
        SourceSpec::Postgres { bin_dir, .. } => bin_dir.clone(),
        _ => None,
    };
    let mut url = c.server_url(postgres::SCHEMES, postgres::DEFAULT_PORT)?;
    let db = scratch_name(&c.test.name);
    url.database = Some(db.clone());
    let pg = Postgres::connect(
        &url,
        &PgOptions {
            bin_dir: bin_dir.clone(),
        },
        Some(postgres::MAINTENANCE_DB),
    )
    .map_err(|e| failed(e.to_string()))?;
    let guard = ScratchDb {
        name: db.clone(),
        drop: Box::new(|n| pg.drop_database(n).map_err(|e| failed(e.to_string()))),
        done: false,
    };
    let destination = Destination::Postgres {
        url: url.clone(),
        tools: PgOptions {
            bin_dir: bin_dir.clone(),
        },
        options: PgRestoreOptions {
            create: true,
            clean: false,
            jobs: 1,
            temp_dir: None,
        },
    };
    restore_into_db(c, t, &db, &url.host_port(), destination)?;
    let start = Instant::now();
    match pg.amcheck(&db) {
        Ok(Checked::Unavailable(why)) => t.skip("pg_amcheck", format!("not run: {why}")),
        Ok(Checked::Ran(_)) => t.check("pg_amcheck", true, "no corruption found"),
        Err(e) => t.check("pg_amcheck", false, e.to_string()),
    }
    run_queries(t, c.test, '|', &|sql| {
        pg.query(&db, sql).map_err(|e| failed(e.to_string()))
    });
    t.validated(start);
    guard.close()
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The user a scratch PostgreSQL cluster runs as when we are root.
const PG_USER: &str = "postgres";

pub(super) fn test_pg_base(c: &Ctx<'_>, t: &mut Run) -> ServerResult<()> {
    let (url, bin_dir) = match c.spec {
        SourceSpec::PostgresBase { url, bin_dir, .. } => (url.clone(), bin_dir.clone()),
        _ => return Err(failed("the source is not a postgres-base source".into())),
    };
    let source_url = DbUrl::parse(&url, postgres::SCHEMES, postgres::DEFAULT_PORT, "url")
        .map_err(|e| failed(e.to_string()))?;
    let major = postgres::pg_major(&c.detail("server_version").unwrap_or_default());
    let opts = PgOptions { bin_dir };
    let postgres_bin =
        postgres::server_tool(&opts, "postgres", major).map_err(|e| failed(e.to_string()))?;
    let scratch = c.scratch_dir()?;
    let owner = if is_root() {
        let o = pg_physical::lookup_user(PG_USER).map_err(|_| {
            failed(format!("user {PG_USER} does not exist: a scratch cluster started by root runs as {PG_USER}"))
        })?;
        std::os::unix::fs::chown(scratch.path(), Some(o.0), Some(o.1)).map_err(|e| {
            failed(format!(
                "changing the owner of {}: {e}",
                scratch.path().display()
            ))
        })?;
        Some(o)
    } else {
        None
    };
    // The server's restore_command reads the vault with a copy of its
    // secret that the server's user can read, inside the scratch directory.
    let secret = copy_secret(c, scratch.path(), owner)?;
    let vault_url = c
        .config
        .vault(&c.test.vault)
        .map(|v| v.url.clone())
        .unwrap_or_default();
    let recovery = RecoveryOptions {
        coffer: std::env::current_exe()
            .map_err(|e| failed(format!("finding the path of the coffer executable: {e}")))?,
        vault: vault_url,
        secret,
        target: RecoveryTarget::Latest,
        inclusive: true,
        archive: false,
    };
    let data = scratch.path().join("data");
    let start = Instant::now();
    c.restore(
        Destination::Pgdata(PgdataOptions {
            dir: data.clone(),
            recovery,
            owner,
            comment: format!(
                "coffer restore test {} of base backup snapshot {}",
                c.test.name,
                c.id.short()
            ),
        }),
        &t.cancel,
    )
    .map_err(|e| {
        failed(format!(
            "restoring snapshot {} into {}: {e}",
            c.id.short(),
            data.display()
        ))
    })?;
    let port = free_port()?;
    let mut cmd = Command::new(&postgres_bin);
    cmd.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!(
            "unix_socket_directories={}",
            scratch.path().display()
        ))
        // Never archive the scratch cluster's WAL into the real vault.
        .args([
            "-c",
            "archive_mode=off",
            "-c",
            "fsync=off",
            "-c",
            "logging_collector=off",
        ])
        .current_dir(scratch.path());
    if let Some((uid, gid)) = owner {
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
        std::os::unix::process::CommandExt::gid(&mut cmd, gid);
    }
    let mut server = ScratchServer::start(
        cmd,
        format!("scratch PostgreSQL on 127.0.0.1:{port}"),
        scratch.path().join("server.log"),
        libc::SIGQUIT,
    )?;
    let mut conn = source_url.clone();
    conn.host = "127.0.0.1".into();
    conn.port = port;
    let db = source_url
        .database
        .clone()
        .unwrap_or_else(|| postgres::MAINTENANCE_DB.to_string());
    conn.database = Some(db.clone());
    let mut pg: Option<Postgres> = None;
    wait_ready(
        &mut server,
        &t.cancel,
        "the scratch cluster to finish recovery",
        || {
            if pg.is_none() {
                pg = Some(
                    Postgres::connect(&conn, &opts, Some(postgres::MAINTENANCE_DB))
                        .map_err(|e| failed(e.to_string()))?,
                );
            }
            let p = pg.as_ref().expect("connected");
            let r = p
                .query(postgres::MAINTENANCE_DB, "select pg_is_in_recovery()")
                .map_err(|e| failed(e.to_string()))?;
            Ok(r.trim() == "f")
        },
    )?;
    let pg = pg.expect("connected once ready");
    t.restored(
        start,
        format!("recovered to the newest archived WAL on 127.0.0.1:{port}"),
    );
    let start = Instant::now();
    run_queries(t, c.test, '|', &|sql| {
        pg.query(&db, sql).map_err(|e| failed(e.to_string()))
    });
    t.validated(start);
    drop(server);
    scratch
        .close()
        .map_err(|e| failed(format!("removing the scratch directory: {e}")))
}

/// Writes the vault's secret into `dir` (mode 0600, owned by `owner`).
fn copy_secret(c: &Ctx<'_>, dir: &Path, owner: Option<(u32, u32)>) -> ServerResult<WalSecret> {
    use std::os::unix::fs::OpenOptionsExt;
    let vc = c
        .config
        .vault(&c.test.vault)
        .ok_or_else(|| failed(format!("vault `{}` is not configured", c.test.vault)))?;
    let (bytes, key) = match &vc.key {
        KeySource::KeyFile(p) => (
            std::fs::read(p)
                .map_err(|e| failed(format!("reading key file {}: {e}", p.display())))?,
            true,
        ),
        KeySource::PasswordFile(p) => (
            std::fs::read(p)
                .map_err(|e| failed(format!("reading password file {}: {e}", p.display())))?,
            false,
        ),
        // Written with the one trailing newline that reading a password
        // file strips (keys::read_password_file), so a password that itself
        // ends in a newline survives the copy.
        KeySource::PasswordEnv(v) => (
            std::env::var(v)
                .map(|p| format!("{p}\n"))
                .map_err(|_| {
                    failed(format!(
                        "environment variable {v} (password_env) is not set"
                    ))
                })?
                .into_bytes(),
            false,
        ),
    };
    let path = dir.join(if key { "vault.key" } else { "vault.password" });
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| failed(format!("creating {}: {e}", path.display())))?;
    f.write_all(&bytes)
        .map_err(|e| failed(format!("writing {}: {e}", path.display())))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))
            .map_err(|e| failed(format!("changing the owner of {}: {e}", path.display())))?;
    }
    Ok(if key {
        WalSecret::KeyFile(path)
    } else {
        WalSecret::PasswordFile(path)
    })
}
