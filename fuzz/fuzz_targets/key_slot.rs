//! Key slots and key files. First input byte even: the rest is stored as
//! the only key slot of an in-memory vault, listed by `keys::list_slots`
//! and opened with a key-file secret by `keys::open` (base64, unwrapping,
//! the length check); a slot that opens yields the fixed master key, since
//! the wrapping is authenticated. Odd: the rest is a key file (and a
//! password file) read by `Secret::from_key_file` / `from_password_file`.
//!
//! Password slots are parsed and listed but not opened: opening runs
//! Argon2id with the slot's own parameters, a cost the slot chooses
//! (bounded by keys.rs, which refuses absurd parameters before any work).
#![no_main]

use coffer_core::backend::{Backend, ObjectKind};
use coffer_core::keys;
use coffer_core::{Id, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let mem = coffer_fuzz::Mem::default();
        mem.write(&ObjectKind::Key.path(&Id([1; 32])), rest.to_vec())
            .unwrap();
        let _ = keys::list_slots(&mem);
        let secret = Secret::KeyFile(coffer_fuzz::KEY_FILE_SECRET);
        if let Ok(opened) = keys::open(&mem, coffer_fuzz::VAULT_ID, &secret) {
            assert_eq!(
                opened.key.chunk_id(b"x"),
                coffer_fuzz::key().chunk_id(b"x"),
                "an authenticated slot yields the key it wrapped"
            );
        }
    } else {
        thread_local! {
            static DIR: std::path::PathBuf = {
                let d = std::env::temp_dir().join(format!("coffer-fuzz-{}", std::process::id()));
                std::fs::create_dir_all(&d).unwrap();
                d
            };
        }
        let path = DIR.with(|d| d.join("key"));
        std::fs::write(&path, rest).unwrap();
        let _ = Secret::from_key_file(&path);
        let _ = Secret::from_password_file(&path);
    }
});
