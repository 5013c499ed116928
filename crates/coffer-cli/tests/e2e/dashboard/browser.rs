//! What the dashboard's tests drive: one HTTP/1.1 request at a time over a
//! plain socket ([`http`], [`http_as`]), chromedriver with one headless
//! Chromium session ([`Browser`], W3C WebDriver over that HTTP), and
//! `coffer serve` stopped on drop ([`Serve`]).

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
pub fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    request(port, method, path, None, body)
}

/// One HTTP/1.1 request with `Authorization: Bearer TOKEN`.
pub fn http_as(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    request(port, method, path, Some(token), body)
}

fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{auth}Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
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
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    shots: PathBuf,
}

impl Browser {
    pub fn start(shots: PathBuf) -> Browser {
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

    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (code, text) = http(self.port, method, &path, body.as_ref());
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert_eq!(code, 200, "WebDriver {method} {path}: {text}");
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    pub fn text(&self, css: &str) -> String {
        let sel = serde_json::to_string(css).unwrap();
        self.js(&format!(
            "const e = document.querySelector({sel}); return e ? e.innerText : null;"
        ))
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Waits until `css` matches an element.
    pub fn wait_for(&self, css: &str, secs: u64) {
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

    /// In the open snapshot's file browser, follows the first directory
    /// down until an entry whose path ends with `suffix` is listed.
    pub fn browse_down_to(&self, suffix: &str) {
        self.wait_for("#files tbody tr[data-path]", 30);
        let sel = serde_json::to_string(&format!("#files tr[data-path$='{suffix}']")).unwrap();
        let found = format!("return document.querySelector({sel}) !== null;");
        for _ in 0..12 {
            if self.js(&found) == json!(true) {
                return;
            }
            let before = self.js("return document.querySelector('#files').dataset.path;");
            self.click("#files a.dir");
            wait_until("the next directory", 20, || {
                self.js("return document.querySelector('#files').dataset.path;") != before
            });
        }
        panic!("no entry ending in {suffix} below the snapshot's first directories");
    }

    /// Resizes the window (CSS pixels of the outer window).
    pub fn set_window(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Waits until `script` (a function body) returns `true`.
    pub fn wait_js(&self, what: &str, script: &str, secs: u64) {
        let t = Instant::now();
        while self.js(script) != json!(true) {
            if t.elapsed() > Duration::from_secs(secs) {
                self.screenshot("timeout");
                panic!(
                    "timed out after {secs}s waiting for {what}; the page shows:\n{}",
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn screenshot(&self, name: &str) -> PathBuf {
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
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: kill on a child we own.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// Where the screenshots go: `TARGET/dashboard-screenshots/`.
pub fn screenshots_dir() -> PathBuf {
    // BIN is TARGET/PROFILE/coffer.
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("dashboard-screenshots")
}

/// Whether a file named `name` is somewhere below `dir`.
pub fn walk_has(dir: &std::path::Path, name: &str) -> bool {
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
