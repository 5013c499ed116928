//! Issue 6, web dashboard: the real `coffer serve` with two sources (a
//! directory that backs up, a PostgreSQL source on a closed port that
//! fails), driven in headless Chromium through chromedriver (W3C
//! WebDriver, spoken here over plain HTTP): a wrong token is refused with
//! the API's message, an operator logs in, sees both sources in their
//! colours, starts a backup of each rule and sees the jobs end (COMPLETED
//! and FAILED) and the sources turn OK and VIOLATED, browses the new
//! snapshot's files, and reads the job charts and the compliance report. Screenshots land in
//! target/dashboard-screenshots/.

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        b = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One HTTP/1.1 request; returns the status and the body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver keeps the connection open: read the head, then
    // Content-Length bytes (or chunks up to the last one).
    let mut resp = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(
            n > 0,
            "{method} {path}: the connection closed before the answer's head"
        );
        resp.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&resp[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|l| l.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let have = resp.len() - head_end;
        let done = match length {
            Some(n) => have >= n,
            None if chunked => resp.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = String::from_utf8_lossy(&resp[head_end..]).into_owned();
    let body = if chunked { dechunk(&body) } else { body };
    (status, body)
}

/// A chromedriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    shots: PathBuf,
}

impl Browser {
    fn start(shots: PathBuf) -> Browser {
        for (bin, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the dashboard test drives headless Chromium; install the Debian packages \
                 `chromium` and `chromium-driver` (apt-get install chromium chromium-driver; package `{pkg}`)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        wait_until("chromedriver to listen", 30, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"],
            },
        }}});
        let (code, body) = http(port, "POST", "/session", Some(&caps));
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start Chromium ({code}): {body}"))
            .to_string();
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            driver,
            port,
            session,
            shots,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (code, text) = http(self.port, method, &path, body.as_ref());
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert_eq!(code, 200, "WebDriver {method} {path}: {text}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn text(&self, css: &str) -> String {
        let sel = serde_json::to_string(css).unwrap();
        self.js(&format!(
            "const e = document.querySelector({sel}); return e ? e.innerText : null;"
        ))
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Waits until `css` matches an element.
    fn wait_for(&self, css: &str, secs: u64) {
        let sel = serde_json::to_string(css).unwrap();
        let script = format!("return document.querySelector({sel}) !== null;");
        let t = Instant::now();
        while self.js(&script) != json!(true) {
            if t.elapsed() > Duration::from_secs(secs) {
                self.screenshot("timeout");
                panic!(
                    "timed out after {secs}s waiting for `{css}`; the page shows:\n{}",
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is not a PNG");
        let p = self.shots.join(format!("{name}.png"));
        std::fs::write(&p, png).unwrap();
        p
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `coffer serve`, stopped on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: kill on a child we own.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    // BIN is TARGET/PROFILE/coffer.
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("dashboard-screenshots")
}

#[test]
fn issue6_dashboard_in_headless_chromium() {
    let env = Env::new(Kind::Local, "dashboard");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    write(&env.path("data/sub/b.txt"), &noise(7, 200_000));
    let port = free_port();
    let cfg = env.path("coffer.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
state_dir = "state"

[server]
listen = "127.0.0.1:{port}"
storage_refresh = "1h"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]
rpo = "1h"

[[source]]
name = "orders-db"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:1/orders"
rpo = "1s"

[[plan]]
name = "p"

[[plan.rule]]
name = "files"
vault = "main"
sources = ["docs"]
schedule = "0 3 * * *"

[[plan.rule]]
name = "db"
vault = "main"
sources = ["orders-db"]
schedule = "0 4 * * *"
"#
        ),
    )
    .unwrap();
    let o = env
        .cmd(&["token", "create", "--role", "operator", "--name", "ui"])
        .env("COFFER_STATE_DIR", env.path("state"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let _serve = Serve(
        env.cmd(&["serve"])
            .env("COFFER_CONFIG", &cfg)
            .env_remove("COFFER_STATE_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("coffer serve to listen", 30, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // The page and its assets are served without a token, with a strict CSP.
    let (c, page) = http(port, "GET", "/", None);
    assert_eq!(c, 200);
    assert!(page.contains("/ui/app.js"), "{page}");
    assert_eq!(http(port, "GET", "/ui/app.js", None).0, 200);
    assert_eq!(http(port, "GET", "/ui/app.css", None).0, 200);

    let shots = screenshots_dir();
    let b = Browser::start(shots.clone());
    let base = format!("http://127.0.0.1:{port}");
    b.goto(&format!("{base}/"));
    b.wait_for("#login-form", 20);

    // A wrong token: the API's 401 message, and still on the login form.
    b.type_into("#token", "cof_this-is-not-a-token");
    b.click("#login-button");
    wait_until("the refusal message", 20, || {
        !b.text("#login-error").is_empty()
    });
    let err = b.text("#login-error");
    assert!(err.contains("refused"), "login error: {err}");
    assert_eq!(
        b.js("return sessionStorage.getItem('coffer.token');"),
        Value::Null,
        "a refused token was kept"
    );
    b.screenshot("01-login-refused");

    // The operator's token: the overview with both sources.
    b.type_into("#token", &token);
    b.click("#login-button");
    b.wait_for("tr[data-source='docs']", 30);
    b.wait_for("tr[data-source='orders-db']", 30);
    assert!(b.text("#sources").contains("orders-db"));
    b.screenshot("02-overview-before");

    // Start both rules from the page; the jobs appear and end.
    b.click("button.run-rule[data-rule='p/db']");
    b.wait_for("#recent-jobs tr[data-state='FAILED']", 60);
    b.click("button.run-rule[data-rule='p/files']");
    b.wait_for("#recent-jobs tr[data-state='COMPLETED']", 120);
    // Health follows: the directory's RPO is met, the database's missed.
    b.wait_for("tr.source.status-OK[data-source='docs']", 60);
    b.wait_for("tr.source.status-VIOLATED[data-source='orders-db']", 60);
    let colour = |src: &str| {
        b.js(&format!(
            "return getComputedStyle(document.querySelector(\"tr[data-source='{src}'] .badge\")).color;"
        ))
        .as_str()
        .unwrap()
        .to_string()
    };
    assert_eq!(colour("docs"), "rgb(26, 127, 55)", "OK is green");
    assert_eq!(colour("orders-db"), "rgb(207, 34, 46)", "VIOLATED is red");
    assert!(
        b.text("#message").contains("p/files"),
        "{}",
        b.text("#message")
    );
    b.screenshot("03-overview-after-backups");

    // Job history with its charts.
    b.goto(&format!("{base}/#jobs"));
    b.wait_for("body[data-loaded='jobs'] #chart-duration svg rect", 30);
    b.wait_for("#chart-size svg polyline", 10);
    b.screenshot("04-jobs");

    // The snapshot browser lists the new snapshot.
    b.goto(&format!("{base}/#snapshots"));
    b.wait_for("#snapshots tr[data-snapshot]", 30);
    assert!(
        b.text("#snapshots").contains("data"),
        "{}",
        b.text("#snapshots")
    );
    // Browse into it down to the backed-up files.
    b.click("#snapshots a.open-snapshot");
    b.wait_for("#files tbody tr[data-path]", 30);
    for _ in 0..10 {
        if b.js("return document.querySelector(\"#files tr[data-path$='/a.txt']\") !== null;")
            == json!(true)
        {
            break;
        }
        let before = b.js("return document.querySelector('#files').dataset.path;");
        b.click("#files a.dir");
        wait_until("the next directory", 20, || {
            b.js("return document.querySelector('#files').dataset.path;") != before
        });
    }
    b.wait_for("#files tr[data-type='file'][data-path$='/a.txt']", 10);
    b.wait_for("#files tr[data-type='dir'][data-path$='/sub']", 10);
    b.screenshot("05-snapshots");
    // Restore this directory (operator): a restore job writes it under the
    // state directory's restores/.
    b.click("#restore-button");
    wait_until("the restore message", 20, || {
        b.text("#message").contains("Restore job #")
    });
    let restores = env.path("state/restores");
    wait_until("the restored file", 60, || walk_has(&restores, "a.txt"));

    // Restore tests (none configured) and the compliance report.
    b.goto(&format!("{base}/#restore-tests"));
    b.wait_for("body[data-loaded='restore-tests']", 30);
    assert!(b.text("#restore-tests").contains("No restore tests"));
    b.goto(&format!("{base}/#report"));
    b.wait_for("#controls tr[data-control]", 60);
    b.wait_for("#controls .control-FAIL", 10);
    b.screenshot("06-report");

    // Logging out forgets the token.
    b.click("#logout");
    b.wait_for("#login:not([hidden])", 10);
    assert_eq!(
        b.js("return sessionStorage.getItem('coffer.token');"),
        Value::Null
    );
    for n in [
        "02-overview-before",
        "03-overview-after-backups",
        "06-report",
    ] {
        assert!(shots.join(format!("{n}.png")).exists());
    }
}

/// Whether a file named `name` is somewhere below `dir`.
fn walk_has(dir: &std::path::Path, name: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            walk_has(&p, name)
        } else {
            p.file_name().is_some_and(|n| n == name)
        }
    })
}
