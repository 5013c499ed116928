//! `coffer config check`: the real binary on good and bad configuration
//! files. Problems are printed as `file:line:column: message`, exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_coffer");

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coffer.toml")
}

fn coffer(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("COFFER_CONFIG")
        .env_remove("COFFER_VAULT")
        .stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> Output {
    coffer(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes `body` to a fresh file and runs `config check` on it; asserts exit
/// 2 and returns (the file's path, stderr).
fn check_bad(body: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.toml");
    std::fs::write(&path, body).unwrap();
    let out = run(&["config", "check", path.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let p = path.to_string_lossy().into_owned();
    (dir, p, err)
}

const BASE: &str = r#"[[vault]]
name = "main"
url = "/srv/main"
key_file = "/etc/coffer/main.key"
[vault.lock]
min_retention_days = 7
max_retention_days = 400

[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
"#;
// BASE has 17 lines: a rule body starts on line 18.

#[test]
fn the_example_is_valid() {
    let ex = example();
    let out = run(&["config", "check", ex.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(": valid"), "{stdout}");
    assert!(stdout.contains("vaults (5):"), "{stdout}");
    assert!(stdout.contains("sources (8):"), "{stdout}");
    // Issue 18: the method of a postgres-base source and a rule's type.
    assert!(
        stdout.contains("app-db-files postgres-base, method files, full"),
        "{stdout}"
    );
    assert!(
        stdout.contains("app-db-base  postgres-base, method stream [databases]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("postgres/incr-4h: 0 5,9,13,17,21 * * * in UTC -> vault main (app-db-files), pg_backup_type incr"),
        "{stdout}"
    );
    assert!(
        stdout.contains("daily/nightly: cron(0 5 ? * * *) in Europe/Berlin"),
        "{stdout}"
    );
    assert!(stdout.contains("next run: "), "{stdout}");
    // The key's source is shown, never a secret.
    assert!(!stdout.to_lowercase().contains("hunter"), "{stdout}");
}

#[test]
fn json_summary_with_next_runs() {
    let ex = example();
    let out = run(&["config", "check", "--json", ex.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["vaults"].as_array().unwrap().len(), 5);
    assert_eq!(v["vaults"][1]["key"]["password_env"], "COFFER_DR_PASSWORD");
    let rule = &v["plans"][0]["rules"][0];
    assert_eq!(rule["id"], "daily/nightly");
    assert_eq!(rule["start_window_seconds"], 3600);
    let next: jiff::Timestamp = rule["next_run"].as_str().unwrap().parse().unwrap();
    assert!(next > jiff::Timestamp::now());
    // The 10-minute rule runs within 10 minutes.
    let often = &v["plans"][1]["rules"][0];
    let next: jiff::Timestamp = often["next_run"].as_str().unwrap().parse().unwrap();
    assert!(next <= jiff::Timestamp::now() + jiff::SignedDuration::from_mins(10));
}

#[test]
fn config_path_from_option_and_environment() {
    let ex = example();
    let out = coffer(&["config", "check"])
        .env("COFFER_CONFIG", &ex)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["--config", ex.to_str().unwrap(), "config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Neither: the default place, which does not exist here.
    let dir = tempfile::tempdir().unwrap();
    let out = coffer(&["config", "check"])
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // SAFETY: geteuid cannot fail.
    let want = if unsafe { libc::geteuid() } == 0 {
        "/etc/coffer/coffer.toml".to_string()
    } else {
        dir.path().join("coffer/coffer.toml").display().to_string()
    };
    if !Path::new(&want).exists() {
        assert!(
            err.contains(&format!("{want}: cannot read the configuration file")),
            "{err}"
        );
    }
}

#[test]
fn unknown_field() {
    let (_d, p, err) = check_bad(&BASE.replace(
        "paths = [\"/etc\"]",
        "paths = [\"/etc\"]\nexclued = [\"*.tmp\"]",
    ));
    assert!(
        err.contains(&format!(
            "{p}:13:1: unknown field `exclued`; did you mean `exclude`? The fields allowed here: `name`, `kind`,"
        )),
        "{err}"
    );
}

#[test]
fn bad_cron_expression() {
    let (_d, p, err) = check_bad(&format!(
        "{BASE}vault = \"main\"\nsources = [\"etc\"]\nschedule = \"cron(0 25 ? * * *)\"\nretention = {{ delete_after_days = 30 }}\n"
    ));
    // `schedule = "cron(0 ` is 19 characters: the hour is at column 20.
    assert!(
        err.contains(&format!(
            "{p}:20:20: rule `p/r`: bad schedule `cron(0 25 ? * * *)`: hour `25` is out of range"
        )),
        "{err}"
    );
}

#[test]
fn unknown_vault() {
    let (_d, p, err) = check_bad(&format!(
        "{BASE}vault = \"backup\"\nsources = [\"etc\"]\nschedule = \"@daily\"\n"
    ));
    assert!(
        err.contains(&format!(
            "{p}:18:9: rule `p/r`: vault `backup` is not a vault of this file (vaults: main)"
        )),
        "{err}"
    );
}

#[test]
fn retention_below_the_lock_minimum() {
    let (_d, p, err) = check_bad(&format!(
        "{BASE}vault = \"main\"\nsources = [\"etc\"]\nschedule = \"30 2 * * *\"\nretention = {{ keep_last = 3, delete_after_days = 2 }}\n"
    ));
    assert!(
        err.contains(&format!(
            "{p}:21:13: rule `p/r`: its retention does not fit the governance lock of vault `main` (min 7 days, max 400 days): \
             the retention keeps snapshots for 2 days, below the lock's minimum of 7 days"
        )),
        "{err}"
    );
}

#[test]
fn inline_secrets_are_refused() {
    let body = format!(
        "{}vault = \"main\"\nsources = [\"etc\", \"db\"]\nschedule = \"@daily\"\nretention = {{ delete_after_days = 30 }}\n",
        BASE.replace("key_file = \"/etc/coffer/main.key\"", "password = \"hunter2\"").replace(
            "[[plan]]",
            "[[source]]\nname = \"db\"\nkind = \"mysql\"\nurl = \"mysql://root:t0psecret@localhost/shop\"\n\n[[plan]]"
        )
    );
    let (_d, p, err) = check_bad(&body);
    assert!(
        !err.contains("hunter2") && !err.contains("t0psecret"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:4:12: vault `main`: an inline password is not allowed"
        )),
        "{err}"
    );
    assert!(err.contains("password_env"), "{err}");
    assert!(
        err.contains(&format!(
            "{p}:17:7: source `db`: the url carries a password"
        )),
        "{err}"
    );
}

#[test]
fn json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!("{BASE}vault = \"main\"\nsources = [\"nope\"]\nschedule = \"61 * * * *\"\ntimezone = \"Nowhere/Land\"\n"),
    )
    .unwrap();
    let out = run(&["--json", "config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let errors = v["errors"].as_array().unwrap();
    let got: Vec<(u64, u64)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    // The unknown source, the bad minute, the bad zone; and no retention on a locked vault.
    assert!(got.contains(&(19, 12)), "{v}");
    assert!(got.contains(&(20, 13)), "{v}");
    assert!(got.contains(&(21, 12)), "{v}");
    assert!(errors.iter().all(|e| e["file"] == path.to_str().unwrap()));
}

#[test]
fn missing_file_is_a_configuration_error() {
    let out = run(&["config", "check", "/nonexistent/coffer.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/coffer.toml: cannot read the configuration file")
    );
}
