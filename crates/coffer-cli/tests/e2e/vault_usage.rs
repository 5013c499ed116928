//! End-to-end tests of `coffer vault usage` (issue 17): bytes per vault and
//! storage class, the share the kept snapshots reference, and the monthly
//! cost from `[prices]`, on a local vault and on a GLACIER vault on moto
//! (scripts/moto.sh, which keeps each object's storage class); and the bad
//! input: an unknown class or a negative price in `[prices]`, an
//! unreachable vault.

use crate::common::*;
use crate::object_lock::{moto_bucket, moto_loc, Moto};
use serde_json::Value;
use std::path::Path;

const GIB: f64 = (1u64 << 30) as f64;

/// `coffer vault usage --json` with a configuration and without COFFER_VAULT.
fn usage_with_config(env: &Env, config: &Path) -> std::process::Output {
    env.cmd(&[
        "vault",
        "usage",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ])
    .env_remove("COFFER_VAULT")
    .env_remove("COFFER_KEY_FILE")
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .output()
    .unwrap()
}

fn class<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == name)
        .unwrap_or_else(|| panic!("no class {name} in {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 + b.abs() * 1e-9
}

#[test]
fn issue17_usage_of_a_local_vault_counts_every_byte_and_what_a_forget_leaves() {
    let env = Env::new(Kind::Local, "usage");
    env.init();
    let src1 = env.path("one");
    write(&src1.join("big.bin"), &noise(1, 400_000));
    let src2 = env.path("two");
    write(&src2.join("other.bin"), &noise(2, 200_000));
    let first = env.backup(&[&src1]);
    env.backup(&[&src2]);

    let on_disk: u64 = env
        .vault_files()
        .iter()
        .filter(|(p, _)| !p.starts_with(".tmp/"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    let out = env.json(&["vault", "usage"]);
    let v = &out["vaults"][0];
    assert_eq!(v["bytes"].as_u64(), Some(on_disk), "{out}");
    assert_eq!(v["snapshots"].as_u64(), Some(2), "{out}");
    assert_eq!(v["classes"].as_array().unwrap().len(), 1, "{out}");
    let local = class(v, "local");
    assert_eq!(local["bytes"].as_u64(), Some(on_disk));
    assert_eq!(local["usd_per_month"].as_f64(), Some(0.0));
    assert_eq!(v["usd_per_month"].as_f64(), Some(0.0));
    assert_eq!(v["packs"]["unreferenced_packs"].as_u64(), Some(0), "{out}");
    assert!(v["referenced_share"].as_f64().unwrap() > 0.9, "{out}");
    assert_eq!(out["prices"]["taken"], "2026-12", "{out}");
    assert_eq!(out["prices"]["overridden"], serde_json::json!([]), "{out}");
    assert_eq!(out["errors"], serde_json::json!([]), "{out}");

    // Forgotten, the first snapshot's data stays until a prune: about
    // 400 KB no snapshot references.
    env.ok(&["forget", &first[..8]]);
    let out = env.json(&["vault", "usage"]);
    let v = &out["vaults"][0];
    assert_eq!(v["snapshots"].as_u64(), Some(1), "{out}");
    let unref = v["packs"]["unreferenced_bytes"].as_u64().unwrap();
    assert!((400_000..500_000).contains(&unref), "{out}");
    assert!(v["referenced_share"].as_f64().unwrap() < 0.5, "{out}");
    let human = env.ok(&["vault", "usage"]);
    for needle in [
        "1 snapshot,",
        "local",
        "no snapshot references (freed by the next `coffer prune`)",
        "prices: USD per GB-month",
        "taken 2026-12 (no price overridden)",
    ] {
        assert!(human.contains(needle), "no {needle:?} in:\n{human}");
    }
    // After a prune, nothing is unreferenced.
    env.ok(&["prune"]);
    let out = env.json(&["vault", "usage"]);
    assert_eq!(
        out["vaults"][0]["packs"]["unreferenced_bytes"].as_u64(),
        Some(0),
        "{out}"
    );

    // With a configuration: its vaults, priced by its [prices].
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\n[[vault]]\nname = \"main\"\nurl = \"{}\"\nkey_file = \"{}\"\n\n[prices]\nlocal = 0.5\n",
            env.vault,
            env.key.display()
        ),
    )
    .unwrap();
    let o = usage_with_config(&env, &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = &out["vaults"][0];
    assert_eq!(v["vault"], "main", "{out}");
    let bytes = v["bytes"].as_u64().unwrap() as f64;
    let want = bytes / GIB * 0.5;
    assert!(close(v["usd_per_month"].as_f64().unwrap(), want), "{out}");
    assert!(
        close(out["total"]["usd_per_month"].as_f64().unwrap(), want),
        "{out}"
    );
    assert_eq!(
        out["prices"]["overridden"],
        serde_json::json!(["local"]),
        "{out}"
    );
    let human = env
        .cmd(&[
            "vault",
            "usage",
            "--vault-name",
            "main",
            "--config",
            config.to_str().unwrap(),
        ])
        .env_remove("COFFER_VAULT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success(), "{}", stderr(&human));
    assert!(text.starts_with("vault main ("), "{text}");
    assert!(text.contains("overridden by [prices]: local"), "{text}");
    // A name the configuration lacks: a usage error naming its vaults.
    let o = env
        .cmd(&[
            "vault",
            "usage",
            "--vault-name",
            "nope",
            "--config",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("vault `nope` is not in"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("(vaults: main)"), "{}", stderr(&o));
}

#[test]
fn issue17_usage_of_a_glacier_vault_on_moto_counts_each_class_and_prices_it() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "&storage_class=GLACIER");
    let src = m.env.path("src");
    write(&src.join("big.bin"), &noise(5, 300_000));
    write(&src.join("small.txt"), b"small\n");
    m.ok(&["init"]);
    m.backup(&src);

    let data_packs = m.data_packs();
    assert!(!data_packs.is_empty());
    let b = coffer_storage::OpendalBackend::s3(&moto_loc(&bucket, &m.prefix)).unwrap();
    let listed = coffer_core::Backend::list(&b, "").unwrap();
    let glacier_bytes: u64 = listed
        .iter()
        .filter(|o| data_packs.contains(&o.path))
        .map(|o| o.size)
        .sum();
    let standard_bytes: u64 = listed
        .iter()
        .filter(|o| !data_packs.contains(&o.path))
        .map(|o| o.size)
        .sum();

    let out = m.json(&["vault", "usage"]);
    let v = &out["vaults"][0];
    let glacier = class(v, "GLACIER");
    let standard = class(v, "STANDARD");
    assert_eq!(glacier["bytes"].as_u64(), Some(glacier_bytes), "{out}");
    assert_eq!(
        glacier["objects"].as_u64(),
        Some(data_packs.len() as u64),
        "{out}"
    );
    assert_eq!(standard["bytes"].as_u64(), Some(standard_bytes), "{out}");
    assert_eq!(v["classes"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(glacier["usd_per_gb_month"].as_f64(), Some(0.0036));
    assert_eq!(standard["usd_per_gb_month"].as_f64(), Some(0.023));
    let want = glacier_bytes as f64 / GIB * 0.0036 + standard_bytes as f64 / GIB * 0.023;
    assert!(
        close(v["usd_per_month"].as_f64().unwrap(), want),
        "{out} want {want}"
    );
    assert!(glacier["referenced_share"].as_f64().unwrap() > 0.9, "{out}");

    let human = m.ok(&["vault", "usage"]);
    for needle in ["GLACIER", "STANDARD", "$0.0036", "$0.023", "/month"] {
        assert!(human.contains(needle), "no {needle:?} in:\n{human}");
    }
}

#[test]
fn issue17_a_listing_of_more_than_one_page_counts_every_object() {
    // ListObjectsV2 answers 1000 keys a page: 1100 more objects take two.
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "");
    m.ok(&["init"]);
    let b = coffer_storage::OpendalBackend::s3(&moto_loc(&bucket, &m.prefix)).unwrap();
    for n in 0..1100 {
        coffer_core::Backend::write(&b, &format!("other/{n:04}"), vec![7; 10]).unwrap();
    }
    let out = m.json(&["vault", "usage"]);
    let v = &out["vaults"][0];
    let other = v["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "other")
        .unwrap_or_else(|| panic!("no other objects in {out}"));
    assert_eq!(other["objects"].as_u64(), Some(1100), "{out}");
    assert_eq!(other["bytes"].as_u64(), Some(11_000), "{out}");
    let listed = coffer_core::Backend::list(&b, "").unwrap();
    assert_eq!(v["objects"].as_u64(), Some(listed.len() as u64), "{out}");
}

#[test]
fn issue17_an_unknown_class_or_a_negative_price_is_refused_at_its_place() {
    let env = Env::new(Kind::Local, "usage-bad");
    let config = env.path("coffer.toml");
    for (text, line_col, needle) in [
        (
            "[prices]\nSTANDARD = 0.02\nGLACEIR = 0.01\n",
            ":3:1:",
            "unknown field `GLACEIR`; did you mean `GLACIER`?",
        ),
        (
            "[prices]\nSTANDARD_IA = -0.5\n",
            ":2:15:",
            "[prices] STANDARD_IA = -0.5: a price is USD per GB-month, 0 or more",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let o = usage_with_config(&env, &config);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        let at = format!("{}{line_col} {needle}", config.display());
        assert!(err.contains(&at), "no {at:?} in {err}");
        // `config check` says the same.
        let o = env
            .cmd(&["config", "check", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert!(all.contains(needle), "{all}");
    }
}

#[test]
fn issue17_an_unreachable_vault_is_named_and_the_command_fails() {
    let env = Env::new(Kind::Local, "usage-gone");
    env.init();
    let port = free_port();
    let gone = format!("s3://b/p?endpoint=http://127.0.0.1:{port}&region=us-east-1");
    let o = env
        .cmd(&["vault", "usage", "--vault", &gone])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // Of two configured vaults, the reachable one is reported, the other
    // named with its error, and the exit code is 1.
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\n[[vault]]\nname = \"main\"\nurl = \"{}\"\nkey_file = \"{}\"\n\n\
             [[vault]]\nname = \"gone\"\nurl = \"s3://b/p?endpoint=http://127.0.0.1:{port}&region=us-east-1\"\nkey_file = \"{}\"\n",
            env.vault,
            env.key.display(),
            env.key.display()
        ),
    )
    .unwrap();
    let o = usage_with_config(&env, &config);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["vaults"][0]["vault"], "main", "{out}");
    assert_eq!(out["errors"][0]["vault"], "gone", "{out}");
    let msg = out["errors"][0]["error"].as_str().unwrap();
    assert!(msg.contains("vault `gone`"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
}
