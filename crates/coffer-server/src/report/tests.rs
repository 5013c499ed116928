//! Tests of the compliance report: each control passing and failing on
//! its own problem, the four formats, scheduled reports, and the
//! `[[report]]` and `[compliance]` sections.

use super::*;
use jiff::{SignedDuration, Timestamp};

use crate::catalog::{JobKind, JobOutcome, JobState, NewJob, Trigger};
use crate::config::{Config, ReportTarget};
use crate::health::tests::{config, ts, Fixture};
use crate::health::TOTAL_BYTES;
use crate::records::{Damage, DataScope, Validation, VerifyDetails};

/// Two local vaults (main locked by the config, dr not), three sources.
fn setup(extra: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let secret = coffer_core::keys::write_new_key_file(&dir.path().join("k")).unwrap();
    for v in ["main", "dr"] {
        coffer_testing::vaults::local_vault_at(&dir.path().join(v), &secret);
    }
    let text = format!(
        r#"
state_dir = "state"
[[vault]]
name = "main"
url = "main"
key_file = "k"
[vault.lock]
min_retention_days = 7
max_retention_days = 400
[[vault]]
name = "dr"
url = "dr"
key_file = "k"
[[source]]
name = "db"
kind = "command"
command = "echo"
rpo = "24h"
rto = "30m"
[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["db", "etc"]
schedule = "0 3 * * *"
retention = {{ keep_daily = 7, delete_after_days = 30 }}
copy_to = [{{ vault = "dr", retention = {{ delete_after_days = 30 }} }}]
{extra}"#
    );
    let path = dir.path().join("coffer.toml");
    std::fs::write(&path, &text).unwrap();
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, c)
}

fn report(c: &Config, f: &Fixture) -> Report {
    let open = |v: &str| crate::runner::open_vault(c, v);
    build(
        c,
        &f.catalog,
        f.now(),
        f.now() - SignedDuration::from_hours(24),
        &open,
    )
    .unwrap()
}

fn control<'r>(r: &'r Report, id: &str) -> &'r Control {
    r.controls.iter().find(|c| c.id == id).unwrap()
}

/// A catalog where everything was done within the last day.
fn healthy(f: &Fixture) {
    for s in ["db", "etc"] {
        f.job(
            JobKind::Backup,
            s,
            "main",
            JobState::Completed,
            Some(serde_json::json!({ TOTAL_BYTES: 10 })),
        );
        f.job(JobKind::Copy, s, "main", JobState::Completed, None);
        f.restore_test(s, Validation::Successful, Some(60.0));
    }
    for v in ["main", "dr"] {
        verify(f, v, true);
    }
}

fn verify(f: &Fixture, vault: &str, good: bool) {
    let d = VerifyDetails {
        scope: DataScope::All,
        subset_percent: None,
        packs_read: 4,
        packs_total: 4,
        bytes_read: 100,
        coverage_percent: 100.0,
        damaged: if good {
            vec![]
        } else {
            vec![Damage {
                object: "packs/ab/ab12".into(),
                problem: "blob 3 fails authentication".into(),
            }]
        },
        affected_snapshots: if good {
            vec![]
        } else {
            vec!["cafe01".into(), "cafe02".into()]
        },
    };
    f.job(
        JobKind::Verify,
        "",
        vault,
        if good {
            JobState::Completed
        } else {
            JobState::Failed
        },
        Some(d.to_json()),
    );
}

#[test]
fn every_control_passes_on_a_healthy_setup_except_the_lock_of_dr() {
    let (_d, c) = setup("");
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    f.set(ts("2026-03-01T06:00:00Z"));
    let r = report(&c, &f);
    for ctl in &r.controls {
        let want = if ctl.id == "vault-lock" {
            ControlStatus::Fail
        } else {
            ControlStatus::Pass
        };
        assert_eq!(ctl.status, want, "{ctl:#?}");
    }
    let lock = control(&r, "vault-lock");
    assert_eq!(lock.failing.len(), 1);
    assert!(
        lock.failing[0].starts_with("vault `dr`: no lock"),
        "{lock:?}"
    );
    let enc = control(&r, "encryption");
    assert_eq!(enc.evidence.len(), 2, "{enc:?}");
    assert!(
        enc.evidence[0].starts_with(
            "vault `main`: coffer-vault format version 2, objects sealed with \
             XChaCha20-Poly1305 (random nonces), key epoch 0; 1 key slot: 1 key file \
             (BLAKE3 derive_key)"
        ),
        "{enc:?}"
    );
    assert_eq!(r.summary.fail, 1);
    assert_eq!(r.summary.pass, 9);
    // Every format carries the verdicts.
    let html = r.render(ReportFormat::Html);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<td class=\"fail\">FAIL</td>"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
    let csv = r.render(ReportFormat::Csv);
    assert!(csv.starts_with("control,title,status,failing_resources,evidence\r\n"));
    assert!(csv.contains("\r\nvault-lock,"), "{csv}");
    assert_eq!(csv.matches("\r\n").count(), 11);
    let text = r.render(ReportFormat::Text);
    assert!(text.contains("[FAIL] vault-lock"), "{text}");
    let back: Report = serde_json::from_str(&r.render(ReportFormat::Json)).unwrap();
    assert_eq!(back, r);
}

#[test]
fn issue14_key_slots_older_than_the_rotation_period_fail_key_age() {
    let (_d, c) = setup("");
    // Slots were added just now; the report is 100 days on.
    let later = Timestamp::now() + SignedDuration::from_hours(100 * 24);
    let f = Fixture::new(&later.to_string());
    let r = report(&c, &f);
    let k = control(&r, "key-age");
    assert_eq!(k.status, ControlStatus::Fail, "{k:#?}");
    // Two vaults: each one's slot and each one's key epoch.
    assert_eq!(k.failing.len(), 4, "{k:#?}");
    assert_eq!(
        k.failing
            .iter()
            .filter(|f| f.contains(": key epoch 0 began") && f.contains("coffer key rotate"))
            .count(),
        2,
        "{k:#?}"
    );
    assert!(
        k.failing
            .iter()
            .any(|f| f.starts_with("vault `main`: key slot "))
            && k.failing[0].contains("more than the rotation period"),
        "{k:#?}"
    );
    // A longer rotation period, or a report right away: it passes.
    let (_d2, c2) = setup("[compliance]\nkey_rotation = \"120d\"\n");
    let r = report(&c2, &f);
    assert_eq!(control(&r, "key-age").status, ControlStatus::Pass);
    // A slot whose time does not parse is of unknown age, and fails.
    let main = c2.vault("main").unwrap().url.clone();
    let keys = std::path::Path::new(&main).join("keys");
    let slot = std::fs::read_dir(&keys)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&slot).unwrap()).unwrap();
    v["created"] = "last spring".into();
    std::fs::write(keys.join("c".repeat(64)), serde_json::to_vec(&v).unwrap()).unwrap();
    let r = report(&c2, &f);
    let k = control(&r, "key-age");
    assert_eq!(k.status, ControlStatus::Fail);
    assert!(
        k.failing.iter().any(|f| f.contains("age unknown")),
        "{k:#?}"
    );
}

#[test]
fn each_control_fails_on_its_own_problem() {
    // A source without rule, a source backed up only weekly, a 3-day copy
    // retention, no copy for the second rule.
    let (_d, c) = setup(
        r#"[[source]]
name = "orphan"
kind = "command"
command = "echo"
[[source]]
name = "logs"
kind = "command"
command = "echo"
[[plan.rule]]
name = "weekly"
vault = "dr"
sources = ["logs"]
schedule = "0 3 * * 0"
retention = { delete_after_days = 3 }
[compliance]
min_backup_frequency = "24h"
min_retention_days = 7
restore_test_window = "2d"
verify_window = "1d"
"#,
    );
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    let r = report(&c, &f);
    let cov = control(&r, "rule-coverage");
    assert_eq!(cov.status, ControlStatus::Fail);
    assert_eq!(cov.failing, vec!["source `orphan`: no rule selects it"]);
    let freq = control(&r, "backup-frequency");
    assert_eq!(freq.status, ControlStatus::Fail);
    assert_eq!(freq.failing.len(), 1, "{freq:?}");
    assert!(
        freq.failing[0].starts_with("source `logs`: its only rule p/weekly")
            && freq.failing[0].contains("leaves up to 7days between backups, more than 1day"),
        "{freq:?}"
    );
    let ret = control(&r, "retention-minimum");
    assert_eq!(ret.status, ControlStatus::Fail);
    assert!(
        ret.failing[0].contains("rule p/weekly in vault `dr`: keeps snapshots only 3.0 days"),
        "{ret:?}"
    );
    let copy = control(&r, "cross-vault-copy");
    assert!(
        copy.failing
            .iter()
            .any(|f| f.contains("`orphan`: no rule copies it")),
        "{copy:?}"
    );

    // Two days later nothing new ran: RPO, restore-test and verify
    // windows, and copies in the period all fail.
    f.set(ts("2026-03-03T01:00:00Z"));
    let r = report(&c, &f);
    let rpo = control(&r, "rpo");
    assert_eq!(rpo.status, ControlStatus::Fail);
    assert!(
        rpo.failing[0].contains("source `db`") && rpo.failing[0].contains("beyond its RPO of 1day"),
        "{rpo:?}"
    );
    let rt = control(&r, "restore-test");
    assert_eq!(rt.status, ControlStatus::Fail);
    assert!(
        rt.failing.iter().any(|x| x.contains("older than 2days")),
        "{rt:?}"
    );
    assert!(
        rt.failing
            .iter()
            .any(|x| x.contains("`orphan`: never restore-tested")),
        "{rt:?}"
    );
    let v = control(&r, "verification");
    assert_eq!(v.status, ControlStatus::Fail);
    assert!(v.failing[0].contains("older than 1day"), "{v:?}");
    assert!(control(&r, "cross-vault-copy")
        .failing
        .iter()
        .any(|x| x.contains("no copy job completed since")));
}

#[test]
fn a_slow_or_failed_restore_test_fails_the_rto() {
    let (_d, c) = setup("");
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    f.restore_test("db", Validation::Successful, Some(3600.0));
    let r = report(&c, &f);
    let rt = control(&r, "restore-test");
    assert_eq!(rt.status, ControlStatus::Fail);
    assert!(
        rt.failing[0].contains("took 1h, beyond its RTO of 30m"),
        "{rt:?}"
    );
    f.restore_test("etc", Validation::TimedOut, None);
    let r = report(&c, &f);
    assert!(control(&r, "restore-test")
        .failing
        .iter()
        .any(|x| x.contains("`etc`") && x.contains("TIMED_OUT")));
}

#[test]
fn a_damaged_vault_fails_verification_naming_vault_and_snapshots() {
    let (_d, c) = setup("");
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    verify(&f, "dr", false);
    let r = report(&c, &f);
    let v = control(&r, "verification");
    assert_eq!(v.status, ControlStatus::Fail);
    assert_eq!(v.failing.len(), 1);
    let msg = &v.failing[0];
    assert!(msg.starts_with("vault `dr`: verify job"), "{msg}");
    assert!(
        msg.contains("packs/ab/ab12 (blob 3 fails authentication)"),
        "{msg}"
    );
    assert!(msg.contains("snapshots affected: cafe01, cafe02"), "{msg}");
    assert!(v
        .evidence
        .iter()
        .any(|e| e.starts_with("vault `main`: verify job") && e.contains("passed")));
}

#[test]
fn an_aborted_verification_is_passed_over_but_a_failed_one_is_not() {
    let (_d, c) = setup("");
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    // A good verify, then one stopped by its window: the good one counts.
    f.job(JobKind::Verify, "", "dr", JobState::Aborted, None);
    let v = control(&report(&c, &f), "verification").clone();
    assert_eq!(v.status, ControlStatus::Pass, "{v:?}");
    // A failed one after it is the newest verdict.
    verify(&f, "dr", false);
    f.job(JobKind::Verify, "", "dr", JobState::Aborted, None);
    let v = control(&report(&c, &f), "verification").clone();
    assert_eq!(v.status, ControlStatus::Fail, "{v:?}");
    assert!(v.failing[0].contains("FAILED"), "{v:?}");
}

#[test]
fn a_stored_software_lock_on_a_local_vault_passes_and_says_so() {
    let (d, c) = setup("");
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    let dr = crate::runner::open_vault(&c, "dr").unwrap();
    let policy = coffer_core::LockPolicy {
        min_retention_days: 7,
        max_retention_days: 400,
        changeable_for_days: None,
    };
    dr.set_lock_with(&policy, "test", f.now(), false).unwrap();
    let lock = control(&report(&c, &f), "vault-lock").clone();
    assert_eq!(lock.status, ControlStatus::Pass, "{lock:?}");
    assert!(
        lock.evidence
            .iter()
            .any(|e| e.starts_with("vault `dr`: governance lock")
                && e.contains("a local directory cannot enforce object lock")),
        "{lock:?}"
    );
    drop(d);
}

#[test]
fn nothing_to_judge_is_not_evaluated() {
    let c = config(
        "[[vault]]\nname = \"v\"\nurl = \"/nonexistent/v\"\nkey_file = \"k\"\n[[source]]\nname = \"s\"\nkind = \"command\"\ncommand = \"echo\"\n",
    );
    let f = Fixture::new("2026-03-01T00:00:00Z");
    let r = report(&c, &f);
    for id in [
        "backup-frequency",
        "retention-minimum",
        "encryption",
        "vault-lock",
        "verification",
        "rpo",
    ] {
        assert_eq!(control(&r, id).status, ControlStatus::NotEvaluated, "{id}");
    }
    assert_eq!(control(&r, "rule-coverage").status, ControlStatus::Fail);
}

#[test]
fn scheduled_reports_go_to_a_directory_or_a_vault() {
    let (d, c) = setup(
        r#"[[report]]
name = "daily"
schedule = "0 6 * * *"
format = "html"
to_dir = "reports"
[[report]]
name = "audit"
schedule = "@weekly"
format = "json"
since = "7d"
to_vault = "dr"
"#,
    );
    let f = Fixture::new("2026-03-01T00:00:00Z");
    healthy(&f);
    let (w, _) = run_scheduled(&c, &f.catalog, "daily", f.now()).unwrap();
    let want = d.path().join("reports/report-daily-20260301T000000Z.html");
    assert_eq!(w, Written::File(want.clone()));
    assert!(std::fs::read_to_string(&want)
        .unwrap()
        .contains("coffer compliance report"));
    let (w, r) = run_scheduled(&c, &f.catalog, "audit", f.now()).unwrap();
    assert_eq!(r.period_start, ts("2026-02-22T00:00:00Z"));
    let Written::Snapshot { vault, id } = w else {
        panic!("{w:?}")
    };
    assert_eq!(vault, "dr");
    let v = crate::runner::open_vault(&c, "dr").unwrap();
    let (_, snap) = v.find_snapshot(&id, &Default::default()).unwrap();
    assert_eq!(snap.paths, vec!["report-audit.json"]);
    assert!(snap.tags.contains(&"report:audit".to_string()));
    let e = run_scheduled(&c, &f.catalog, "nope", f.now())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no [[report]] named `nope`") && e.contains("daily, audit"),
        "{e}"
    );
}

#[test]
fn the_example_has_reports() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coffer.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.reports.len(), 2);
    assert_eq!(c.reports[0].format, ReportFormat::Html);
    assert_eq!(c.reports[1].target, ReportTarget::Vault("dr".into()));
    assert_eq!(c.compliance, crate::config::ComplianceConfig::default());
    assert_eq!(c.anomaly, crate::config::AnomalyConfig::default());
}

#[test]
fn report_sections_are_strict() {
    let bad = |extra: &str| {
        Config::parse(
            &format!("[[vault]]\nname = \"v\"\nurl = \"/v\"\nkey_file = \"k\"\n{extra}"),
            std::path::Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string()
    };
    let e = bad("[[report]]\nname = \"r\"\nschedule = \"@daily\"\n");
    assert!(e.contains("report `r` goes nowhere"), "{e}");
    let e =
        bad("[[report]]\nname = \"r\"\nschedule = \"@daily\"\nto_dir = \"d\"\nto_vault = \"v\"\n");
    assert!(e.contains("give only one of to_dir and to_vault"), "{e}");
    let e = bad("[[report]]\nname = \"r\"\nschedule = \"@daily\"\nto_vault = \"x\"\n");
    assert!(
        e.contains("to_vault `x` is not a vault of this file (vaults: v)"),
        "{e}"
    );
    let e =
        bad("[[report]]\nname = \"r\"\nschedule = \"@daily\"\nto_dir = \"d\"\nformat = \"pdf\"\n");
    assert!(e.contains("unknown value `pdf`"), "{e}");
    let e = bad("[compliance]\nverify_window = \"soon\"\n");
    assert!(e.contains("t.toml:6:17: bad verify_window `soon`"), "{e}");
    let e = bad("[compliance]\nmin_retention = 7\n");
    assert!(e.contains("unknown field `min_retention`"), "{e}");
}

/// A COMPLETED backup of `source` by rule `p/<rule>` into `vault`, taken at
/// `at` (the fixture's clock goes back to where it was).
fn backup_by(f: &Fixture, rule: &str, source: &str, vault: &str, at: &str) {
    let back = f.now();
    f.set(ts(at));
    let id = f
        .catalog
        .create_job(&NewJob {
            plan: Some("p".into()),
            rule: Some(rule.into()),
            source: Some(source.into()),
            vault: Some(vault.into()),
            ..NewJob::new(JobKind::Backup, Trigger::Schedule)
        })
        .unwrap();
    f.catalog.start_job(id).unwrap();
    let done = JobOutcome::completed(Default::default(), vec!["ab".repeat(32)]);
    f.catalog.finish_job(id, &done).unwrap();
    f.set(back);
}

#[test]
fn issue17_daily_weekly_and_monthly_rules_of_one_source_pass_when_the_daily_is_on_time() {
    // `etc` is backed up daily (p/r), weekly (p/weekly) and monthly
    // (p/monthly, into dr); `db` daily only.
    let (_d, c) = setup(
        r#"[[plan.rule]]
name = "weekly"
vault = "main"
sources = ["etc"]
schedule = "0 4 * * 0"
retention = { keep_weekly = 8 }
[[plan.rule]]
name = "monthly"
vault = "dr"
sources = ["etc"]
schedule = "0 5 1 * *"
retention = { keep_monthly = 12 }
"#,
    );
    let f = Fixture::new("2026-03-01T06:00:00Z");
    backup_by(&f, "monthly", "etc", "dr", "2026-02-01T05:00:00Z");
    // The weekly rule's newest is three weeks old: late on its own cadence.
    backup_by(&f, "weekly", "etc", "main", "2026-02-08T04:00:00Z");
    for s in ["db", "etc"] {
        backup_by(&f, "r", s, "main", "2026-03-01T03:00:00Z");
    }
    let r = report(&c, &f);
    let freq = control(&r, "backup-frequency");
    assert_eq!(freq.status, ControlStatus::Pass, "{freq:#?}");
    let line = |start: &str| {
        freq.evidence
            .iter()
            .find(|e| e.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start}: {freq:#?}"))
    };
    // Each rule's own evidence: schedule, longest gap, newest snapshot.
    let daily = line("source `etc`, rule p/r (vault `main`): schedule `0 3 * * *` (UTC)");
    assert!(
        daily.contains("at most 1day between runs; newest snapshot at 2026-03-01T03:00:00Z")
            && daily.ends_with("3h ago"),
        "{daily}"
    );
    let weekly = line("source `etc`, rule p/weekly (vault `main`): schedule `0 4 * * 0`");
    assert!(
        weekly.contains("at most 7days between runs; newest snapshot at 2026-02-08T04:00:00Z")
            && weekly.ends_with(
                "not on time for its own cadence, but the source is covered by the more \
                 frequent rule p/r"
            ),
        "{weekly}"
    );
    let monthly = line("source `etc`, rule p/monthly (vault `dr`): schedule `0 5 1 * *`");
    assert!(
        monthly.contains("at most 30days between runs")
            && monthly.ends_with("on time for its own cadence"),
        "{monthly}"
    );
    let verdict = line("source `etc`: rule p/r, the most frequent of its 3 rules");
    assert!(
        verdict.contains("the newest snapshot, at 2026-03-01T03:00:00Z by rule p/r, is 3h old")
            && verdict.contains("within 1day 8h (its longest gap 1day plus its start window 8h)"),
        "{verdict}"
    );
    line("source `db`: its only rule p/r");

    // Two days on without a daily backup, the source is late whatever the
    // weekly and monthly rules say; only the verdicts fail.
    f.set(ts("2026-03-03T06:00:00Z"));
    let r = report(&c, &f);
    let freq = control(&r, "backup-frequency");
    assert_eq!(freq.status, ControlStatus::Fail);
    assert_eq!(freq.failing.len(), 2, "{freq:#?}");
    assert!(
        freq.failing[1].starts_with("source `etc`: rule p/r, the most frequent of its 3 rules")
            && freq.failing[1].contains("is 2days 3h old, older than 1day 8h")
            && freq.failing[1]
                .contains("backups are late (see why with `coffer jobs list --plan p --rule "),
        "{freq:#?}"
    );
    // The weekly backup of yesterday makes the source on time again.
    backup_by(&f, "weekly", "etc", "main", "2026-03-02T04:00:00Z");
    let r = report(&c, &f);
    let freq = control(&r, "backup-frequency");
    assert_eq!(freq.failing.len(), 1, "{freq:#?}");
    assert!(freq.failing[0].starts_with("source `db`: its only rule p/r"));
}

#[test]
fn issue17_a_weekly_rule_alone_that_is_late_fails() {
    let (_d, c) = setup(
        r#"[[source]]
name = "logs"
kind = "command"
command = "echo"
[[plan.rule]]
name = "weekly"
vault = "main"
sources = ["logs"]
schedule = "0 4 * * 0"
retention = { keep_weekly = 8 }
[compliance]
min_backup_frequency = "8d"
"#,
    );
    let f = Fixture::new("2026-02-20T00:00:00Z");
    let logs = |f: &Fixture| {
        let r = report(&c, f);
        let freq = control(&r, "backup-frequency").clone();
        let v: Vec<String> = freq
            .evidence
            .iter()
            .filter(|e| e.starts_with("source `logs`: "))
            .cloned()
            .collect();
        assert_eq!(v.len(), 1, "{freq:#?}");
        (freq.failing.contains(&v[0]), v[0].clone())
    };
    let (failed, v) = logs(&f);
    assert!(failed && v.contains("never backed up by its rules"), "{v}");
    assert!(v.contains("coffer plan run p/weekly"), "{v}");
    backup_by(&f, "weekly", "logs", "main", "2026-02-15T04:00:00Z");
    let (failed, v) = logs(&f);
    assert!(
        !failed && v.contains("is 4days 20h old, within 7days 8h"),
        "{v}"
    );
    // A backup of `logs` by a rule that does not select it (p/r), or into
    // another vault than the rule's, is not counted.
    f.job(JobKind::Backup, "logs", "main", JobState::Completed, None);
    backup_by(&f, "weekly", "logs", "dr", "2026-02-22T04:00:00Z");
    f.set(ts("2026-02-23T06:00:00Z"));
    let (failed, v) = logs(&f);
    assert!(
        failed
            && v.starts_with("source `logs`: its only rule p/weekly, schedule `0 4 * * 0` (UTC)")
            && v.contains("at 2026-02-15T04:00:00Z by rule p/weekly, is 8days 2h old")
            && v.contains("older than 7days 8h")
            && v.contains("backups are late (see why with `coffer jobs list --plan p --rule "),
        "{v}"
    );
    // Under the default minimum of a day, the schedule itself fails.
    let (_d2, c2) = setup(
        r#"[[source]]
name = "logs"
kind = "command"
command = "echo"
[[plan.rule]]
name = "weekly"
vault = "main"
sources = ["logs"]
schedule = "0 4 * * 0"
retention = { keep_weekly = 8 }
"#,
    );
    let r = report(&c2, &f);
    assert!(control(&r, "backup-frequency")
        .failing
        .iter()
        .any(|x| x.starts_with("source `logs`: its only rule p/weekly")
            && x.ends_with("leaves up to 7days between backups, more than 1day")));
}

#[test]
fn issue17_the_encryption_control_lists_what_it_read_from_each_vault() {
    let (_d, c) = setup("");
    let f = Fixture::new("2026-03-01T00:00:00Z");
    let dr = crate::runner::open_vault(&c, "dr").unwrap();
    let kdf = coffer_core::KdfParams {
        m_kib: 7 * 1024,
        t: 5,
        p: 1,
    };
    let slot = dr
        .add_key(
            &coffer_core::Secret::Password("pw".into()),
            "ops",
            Some(kdf),
        )
        .unwrap();
    let enc = control(&report(&c, &f), "encryption").clone();
    assert_eq!(enc.status, ControlStatus::Pass, "{enc:#?}");
    assert_eq!(
        enc.evidence[1],
        "vault `dr`: coffer-vault format version 2, objects sealed with XChaCha20-Poly1305 \
         (random nonces), key epoch 0; 2 key slots: 1 key file (BLAKE3 derive_key), \
         1 password (Argon2id, 1× m_kib=7168 t=5 p=1)"
    );
    // A password slot weaker than a new one may be fails, by its id.
    let path = std::path::Path::new(&c.vault("dr").unwrap().url)
        .join("keys")
        .join(slot.to_hex());
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["kdf"] = serde_json::json!({"m_kib": 1024, "t": 1, "p": 1});
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let enc = control(&report(&c, &f), "encryption").clone();
    assert_eq!(enc.status, ControlStatus::Fail, "{enc:#?}");
    assert_eq!(enc.failing.len(), 1, "{enc:#?}");
    assert!(
        enc.failing[0].starts_with(&format!("vault `dr`: password key slot {}: ", slot.short()))
            && enc.failing[0].contains("weaker than OWASP's minimum")
            && enc.failing[0].ends_with("(coffer key remove)"),
        "{enc:#?}"
    );
    // A vault that does not open fails, saying why.
    std::fs::remove_file(std::path::Path::new(&c.vault("main").unwrap().url).join("config"))
        .unwrap();
    let enc = control(&report(&c, &f), "encryption").clone();
    assert!(
        enc.failing
            .iter()
            .any(|x| x.starts_with("vault `main`: cannot be opened to show its encryption: ")),
        "{enc:#?}"
    );
}
