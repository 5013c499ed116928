//! Restore test of a Redis snapshot: its RDB loaded by a scratch
//! `redis-server` on a free loopback port, then `DBSIZE` against
//! `min_keys` and each of `keys` checked to exist (spoken to in RESP over
//! TCP, without a client library).

use super::context::Ctx;
use super::failure::failed;
use super::scratch::{free_port, wait_ready, ScratchServer};
use super::validate::Run;
use crate::model::ServerResult;
use coffer_sources::redis;
use coffer_sources::restore::Destination;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

fn redis_cmd(port: u16, args: &[&str]) -> ServerResult<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| failed(format!("connecting to 127.0.0.1:{port}: {e}")))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())
        .map_err(|e| failed(format!("writing to 127.0.0.1:{port}: {e}")))?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match s.read(&mut b) {
            Ok(1) => line.push(b[0]),
            Ok(_) => return Err(failed(format!("127.0.0.1:{port} closed the connection"))),
            Err(e) => return Err(failed(format!("reading from 127.0.0.1:{port}: {e}"))),
        }
    }
    let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
    match text.split_at(1.min(text.len())) {
        ("+", rest) | (":", rest) => Ok(rest.to_string()),
        ("-", rest) => Err(failed(rest.to_string())),
        _ => Err(failed(format!("unexpected answer `{text}`"))),
    }
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
