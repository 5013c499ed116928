//! Issue 16, the dashboard and the token's role: `GET /api/v1/whoami`
//! answers each role's name, role and permissions (never the token); in
//! headless Chromium a viewer sees its token's name and role in the header
//! and every action button disabled with a title naming the role it needs,
//! and the Snapshots view names the source `docs` (its configured name, from
//! the snapshot's `source:docs` tag), not its kind `files`; an operator's
//! buttons work, the admin's are disabled, and the restore confirmation,
//! opened at the bottom of a scrolled page, is inside the window, as is
//! the message after it; an admin places (with a reason) and releases a
//! legal hold and forgets the snapshot, each confirmed in a dialog inside
//! the window.

use super::browser::{http, http_as, screenshots_dir, walk_has, Browser, Serve};
use crate::common::*;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::process::Stdio;

/// A JavaScript expression: the enabled action buttons of the view shown.
const ENABLED_BUTTONS: &str =
    "[...document.querySelectorAll('main .view:not([hidden]) button')].filter((b) => !b.disabled)";

/// A function body: whether `#confirm` is open and its box lies inside the
/// window while the page is scrolled down, with the focus in it.
const CONFIRM_IN_VIEW: &str = "const d = document.querySelector('#confirm'); \
    const r = d.getBoundingClientRect(); \
    return {open: d.open, top: r.top, bottom: r.bottom, left: r.left, right: r.right, \
            height: window.innerHeight, width: window.innerWidth, scrolled: window.scrollY, \
            focused: d.contains(document.activeElement)};";

fn create_token(env: &Env, role: &str, name: &str) -> String {
    let o = env
        .cmd(&["token", "create", "--role", role, "--name", name])
        .env("COFFER_STATE_DIR", env.path("state"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Runs `coffer ARGS` with the test's configuration; fails on error.
fn coffer(env: &Env, cfg: &std::path::Path, args: &[&str]) {
    let o = env
        .cmd(args)
        .env("COFFER_CONFIG", cfg)
        .env_remove("COFFER_STATE_DIR")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "coffer {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
}

/// Asserts that every button `css` matches is disabled with a title naming
/// `role`, and that there is at least one.
fn all_disabled(b: &Browser, css: &str, role: &str) {
    let sel = serde_json::to_string(css).unwrap();
    let v = b.js(&format!(
        "return [...document.querySelectorAll({sel})].map((e) => [e.disabled, e.title, e.dataset.needs || '']);"
    ));
    let list = v.as_array().unwrap();
    assert!(!list.is_empty(), "no `{css}` on the page");
    for e in list {
        assert_eq!(e[0], json!(true), "`{css}` is enabled: {v}");
        let title = e[1].as_str().unwrap();
        assert!(
            title.contains(&format!("Needs the {role} role")),
            "`{css}`: {v}"
        );
        assert_eq!(e[2], json!(role), "`{css}`: {v}");
    }
}

fn all_enabled(b: &Browser, css: &str) {
    let sel = serde_json::to_string(css).unwrap();
    let v = b.js(&format!(
        "return [...document.querySelectorAll({sel})].map((e) => !e.disabled);"
    ));
    let list = v.as_array().unwrap();
    assert!(!list.is_empty(), "no `{css}` on the page");
    assert!(list.iter().all(|e| *e == json!(true)), "`{css}`: {v}");
}

fn login(b: &Browser, token: &str, name: &str, role: &str) {
    b.wait_for("#login-form", 20);
    b.type_into("#token", token);
    b.click("#login-button");
    b.wait_for(&format!("#who[data-role='{role}']:not([hidden])"), 30);
    assert_eq!(b.text("#who-name"), name);
    assert_eq!(b.text("#who-role"), role);
    assert!(
        b.text("header")
            .contains(&format!("Logged in as {name} {role}")),
        "{}",
        b.text("header")
    );
}

fn logout(b: &Browser) {
    b.click("#logout");
    b.wait_for("#login:not([hidden])", 10);
    assert_eq!(
        b.js("return document.querySelector('#who').hidden;"),
        json!(true),
        "the header still names a token"
    );
}

/// Asserts the confirmation is open, has the focus and lies inside the
/// window (of a page scrolled down, when `scrolled`).
fn confirm_in_view(b: &Browser, what: &str, scrolled: bool) {
    b.wait_for("#confirm[open]", 10);
    let r = b.js(CONFIRM_IN_VIEW);
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    assert_eq!(r["open"], json!(true), "{what}: {r}");
    if scrolled {
        assert!(f("scrolled") > 0.0, "{what}: the page is not scrolled: {r}");
    }
    assert!(
        f("top") >= 0.0 && f("bottom") <= f("height") && f("bottom") > f("top"),
        "{what}: the confirmation is outside the window: {r}"
    );
    assert!(
        f("left") >= 0.0 && f("right") <= f("width"),
        "{what}: the confirmation is outside the window: {r}"
    );
    assert_eq!(
        r["focused"],
        json!(true),
        "{what}: the focus is not in the confirmation: {r}"
    );
}

/// Scrolls to the bottom of the page and checks that it moved.
fn scroll_to_bottom(b: &Browser) {
    b.js("window.scrollTo(0, document.documentElement.scrollHeight);");
    assert!(
        b.js("return window.scrollY;").as_f64().unwrap_or(0.0) > 0.0,
        "the page is too short to scroll"
    );
}

#[test]
fn issue16_dashboard_roles_in_headless_chromium() {
    let env = Env::new(Kind::Local, "dashboard-roles");
    env.init();
    // Enough files that the file browser is longer than the window.
    for i in 0..60 {
        write(
            &env.path(&format!("data/f{i:02}.txt")),
            format!("file {i}").as_bytes(),
        );
    }
    std::fs::create_dir_all(env.path("scratch")).unwrap();
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

[[plan]]
name = "p"

[[plan.rule]]
name = "files"
vault = "main"
sources = ["docs"]
schedule = "0 3 * * *"

[[restore_test]]
name = "docs-check"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"
"#
        ),
    )
    .unwrap();
    // A rule's backup (tagged source:docs) and a restore test, before the
    // daemon starts: the dashboard shows them.
    coffer(&env, &cfg, &["plan", "run", "p/files"]);
    coffer(&env, &cfg, &["restore-test", "run", "docs-check"]);
    let viewer = create_token(&env, "viewer", "wall-screen");
    let operator = create_token(&env, "operator", "ops-anna");
    let admin = create_token(&env, "admin", "root-admin");
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

    // GET /whoami per role: the name and role, what each may do from the
    // route table, and never the token.
    assert_eq!(http(port, "GET", "/api/v1/whoami", None).0, 401);
    for (token, name, role) in [
        (&viewer, "wall-screen", "viewer"),
        (&operator, "ops-anna", "operator"),
        (&admin, "root-admin", "admin"),
    ] {
        let (code, body) = http_as(port, token, "GET", "/api/v1/whoami", None);
        assert_eq!(code, 200, "{role}: {body}");
        assert!(
            !body.contains(token.as_str()),
            "whoami holds the token: {body}"
        );
        let me: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["name"], name, "{body}");
        assert_eq!(me["role"], role, "{body}");
        let allowed = |op: &str| {
            let ops = me["operations"].as_array().unwrap();
            let o = ops
                .iter()
                .find(|o| o["operation"] == op)
                .unwrap_or_else(|| panic!("{op} missing: {body}"));
            o["allowed"] == json!(true)
        };
        let rank = ["viewer", "operator", "admin"]
            .iter()
            .position(|r| *r == role)
            .unwrap();
        assert!(allowed("snapshots") && allowed("whoami"), "{body}");
        for op in ["ruleRun", "restore", "verify", "restoreTestRun", "forget"] {
            assert_eq!(allowed(op), rank >= 1, "{role} {op}: {body}");
        }
        for op in ["hold", "release", "forgetForReal"] {
            assert_eq!(allowed(op), rank >= 2, "{role} {op}: {body}");
        }
    }
    // The snapshot names its source.
    let (_, snaps) = http_as(port, &viewer, "GET", "/api/v1/vaults/main/snapshots", None);
    let snaps: Value = serde_json::from_str(&snaps).unwrap();
    assert_eq!(snaps[0]["source_name"], "docs", "{snaps:#}");

    let shots = screenshots_dir();
    let b = Browser::start(shots.clone());
    let base = format!("http://127.0.0.1:{port}");
    b.goto(&format!("{base}/"));

    // The viewer: its name and role in the header, nothing it may press.
    login(&b, &viewer, "wall-screen", "viewer");
    b.wait_for("button.run-rule[data-rule='p/files']", 30);
    all_disabled(&b, "button.run-rule", "operator");
    assert_eq!(b.js(&format!("return {ENABLED_BUTTONS}.length;")), json!(0));
    b.screenshot("11-viewer-overview");
    b.goto(&format!("{base}/#snapshots"));
    b.wait_for("#snapshots tr[data-snapshot]", 30);
    assert_eq!(
        b.text("#snapshots tr[data-snapshot] td.source-name"),
        "docs"
    );
    all_disabled(&b, "#verify-button", "operator");
    all_disabled(&b, "#snapshots button.hold", "admin");
    all_disabled(&b, "#snapshots button.forget", "admin");
    b.click("#snapshots a.open-snapshot");
    b.browse_down_to("/f00.txt");
    all_disabled(&b, "#restore-button", "operator");
    assert_eq!(b.js(&format!("return {ENABLED_BUTTONS}.length;")), json!(0));
    b.screenshot("12-viewer-snapshots");
    b.goto(&format!("{base}/#restore-tests"));
    b.wait_for("button.run-restore-test", 30);
    all_disabled(&b, "button.run-restore-test", "operator");
    assert_eq!(b.js(&format!("return {ENABLED_BUTTONS}.length;")), json!(0));
    logout(&b);

    // The operator: its buttons work, the admin's do not; the restore
    // confirmation opens in view at the bottom of a long page.
    b.set_window(1200, 600);
    b.goto(&format!("{base}/#overview"));
    login(&b, &operator, "ops-anna", "operator");
    b.wait_for("button.run-rule[data-rule='p/files']", 30);
    all_enabled(&b, "button.run-rule");
    b.goto(&format!("{base}/#restore-tests"));
    b.wait_for("button.run-restore-test", 30);
    all_enabled(&b, "button.run-restore-test");
    b.goto(&format!("{base}/#snapshots"));
    b.wait_for("#snapshots tr[data-snapshot] button.hold", 30);
    all_enabled(&b, "#verify-button");
    b.click("#verify-button");
    b.wait_js(
        "the verify message",
        "return document.querySelector('#message-text').innerText.includes('Verify job #');",
        20,
    );
    all_disabled(&b, "#snapshots button.hold", "admin");
    all_disabled(&b, "#snapshots button.forget", "admin");
    b.click("#snapshots a.open-snapshot");
    b.browse_down_to("/f00.txt");
    // The viewer's listing of the same directory is still on the page
    // until the operator's has loaded (and gated the button again), so
    // browse_down_to can return before it: wait for that load.
    b.wait_js(
        "the operator's listing to gate the restore button",
        "return !document.querySelector('#restore-button').disabled;",
        20,
    );
    all_enabled(&b, "#restore-button");
    scroll_to_bottom(&b);
    b.click("#restore-button");
    confirm_in_view(&b, "restore", true);
    assert!(
        b.text("#confirm").contains("Restore"),
        "{}",
        b.text("#confirm")
    );
    b.screenshot("13-operator-restore-confirm");
    // Cancel does nothing; confirming starts the restore job, and its
    // message is in view too.
    b.click("#confirm-cancel");
    b.wait_for("#confirm:not([open])", 10);
    assert!(!b.text("#message").contains("Restore job"));
    b.click("#restore-button");
    b.wait_for("#confirm[open]", 10);
    b.click("#confirm-ok");
    b.wait_js(
        "the restore message",
        "return document.querySelector('#message-text').innerText.includes('Restore job #');",
        20,
    );
    let m = b.js(
        "const r = document.querySelector('#message').getBoundingClientRect(); \
         return r.top >= 0 && r.bottom <= window.innerHeight && window.scrollY > 0;",
    );
    assert_eq!(m, json!(true), "the message is out of view");
    let restores = env.path("state/restores");
    wait_until("the restored file", 60, || walk_has(&restores, "f59.txt"));
    logout(&b);

    // The admin: places a hold with a reason and releases it, each
    // confirmed in view.
    b.goto(&format!("{base}/#snapshots"));
    login(&b, &admin, "root-admin", "admin");
    b.wait_for("#snapshots tr[data-snapshot] button.hold", 30);
    all_enabled(&b, "#snapshots button.hold");
    all_enabled(&b, "#snapshots button.forget");
    b.click("#snapshots button.hold");
    confirm_in_view(&b, "hold", false);
    b.type_into("#confirm-input", "audit 2026");
    b.click("#confirm-ok");
    b.wait_for("#snapshots button.release", 30);
    assert!(b.text("#snapshots").contains("legal hold"));
    let (_, holds) = http_as(port, &admin, "GET", "/api/v1/vaults/main/snapshots", None);
    assert!(holds.contains("\"held\":true"), "{holds}");
    b.click("#snapshots button.release");
    confirm_in_view(&b, "release", false);
    b.screenshot("14-admin-release-confirm");
    b.click("#confirm-ok");
    b.wait_for("#snapshots button.hold", 30);
    let (_, holds) = http_as(port, &admin, "GET", "/api/v1/vaults/main/snapshots", None);
    assert!(holds.contains("\"held\":false"), "{holds}");
    // Forget: previewed, confirmed, gone.
    b.click("#snapshots button.forget");
    confirm_in_view(&b, "forget", false);
    assert!(
        b.text("#confirm").contains("will be deleted"),
        "{}",
        b.text("#confirm")
    );
    b.click("#confirm-ok");
    b.wait_js(
        "the forget message",
        "return document.querySelector('#message-text').innerText.includes('is forgotten');",
        30,
    );
    b.wait_for("#snapshots tbody td.muted", 10);
    assert!(
        b.text("#snapshots").contains("No snapshots"),
        "{}",
        b.text("#snapshots")
    );
    logout(&b);
    for n in [
        "11-viewer-overview",
        "12-viewer-snapshots",
        "13-operator-restore-confirm",
    ] {
        assert!(shots.join(format!("{n}.png")).exists());
    }
}
