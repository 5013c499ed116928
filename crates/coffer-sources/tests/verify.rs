//! `files::verify_restored`: a restored file that differs from its snapshot
//! (same size, one byte changed; or truncated) is detected.

use coffer_core::BackupOptions;
use coffer_sources::{files, run_backup, Progress, SnapshotMeta};
use coffer_testing::memory_vault;

#[test]
fn a_changed_restored_file_is_detected() {
    let vault = memory_vault();
    let src = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..900_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.path().join("big.bin"), &data).unwrap();
    std::fs::write(src.path().join("small.txt"), b"hello").unwrap();
    let fopts = files::FilesOptions {
        paths: vec![src.path().to_path_buf()],
        ..Default::default()
    };
    let r = run_backup(
        &vault,
        &BackupOptions::default(),
        &SnapshotMeta::default(),
        |a, i| files::backup(a, i, &fopts, &Progress::default()),
    )
    .unwrap();
    let index = vault.load_index().unwrap();
    let out = tempfile::tempdir().unwrap();
    let opts = files::RestoreOptions {
        target: out.path().to_path_buf(),
        ..Default::default()
    };
    files::restore(&vault, &index, &r.snapshot, &opts, &Progress::default()).unwrap();
    let v = files::verify_restored(&vault, &index, &r.snapshot, out.path(), None).unwrap();
    assert_eq!((v.files, v.mismatch_count), (2, 0), "{v:?}");

    let restored = out.path().join(src.path().strip_prefix("/").unwrap());
    let mut changed = data.clone();
    changed[600_000] ^= 1;
    std::fs::write(restored.join("big.bin"), &changed).unwrap();
    std::fs::write(restored.join("small.txt"), b"hell").unwrap();
    let v = files::verify_restored(&vault, &index, &r.snapshot, out.path(), None).unwrap();
    assert_eq!(v.mismatch_count, 2, "{v:?}");
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.path.ends_with("big.bin") && m.problem.contains("content differs")),
        "{v:?}"
    );
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.path.ends_with("small.txt") && m.problem.contains("size is 4 bytes")),
        "{v:?}"
    );
}

/// Issue 16: names are compared as bytes. A snapshot whose names are not
/// UTF-8 (Linux allows every byte but `/` and NUL) compares equal to its
/// restore; a restored name one byte off is a difference (the snapshot's
/// entry is missing and the other one is not in the snapshot).
#[test]
fn issue16_names_that_are_not_utf8_compare_as_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let vault = memory_vault();
    let src = tempfile::tempdir().unwrap();
    let odd = OsStr::from_bytes(b"caf\xe9-\xff\x01.txt");
    let dir = OsStr::from_bytes(b"d\xc3\x28ir");
    std::fs::write(src.path().join(odd), b"latin-1 name").unwrap();
    std::fs::create_dir(src.path().join(dir)).unwrap();
    std::fs::write(src.path().join(dir).join(odd), b"inside").unwrap();
    std::fs::write(src.path().join("plain.txt"), b"plain").unwrap();
    let fopts = files::FilesOptions {
        paths: vec![src.path().to_path_buf()],
        ..Default::default()
    };
    let r = run_backup(
        &vault,
        &BackupOptions::default(),
        &SnapshotMeta::default(),
        |a, i| files::backup(a, i, &fopts, &Progress::default()),
    )
    .unwrap();
    let index = vault.load_index().unwrap();
    let out = tempfile::tempdir().unwrap();
    let opts = files::RestoreOptions {
        target: out.path().to_path_buf(),
        ..Default::default()
    };
    files::restore(&vault, &index, &r.snapshot, &opts, &Progress::default()).unwrap();
    let v = files::verify_restored(&vault, &index, &r.snapshot, out.path(), None).unwrap();
    assert_eq!((v.files, v.mismatch_count), (3, 0), "{v:?}");

    // One byte of a restored name changed.
    let restored = out.path().join(src.path().strip_prefix("/").unwrap());
    let off = OsStr::from_bytes(b"caf\xe8-\xff\x01.txt");
    std::fs::rename(restored.join(dir).join(odd), restored.join(dir).join(off)).unwrap();
    let v = files::verify_restored(&vault, &index, &r.snapshot, out.path(), None).unwrap();
    assert_eq!(v.mismatch_count, 2, "{v:?}");
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.problem.starts_with("missing")),
        "{v:?}"
    );
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.problem.starts_with("is not in the snapshot")),
        "{v:?}"
    );
    // An extra entry anywhere is a difference too.
    std::fs::rename(restored.join(dir).join(off), restored.join(dir).join(odd)).unwrap();
    std::fs::write(restored.join("stray"), b"x").unwrap();
    let v = files::verify_restored(&vault, &index, &r.snapshot, out.path(), None).unwrap();
    assert_eq!(v.mismatch_count, 1, "{v:?}");
    assert!(v.mismatches[0].path.ends_with("/stray"), "{v:?}");
}
