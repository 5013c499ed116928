//! Redis sources end to end: an RDB taken over the network restores every
//! key (into a scratch redis-server), authentication and unreachable
//! servers.

use super::*;

/// A scratch redis-server, killed when dropped.
pub(super) struct ScratchRedis(std::process::Child, pub(super) u16);
impl Drop for ScratchRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn start_redis(dir: &Path) -> ScratchRedis {
    let port = free_port();
    let child = Command::new(tool("redis-server", "redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args([
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let r = ScratchRedis(child, port);
    let start = Instant::now();
    loop {
        let o = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "ping"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&o.stdout).trim() == "PONG" {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "scratch redis-server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn redis_set_binary(key: &str, value: &[u8]) {
    let mut c = Command::new(tool("redis-cli", "redis-tools"))
        .args(["-h", "127.0.0.1", "-p", "6379", "-x", "SET", key])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(value).unwrap();
    assert!(c.wait().unwrap().success());
}

/// Keys written by a test, removed when dropped.
struct RedisKeys(String);
impl Drop for RedisKeys {
    fn drop(&mut self) {
        let keys = redis_text(6379, &["--scan", "--pattern", &format!("{}*", self.0)]);
        for k in keys.lines() {
            let _ = Command::new("redis-cli").args(["del", k]).output();
        }
    }
}

fn redis_state(port: u16, p: &str) -> Vec<Vec<u8>> {
    vec![
        redis_cli(port, &["GET", &format!("{p}str")]),
        redis_cli(port, &["GET", &format!("{p}bin")]),
        redis_cli(port, &["GET", &format!("{p}big")]),
        redis_cli(port, &["HGETALL", &format!("{p}hash")]),
        redis_cli(port, &["LRANGE", &format!("{p}list"), "0", "-1"]),
        redis_cli(port, &["SORT", &format!("{p}set"), "ALPHA"]),
        redis_cli(
            port,
            &["ZRANGE", &format!("{p}zset"), "0", "-1", "WITHSCORES"],
        ),
    ]
}

#[test]
fn issue3_redis_rdb_over_the_network_restores_every_key() {
    tool("redis-server", "redis-server");
    let env = Env::new(Kind::Local, "redis");
    env.init();
    let keys = RedisKeys(format!("coffer-test:{}:", uniq("r")));
    let p = keys.0.clone();
    redis_text(6379, &["SET", &format!("{p}str"), "hello world"]);
    redis_set_binary(&format!("{p}bin"), b"\x00\x01\xff\r\n binary \x00");
    redis_set_binary(&format!("{p}big"), &noise(3, 3_000_000));
    redis_text(6379, &["HSET", &format!("{p}hash"), "a", "1", "b", "two"]);
    redis_text(6379, &["RPUSH", &format!("{p}list"), "x", "y", "z", "x"]);
    redis_text(6379, &["SADD", &format!("{p}set"), "m1", "m2", "m3"]);
    redis_text(
        6379,
        &["ZADD", &format!("{p}zset"), "1.5", "one", "2", "two"],
    );
    // A key in another logical database.
    redis_text(6379, &["-n", "3", "SET", &format!("{p}db3"), "in db 3"]);
    let want = redis_state(6379, &p);

    let v = backup_json(&env, &["--redis", REDIS]);
    redis_text(6379, &["-n", "3", "DEL", &format!("{p}db3")]);
    assert_eq!(v["source"]["kind"], "redis");
    let d = &v["source"]["details"];
    assert!(
        d["server_version"].as_str().unwrap().starts_with('7'),
        "{d}"
    );
    assert!(
        d["rdb_version"].as_str().unwrap().parse::<u32>().unwrap() >= 9,
        "{d}"
    );
    assert!(
        d["restore_needs"]
            .as_str()
            .unwrap()
            .contains("redis-server"),
        "{d}"
    );
    assert!(v["summary"]["total_bytes"].as_u64().unwrap() > 3_000_000);
    let id = v["id"].as_str().unwrap();

    let dir = env.path("redis-restore");
    env.ok(&["restore", id, "--redis-dir", dir.to_str().unwrap()]);
    assert!(dir.join("dump.rdb").is_file());
    // Not over an existing dump.rdb.
    let o = env.run(&["restore", id, "--redis-dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dump.rdb"), "{}", stderr(&o));

    let scratch = start_redis(&dir);
    assert_eq!(redis_state(scratch.1, &p), want);
    assert_eq!(
        redis_text(scratch.1, &["-n", "3", "GET", &format!("{p}db3")]),
        "in db 3"
    );
    assert_eq!(
        d["transfer"], "diskless",
        "the machine's Redis syncs diskless"
    );
    // The disk-based transfer (`$<len>` payload) from a server configured
    // for it: the scratch server, which holds the same keys.
    redis_text(scratch.1, &["CONFIG", "SET", "repl-diskless-sync", "no"]);
    let v2 = backup_json(
        &env,
        &["--redis", &format!("redis://127.0.0.1:{}", scratch.1)],
    );
    assert_eq!(v2["source"]["details"]["transfer"], "disk");
    let dir2 = env.path("redis-restore-2");
    env.ok(&[
        "restore",
        v2["id"].as_str().unwrap(),
        "--redis-dir",
        dir2.to_str().unwrap(),
    ]);
    drop(scratch);
    let scratch2 = start_redis(&dir2);
    assert_eq!(redis_state(scratch2.1, &p), want);
    drop(scratch2);
    env.ok(&["check", "--read-data"]);
}

/// An ACL user, deleted when dropped.
struct RedisUser(String);
impl Drop for RedisUser {
    fn drop(&mut self) {
        let _ = Command::new("redis-cli")
            .args(["ACL", "DELUSER", &self.0])
            .output();
    }
}

#[test]
fn issue3_redis_auth_wrong_password_and_unreachable() {
    let env = Env::new(Kind::Local, "redis-bad");
    env.init();
    let port = free_port();
    let o = env.run(&[
        "backup",
        "--redis",
        &format!("redis://:pw-Secret-6@127.0.0.1:{port}"),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[&format!("Redis at 127.0.0.1:{port}")],
        &["pw-Secret-6"],
    );
    let user = RedisUser(uniq("coffer-user"));
    assert_eq!(
        redis_text(
            6379,
            &[
                "ACL",
                "SETUSER",
                &user.0,
                "on",
                ">pw-Secret-7",
                "~*",
                "&*",
                "+@all"
            ]
        ),
        "OK"
    );
    let o = env.run(&[
        "backup",
        "--redis",
        &format!("redis://{}:pw-Wrong-8@127.0.0.1:6379", user.0),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["127.0.0.1:6379", "authentication failed"],
        &["pw-Wrong-8"],
    );
    let v = backup_json(
        &env,
        &[
            "--redis",
            &format!("redis://{}:pw-Secret-7@127.0.0.1:6379", user.0),
        ],
    );
    assert_eq!(v["source"]["details"]["user"], user.0.as_str());
    let shown = serde_json::to_string(&v).unwrap();
    assert!(!shown.contains("pw-Secret-7"), "{shown}");
}
