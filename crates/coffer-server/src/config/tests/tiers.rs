//! A rule's chain of tiers (issue 17): the chain as read, the older
//! `cold_after_days` as a one-entry chain, every refusal at its value with
//! the rule and the tier named, and each tier's retention against its
//! vault's lock (through `retentions()`, as `--connect` sees it too).

use super::super::*;
use coffer_core::LockPolicy;

/// Vaults `hot`, `warm` (STANDARD_IA), `cold` (GLACIER_IR) and `archive`
/// (DEEP_ARCHIVE, a compliance lock of 1 to 3000 days), one source, and one
/// rule into `hot` whose tail (after `schedule`) is `tail`.
fn config(tail: &str) -> String {
    let mut t = String::new();
    for (name, tier, class) in [
        ("hot", "hot", ""),
        ("warm", "warm", "STANDARD_IA"),
        ("cold", "cold", "GLACIER_IR"),
        ("archive", "archive", "DEEP_ARCHIVE"),
    ] {
        t.push_str(&format!(
            "[[vault]]\nname = \"{name}\"\nurl = \"s3://b/{name}\"\npassword_env = \"PW\"\ntier = \"{tier}\"\n"
        ));
        if !class.is_empty() {
            t.push_str(&format!("storage_class = \"{class}\"\n"));
        }
        if name == "archive" {
            t.push_str("[vault.lock]\nmin_retention_days = 1\nmax_retention_days = 3000\nchangeable_for_days = 3\n");
        }
        t.push('\n');
    }
    t.push_str(
        "[[source]]\nname = \"etc\"\nkind = \"files\"\npaths = [\"/etc\"]\n\n\
         [[plan]]\nname = \"p\"\n[[plan.rule]]\nname = \"r\"\nvault = \"hot\"\n\
         sources = [\"etc\"]\nschedule = \"@daily\"\n",
    );
    t.push_str(tail);
    t.push('\n');
    t
}

const CHAIN: &str = "retention = { keep_daily = 30, delete_after_days = 40 }\n\
tiers = [\n\
  { after_days = 30, vault = \"warm\", retention = { delete_after_days = 100 } },\n\
  { after_days = 90, vault = \"cold\", retention = { keep_monthly = 12, delete_after_days = 400 } },\n\
  { after_days = 365, vault = \"archive\", retention = { keep_yearly = 7 } },\n\
]";

fn check(text: &str) -> Result<Config, Vec<String>> {
    Config::parse(text, std::path::Path::new("t.toml"))
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

/// The (line, column) of the `n`th (0-based) occurrence of `what`.
fn at(text: &str, what: &str, n: usize) -> (usize, usize) {
    let (i, _) = text.match_indices(what).nth(n).unwrap();
    let line = text[..i].matches('\n').count() + 1;
    let col = i - text[..i].rfind('\n').map(|x| x + 1).unwrap_or(0) + 1;
    (line, col)
}

fn one_error(text: &str) -> String {
    let e = check(text).unwrap_err();
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].clone()
}

#[test]
fn issue17_a_chain_of_four_tiers_is_read_with_each_tiers_retention() {
    let c = check(&config(CHAIN)).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(c.vault("warm").unwrap().tier, Tier::Warm);
    assert_eq!(c.vault("archive").unwrap().tier, Tier::Archive);
    let r = c.rules().next().unwrap();
    let got: Vec<(u32, &str, bool)> = r
        .tiers
        .iter()
        .map(|t| (t.after_days, t.vault.as_str(), t.own_retention))
        .collect();
    assert_eq!(
        got,
        [
            (30, "warm", true),
            (90, "cold", true),
            (365, "archive", true)
        ]
    );
    assert_eq!(r.tiers[2].retention.keep_yearly, Some(7));
    // Every vault the rule keeps snapshots in, for the lock checks.
    let vaults: Vec<&str> = r.retentions().iter().map(|(v, _, _)| *v).collect();
    assert_eq!(vaults, ["hot", "warm", "cold", "archive"]);
}

#[test]
fn issue17_a_tier_without_retention_keeps_the_rules() {
    let c = check(&config(
        "retention = { keep_daily = 7, delete_after_days = 200 }\ntiers = [{ after_days = 30, vault = \"warm\" }]",
    ))
    .unwrap_or_else(|e| panic!("{e:#?}"));
    let r = c.rules().next().unwrap();
    assert!(!r.tiers[0].own_retention);
    assert_eq!(r.tiers[0].retention, r.retention);
}

#[test]
fn issue17_cold_after_days_is_a_one_entry_chain() {
    let c = check(&config(
        "retention = { delete_after_days = 200 }\ncold_after_days = 30\ncold_vault = \"cold\"",
    ))
    .unwrap_or_else(|e| panic!("{e:#?}"));
    let r = c.rules().next().unwrap();
    assert_eq!(
        r.tiers,
        [TierConfig {
            after_days: 30,
            vault: "cold".into(),
            retention: r.retention.clone(),
            own_retention: false,
        }]
    );
}

#[test]
fn issue17_after_days_must_be_at_least_1_and_increase() {
    let text = config(
        "tiers = [{ after_days = 0, vault = \"warm\" }, { after_days = 90, vault = \"cold\" }, { after_days = 90, vault = \"archive\", retention = { keep_yearly = 7 } }]",
    );
    let e = check(&text).unwrap_err();
    assert_eq!(e.len(), 2, "{e:#?}");
    let (l, c) = at(&text, "0, vault", 0);
    assert_eq!(
        e[0],
        format!("t.toml:{l}:{c}: rule `p/r`: after_days must be at least 1")
    );
    let (l, c) = at(&text, "90, vault = \"archive\"", 0);
    assert_eq!(e[1], format!("t.toml:{l}:{c}: rule `p/r`: tier 3 (vault `archive`): after_days (90) must be more than the tier before's (90): snapshots move down the chain as they age"));
}

#[test]
fn issue17_each_tier_needs_a_vault_of_its_own_and_not_a_hot_one() {
    let text = config(
        "tiers = [{ after_days = 10, vault = \"hot\" }, { after_days = 20, vault = \"warm\" }, { after_days = 30, vault = \"warm\" }]",
    );
    let e = check(&text).unwrap_err();
    assert_eq!(e.len(), 2, "{e:#?}");
    let (l, c) = at(&text, "\"hot\" }", 0);
    assert_eq!(e[0], format!("t.toml:{l}:{c}: rule `p/r`: tier 1 (vault `hot`): vault `hot` is the rule's own vault; each tier needs a vault of its own"));
    let (l, c) = at(&text, "\"warm\" }", 1);
    assert_eq!(e[1], format!("t.toml:{l}:{c}: rule `p/r`: tier 3 (vault `warm`): vault `warm` is the vault of another tier; each tier needs a vault of its own"));

    let text = config(
        "tiers = [{ after_days = 10, vault = \"cold\" }, { after_days = 20, vault = \"warm\" }]",
    )
    .replace(
        "name = \"archive\"\nurl = \"s3://b/archive\"\npassword_env = \"PW\"\ntier = \"archive\"",
        "name = \"archive\"\nurl = \"s3://b/archive\"\npassword_env = \"PW\"\ntier = \"hot\"",
    );
    let m = one_error(&text);
    assert!(m.contains("tier 2 (vault `warm`): vault `warm` is a warm vault, below the tier before's (cold); order the chain hot, warm, cold, archive"), "{m}");
    let m = one_error(&config("tiers = [{ after_days = 10, vault = \"nope\" }]"));
    assert!(m.contains("rule `p/r`: tier vault `nope` is not a vault of this file (vaults: hot, warm, cold, archive)"), "{m}");
}

#[test]
fn issue17_the_rules_vault_must_be_hot() {
    let text = config("").replace("vault = \"hot\"\nsources", "vault = \"warm\"\nsources");
    let m = one_error(&text);
    assert!(m.contains("rule `p/r`: vault `warm` is a warm vault; back up into a hot vault and move snapshots there with tiers = [{ after_days = N, vault = \"warm\" }]"), "{m}");
}

#[test]
fn issue17_a_retention_that_deletes_before_the_next_tier_is_refused() {
    // The rule's retention (in `hot`) deletes at 20 days, before the move at 30.
    let text = config("retention = { delete_after_days = 20 }\ntiers = [{ after_days = 30, vault = \"warm\", retention = { delete_after_days = 60 } }, { after_days = 90, vault = \"cold\", retention = { delete_after_days = 80 } }]");
    let e = check(&text).unwrap_err();
    assert_eq!(e.len(), 3, "{e:#?}");
    let (l, c) = at(&text, "30, vault", 0);
    assert_eq!(e[0], format!("t.toml:{l}:{c}: rule `p/r`: tier 1 (vault `warm`): the retention of the rule's vault `hot` deletes snapshots after 20 days, before they move here at 30 days; raise its delete_after_days above 30 or lower after_days"));
    let (l, c) = at(&text, "90, vault", 0);
    assert_eq!(e[1], format!("t.toml:{l}:{c}: rule `p/r`: tier 2 (vault `cold`): the retention of tier 1 (vault `warm`) deletes snapshots after 60 days, before they move here at 90 days; raise its delete_after_days above 90 or lower after_days"));
    // The last tier deletes them as they arrive.
    let (l, c) = at(&text, "{ delete_after_days = 80 }", 0);
    assert_eq!(e[2], format!("t.toml:{l}:{c}: rule `p/r`: tier 2 (vault `cold`): its retention deletes snapshots after 80 days, but they only arrive at 90 days; raise delete_after_days above 90 or give this tier a retention of its own"));
}

#[test]
fn issue17_a_tiers_retention_must_fit_its_vaults_lock() {
    // keep_last alone may keep a snapshot forever: beyond the archive's 3000 days.
    let text =
        config("tiers = [{ after_days = 30, vault = \"archive\", retention = { keep_last = 3 } }]");
    let (l, c) = at(&text, "{ keep_last = 3 }", 0);
    let m = one_error(&text);
    assert!(
        m.starts_with(&format!("t.toml:{l}:{c}: rule `p/r`: the tier's retention in tier 1 (vault `archive`) does not fit the compliance lock of vault `archive` (min 1 days, max 3000 days)")),
        "{m}"
    );
    // The same words for a lock read from the vault (`--connect`).
    let c = check(&config(CHAIN)).unwrap();
    let r = c.rules().next().unwrap();
    let all = r.retentions();
    let (v, ret, what) = &all[3];
    let lock = LockPolicy {
        min_retention_days: 3650,
        max_retention_days: 4000,
        changeable_for_days: None,
    };
    let m = lock_problem(&r.id(), what, v, &lock, ret).unwrap();
    assert!(
        m.starts_with("rule `p/r`: the tier's retention in tier 3 (vault `archive`) does not fit the governance lock of vault `archive`"),
        "{m}"
    );
}

#[test]
fn issue17_tiers_and_cold_after_days_together_are_refused() {
    let text = config("retention = { delete_after_days = 200 }\ncold_after_days = 30\ncold_vault = \"cold\"\ntiers = [{ after_days = 40, vault = \"warm\" }]");
    let (l, c) = at(&text, "40, vault", 0);
    assert_eq!(one_error(&text), format!("t.toml:{l}:{c}: rule `p/r`: give either tiers or cold_after_days and cold_vault (the same as one tier), not both"));
}

#[test]
fn issue17_an_unknown_tier_field_is_refused_with_did_you_mean() {
    let text = config("tiers = [{ after_day = 30, vault = \"warm\" }]");
    let e = check(&text).unwrap_err();
    assert!(
        e.iter()
            .any(|m| m.contains("unknown field `after_day`")
                && m.contains("did you mean `after_days`?")),
        "{e:#?}"
    );
}
