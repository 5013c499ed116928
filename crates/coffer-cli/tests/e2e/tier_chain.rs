//! End-to-end tests of a rule's chain of tiers (issue 17) through the real
//! binary: daily `coffer plan run`s over driven days (`COFFER_NOW`, a
//! `test-clock` build) move snapshots from the hot vault through warm and
//! cold into archive, each tier applying its own retention; a copy that
//! fails its verification fails its job and leaves both copies; a chain
//! `config check` refuses exits 2 at file:line:column.

use crate::common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::process::Command;

const VAULTS: [&str; 4] = ["hot", "warm", "cold", "archive"];

/// A scratch directory with local vaults `hot`, `warm`, `cold` and
/// `archive` (each initialised, with its own key file), one files source
/// `docs` (`data/`) and rule `p/daily` into `hot` whose tail is `rule`.
struct Chain {
    env: Env,
    config: std::path::PathBuf,
}

impl Chain {
    fn new(rule: &str) -> Chain {
        let env = Env::new(Kind::Local, "tier-chain");
        let mut text = String::from("state_dir = \"state\"\n\n");
        for (name, tier) in VAULTS.iter().zip(["hot", "warm", "cold", "archive"]) {
            text.push_str(&format!(
                "[[vault]]\nname = \"{name}\"\nurl = \"{name}\"\nkey_file = \"{name}.key\"\ntier = \"{tier}\"\n\n"
            ));
        }
        text.push_str(&format!(
            "[[source]]\nname = \"docs\"\nkind = \"files\"\npaths = [\"data\"]\n\n\
             [[plan]]\nname = \"p\"\n[[plan.rule]]\nname = \"daily\"\nvault = \"hot\"\n\
             sources = [\"docs\"]\nschedule = \"@daily\"\n{rule}\n"
        ));
        let config = env.path("coffer.toml");
        std::fs::write(&config, text).unwrap();
        let c = Chain { env, config };
        for v in VAULTS {
            c.vault_cmd(v, &["init"]).output().unwrap();
            assert!(c.env.path(v).join("config").exists(), "vault {v} not made");
        }
        write(&c.env.path("data/big.bin"), &noise(3, 200_000));
        c
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_CONFIG", &self.config)
            .env_remove("COFFER_STATE_DIR");
        c
    }

    /// A command on vault `v` directly (not through the configuration).
    fn vault_cmd(&self, v: &str, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_VAULT", self.env.path(v))
            .env("COFFER_KEY_FILE", self.env.path(&format!("{v}.key")));
        c
    }

    /// `coffer plan run p/daily` with "now" at `now`; must succeed.
    fn run_at(&self, now: Timestamp) {
        require_test_clock();
        let o = self
            .cmd(&["plan", "run", "p/daily"])
            .env("COFFER_NOW", now.to_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "plan run at {now}: {}", stderr(&o));
    }

    /// The snapshots of vault `v`: (time, id, origin snapshot), oldest first.
    fn snapshots(&self, v: &str) -> Vec<(String, String, Option<String>)> {
        let o = self
            .vault_cmd(v, &["--json", "snapshots"])
            .output()
            .unwrap();
        assert!(o.status.success(), "snapshots of {v}: {}", stderr(&o));
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        j.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["time"].as_str().unwrap().to_string(),
                    s["id"].as_str().unwrap().to_string(),
                    s["origin"]["snapshot"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    /// The days (`MM-DD`) of the snapshots in vault `v`, oldest first.
    fn days(&self, v: &str) -> Vec<String> {
        self.snapshots(v)
            .into_iter()
            .map(|(t, _, _)| t[5..10].to_string())
            .collect()
    }

    fn jobs(&self) -> Vec<Value> {
        list_jobs(self.cmd(&[]), None)
    }
}

fn day(n: i64) -> Timestamp {
    let start: Timestamp = "2025-12-16T12:00:00Z".parse().unwrap();
    start + SignedDuration::from_hours(24 * n)
}

#[test]
fn issue17_daily_backups_pass_through_four_tiers_each_with_its_retention() {
    // The rule's retention (30 days) applies in hot and, since the first
    // tier gives none, in warm; each snapshot's retain_until (from it)
    // must not stop the moves.
    let c = Chain::new(
        "retention = { delete_after_days = 30 }\n\
         tiers = [\n\
           { after_days = 2, vault = \"warm\" },\n\
           { after_days = 4, vault = \"cold\", retention = { keep_weekly = 10 } },\n\
           { after_days = 8, vault = \"archive\", retention = { keep_yearly = 7 } },\n\
         ]",
    );
    // 30 daily backups, 2025-12-16 to 2026-01-14 at 12:00 UTC, each of a
    // tree that changed that day.
    for n in 0..30 {
        write(&c.env.path("data/day.txt"), format!("day {n}\n").as_bytes());
        write(
            &c.env.path(&format!("data/d/{n}.bin")),
            &noise(n as u64, 20_000),
        );
        c.run_at(day(n));
    }
    // At 2026-01-14 12:00: hot keeps what is at most 2 days old; warm what
    // is 3 and 4 days old (the rule's retention, keep everything).
    assert_eq!(c.days("hot"), ["01-12", "01-13", "01-14"]);
    assert_eq!(c.days("warm"), ["01-10", "01-11"]);
    // Cold (5 to 8 days old) keeps the newest of each ISO week: of week
    // 2026-W02 (Jan 5-11), Jan 9, the newest there; Jan 5-8 were forgotten
    // as newer ones of their week arrived.
    assert_eq!(c.days("cold"), ["01-09"]);
    // Archive (older than 8 days) keeps the newest of each year that
    // reached it: Dec 28 (the last of week 2025-W52 that cold kept; Dec
    // 29-31 are of 2026-W01, where Jan 4 won) and Jan 4.
    let archive = c.snapshots("archive");
    assert_eq!(
        archive.iter().map(|(t, _, _)| &t[..10]).collect::<Vec<_>>(),
        ["2025-12-28", "2026-01-04"],
        "{archive:?}"
    );
    // Every archive snapshot is a copy of a copy of a copy (its origin is
    // in cold, which no longer holds it: moved, not copied).
    let cold_ids: Vec<String> = c.snapshots("cold").into_iter().map(|s| s.1).collect();
    for (_, _, origin) in &archive {
        let o = origin
            .as_deref()
            .expect("an archive snapshot without origin");
        assert!(!cold_ids.iter().any(|i| i == o), "{o} still in cold");
    }

    // The jobs: one backup a day, copy jobs into each tier and forget jobs
    // in each tier before, none failed.
    let jobs = c.jobs();
    let of = |kind: &str, f: &dyn Fn(&Value) -> bool| {
        jobs.iter()
            .filter(|j| j["kind"] == kind && f(j))
            .map(|j| j["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(of("backup", &|_| true).len(), 30);
    for (from, to) in [("hot", "warm"), ("warm", "cold"), ("cold", "archive")] {
        let copies = of("copy", &|j| {
            j["vault"] == from && j["destination_vault"] == to
        });
        assert!(!copies.is_empty(), "no copy job {from} -> {to}: {jobs:#?}");
        assert!(
            copies.iter().all(|s| s == "COMPLETED"),
            "{from} -> {to}: {copies:?}"
        );
        let forgets = of("forget", &|j| j["vault"] == from);
        assert!(!forgets.is_empty(), "no forget job in {from}");
        assert!(
            forgets.iter().all(|s| s == "COMPLETED"),
            "{from}: {forgets:?}"
        );
    }
    // The backup job's events tell the moves.
    let last = jobs.iter().find(|j| j["kind"] == "backup").unwrap();
    let shown = c
        .cmd(&["--json", "jobs", "show", &last["id"].to_string()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("tier 1 (vault `warm`): moved 1 snapshot older than 2 days from vault `hot` into vault `warm`"),
        "{shown}"
    );

    // The 2025 yearly restores from the archive alone, as it was that day.
    let (_, id, _) = &archive[0];
    let target = c.env.path("restored");
    let o = c
        .vault_cmd(
            "archive",
            &["restore", id, "--target", target.to_str().unwrap(), "-q"],
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let data = c.env.path("data");
    let root = target.join(data.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read_to_string(root.join("day.txt")).unwrap(),
        "day 12\n"
    );
    assert!(root.join("d/12.bin").exists() && !root.join("d/13.bin").exists());
    // Every tier's vault passes check.
    for v in VAULTS {
        let o = c.vault_cmd(v, &["check"]).output().unwrap();
        assert!(o.status.success(), "check {v}: {}", stderr(&o));
    }
}

#[test]
fn issue17_a_copy_that_fails_verification_fails_its_job_and_keeps_both_copies() {
    let c = Chain::new("tiers = [{ after_days = 1, vault = \"warm\" }]");
    c.run_at(day(0));
    // Day 2: the first snapshot moves into warm.
    c.run_at(day(2));
    assert_eq!(c.days("warm"), ["12-16"]);
    assert_eq!(c.days("hot"), ["12-18"]);
    // Warm loses its packs (a bucket emptied by hand, a disk failure); its
    // index still lists them, so the next copy of the same tree trusts
    // them and sends nothing: the copy is there but not whole.
    let packs = c.env.path("warm/packs");
    std::fs::remove_dir_all(&packs).unwrap();
    std::fs::create_dir_all(&packs).unwrap();
    c.run_at(day(4));
    // Both copies of the Dec 18 snapshot are kept.
    assert_eq!(c.days("hot"), ["12-18", "12-20"]);
    let warm = c.snapshots("warm");
    let hot_ids: Vec<String> = c.snapshots("hot").into_iter().map(|s| s.1).collect();
    assert_eq!(warm.len(), 2, "{warm:?}");
    assert_eq!(warm[1].2.as_deref(), Some(hot_ids[0].as_str()), "{warm:?}");
    // The copy job failed loudly, naming the snapshot and what is missing.
    let jobs = c.jobs();
    let copy = jobs
        .iter()
        .find(|j| j["kind"] == "copy" && j["state"] == "FAILED")
        .unwrap_or_else(|| panic!("no failed copy job: {jobs:#?}"));
    let err = copy["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("snapshot {} copied as", &hot_ids[0][..8]))
            && err.contains("into vault `warm` fails verification")
            && err.contains("pack is missing")
            && err.contains("both copies are kept"),
        "{copy:#}"
    );
    // No forget job ran in hot after it (the first move's did, before).
    let forgets_in_hot = jobs
        .iter()
        .filter(|j| j["kind"] == "forget" && j["vault"] == "hot")
        .count();
    assert_eq!(forgets_in_hot, 1, "{jobs:#?}");
    let backup = jobs.iter().find(|j| j["kind"] == "backup").unwrap();
    let shown = c
        .cmd(&["--json", "jobs", "show", &backup["id"].to_string()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("tier 1 (vault `warm`): the move of 1 snapshot older than 1 days from vault `hot` did not complete (FAILED)"),
        "{shown}"
    );
}

#[test]
fn issue17_config_check_refuses_a_bad_chain_at_its_place() {
    let c = Chain::new(
        "retention = { delete_after_days = 20 }\n\
         tiers = [{ after_days = 30, vault = \"warm\" }, { after_days = 30, vault = \"warm\" }]",
    );
    let o = c.cmd(&["config", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let text = std::fs::read_to_string(&c.config).unwrap();
    let line = text.lines().position(|l| l.starts_with("tiers")).unwrap() + 1;
    let row = text.lines().nth(line - 1).unwrap();
    // The column (1-based) of the `n`th match of `what` in the tiers line.
    let col = |what: &str, n: usize| row.match_indices(what).nth(n).unwrap().0 + 1;
    for want in [
        format!(":{line}:{}: rule `p/daily`: tier 1 (vault `warm`): the retention of the rule's vault `hot` deletes snapshots after 20 days, before they move here at 30 days", col("30", 0)),
        format!(":{line}:{}: rule `p/daily`: tier 2 (vault `warm`): after_days (30) must be more than the tier before's (30)", col("30", 1)),
        format!(":{line}:{}: rule `p/daily`: tier 2 (vault `warm`): vault `warm` is the vault of another tier", col("\"warm\"", 1)),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}
