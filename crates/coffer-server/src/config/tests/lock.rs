//! A rule's retention against the `[vault.lock]` of every vault it keeps
//! snapshots in (its own, its copies'), checked as the runner checks it.

use super::super::*;
use coffer_core::{LockPolicy, RetentionPolicy};

/// A compliance-locked vault `main` (7 to 365 days) and an unlocked `dr`;
/// one rule into `main` with `retention` (a TOML value, or none).
fn config(retention: Option<&str>, copy: &str) -> String {
    let mut t = String::from(
        "[[vault]]\nname = \"main\"\nurl = \"/srv/main\"\nkey_file = \"k\"\n\
         [vault.lock]\nmin_retention_days = 7\nmax_retention_days = 365\nchangeable_for_days = 3\n\n\
         [[vault]]\nname = \"dr\"\nurl = \"/srv/dr\"\nkey_file = \"k\"\n\n\
         [[source]]\nname = \"etc\"\nkind = \"files\"\npaths = [\"/etc\"]\n\n\
         [[plan]]\nname = \"p\"\n[[plan.rule]]\nname = \"nightly\"\nvault = \"main\"\n\
         sources = [\"etc\"]\nschedule = \"@daily\"\n",
    );
    if let Some(r) = retention {
        t.push_str(&format!("retention = {r}\n"));
    }
    t.push_str(copy);
    t
}

/// The lines (1-based) of the rule's `name` and `retention`.
const RULE_NAME_LINE: usize = 23;
const RETENTION_LINE: usize = 27;

fn check(text: &str) -> Result<Config, Vec<String>> {
    Config::parse(text, std::path::Path::new("t.toml"))
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

#[test]
fn no_delete_limit_under_a_maximum_is_refused_at_the_retention() {
    let text = config(Some("{ keep_last = 10 }"), "");
    assert_eq!(
        text.lines().nth(RETENTION_LINE - 1),
        Some("retention = { keep_last = 10 }")
    );
    let e = check(&text).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0],
        format!(
            "t.toml:{RETENTION_LINE}:13: rule `p/nightly`: its retention does not fit the compliance lock of vault `main` \
             (min 7 days, max 365 days): the retention keeps snapshots indefinitely (no delete_after_days), \
             beyond the lock's maximum of 365 days: set delete_after_days between 7 and 365"
        )
    );
}

#[test]
fn no_retention_at_all_is_refused_at_the_rule() {
    let text = config(None, "");
    assert_eq!(
        text.lines().nth(RULE_NAME_LINE - 1),
        Some("name = \"nightly\"")
    );
    let e = check(&text).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "t.toml:{RULE_NAME_LINE}:8: rule `p/nightly`: no retention (keep everything) does not fit the compliance lock of vault `main`"
        )),
        "{e:?}"
    );
    assert!(
        e[0].contains("beyond the lock's maximum of 365 days"),
        "{e:?}"
    );
}

#[test]
fn a_delete_limit_beyond_the_maximum_is_refused() {
    let e = check(&config(Some("{ delete_after_days = 400 }"), "")).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("t.toml:{RETENTION_LINE}:13: rule `p/nightly`: its retention does not fit the compliance lock of vault `main` (min 7 days, max 365 days)")),
        "{e:?}"
    );
    assert!(
        e[0].ends_with(
            "the retention keeps snapshots for 400 days, beyond the lock's maximum of 365 days: \
             set delete_after_days between 7 and 365"
        ),
        "{e:?}"
    );
    // Counts that reach beyond it too (2 years).
    let e = check(&config(Some("{ keep_yearly = 2 }"), "")).unwrap_err();
    assert!(
        e[0].contains("for 732 days, beyond the lock's maximum of 365 days"),
        "{e:?}"
    );
}

#[test]
fn a_delete_limit_below_the_minimum_is_refused() {
    let e = check(&config(Some("{ delete_after_days = 3 }"), "")).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("t.toml:{RETENTION_LINE}:13: rule `p/nightly`:")),
        "{e:?}"
    );
    assert!(
        e[0].contains("for 3 days, below the lock's minimum of 7 days: set delete_after_days between 7 and 365"),
        "{e:?}"
    );
}

#[test]
fn a_delete_limit_within_the_bounds_is_accepted() {
    let c = check(&config(
        Some("{ keep_last = 10, delete_after_days = 100 }"),
        "",
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        c.rules().next().unwrap().retention.delete_after_days,
        Some(100)
    );
}

#[test]
fn a_copy_is_checked_with_its_own_retention_against_its_vault() {
    // The copy into the locked vault keeps everything; the rule itself
    // writes into the unlocked one.
    let text = config(
        Some("{ keep_last = 3 }"),
        "copy_to = [{ vault = \"main\" }]\n",
    )
    .replace("vault = \"main\"\nsources", "vault = \"dr\"\nsources");
    let e = check(&text).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "t.toml:{}:22: rule `p/nightly`: the copy has no retention (keep everything), which does not fit the compliance lock of vault `main`",
            RETENTION_LINE + 1
        )),
        "{e:?}"
    );
    // Its own retention within the bounds: accepted.
    let ok = config(
        Some("{ keep_last = 3 }"),
        "copy_to = [{ vault = \"main\", retention = { delete_after_days = 100 } }]\n",
    )
    .replace("vault = \"main\"\nsources", "vault = \"dr\"\nsources");
    check(&ok).unwrap_or_else(|e| panic!("{e:?}"));
}

#[test]
fn the_rule_lists_every_retention_a_lock_must_take() {
    let text = config(
        Some("{ delete_after_days = 100 }"),
        "copy_to = [{ vault = \"dr\", retention = { delete_after_days = 30 } }]\n",
    );
    let c = check(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let r = c.rules().next().unwrap();
    let got: Vec<(&str, Option<u32>)> = r
        .retentions()
        .iter()
        .map(|(v, ret, _)| (*v, ret.delete_after_days))
        .collect();
    assert_eq!(got, [("main", Some(100)), ("dr", Some(30))]);
    // The same message for a lock read from a vault (`--connect`).
    let lock = LockPolicy {
        min_retention_days: 1,
        max_retention_days: 20,
        changeable_for_days: None,
    };
    let all = r.retentions();
    let (v, ret, what) = &all[1];
    assert_eq!(
        lock_problem(&r.id(), what, v, &lock, ret).as_deref(),
        Some(
            "rule `p/nightly`: the copy's retention does not fit the governance lock of vault `dr` \
             (min 1 days, max 20 days): the retention keeps snapshots for 30 days, beyond the lock's \
             maximum of 20 days: set delete_after_days between 1 and 20"
        )
    );
    assert_eq!(
        lock_problem(&r.id(), what, v, &lock, &RetentionPolicy::default())
            .map(|m| m.contains("indefinitely")),
        Some(true)
    );
}
