//! Snapshot objects: fuzz input sealed as a snapshot object and loaded
//! through `Vault::load_snapshot` (name check, authentication, JSON), then
//! every accessor the listing, retention and forget code uses.
#![no_main]

use coffer_core::backend::ObjectKind;
use coffer_core::SnapshotFilter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = coffer_fuzz::vault();
    let id = v
        .save_object(ObjectKind::Snapshot, data)
        .expect("in-memory write");
    let loaded = v.load_snapshot(&id);
    v.backend()
        .delete(&ObjectKind::Snapshot.path(&id))
        .expect("in-memory delete");
    let Ok(s) = loaded else { return };
    let _ = s.timestamp();
    let _ = s.retain_until_timestamp();
    let own = SnapshotFilter {
        hosts: vec![s.hostname.clone()],
        tags: Vec::new(),
        paths: s.paths.clone(),
    };
    assert!(own.matches(&s), "a snapshot matches its own host and paths");
    let tags = SnapshotFilter {
        tags: s.tags.clone(),
        ..Default::default()
    };
    let _ = tags.matches(&s);
    // What a copy writes again reads back the same.
    let json = serde_json::to_vec(&s).expect("serializable");
    let back: coffer_core::Snapshot = serde_json::from_slice(&json).expect("re-parses");
    assert_eq!(back, s);
});
