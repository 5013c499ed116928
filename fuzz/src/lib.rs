//! Shared pieces of coffer's fuzz targets: an in-memory backend, a fixed
//! key, and a vault opened once per process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use coffer_core::backend::{Backend, ObjectInfo};
use coffer_core::{InitOptions, MasterKey, Secret, StorageError, Vault};

/// The vault id the key-slot target's slots are bound to (the seeds in
/// fuzz/seeds/key_slot hold slots made for it).
pub const VAULT_ID: &str = "00112233445566778899aabbccddeeff";
/// The master secret of [`key`].
pub const MASTER_SECRET: [u8; 32] = [7; 32];
/// The key-file secret the key-slot target opens slots with.
pub const KEY_FILE_SECRET: [u8; 32] = [9; 32];

/// A fixed master key, so that seeds sealed or wrapped for it stay valid.
pub fn key() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| MasterKey::from_secret(MASTER_SECRET))
}

/// A vault on an in-memory backend, made once per process (with a key-file
/// slot, so no Argon2 work). Targets store one object, read it back
/// through the vault's own loaders and delete it again.
pub fn vault() -> &'static Vault {
    static VAULT: OnceLock<Vault> = OnceLock::new();
    VAULT.get_or_init(|| {
        Vault::init(
            Arc::new(Mem::default()),
            &Secret::KeyFile(KEY_FILE_SECRET),
            &InitOptions::default(),
        )
        .expect("an in-memory vault")
    })
}

/// Objects in a map.
#[derive(Default)]
pub struct Mem(Mutex<BTreeMap<String, Vec<u8>>>);

fn not_found(op: &'static str, path: &str) -> StorageError {
    StorageError {
        op,
        path: path.into(),
        message: "not found".into(),
        not_found: true,
        retryable: false,
    }
}

impl Backend for Mem {
    fn location(&self) -> String {
        "mem".into()
    }
    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.0.lock().unwrap().insert(path.into(), data);
        Ok(())
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.0
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .ok_or_else(|| not_found("read", path))
    }
    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let d = self.read(path)?;
        let start = (offset as usize).min(d.len());
        let end = (offset.saturating_add(len) as usize).min(d.len());
        Ok(d[start..end].to_vec())
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                path: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }
    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.0.lock().unwrap().remove(path);
        Ok(())
    }
}
