//! Tests of `coffer.toml` as a whole: the annotated example, positions of
//! every problem, unknown fields, secrets, rules, locks, cold storage,
//! restore tests and verify entries (a rule against a vault's lock in
//! `lock`). The monitoring sections (`[server]`,
//! `[[notify]]`, a vault's `capacity`) are tested in `monitoring`.

mod lock;
mod monitoring;
mod pg_files;
mod tiers;

use super::secret::url_has_password;
use super::*;
use coffer_sources::spec::SourceSpec;
use jiff::SignedDuration;

/// Parses `text` as `t.toml` and returns the error lines.
fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, Path::new("t.toml")) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

const BASE: &str = r#"
[[vault]]
name = "main"
url = "/srv/main"
key_file = "main.key"
[vault.lock]
min_retention_days = 7
max_retention_days = 400

[[vault]]
name = "cold"
url = "s3://b/p"
password_env = "PW"
tier = "cold"

[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]
tags = ["system"]
"#;

/// BASE plus one plan whose single rule has `rule` as its body.
fn with_rule(rule: &str) -> String {
    format!("{BASE}\n[[plan]]\nname = \"p\"\n[[plan.rule]]\nname = \"r\"\n{rule}\n")
}

/// The line (1-based) of `BASE + plan header` where a rule body starts.
fn rule_line() -> usize {
    with_rule("").lines().count()
}

#[test]
fn the_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coffer.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.vaults.len(), 5);
    assert_eq!(c.sources.len(), 8);
    assert_eq!(c.rules().count(), 5);
    assert_eq!(c.verify.len(), 2);
    assert_eq!(
        c.verify_entry("nightly-sample").unwrap().data,
        crate::model::VerifyData::Percent(5.0)
    );
    let nightly = c.rules().next().unwrap();
    assert_eq!(nightly.id(), "daily/nightly");
    // By name and by tag, in file order, each once.
    assert_eq!(
        nightly.sources,
        ["etc", "app-db", "app-db-base", "shop-db", "ldap"]
    );
    assert_eq!(nightly.start_window, SignedDuration::from_hours(1));
    assert_eq!(nightly.retention.keep_daily, Some(7));
    assert_eq!(nightly.copy_to[0].retention.delete_after_days, Some(90));
    let db = c.source("app-db").unwrap();
    assert_eq!(db.password, Some(SecretRef::Env("APP_DB_PASSWORD".into())));
    assert_eq!(db.rpo, Some(SignedDuration::from_hours(25)));
    assert_eq!(db.rto, Some(SignedDuration::from_mins(30)));
    assert_eq!(c.source("etc").unwrap().rpo, None);
    assert!(matches!(
        db.to_spec(),
        SourceSpec::Postgres { globals: true, .. }
    ));
    let ldap = c.source("ldap").unwrap().to_spec();
    assert!(matches!(ldap, SourceSpec::Command { ref name, .. } if name == "ldap.ldif"));
    assert_eq!(c.vault("archive").unwrap().tier, Tier::Archive);
    let homes = c.rules().nth(1).unwrap();
    let chain: Vec<(u32, &str)> = homes
        .tiers
        .iter()
        .map(|t| (t.after_days, t.vault.as_str()))
        .collect();
    assert_eq!(chain, [(30, "warm"), (90, "cold"), (365, "archive")]);
    assert_eq!(homes.tiers[2].retention.keep_yearly, Some(7));
    let every = c.rules().nth(2).unwrap();
    assert_eq!(every.completion_window, SignedDuration::from_hours(1));
    assert_eq!(every.timezone_name, "UTC");
    // Issue 18: a daily full and a 4-hourly incr of one base backup by files.
    let files = c.source("app-db-files").unwrap();
    assert_eq!(files.method(), Some(METHOD_FILES));
    let ids: Vec<(String, Option<&str>)> = c
        .rules()
        .skip(3)
        .map(|r| (r.id(), r.pg_backup_type.map(|t| t.as_str())))
        .collect();
    assert_eq!(
        ids,
        [
            ("postgres/full-daily".to_string(), Some("full")),
            ("postgres/incr-4h".to_string(), Some("incr"))
        ]
    );
    assert_eq!(
        c.source("app-db-base").unwrap().method(),
        Some(METHOD_STREAM)
    );
    assert_eq!(c.restore_tests.len(), 2);
    let rt = c.restore_test("app-db-weekly").unwrap();
    assert_eq!(rt.select, SnapshotSelect::Random { within_days: 7 });
    assert_eq!(rt.timeout, SignedDuration::from_mins(30));
    assert_eq!(rt.queries[0].expect, Expect::Compare(CmpOp::Gt, 0.0));
    assert_eq!(
        c.restore_test("etc-daily").unwrap().timeout,
        DEFAULT_RESTORE_TEST_TIMEOUT
    );
}

#[test]
fn restore_test_problems_have_positions() {
    let text = format!(
        "{BASE}
[[restore_test]]
name = \"t\"
schedule = \"0 5 * * MOX\"
vault = \"mian\"
sources = [\"ect\"]
select = \"random\"
keys = [\"k\"]
tmeout = \"1h\"
"
    );
    // The unknown field and, in the same run, the rest.
    let e = errors(&text);
    assert_eq!(e.len(), 5, "{e:?}");
    assert!(
        e[4].contains("unknown field `tmeout`; did you mean `timeout`?"),
        "{e:?}"
    );
    let text = text.replace("tmeout", "timeout");
    let e = errors(&text);
    let all = e.join("\n");
    let l = BASE.lines().count() + 4;
    for want in [
        format!("t.toml:{l}:21: restore_test `t`: bad schedule"),
        format!(
            "t.toml:{}:9: restore_test `t`: vault `mian` is not a vault",
            l + 1
        ),
        format!(
            "t.toml:{}:12: restore_test `t`: `ect` is not a source",
            l + 2
        ),
        "select = \"random\" needs within_days".to_string(),
    ] {
        assert!(all.contains(&want), "missing {want:?} in:\n{all}");
    }
    let e = errors(&format!(
            "{BASE}\n[[restore_test]]\nname = \"t\"\nschedule = \"@daily\"\nvault = \"main\"\nsources = [\"etc\"]\nkeys = [\"k\"]\n[[restore_test.query]]\nsql = \"select 1\"\nexpect = \"about 3\"\n"
        ));
    let all = e.join("\n");
    assert!(all.contains("keys applies to redis sources"), "{all}");
    assert!(all.contains("bad expect `about 3`"), "{all}");
}

#[test]
fn expectations() {
    let e: Expect = ">= 10".parse().unwrap();
    assert!(e.check(Some("10")).is_ok());
    assert_eq!(
        e.check(Some("9")).unwrap_err().0,
        "returned 9, expected >= 10"
    );
    assert!(e.check(None).is_err());
    assert!(e.check(Some("x")).is_err());
    assert!("!= 0".parse::<Expect>().unwrap().check(Some("1")).is_ok());
    assert!("= 3".parse::<Expect>().unwrap().check(Some("3")).is_ok());
    assert_eq!("no error".parse::<Expect>().unwrap(), Expect::NoError);
    assert!("~ 3".parse::<Expect>().is_err());
}

#[test]
fn defaults_and_relative_paths() {
    let c = Config::parse(
            &with_rule("vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { delete_after_days = 30 }"),
            Path::new("/etc/coffer/coffer.toml"),
        )
        .unwrap();
    let r = c.rules().next().unwrap();
    assert_eq!(r.start_window, DEFAULT_START_WINDOW);
    assert_eq!(r.completion_window, DEFAULT_COMPLETION_WINDOW);
    assert_eq!(
        c.vaults[0].key,
        KeySource::KeyFile("/etc/coffer/main.key".into())
    );
    assert_eq!(c.vaults[0].url, "/srv/main");
}

#[test]
fn unknown_field_names_the_allowed_ones() {
    let e = errors(&format!(
        "{BASE}\n[[source]]\nname = \"x\"\nkind = \"files\"\npaths = [\"/x\"]\nexclud = [\"a\"]\n"
    ));
    let line = BASE.lines().count() + 6;
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("t.toml:{line}:1: unknown field `exclud`")),
        "{e:?}"
    );
    assert!(e[0].contains("`exclude`"), "{e:?}");
}

#[test]
fn syntax_error_has_a_position() {
    let e = errors("[[vault]]\nname = \"a\nurl = 1\n");
    assert!(e[0].starts_with("t.toml:2:"), "{e:?}");
}

#[test]
fn bad_cron_points_inside_the_string() {
    let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"0 5 * * MOX\"\nretention = { delete_after_days = 30 }",
        ));
    let line = rule_line() + 2;
    // `schedule = "` is 12 characters; MOX is the 9th of the expression.
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("t.toml:{line}:21: rule `p/r`: bad schedule")),
        "{e:?}"
    );
    assert!(e[0].contains("day-of-week"), "{e:?}");
    let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"cron(0 5 * * * *)\"\nretention = { delete_after_days = 30 }",
        ));
    assert!(e[0].starts_with(&format!("t.toml:{line}:26:")), "{e:?}");
}

#[test]
fn unknown_vault_and_source() {
    let e = errors(&with_rule(
            "vault = \"mian\"\nsources = [\"etc\", \"ect\"]\nschedule = \"@daily\"\ncopy_to = [{ vault = \"dr\" }]",
        ));
    let l = rule_line();
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with(&format!("t.toml:{l}:9: rule `p/r`: vault `mian` is not a vault of this file (vaults: main, cold)")), "{e:?}");
    assert!(
        e[1].starts_with(&format!(
            "t.toml:{}:19: rule `p/r`: `ect` is not a source",
            l + 1
        )),
        "{e:?}"
    );
    assert!(
        e[2].starts_with(&format!(
            "t.toml:{}:22: rule `p/r`: copy_to vault `dr`",
            l + 3
        )),
        "{e:?}"
    );
}

#[test]
fn retention_outside_the_lock() {
    let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { keep_daily = 3, delete_after_days = 3 }",
        ));
    let l = rule_line() + 3;
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "t.toml:{l}:13: rule `p/r`: its retention does not fit the governance lock of vault `main`"
        )),
        "{e:?}"
    );
    assert!(e[0].contains("below the lock's minimum of 7 days"), "{e:?}");
    // No retention at all keeps everything: beyond the maximum.
    let e = errors(&with_rule(
        "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"",
    ));
    assert!(e[0].contains("indefinitely"), "{e:?}");
    // A copy's retention is checked against the copy vault's lock.
    let text = with_rule(
            "vault = \"cold2\"\nsources = [\"etc\"]\nschedule = \"@daily\"\ncopy_to = [{ vault = \"main\", retention = { delete_after_days = 500 } }]",
        )
        .replace("[[source]]", "[[vault]]\nname = \"cold2\"\nurl = \"/x\"\nkey_file = \"k\"\n\n[[source]]");
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("the copy's retention does not fit the governance lock of vault `main`"),
        "{e:?}"
    );
    assert!(
        e[0].contains("beyond the lock's maximum of 400 days"),
        "{e:?}"
    );
}

#[test]
fn secrets_are_refused_and_never_echoed() {
    let text = format!(
            "{BASE}\n[[source]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/db\"\npassword = \"hunter2\"\n"
        )
        .replace("key_file = \"main.key\"", "password = \"hunter2\"");
    let e = errors(&text);
    let all = e.join("\n");
    assert!(!all.contains("hunter2") && !all.contains("s3cret"), "{all}");
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].starts_with("t.toml:5:12: vault `main`: an inline password is not allowed"),
        "{e:?}"
    );
    assert!(
        all.contains("source `db`: the url carries a password"),
        "{all}"
    );
    assert!(
        all.contains("source `db`: an inline password is not allowed"),
        "{all}"
    );
}

#[test]
fn every_problem_is_reported() {
    let text = format!(
        "{BASE}
[[source]]
name = \"etc\"
kind = \"postgres\"
paths = [\"/x\"]
rpo = \"yesterday\"

[[vault]]
name = \"nokey\"
url = \"/v\"

[[plan]]
name = \"p\"
[[plan.rule]]
name = \"r\"
vault = \"main\"
schedule = \"@daily\"
timezone = \"Mars/Olympus\"
start_window = \"0s\"
completion_window = \"soon\"
retention = {{ delete_after_days = 30 }}
cold_after_days = 10
[[plan.rule]]
name = \"r\"
vault = \"main\"
source_tags = [\"nope\"]
schedule = \"@daily\"
retention = {{ delete_after_days = 30 }}
cold_after_days = 10
cold_vault = \"main\"
"
    );
    let e = errors(&text);
    let all = e.join("\n");
    for want in [
        "duplicate source name `etc`",
        "`paths` does not apply to a source of kind postgres",
        "source `etc` of kind postgres needs url",
        "vault `nokey` has no key",
        "duplicate rule name `r`",
        "rule `p/r` selects no sources",
        "unknown time zone `Mars/Olympus`",
        "start_window must be longer than zero",
        "bad completion_window `soon`",
        "bad rpo `yesterday`",
        "cold_after_days needs cold_vault",
        "no source has the tag `nope`",
        "cold_vault `main` is not a cold vault",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    // In file order, each with a position.
    let lines: Vec<usize> = e
        .iter()
        .map(|l| l.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{all}");
}

#[test]
fn cold_storage_needs_a_cold_vault_and_shorter_age() {
    let e = errors(&with_rule(
            "vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { delete_after_days = 30 }\ncold_after_days = 30\ncold_vault = \"cold\"",
        ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("must be less than the retention's delete_after_days (30)"),
        "{e:?}"
    );
    Config::parse(
            &with_rule("vault = \"main\"\nsources = [\"etc\"]\nschedule = \"@daily\"\nretention = { delete_after_days = 30 }\ncold_after_days = 10\ncold_vault = \"cold\""),
            Path::new("t.toml"),
        )
        .unwrap();
}

#[test]
fn url_passwords() {
    assert!(url_has_password("postgres://u:p@h/db"));
    assert!(url_has_password("redis://:p@h:6379"));
    assert!(!url_has_password("postgres://u@h/db"));
    assert!(!url_has_password("postgres://h:5432/db?x=a:b@c"));
    assert!(!url_has_password("s3://bucket/p?endpoint=http://h:3900"));
}

/// BASE plus one `[[verify]]` entry whose body is `body`.
fn with_verify(body: &str) -> String {
    format!("{BASE}\n[[verify]]\nname = \"v\"\n{body}\n")
}

/// The line where a `[[verify]]` body starts.
fn verify_line() -> usize {
    with_verify("").lines().count()
}

#[test]
fn verify_entries_parse() {
    use crate::model::VerifyData;
    let c = Config::parse(
            &with_verify("vault = \"main\"\nschedule = \"0 4 * * 0\"\ntimezone = \"Europe/Berlin\"\nread_data_subset = \"5%\"\ncompletion_window = \"6h\""),
            Path::new("t.toml"),
        )
        .unwrap();
    let v = c.verify_entry("v").unwrap();
    assert_eq!(v.vault, "main");
    assert_eq!(v.data, VerifyData::Percent(5.0));
    assert_eq!(v.timezone_name, "Europe/Berlin");
    assert_eq!(v.completion_window, SignedDuration::from_hours(6));
    let c = Config::parse(
        &with_verify("vault = \"main\"\nschedule = \"@weekly\"\nread_data = true"),
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.verify[0].data, VerifyData::All);
    assert_eq!(
        c.verify[0].completion_window,
        DEFAULT_VERIFY_COMPLETION_WINDOW
    );
    let c = Config::parse(
        &with_verify("vault = \"main\"\nschedule = \"@daily\""),
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.verify[0].data, VerifyData::Structure);
}

#[test]
fn verify_entries_are_checked_with_positions() {
    let l = verify_line();
    let e = errors(&with_verify(
        "vault = \"main\"\nschedule = \"@daily\"\nread_dta = true",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("t.toml:{}:1: unknown field `read_dta`", l + 2)),
        "{e:?}"
    );
    assert!(e[0].contains("`read_data_subset`"), "{e:?}");
    let e = errors(&with_verify(
            "vault = \"mian\"\nschedule = \"0 5 * * MOX\"\nread_data_subset = \"150%\"\ntimezone = \"Mars/Base\"",
        ));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(e[0].starts_with(&format!("t.toml:{l}:9: verify `v`: vault `mian` is not a vault of this file (vaults: main, cold)")), "{e:?}");
    assert!(
        e[1].starts_with(&format!("t.toml:{}:21: verify `v`: bad schedule", l + 1)),
        "{e:?}"
    );
    assert!(
        e[2].starts_with(&format!(
            "t.toml:{}:20: verify `v`: read_data_subset `150%`: give a percentage",
            l + 2
        )),
        "{e:?}"
    );
    assert!(
        e[3].starts_with(&format!(
            "t.toml:{}:12: verify `v`: unknown time zone",
            l + 3
        )),
        "{e:?}"
    );
    let e = errors(&with_verify(
        "vault = \"main\"\nschedule = \"@daily\"\nread_data = true\nread_data_subset = \"5%\"",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("not both"), "{e:?}");
    let e = errors(&format!(
        "{}[[verify]]\nname = \"v\"\nvault = \"main\"\nschedule = \"@daily\"\n",
        with_verify("vault = \"main\"\nschedule = \"@daily\"")
    ));
    assert!(e[0].contains("duplicate verify name `v`"), "{e:?}");
}

fn with_prune(body: &str) -> String {
    format!("{BASE}\n[[prune]]\nname = \"weekly\"\n{body}\n")
}

#[test]
fn prune_entries_parse_and_are_checked_with_positions() {
    let c = Config::parse(
        &with_prune("vault = \"main\"\nschedule = \"0 4 * * 0\"\nrepack_below = 20"),
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.prune.len(), 1);
    assert_eq!(c.prune[0].vault, "main");
    assert_eq!(c.prune[0].repack_below, 20.0);
    let c = Config::parse(
        &with_prune("vault = \"main\"\nschedule = \"@daily\""),
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.prune[0].repack_below, super::DEFAULT_PRUNE_REPACK_BELOW);

    let l = with_prune("").lines().count();
    let e = errors(&with_prune(
        "vault = \"mian\"\nschedule = \"@daily\"\nrepack_below = 150.0",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "t.toml:{l}:9: prune `weekly`: vault `mian` is not a vault of this file (vaults: main, cold)"
        )),
        "{e:?}"
    );
    assert!(
        e[1].starts_with(&format!(
            "t.toml:{}:16: prune `weekly`: repack_below = 150 is not a percentage",
            l + 2
        )),
        "{e:?}"
    );
}

#[test]
fn issue17_prune_windows_and_max_repack_percent_are_checked_with_positions() {
    let c = Config::parse(
        &with_prune(
            "vault = \"main\"\nschedule = \"@daily\"\nmax_repack_percent = 10\nstart_window = \"1h\"\ncompletion_window = \"3h\"",
        ),
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.prune[0].max_repack_percent, 10.0);
    assert_eq!(c.prune[0].start_window, jiff::SignedDuration::from_hours(1));
    assert_eq!(
        c.prune[0].completion_window,
        jiff::SignedDuration::from_hours(3)
    );
    let c = Config::parse(
        &with_prune("vault = \"main\"\nschedule = \"@daily\""),
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.prune[0].max_repack_percent, 100.0);
    assert_eq!(c.prune[0].start_window, super::DEFAULT_PRUNE_START_WINDOW);

    let l = with_prune("").lines().count();
    let e = errors(&with_prune(
        "vault = \"main\"\nschedule = \"@daily\"\nmax_repack_percent = 101\nstart_window = \"0s\"",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "t.toml:{}:22: prune `weekly`: max_repack_percent = 101 is not a percentage",
            l + 2
        )),
        "{e:?}"
    );
    assert!(
        e[1].starts_with(&format!(
            "t.toml:{}:16: start_window must be longer than zero",
            l + 3
        )),
        "{e:?}"
    );
    let e = errors(&with_prune(
        "vault = \"main\"\nschedule = \"@daily\"\nmax_repack_percent = -1",
    ));
    assert!(
        e[0].contains("max_repack_percent = -1 is not a percentage"),
        "{e:?}"
    );
    let e = errors(&with_prune(
        "vault = \"main\"\nschedule = \"@daily\"\nstart_window = \"2h\"\ncompletion_window = \"1h\"",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("t.toml:{}:", l + 3))
            && e[0].contains("completion_window (1h) must be longer than start_window (2h)"),
        "{e:?}"
    );
}

/// Issue 18: the WAL archiving fields of a postgres-base source.
#[test]
fn wal_fields_of_a_postgres_base_source() {
    let text = r#"
[[source]]
name = "pg"
kind = "postgres-base"
url = "postgres://r@db:5432/"
wal_parallel = 6
wal_max_batch = 16
wal_max_queue = 100
wal_prefetch = 0
wal_spool = "spool"
"#;
    let c = Config::parse(text, Path::new("/etc/coffer/t.toml")).unwrap();
    let w = &c.source("pg").unwrap().wal;
    assert_eq!(
        (w.parallel, w.max_batch, w.max_queue, w.prefetch),
        (Some(6), Some(16), Some(100), Some(0))
    );
    assert_eq!(w.spool.as_deref(), Some(Path::new("/etc/coffer/spool")));
    let e = errors(&text.replace("wal_parallel = 6", "wal_parallel = 0"));
    assert!(
        e.iter()
            .any(|l| l.contains("t.toml:6:") && l.contains("wal_parallel must be between 1 and 64")),
        "{e:?}"
    );
    let e = errors(
        "[[source]]\nname = \"f\"\nkind = \"files\"\npaths = [\"/etc\"]\nwal_prefetch = 4\n",
    );
    assert!(
        e.iter()
            .any(|l| l.contains("t.toml:5:") && l.contains("postgres-base only")),
        "{e:?}"
    );
}
