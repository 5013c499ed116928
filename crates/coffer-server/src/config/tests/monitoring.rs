//! Tests of the monitoring sections of `coffer.toml`: `[server]` (the HTTP
//! listener), `[[notify]]` (notification sinks) and a vault's `capacity`.

use crate::config::{parse_size, Config, NotifyFilter, NotifyTarget, DEFAULT_STORAGE_REFRESH};
use crate::events::{EventName, Severity};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BASE: &str = "[[vault]]\nname = \"main\"\nurl = \"/srv/main\"\nkey_file = \"k\"\n";

fn parse(extra: &str) -> Result<Config, Vec<String>> {
    Config::parse(&format!("{BASE}{extra}"), Path::new("t.toml"))
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

#[test]
fn sizes() {
    assert_eq!(parse_size("500GB"), Some(500_000_000_000));
    assert_eq!(parse_size("2 TiB"), Some(2 * 1024u64.pow(4)));
    assert_eq!(parse_size("1048576"), Some(1048576));
    assert_eq!(parse_size("1.5kb"), Some(1500));
    assert_eq!(parse_size("lots"), None);
    assert_eq!(parse_size("0"), None);
}

#[test]
fn server_section() {
    let c = parse("[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
    let s = c.server.unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(s.storage_refresh, DEFAULT_STORAGE_REFRESH);
    assert!(parse("").unwrap().server.is_none());
    let c = parse("[server]\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n").unwrap();
    assert_eq!(c.server.unwrap().tls.unwrap().key, PathBuf::from("/k.pem"));
    let e = parse("[server]\ntls_cert = \"/c.pem\"\n").unwrap_err();
    assert!(format!("{e:?}").contains("tls_key"), "{e:?}");
    let e = parse("[server]\nlisten = \"localhost\"\n").unwrap_err();
    assert!(e[0].starts_with("t.toml:6:10:"), "{e:?}");
    assert!(e[0].contains("not an address with a port"), "{e:?}");
    let e = parse("[server]\nport = 1\n").unwrap_err();
    assert!(e[0].contains("unknown field `port`"), "{e:?}");
}

#[test]
fn vault_capacity() {
    let c = Config::parse(
        "[[vault]]\nname = \"m\"\nurl = \"/x\"\nkey_file = \"k\"\ncapacity = \"1TB\"\n",
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.vaults[0].capacity, Some(1_000_000_000_000));
    let e = Config::parse(
        "[[vault]]\nname = \"m\"\nurl = \"/x\"\nkey_file = \"k\"\ncapacity = \"big\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("bad capacity `big`"), "{e}");
}

#[test]
fn notify_sinks() {
    let c = parse(
        r#"
[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:1/x"
format = "slack"
events = ["BACKUP_JOB_FAILED", "RPO_VIOLATED"]
backoff = "10ms"
retries = 2

[[notify]]
name = "mail"
kind = "email"
smtp_host = "smtp.example.com"
username = "coffer"
password_env = "SMTP_PW"
from = "coffer@example.com"
to = ["ops@example.com"]
level = "warnings"

[[notify]]
name = "cmd"
kind = "command"
command = "cat >> /tmp/events"
"#,
    )
    .unwrap();
    assert_eq!(c.notify.len(), 3);
    let hook = &c.notify[0];
    assert_eq!(hook.retries, 2);
    assert_eq!(hook.backoff, Duration::from_millis(10));
    assert!(hook.filter.matches(EventName::RpoViolated));
    assert!(!hook.filter.matches(EventName::VerifyFailed));
    let NotifyTarget::Email(e) = &c.notify[1].target else {
        panic!()
    };
    assert_eq!(e.smtp_port, 587);
    assert!(e.starttls);
    assert!(c.notify[1].filter.matches(EventName::SizeAnomaly));
    assert!(!c.notify[1].filter.matches(EventName::BackupJobCompleted));
    assert_eq!(c.notify[2].filter, NotifyFilter::Level(Severity::Error));
}

#[test]
fn bad_notify_sinks_are_refused_clearly() {
    let e = parse(
        r#"
[[notify]]
name = "m"
kind = "email"
smtp_host = "h"
password = "hunter2"
from = "nobody"
to = []
url = "http://x"
"#,
    )
    .unwrap_err();
    let all = e.join("\n");
    assert!(all.contains("inline password is not allowed"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("`nobody` is not a mail address"), "{all}");
    assert!(all.contains("to is empty"), "{all}");
    assert!(
        all.contains("`url` does not apply to kind = \"email\""),
        "{all}"
    );
    let e = parse(
        "[[notify]]\nname = \"w\"\nkind = \"webhook\"\nevents = [\"NOPE\"]\nurl = \"ftp://x\"\n",
    )
    .unwrap_err()
    .join("\n");
    assert!(e.contains("unknown event `NOPE`"), "{e}");
    assert!(e.contains("http:// or https://"), "{e}");
    let e = parse("[[notify]]\nname = \"w\"\nkind = \"pager\"\n")
        .unwrap_err()
        .join("\n");
    assert!(
        e.contains("unknown value `pager`. The values allowed here: `webhook`, `email`, `command`"),
        "{e}"
    );
}
