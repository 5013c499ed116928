//! Issue 16, `coffer config check` finds what fails on the first run:
//! every unknown field at once with a did-you-mean (and never offering the
//! refused `password`), a key file or password variable missing here as a
//! warning, and with `--connect` every vault opened with its key, every
//! database reached with its tool's version checked, and the SMTP and
//! webhook sinks reached without sending anything — each reported as ok or
//! FAIL with the reason. The daemon's own errors name the config's setting.
//! Servers: the local PostgreSQL (127.0.0.1:5432); closed ports on
//! loopback; an SMTP and an HTTP listener started by the test.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `coffer config check ARGS… FILE` with a clean environment but `envs`.
fn check(env: &Env, file: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut a = vec!["config", "check"];
    a.extend_from_slice(args);
    a.push(file.to_str().unwrap());
    let mut c = env.cmd(&a);
    c.env_remove("COFFER_CONFIG")
        .env_remove("WRONG_PW")
        .env_remove("COFFER_TEST_UNSET_PW");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A password vault at `dir` opened by `password`.
fn password_vault(env: &Env, dir: &Path, password: &str) {
    let o = env
        .cmd(&["init", "--vault", dir.to_str().unwrap()])
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", password)
        .output()
        .unwrap();
    assert!(o.status.success(), "init: {}", stderr(&o));
}

/// The check line of `subject "name"` in `out`.
fn line<'a>(out: &'a str, subject: &str, name: &str) -> &'a str {
    let tag = format!(" {subject} \"{name}\" (");
    out.lines()
        .find(|l| l.contains(&tag))
        .unwrap_or_else(|| panic!("no check of {subject} {name} in:\n{out}"))
}

#[test]
fn issue16_every_unknown_field_at_once_with_a_did_you_mean() {
    let env = Env::new(Kind::Local, "cfg-unknown");
    let file = env.path("coffer.toml");
    std::fs::write(
        &file,
        r#"[[vault]]
name = "main"
url = "vault"
keyfile = "vault.key"
pasword = "x"

[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]
exclued = ["*.tmp"]
"#,
    )
    .unwrap();
    let o = check(&env, &file, &[], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let p = file.display();
    assert!(
        err.contains(&format!(
            "{p}:4:1: unknown field `keyfile`; did you mean `key_file`? The fields allowed here: `name`, `url`, `key_file`,"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:5:1: unknown field `pasword`; did you mean `password_file` or `password_env`?"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:11:1: unknown field `exclued`; did you mean `exclude`?"
        )),
        "{err}"
    );
    // The inline `password` is read only to be refused: never offered.
    assert!(!err.contains("`password`"), "{err}");
    // The JSON document has the same list.
    let o = check(&env, &file, &["--json"], &[]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let at: Vec<(u64, u64)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"].as_str().unwrap().starts_with("unknown field"))
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, [(4, 1), (5, 1), (11, 1)], "{v:#}");
}

/// An SMTP server that answers everything and records the commands.
fn smtp_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.write_all(b"220 127.0.0.1 test ESMTP\r\n");
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut l = String::new();
                while r.read_line(&mut l).is_ok_and(|n| n > 0) {
                    let cmd = l.trim_end().to_ascii_uppercase();
                    g.lock().unwrap().push(cmd.clone());
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250 127.0.0.1\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = s.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = s.write_all(reply);
                    l.clear();
                }
            });
        }
    });
    (port, got)
}

/// A TCP listener that counts connections and the bytes they send.
fn http_listener() -> (u16, Arc<Mutex<(usize, usize)>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new((0, 0)));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            g.lock().unwrap().0 += 1;
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            g.lock().unwrap().1 += buf.len();
        }
    });
    (port, got)
}

#[test]
fn issue16_connect_reports_each_vault_database_and_sink() {
    let env = Env::new(Kind::Local, "cfg-connect");
    env.init();
    let pw_vault = env.path("pwvault");
    password_vault(&env, &pw_vault, "right-password");
    let closed = free_port();
    let file = env.path("coffer.toml");
    std::fs::write(
        &file,
        format!(
            r#"state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[vault]]
name = "wrongpw"
url = "pwvault"
password_env = "WRONG_PW"

[[vault]]
name = "nokey"
url = "vault"
key_file = "missing.key"

[[vault]]
name = "noenv"
url = "pwvault"
password_env = "COFFER_TEST_UNSET_PW"

[[vault]]
name = "dead"
url = "s3://coffer-test/x?endpoint=http://127.0.0.1:{closed}&region=garage"
key_file = "vault.key"

[[source]]
name = "shop"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:{closed}/shop"

[[source]]
name = "pg"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:5432/postgres"

[[notify]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {closed}
starttls = false
from = "coffer@example.com"
to = ["ops@example.com"]

[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{closed}/hook"
"#
        ),
    )
    .unwrap();
    let p = file.display().to_string();
    let envs = [
        ("WRONG_PW", "not-the-password"),
        // The S3 vault needs credentials to get as far as its endpoint.
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];

    // Without --connect: valid, with a warning for each secret missing here.
    let o = check(&env, &file, &[], &envs);
    let (out, err) = (text(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains(": valid, with 2 warnings"), "{out}");
    assert!(
        err.contains(&format!("{p}:16:12: warning: vault `nokey`: key_file ")),
        "{err}"
    );
    assert!(err.contains("missing.key cannot be read here"), "{err}");
    assert!(
        err.contains(&format!(
            "{p}:21:16: warning: vault `noenv`: password_env = \"COFFER_TEST_UNSET_PW\", but COFFER_TEST_UNSET_PW is not set here"
        )),
        "{err}"
    );

    // With --connect: each one tried.
    let o = check(&env, &file, &["--connect", "--timeout", "15s"], &envs);
    let (out, err) = (text(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        line(&out, "vault", "main").starts_with("ok   vault \"main\" ("),
        "{out}"
    );
    assert!(
        line(&out, "vault", "main").ends_with(": opened, 0 snapshots"),
        "{out}"
    );
    let l = line(&out, "vault", "wrongpw");
    assert!(
        l.starts_with("FAIL") && l.contains("password_env = \"WRONG_PW\" does not open vault"),
        "{out}"
    );
    assert!(!out.contains("not-the-password"), "{out}");
    let l = line(&out, "vault", "nokey");
    assert!(
        l.starts_with("FAIL")
            && l.contains("key_file = \"")
            && l.contains("missing.key\" cannot be used"),
        "{out}"
    );
    let l = line(&out, "vault", "noenv");
    assert!(
        l.starts_with("FAIL")
            && l.contains("environment variable COFFER_TEST_UNSET_PW (password_env) is not set"),
        "{out}"
    );
    assert!(line(&out, "vault", "dead").starts_with("FAIL"), "{out}");
    let l = line(&out, "source", "shop");
    assert!(
        l.starts_with(&format!(
            "FAIL source \"shop\" (postgres://postgres@127.0.0.1:{closed}/shop): cannot connect to PostgreSQL at 127.0.0.1:{closed}"
        )) && l.contains("Connection refused"),
        "{out}"
    );
    let l = line(&out, "source", "pg");
    assert!(
        l.starts_with("ok   source \"pg\"") && l.contains("PostgreSQL 15") && l.contains("pg_dump 15"),
        "the local PostgreSQL 15 at 127.0.0.1:5432 (user postgres, trust) and its pg_dump must be there:\n{out}"
    );
    let l = line(&out, "notify", "mail");
    assert!(
        l.starts_with(&format!(
            "FAIL notify \"mail\" (smtp://127.0.0.1:{closed}): 127.0.0.1:{closed}: "
        )) && l.contains("refused"),
        "{out}"
    );
    let l = line(&out, "notify", "hook");
    assert!(
        l.starts_with(&format!(
            "FAIL notify \"hook\" (http://127.0.0.1:{closed}): cannot connect to 127.0.0.1:{closed}: Connection refused"
        )),
        "{out}"
    );
    assert!(err.contains(&format!("{p}: 7 of 9 checks failed")), "{err}");

    // The JSON document lists each check.
    let o = check(
        &env,
        &file,
        &["--json", "--connect", "--timeout", "15s"],
        &envs,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let got: Vec<(&str, &str, bool)> = checks
        .iter()
        .map(|c| {
            (
                c["subject"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("vault", "main", true),
            ("vault", "wrongpw", false),
            ("vault", "nokey", false),
            ("vault", "noenv", false),
            ("vault", "dead", false),
            ("source", "shop", false),
            ("source", "pg", true),
            ("notify", "mail", false),
            ("notify", "hook", false),
        ],
        "{v:#}"
    );
    assert_eq!(v["checks_failed"], 7);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{v:#}");
    assert!(checks
        .iter()
        .all(|c| !c["detail"].as_str().unwrap().is_empty()));
}

#[test]
fn issue16_a_clean_config_passes_connect_and_nothing_is_sent() {
    let env = Env::new(Kind::Local, "cfg-clean");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    let pw_vault = env.path("pwvault");
    password_vault(&env, &pw_vault, "right-password");
    let (smtp, commands) = smtp_listener();
    let (http, requests) = http_listener();
    let file = env.path("coffer.toml");
    std::fs::write(
        &file,
        format!(
            r#"state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[vault]]
name = "pw"
url = "pwvault"
password_env = "COFFER_TEST_VAULT_PW"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[source]]
name = "pg"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:5432/postgres"

[[notify]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
starttls = false
from = "coffer@example.com"
to = ["ops@example.com"]

[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{http}/secret-path"
"#
        ),
    )
    .unwrap();
    env.backup(&[&env.path("data")]);
    let o = check(
        &env,
        &file,
        &["--connect"],
        &[("COFFER_TEST_VAULT_PW", "right-password")],
    );
    let (out, err) = (text(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(
        line(&out, "vault", "main").ends_with("opened, 1 snapshot"),
        "{out}"
    );
    assert!(line(&out, "vault", "pw").starts_with("ok"), "{out}");
    assert!(
        line(&out, "source", "docs").ends_with(": 1 path readable"),
        "{out}"
    );
    assert!(line(&out, "source", "pg").starts_with("ok"), "{out}");
    assert!(
        line(&out, "notify", "mail").ends_with(": connected; no mail sent"),
        "{out}"
    );
    let l = line(&out, "notify", "hook");
    assert!(
        l.starts_with(&format!(
            "ok   notify \"hook\" (http://127.0.0.1:{http}): connected"
        )),
        "{out}"
    );
    // The webhook's path may be its secret: never shown.
    assert!(!out.contains("secret-path"), "{out}");
    // The SMTP session greeted, checked and quit: no mail.
    let cmds = commands.lock().unwrap().clone();
    assert!(
        cmds.first().is_some_and(|c| c.starts_with("EHLO")),
        "{cmds:?}"
    );
    assert!(
        cmds.iter().any(|c| c == "NOOP") && cmds.last().is_some_and(|c| c == "QUIT"),
        "{cmds:?}"
    );
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with("MAIL") || c.starts_with("RCPT") || c.starts_with("DATA")),
        "{cmds:?}"
    );
    // The webhook got a connection and not one byte.
    wait_until("the webhook connection to close", 10, || {
        requests.lock().unwrap().0 == 1
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(*requests.lock().unwrap(), (1, 0));
}

#[test]
fn issue16_daemon_errors_name_the_config_setting() {
    let env = Env::new(Kind::Local, "cfg-daemon");
    let pw_vault = env.path("pwvault");
    password_vault(&env, &pw_vault, "right-password");
    write(&env.path("data/a.txt"), b"alpha");
    for (key, setting) in [
        (
            "password_env = \"WRONG_PW\"",
            "password_env = \"WRONG_PW\" does not open vault",
        ),
        ("key_file = \"missing.key\"", "missing.key\" cannot be used"),
    ] {
        let file = env.path("coffer.toml");
        std::fs::write(
            &file,
            format!(
                r#"state_dir = "state"

[[vault]]
name = "main"
url = "pwvault"
{key}

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["docs"]
schedule = "@daily"
"#
            ),
        )
        .unwrap();
        let o = env
            .cmd(&["plan", "run", "p/r"])
            .env("COFFER_CONFIG", &file)
            .env_remove("COFFER_STATE_DIR")
            .env("WRONG_PW", "not-the-password")
            .output()
            .unwrap();
        // The job's outcome is on standard output, a log on standard error.
        let err = format!("{}{}", text(&o.stdout), stderr(&o));
        assert!(!o.status.success(), "{err}");
        // `plan run` prints `job N FAILED (plan/rule, source S): why`.
        assert!(
            err.contains("FAILED (p/r, source docs): vault `main`: "),
            "{err}"
        );
        assert!(err.contains(setting), "{err}");
        // Not the CLI's options: the daemon has none.
        assert!(!err.contains("COFFER_PASSWORD"), "{err}");
        assert!(!err.contains("not-the-password"), "{err}");
    }
}

/// `coffer serve` says at its start what `config check` warns about (a
/// key file missing here, a password variable not set), once, without
/// refusing to start: the daemon may get them later.
#[test]
fn issue16_serve_logs_the_config_warnings_when_it_starts() {
    let env = Env::new(Kind::Local, "cfg-serve-warn");
    let file = env.path("coffer.toml");
    std::fs::write(
        &file,
        r#"state_dir = "state"

[[vault]]
name = "main"
url = "vault-a"
key_file = "missing.key"

[[vault]]
name = "second"
url = "vault-b"
password_env = "COFFER_TEST_UNSET_PW"
"#,
    )
    .unwrap();
    let child = serve_cmd(&env, &file)
        .env_remove("COFFER_TEST_UNSET_PW")
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let (_, log) = stop_serve(child);
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(warnings.iter().any(|l| l.contains("missing.key")), "{log}");
    assert!(
        warnings.iter().any(|l| l.contains("COFFER_TEST_UNSET_PW")),
        "{log}"
    );
    // It started all the same, and stopped cleanly on SIGTERM.
    assert!(log.contains("coffer serve"), "{log}");
}
