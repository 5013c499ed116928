//! An in-memory backend for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use coffer_core::{Backend, ObjectInfo, StorageError};

/// Objects in a map; dropped with the backend.
#[derive(Default)]
pub struct MemoryBackend {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes a stored object in place (tests of damage detection only).
    pub fn tamper(&self, path: &str, f: impl FnOnce(&mut Vec<u8>)) {
        if let Some(v) = self.objects.lock().unwrap().get_mut(path) {
            f(v)
        }
    }
}

fn missing(op: &'static str, path: &str) -> StorageError {
    StorageError {
        op,
        path: path.into(),
        message: "no such object".into(),
        not_found: true,
        retryable: false,
        kind: coffer_core::StorageErrorKind::Other,
    }
}

impl Backend for MemoryBackend {
    fn location(&self) -> String {
        "memory:".into()
    }

    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.objects.lock().unwrap().insert(path.to_string(), data);
        Ok(())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.objects
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .ok_or_else(|| missing("read", path))
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let g = self.objects.lock().unwrap();
        let v = g.get(path).ok_or_else(|| missing("read", path))?;
        let a = (offset as usize).min(v.len());
        let b = (offset.saturating_add(len) as usize).min(v.len());
        Ok(v[a..b].to_vec())
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                path: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.objects.lock().unwrap().remove(path);
        Ok(())
    }
}
