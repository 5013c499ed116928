//! Issue 7: faults at the storage layer, for real. A fault-injecting TCP
//! proxy in front of Garage drops connections, answers `503 SlowDown`,
//! delays responses and cuts responses mid-body, on a share of the
//! connections coffer opens. Backups, restores, copies and prune through
//! it either succeed or fail with an error naming the vault, and
//! `check --read-data` (straight to Garage) passes after every round.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the proxy did to connections, by fault.
#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    dropped: AtomicU64,
    slow_down: AtomicU64,
    delayed: AtomicU64,
    cut: AtomicU64,
}

struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A small deterministic generator (xorshift), seeded per connection.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Copies `from` to `to` until EOF, or until `limit` bytes when given
/// (then both are shut down: a response cut mid-body).
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<u64>) {
    let mut buf = [0u8; 16 << 10];
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = match limit {
            Some(l) if sent + n as u64 >= l => (l - sent) as usize,
            _ => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if limit.is_some_and(|l| sent >= l) {
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Starts a proxy to `upstream` (`host:port`) that faults about
/// `percent`% of connections (a quarter of those each way).
fn start_proxy(upstream: String, percent: u64, seed: u64) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let (stop2, counts2) = (stop.clone(), counts.clone());
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            if stop2.load(Ordering::SeqCst) {
                return;
            }
            let Ok(client) = conn else { continue };
            counts2.connections.fetch_add(1, Ordering::Relaxed);
            let mut r = seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let roll = next(&mut r) % 100;
            let cut = 1 + next(&mut r) % (64 << 10);
            let counts = counts2.clone();
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let fault = if roll < percent {
                    roll * 4 / percent.max(1)
                } else {
                    4
                };
                match fault {
                    0 => {
                        counts.dropped.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                    }
                    1 => {
                        counts.slow_down.fetch_add(1, Ordering::Relaxed);
                        let mut c = client;
                        let mut head = [0u8; 4096];
                        let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                        let _ = c.read(&mut head);
                        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                                    <Message>Please reduce your request rate.</Message></Error>";
                        let _ = write!(
                            c,
                            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = c.shutdown(Shutdown::Both);
                    }
                    _ => {
                        let Ok(up) = TcpStream::connect(&upstream) else {
                            return;
                        };
                        let limit = if fault == 3 {
                            counts.cut.fetch_add(1, Ordering::Relaxed);
                            Some(cut)
                        } else {
                            None
                        };
                        if fault == 2 {
                            counts.delayed.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        let (c2, u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                        let t = std::thread::spawn(move || pump(c2, u2, None));
                        pump(up, client, limit);
                        let _ = t.join();
                    }
                }
            });
        }
    });
    Proxy { port, stop, counts }
}

/// `coffer ARGS` on `env`'s vault, through the proxy.
fn via(env: &Env, proxy: &Proxy, args: &[&str]) -> std::process::Output {
    env.cmd(args)
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", proxy.port),
        )
        .output()
        .unwrap()
}

/// Succeeded, or failed cleanly: exit 1 with an error naming the vault.
fn ok_or_clean_failure(env: &Env, what: &str, o: &std::process::Output) -> bool {
    match o.status.code() {
        Some(0) => true,
        Some(1) => {
            let e = stderr(o);
            assert!(
                e.contains(&env.vault) || e.contains("s3://"),
                "{what} failed without naming the store: {e}"
            );
            false
        }
        c => panic!("{what}: exit {c:?}: {}", stderr(o)),
    }
}

#[test]
fn issue7_backup_restore_copy_and_prune_through_a_faulty_proxy() {
    let env = Env::new(Kind::S3, "fault-proxy");
    env.init();
    let upstream = std::env::var("AWS_ENDPOINT_URL")
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let proxy = start_proxy(upstream, 40, 0x00c0_ffee);
    let dst = Env::new(Kind::Local, "fault-proxy-dst");
    dst.init();

    let mut backed_up = Vec::new();
    for round in 0..4u64 {
        let dir = env.path(&format!("r{round}"));
        for i in 0..4u64 {
            write(&dir.join(format!("f{i}")), &noise(round * 10 + i, 700_000));
        }
        let o = via(&env, &proxy, &["--json", "backup", dir.to_str().unwrap()]);
        if ok_or_clean_failure(&env, "backup", &o) {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            backed_up.push((v["id"].as_str().unwrap().to_string(), dir.clone()));
        }
        // Restore the newest snapshot through the proxy.
        if let Some((id, src)) = backed_up.last() {
            let target = env.path(&format!("restore{round}"));
            let o = via(
                &env,
                &proxy,
                &["restore", id, "--target", target.to_str().unwrap()],
            );
            if ok_or_clean_failure(&env, "restore", &o) {
                let got = target.join(src.strip_prefix("/").unwrap());
                for i in 0..4u64 {
                    assert_eq!(
                        std::fs::read(got.join(format!("f{i}"))).unwrap(),
                        noise(round * 10 + i, 700_000),
                        "restored file differs"
                    );
                }
            }
        }
        // Copy everything to a local vault through the proxy.
        let o = via(
            &env,
            &proxy,
            &[
                "copy",
                "--all",
                "--to",
                &dst.vault,
                "--to-key-file",
                dst.key.to_str().unwrap(),
            ],
        );
        ok_or_clean_failure(&env, "copy", &o);
        if round == 2 {
            // Forget the first snapshot (straight to Garage) and prune
            // through the proxy.
            if let Some((id, _)) = backed_up.first() {
                let o = env.run(&["forget", id]);
                assert!(o.status.success(), "forget: {}", stderr(&o));
                backed_up.remove(0);
            }
            let o = via(&env, &proxy, &["prune"]);
            ok_or_clean_failure(&env, "prune", &o);
        }
        // Whatever happened, the vault is sound.
        let o = env.run(&["check", "--read-data"]);
        assert!(
            o.status.success(),
            "check --read-data after round {round}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    }
    let c = &proxy.counts;
    let faults = c.dropped.load(Ordering::Relaxed)
        + c.slow_down.load(Ordering::Relaxed)
        + c.delayed.load(Ordering::Relaxed)
        + c.cut.load(Ordering::Relaxed);
    eprintln!(
        "proxy: {} connections, {} dropped, {} SlowDown, {} delayed, {} cut; {} snapshots kept",
        c.connections.load(Ordering::Relaxed),
        c.dropped.load(Ordering::Relaxed),
        c.slow_down.load(Ordering::Relaxed),
        c.delayed.load(Ordering::Relaxed),
        c.cut.load(Ordering::Relaxed),
        backed_up.len()
    );
    assert!(
        faults >= 4,
        "the proxy faulted only {faults} of {} connections",
        c.connections.load(Ordering::Relaxed)
    );
    assert!(!backed_up.is_empty(), "no backup got through the proxy");
    // The destination is sound too, and what reached it restores.
    let o = dst.run(&["check", "--read-data"]);
    assert!(o.status.success(), "check of the copy: {}", stderr(&o));
    // Every snapshot still in the vault restores exactly, straight from Garage.
    for (id, src) in &backed_up {
        let target = env.path(&format!("final-{id}"));
        env.restore(id, &target);
        let got = target.join(src.strip_prefix("/").unwrap());
        for i in 0..4u64 {
            let round: u64 = src.file_name().unwrap().to_string_lossy()[1..]
                .parse()
                .unwrap();
            assert_eq!(
                std::fs::read(got.join(format!("f{i}"))).unwrap(),
                noise(round * 10 + i, 700_000)
            );
        }
    }
}
