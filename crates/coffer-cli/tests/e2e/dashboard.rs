//! Issue 6, web dashboard: the real `coffer serve` with two sources (a
//! directory that backs up, a PostgreSQL source on a closed port that
//! fails), driven in headless Chromium through chromedriver (W3C
//! WebDriver, spoken here over plain HTTP): a wrong token is refused with
//! the API's message, an operator logs in, sees both sources in their
//! colours, starts a backup of each rule and sees the jobs end (COMPLETED
//! and FAILED) and the sources turn OK and VIOLATED, browses the new
//! snapshot's files, restores a directory after confirming it, and reads
//! the job charts and the compliance report. `roles` (issue 16) logs in as
//! a viewer, an operator and an admin. Screenshots land in
//! target/dashboard-screenshots/.

mod browser;
mod roles;

use crate::common::*;
use browser::{http, screenshots_dir, walk_has, Browser, Serve};
use serde_json::Value;
use std::net::TcpStream;
use std::process::Stdio;

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
    b.browse_down_to("/a.txt");
    b.wait_for("#files tr[data-type='file'][data-path$='/a.txt']", 10);
    b.wait_for("#files tr[data-type='dir'][data-path$='/sub']", 10);
    b.screenshot("05-snapshots");
    // Restore this directory (operator), once confirmed: a restore job
    // writes it under the state directory's restores/.
    b.click("#restore-button");
    b.wait_for("#confirm[open]", 10);
    b.click("#confirm-ok");
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

    // The fleet (issue 19): this daemon's own host, from its fleet records.
    b.goto(&format!("{base}/#fleet"));
    b.wait_for("#fleet tr[data-host]", 60);
    assert!(
        b.text("#fleet-summary").contains("host(s)"),
        "{}",
        b.text("#fleet-summary")
    );
    b.screenshot("07-fleet");

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
