//! Index objects: fuzz input sealed as an index object, loaded through
//! `Vault::load_index_file` and added to the in-memory index, twice (as
//! concurrent writers leave duplicates), then looked up.
#![no_main]

use coffer_core::backend::ObjectKind;
use coffer_core::Index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = coffer_fuzz::vault();
    let id = v
        .save_object(ObjectKind::Index, data)
        .expect("in-memory write");
    let loaded = v.load_index_file(&id);
    v.backend()
        .delete(&ObjectKind::Index.path(&id))
        .expect("in-memory delete");
    let Ok(file) = loaded else { return };
    let mut index = Index::default();
    index.add(&file);
    index.add(&file);
    if let Some(p) = file.packs.first() {
        index.set_condemned([p.id].into_iter().collect());
    }
    index.finish();
    assert!(index.len() <= file.blob_count());
    for p in &file.packs {
        for b in &p.blobs {
            let loc = index.lookup(&b.id).expect("every listed blob is indexed");
            assert!(file.packs.iter().any(|q| q.id == index.pack(loc.pack)));
            let _ = index.is_tree_pack(loc.pack);
            let _ = index.contains_live(&b.id);
        }
    }
    assert_eq!(index.iter().count(), index.len());
});
