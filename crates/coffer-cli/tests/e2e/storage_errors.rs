//! Issue 16: storage errors say what is wrong and what to do, name the
//! vault and the endpoint, and never dump the library's text: a closed
//! port, a port that never answers (connect timeout), a wrong secret key,
//! no credentials at all, a bucket that does not exist, and a key that may
//! read the bucket but not write to it (Garage).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;

/// Library words a message must not carry.
const DUMPS: &[&str] = &[
    "Unexpected",
    "persistent",
    "reqsign",
    "reqwest",
    "context:",
    "PermissionDenied",
    "ConfigInvalid",
];

fn assert_clean(stderr: &str) {
    for d in DUMPS {
        assert!(!stderr.contains(d), "library text `{d}` in:\n{stderr}");
    }
}

/// Runs `cmd`, returning its output and how long it took.
fn timed(mut cmd: Command) -> (Output, Duration) {
    let t = Instant::now();
    let o = cmd.output().unwrap();
    (o, t.elapsed())
}

/// A command on vault `url` with dummy S3 credentials (nothing listens,
/// so they are never checked).
fn on_url(env: &Env, url: &str, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.env("COFFER_VAULT", url)
        .env("COFFER_PASSWORD", "pw")
        .env("AWS_ACCESS_KEY_ID", "GKdummy")
        .env("AWS_SECRET_ACCESS_KEY", "dummy")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("COFFER_CONNECT_TIMEOUT");
    c
}

#[test]
fn issue16_closed_port_is_connection_refused_quickly_with_retry_lines() {
    let port = free_port();
    let env = Env::new(Kind::Local, "refused");
    let url = format!("s3://b/p?endpoint=http://127.0.0.1:{port}");
    let (o, took) = timed(on_url(&env, &url, &["snapshots"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        took < Duration::from_secs(15),
        "a refused connection took {took:?}:\n{err}"
    );
    assert!(
        err.contains(&format!("connection refused at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("s3://b/p"), "the vault is not named:\n{err}");
    assert!(err.contains("check the endpoint URL"), "{err}");
    assert!(
        err.contains(&format!(
            "retrying HEAD config on vault s3://b/p (attempt 2 of 4): connection refused at 127.0.0.1:{port}"
        )),
        "no retry line:\n{err}"
    );
    assert!(err.contains("(attempt 4 of 4)"), "{err}");
    assert!(!err.contains("attempt 5"), "{err}");
    assert_clean(&err);
}

/// A port on 127.0.0.1 whose accept queue is full: the kernel drops new
/// SYNs, so a connection neither succeeds nor is refused, as behind a
/// firewall that drops packets. The listener and the connection that
/// fills its queue stay open while the result lives.
fn silent_port() -> (TcpListener, TcpStream, u16) {
    // SAFETY: plain socket calls on a descriptor this function owns; it
    // is handed to a TcpListener, which closes it.
    let listener = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let l = TcpListener::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let r = libc::bind(
            fd,
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        assert_eq!(
            libc::listen(fd, 0),
            0,
            "listen: {}",
            std::io::Error::last_os_error()
        );
        l
    };
    let addr: SocketAddr = listener.local_addr().unwrap();
    let first = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .expect("the first connection fills the accept queue");
    let second = TcpStream::connect_timeout(&addr, Duration::from_millis(500));
    assert!(
        second.is_err(),
        "a second connection to a listener with a full accept queue was accepted; \
         this kernel does not drop SYNs on a full queue, so the test cannot make a silent port"
    );
    (listener, first, addr.port())
}

#[test]
fn issue16_silent_port_times_out_after_the_configured_connect_timeout() {
    let (_listener, _first, port) = silent_port();
    let env = Env::new(Kind::Local, "timeout");
    let url = format!("s3://b/p?endpoint=http://127.0.0.1:{port}");
    let mut c = on_url(&env, &url, &["snapshots"]);
    c.env("COFFER_CONNECT_TIMEOUT", "1s");
    let (o, took) = timed(c);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "no connection to 127.0.0.1:{port} within 1s (connect timeout)"
        )),
        "{err}"
    );
    assert!(err.contains("COFFER_CONNECT_TIMEOUT"), "{err}");
    // Two attempts of 1 s and one wait of at most 0.75 s.
    assert!(err.contains("(attempt 2 of 2)"), "{err}");
    assert!(took >= Duration::from_secs(2), "{took:?}: {err}");
    assert!(took < Duration::from_secs(10), "{took:?}: {err}");
    assert_clean(&err);
}

/// The Garage of scripts/garage.sh: its binary and configuration.
struct Garage {
    bin: PathBuf,
    config: PathBuf,
}

impl Garage {
    fn get() -> Garage {
        // Fails with the harness's message when Garage is not running.
        let _ = s3_url("probe");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/garage.sh");
        let o = Command::new("bash")
            .arg(&script)
            .arg("path")
            .output()
            .unwrap();
        assert!(o.status.success(), "scripts/garage.sh path: {}", stderr(&o));
        let dir =
            std::env::var("COFFER_GARAGE_DIR").unwrap_or_else(|_| "/tmp/coffer-garage".into());
        Garage {
            bin: String::from_utf8(o.stdout).unwrap().trim().into(),
            config: Path::new(&dir).join("garage.toml"),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let o = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "garage {args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }
}

/// A Garage key allowed to read the test bucket only; deleted on drop.
struct ReadOnlyKey<'a> {
    garage: &'a Garage,
    name: String,
    id: String,
    secret: String,
}

impl<'a> ReadOnlyKey<'a> {
    fn new(garage: &'a Garage) -> ReadOnlyKey<'a> {
        let name = format!("coffer-ro-{:08x}", rand::random::<u32>());
        let bucket = std::env::var("COFFER_TEST_S3_BUCKET").unwrap();
        garage.run(&["key", "create", &name]);
        garage.run(&["bucket", "allow", "--read", &bucket, "--key", &name]);
        ReadOnlyKey {
            id: garage.run(&["key", "info", "--key-id", &name]),
            secret: garage.run(&["key", "info", "--secret-key", &name]),
            garage,
            name,
        }
    }
}

impl Drop for ReadOnlyKey<'_> {
    fn drop(&mut self) {
        let _ = Command::new(&self.garage.bin)
            .arg("-c")
            .arg(&self.garage.config)
            .args(["key", "delete", "--yes", &self.name])
            .output();
    }
}

#[test]
fn issue16_garage_wrong_secret_no_credentials_and_missing_bucket() {
    let env = Env::new(Kind::S3, "storerr");
    // A wrong secret key: the signature does not match.
    let o = env
        .cmd(&["snapshots"])
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("rejected the credentials"), "{err}");
    assert!(err.contains("signature does not match"), "{err}");
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    assert!(err.contains(&env.vault), "the vault is not named:\n{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    assert!(
        !err.contains("retrying"),
        "credentials are not retried:\n{err}"
    );
    assert_clean(&err);

    // No credentials at all: none in the environment, no profile.
    let home = env.path("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut c = env.cmd(&["snapshots"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") && k != "AWS_ENDPOINT_URL" && k != "AWS_REGION" {
            c.env_remove(k);
        }
    }
    c.env("HOME", &home);
    let (o, took) = timed(c);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no S3 credentials"), "{err}");
    assert!(
        err.contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(err.contains(&env.vault), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_clean(&err);

    // A bucket that does not exist: `init` and `snapshots` say so.
    let bucket = format!("coffer-missing-{:08x}", rand::random::<u32>());
    for args in [&["init"][..], &["snapshots"][..]] {
        let o = env
            .cmd(args)
            .env("COFFER_VAULT", format!("s3://{bucket}/p"))
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("bucket {bucket} not found at 127.0.0.1:")),
            "{args:?}: {err}"
        );
        assert!(err.contains("create the bucket"), "{err}");
        assert!(err.contains(&format!("s3://{bucket}/p")), "{err}");
        assert_clean(&err);
    }
}

#[test]
fn issue16_garage_read_only_key_is_denied_put_and_may_read() {
    let garage = Garage::get();
    let key = ReadOnlyKey::new(&garage);
    let env = Env::new(Kind::S3, "storerr-ro");
    env.init();
    let src = env.path("src");
    write(&src.join("a.txt"), b"read only\n");
    let ro = |args: &[&str]| {
        env.cmd(args)
            .env("AWS_ACCESS_KEY_ID", &key.id)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret)
            .output()
            .unwrap()
    };
    // Reading is allowed.
    let o = ro(&["snapshots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Writing is not: the message names the operation, the key and the
    // permission, and nothing is retried.
    let o = ro(&["backup", src.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let bucket = std::env::var("COFFER_TEST_S3_BUCKET").unwrap();
    assert!(
        err.contains(&format!("access denied to PUT s3://{bucket}/")),
        "{err}"
    );
    assert!(err.contains("s3:PutObject"), "{err}");
    assert!(err.contains(&env.vault), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert_clean(&err);
    assert!(!err.contains(&key.secret), "{err}");
}
