//! Issue 14 (keys): `coffer key rotate` is a real revocation. A removed
//! slot, a copy of it put back, or the key it unwrapped reads nothing
//! written after the rotation; kept secrets go on working; bad input
//! changes nothing.

use crate::common::*;
use std::path::Path;

/// Every object path of a local vault (for "nothing changed" checks).
fn objects(env: &Env) -> Vec<String> {
    env.vault_files().into_keys().collect()
}

pub fn issue14_key_rotate_revokes_what_is_not_kept(kind: Kind, name: &str) {
    let env = Env::new(kind, name);
    env.init();
    let host_key = env.path("host.key");
    env.ok(&[
        "key",
        "add",
        "--new-key-file",
        host_key.to_str().unwrap(),
        "--label",
        "host",
    ]);
    let leaver_pw = env.path("leaver.pw");
    std::fs::write(&leaver_pw, "the leaver's password\n").unwrap();
    env.ok(&[
        "key",
        "add",
        "--new-password-file",
        leaver_pw.to_str().unwrap(),
        "--label",
        "leaver",
    ]);
    let src = env.path("src");
    write(&src.join("before.txt"), b"written before the rotation");
    let before = env.backup(&[&src]);
    // The leaver keeps a copy of the vault's slots (local: the files).
    let kept_slots: Vec<(String, Vec<u8>)> = if kind == Kind::Local {
        env.vault_files()
            .into_iter()
            .filter(|(p, _)| p.starts_with("keys/"))
            .collect()
    } else {
        Vec::new()
    };
    let as_leaver = |args: &[&str]| {
        env.cmd(args)
            .env_remove("COFFER_KEY_FILE")
            .arg("--password-file")
            .arg(&leaver_pw)
            .output()
            .unwrap()
    };
    assert!(as_leaver(&["snapshots"]).status.success());

    // Bad input changes nothing: a missing key file, and a password that
    // opens no slot.
    let snapshot_of_objects = (kind == Kind::Local).then(|| objects(&env));
    let o = env.run(&["key", "rotate", "--keep-key-file", "/nonexistent/k"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--keep-key-file /nonexistent/k"),
        "{}",
        stderr(&o)
    );
    let wrong = env.path("wrong.pw");
    std::fs::write(&wrong, "not a slot's password\n").unwrap();
    let o = env.run(&[
        "key",
        "rotate",
        "--keep-password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("opens no key slot"), "{}", stderr(&o));
    if let Some(was) = snapshot_of_objects {
        assert_eq!(objects(&env), was, "a refused rotation changed the vault");
    }

    // The rotation: the opener's and the host's slots are kept, the
    // leaver's revoked.
    let stats = env.json(&[
        "key",
        "rotate",
        "--keep-key-file",
        host_key.to_str().unwrap(),
    ]);
    assert_eq!(stats["generation"], 1, "{stats}");
    assert_eq!(stats["carried"].as_array().unwrap().len(), 2, "{stats}");
    assert_eq!(stats["revoked"][0]["label"], "leaver", "{stats}");
    assert_eq!(
        stats["upgraded_format"], false,
        "a new vault is format 2 already"
    );
    let slots = env.json(&["key", "list"]);
    assert_eq!(slots.as_array().unwrap().len(), 2, "{slots}");
    assert!(
        slots.as_array().unwrap().iter().all(|s| s["epoch"] == 1),
        "{slots}"
    );
    let o = as_leaver(&["snapshots"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // The host goes on backing up; everything restores with the admin key.
    write(&src.join("after.txt"), b"written after the rotation");
    let o = env
        .cmd(&["backup", "--json", src.to_str().unwrap()])
        .env("COFFER_KEY_FILE", &host_key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let after: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let after = after["id"].as_str().unwrap().to_string();
    env.ok(&["check", "--read-data"]);
    for (snap, files) in [(&before, 1), (&after, 2)] {
        let out = env.path(&format!("restore-{snap}"));
        env.restore(snap, &out);
        let r = out.join(src.strip_prefix("/").unwrap());
        assert_eq!(std::fs::read_dir(&r).unwrap().count(), files);
    }
    let audit = audit_entries(&env.path("state"));
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "key.rotate" && e["result"] == "ok"),
        "{audit:?}"
    );
    if kind != Kind::Local {
        return;
    }

    // The leaver puts their old slot back (an old version on a versioned
    // bucket): it opens epoch 0, which reads nothing written after and
    // writes nothing.
    let vault = Path::new(&env.vault);
    for (p, body) in &kept_slots {
        std::fs::write(vault.join(p), body).unwrap();
    }
    let out = env.path("leaver-after");
    let o = as_leaver(&["restore", &after, "--target", out.to_str().unwrap()]);
    assert!(
        !o.status.success(),
        "the leaver restored a snapshot of the new epoch"
    );
    assert!(stderr(&o).contains("newer key epoch"), "{}", stderr(&o));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    let o = as_leaver(&["backup", src.to_str().unwrap()]);
    assert!(!o.status.success(), "an old epoch's key wrote");
    assert!(stderr(&o).contains("rotated to epoch 1"), "{}", stderr(&o));
}
