//! Restore test of a Redis snapshot: its RDB loaded by a scratch
//! `redis-server` on a free loopback port, then `DBSIZE` against
//! `min_keys` and each of `keys` checked to exist (through the Redis
//! source's own client).

use super::context::Ctx;
use super::failure::failed;
use super::scratch::{free_port, wait_ready, ScratchServer};
use super::validate::Run;
use crate::model::ServerResult;
use coffer_sources::redis;
use coffer_sources::restore::Destination;
use std::process::Command;
use std::time::Instant;

/// One command to the scratch server on `port`, through the same client
/// the Redis source uses.
fn redis_cmd(port: u16, args: &[&str]) -> ServerResult<String> {
    let url = coffer_sources::dburl::DbUrl::parse(
        &format!("redis://127.0.0.1:{port}"),
        redis::SCHEMES,
        redis::DEFAULT_PORT,
        "restore test",
    )
    .map_err(|e| failed(e.to_string()))?;
    let mut r = redis::Redis::connect(&url).map_err(|e| failed(e.to_string()))?;
    r.query(args).map_err(|e| failed(e.to_string()))
}

pub(super) fn test_redis(c: &Ctx<'_>, t: &mut Run) -> ServerResult<()> {
    let scratch = c.scratch_dir()?;
    let dir = scratch.path().join("data");
    let start = Instant::now();
    c.restore(Destination::RedisDir(dir.clone()), &t.cancel)
        .map_err(|e| {
            failed(format!(
                "restoring snapshot {} into {}: {e}",
                c.id.short(),
                dir.display()
            ))
        })?;
    let server_bin = coffer_sources::process::ToolDirs {
        only: None,
        option: "PATH".into(),
        extra: vec!["/usr/sbin".into(), "/usr/local/bin".into()],
    }
    .find(
        &["redis-server"],
        "install redis-server (Debian: apt-get install redis-server)",
    )
    .map_err(|e| failed(e.to_string()))?;
    let port = free_port()?;
    let mut cmd = Command::new(&server_bin);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(&dir)
        .args([
            "--dbfilename",
            redis::RDB_NAME,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]);
    let mut server = ScratchServer::start(
        cmd,
        format!("redis-server on 127.0.0.1:{port}"),
        scratch.path().join("redis.log"),
        libc::SIGTERM,
    )?;
    wait_ready(
        &mut server,
        &t.cancel,
        "redis-server to load the RDB",
        || redis_cmd(port, &["PING"]).map(|r| r == "PONG"),
    )?;
    t.restored(
        start,
        format!(
            "{} loaded by redis-server on 127.0.0.1:{port}",
            redis::RDB_NAME
        ),
    );
    let start = Instant::now();
    let n: u64 = redis_cmd(port, &["DBSIZE"])?
        .parse()
        .map_err(|_| failed("DBSIZE did not answer a number".to_string()))?;
    match c.test.min_keys {
        Some(m) => t.check(
            "DBSIZE",
            n >= m,
            format!("{n} keys (at least {m} expected)"),
        ),
        None => t.check("DBSIZE", true, format!("{n} keys")),
    }
    for k in &c.test.keys {
        match redis_cmd(port, &["EXISTS", k]) {
            Ok(r) if r == "1" => t.check(format!("key {k}"), true, "exists"),
            Ok(_) => t.check(format!("key {k}"), false, "missing"),
            Err(e) => t.check(format!("key {k}"), false, e.message),
        }
    }
    t.validated(start);
    drop(server);
    scratch
        .close()
        .map_err(|e| failed(format!("removing the scratch directory: {e}")))
}
