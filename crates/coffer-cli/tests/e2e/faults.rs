//! Damage and kills: the vault names what is broken, never hands out wrong
//! bytes, and survives a backup killed at any moment.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn flip_byte(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x40;
    // The vault's objects are read-only in spirit; tests change them on disk.
    std::fs::write(path, b).unwrap();
}

fn objects(env: &Env, dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = Path::new(&env.vault).join(dir);
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    walk(&root, &mut out);
    out.sort();
    out
}

/// Two snapshots, one of data the other does not share.
fn two_snapshots(env: &Env) -> (String, String, PathBuf, PathBuf) {
    let a = env.path("a");
    let b = env.path("b");
    write(&a.join("data.bin"), &noise(11, 4_000_000));
    write(&b.join("other.bin"), &noise(12, 4_000_000));
    env.init();
    let sa = env.backup(&[&a]);
    let sb = env.backup(&[&b]);
    (sa, sb, a, b)
}

#[test]
fn flipped_byte_in_a_pack_is_named_with_its_snapshot_and_restore_refuses() {
    let env = Env::new(Kind::Local, "flip-pack");
    let (sa, sb, a, _) = two_snapshots(&env);
    // Find the data pack of snapshot a: the one whose damage breaks it.
    let packs = objects(&env, "packs");
    let big: Vec<_> = packs
        .iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 1_000_000)
        .collect();
    assert_eq!(big.len(), 2, "expected one data pack per snapshot");
    let mut hit = None;
    for p in big {
        flip_byte(p, 1000);
        let o = env.run(&["check", "--read-data", "--json"]);
        assert_eq!(o.status.code(), Some(1));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let probs = r["problems"].as_array().unwrap();
        assert_eq!(probs.len(), 1, "{probs:?}");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            probs[0]["object"].as_str().unwrap().contains(name),
            "{probs:?}"
        );
        let snaps: Vec<&str> = probs[0]["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(snaps.len(), 1);
        if snaps[0] == &sa[..8] {
            hit = Some(p.clone());
            break;
        }
        assert_eq!(snaps[0], &sb[..8]);
        flip_byte(p, 1000); // undo
    }
    let hit = hit.expect("no pack held snapshot a's data");
    // Text output names the object too.
    let o = env.run(&["check", "--read-data"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(hit.file_name().unwrap().to_str().unwrap()) && text.contains(&sa[..8]),
        "{text}"
    );
    // Restore fails, names the pack, and writes no wrong byte.
    let out = env.path("out");
    let o = env.run(&["restore", &sa, "--target", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(hit.file_name().unwrap().to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    let restored = out.join(a.strip_prefix("/").unwrap()).join("data.bin");
    let want = std::fs::read(a.join("data.bin")).unwrap();
    if let Ok(got) = std::fs::read(&restored) {
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(*g == 0 || g == w, "wrong byte written at offset {i}");
        }
    }
    // The other snapshot still restores exactly.
    let out2 = env.path("out2");
    env.restore(&sb, &out2);
}

#[test]
fn flipped_byte_in_an_index_object_is_named() {
    let env = Env::new(Kind::Local, "flip-index");
    let (sa, _, _, _) = two_snapshots(&env);
    let idx = objects(&env, "index");
    assert_eq!(idx.len(), 2);
    flip_byte(&idx[0], 50);
    let o = env.run(&["check", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let probs = r["problems"].as_array().unwrap();
    let name = idx[0].file_name().unwrap().to_str().unwrap();
    let p = probs
        .iter()
        .find(|p| p["object"].as_str().unwrap().contains(name))
        .expect("index object named");
    // The snapshot whose blobs it listed is named (through the missing blobs).
    let all: Vec<String> = probs
        .iter()
        .flat_map(|p| {
            p["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
        })
        .collect();
    assert!(!all.is_empty(), "{probs:?}");
    let _ = (p, sa);
    // Any command that needs the index says which object is damaged.
    let o = env.run(&[
        "restore",
        "latest",
        "--target",
        env.path("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(name), "{}", stderr(&o));
}

#[test]
fn flipped_byte_in_a_snapshot_object_is_named() {
    let env = Env::new(Kind::Local, "flip-snap");
    let (sa, sb, _, b) = two_snapshots(&env);
    let snap_path = Path::new(&env.vault).join("snapshots").join(&sa);
    flip_byte(&snap_path, 30);
    let o = env.run(&["check", "--read-data", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let probs = r["problems"].as_array().unwrap();
    assert_eq!(probs.len(), 1, "{probs:?}");
    assert!(probs[0]["object"].as_str().unwrap().contains(&sa));
    assert_eq!(probs[0]["snapshots"][0], &sa[..8]);
    let o = env.run(&[
        "restore",
        &sa[..8],
        "--target",
        env.path("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&sa), "{}", stderr(&o));
    // The good snapshot restores.
    let out = env.path("ok");
    env.restore(&sb, &out);
    assert_same_tree(&b, &out.join(b.strip_prefix("/").unwrap()));
}

#[test]
fn backups_killed_at_random_moments_leave_a_sound_vault() {
    let env = Env::new(Kind::Local, "kill");
    let src = env.path("src");
    for i in 0..30u64 {
        write(&src.join(format!("f{i:02}")), &noise(i, 700_000));
    }
    env.init();
    let t0 = std::time::Instant::now();
    let first = env.backup(&[&src]);
    // Kills land anywhere in a backup of this size, however fast this
    // machine and build run one (a forced backup reads everything again).
    let span_ms = (t0.elapsed().as_millis() as u64).max(20);
    let first_tree = env.path("first");
    std::fs::create_dir_all(&first_tree).unwrap();
    let copy = first_tree.join("src");
    std::process::Command::new("cp")
        .args(["-a", src.to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .unwrap();
    let mut kills = 0;
    let mut completed = Vec::new();
    let mut round = 0u64;
    while kills < 50 {
        round += 1;
        // Change some files so every backup has new data to write.
        for i in 0..5u64 {
            write(
                &src.join(format!("f{:02}", (round * 7 + i) % 30)),
                &noise(round * 100 + i, 700_000),
            );
        }
        let mut child = env
            .cmd(&["backup", "--json", "--force", src.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rand::random::<u64>() % span_ms;
        std::thread::sleep(Duration::from_millis(delay));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success());
                completed.push(round);
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
        if round.is_multiple_of(10) {
            env.ok(&["check"]);
        }
        assert!(round < 400, "backups finish too fast to be killed");
    }
    env.ok(&["check", "--read-data"]);
    let out = env.path("out");
    env.restore(&first, &out);
    assert_same_tree(&copy, &out.join(src.strip_prefix("/").unwrap()));
    // The next backup succeeds and restores exactly.
    let last = env.backup(&[&src]);
    let out2 = env.path("out2");
    env.restore(&last, &out2);
    assert_same_tree(&src, &out2.join(src.strip_prefix("/").unwrap()));
    eprintln!("{kills} kills, {} backups completed", completed.len());
}

#[test]
fn read_data_subsets_cover_the_vault() {
    let env = Env::new(Kind::Local, "subset");
    let (_, _, _, _) = two_snapshots(&env);
    let packs = objects(&env, "packs").len();
    let read = |subset: &str| -> u64 {
        let r = env.json(&["check", "--read-data-subset", subset]);
        r["packs_read"].as_u64().unwrap()
    };
    assert_eq!(
        read("1/2") + read("2/2"),
        packs as u64,
        "parts 1/2 and 2/2 must cover every pack"
    );
    assert_eq!(read("100%"), packs as u64);
    assert!(read("50%") <= packs as u64);
    // A damaged data pack is found by the part that holds it, and only by
    // that part. (A damaged tree pack fails the structure check, which every
    // part runs, so the test picks a pack whose damage the structure check
    // does not see.)
    let data_pack = objects(&env, "packs")
        .into_iter()
        .find(|p| {
            flip_byte(p, 10);
            let structure_ok = env.run(&["check"]).status.success();
            if !structure_ok {
                flip_byte(p, 10); // put it back: a tree pack
            }
            structure_ok
        })
        .expect("the vault has a data pack");
    assert!(data_pack.exists());
    let failing: Vec<bool> = ["1/2", "2/2"]
        .iter()
        .map(|s| env.run(&["check", "--read-data-subset", s]).status.code() == Some(1))
        .collect();
    assert_eq!(failing.iter().filter(|f| **f).count(), 1, "{failing:?}");
}
