//! An in-memory [`Backend`] for this crate's unit tests (coffer-storage's
//! `MemoryBackend`, which coffer-testing hands the other crates' tests and
//! this crate's integration tests, would be a dependency cycle here: a
//! second copy of coffer-core).

use crate::backend::{Backend, ObjectInfo};
use crate::error::StorageError;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Objects in a map.
#[derive(Default)]
pub(crate) struct Mem(Mutex<BTreeMap<String, Vec<u8>>>);

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
            .ok_or_else(|| StorageError {
                op: "read",
                path: path.into(),
                message: "not found".into(),
                not_found: true,
                retryable: false,
                kind: crate::error::StorageErrorKind::Other,
            })
    }
    fn read_range(&self, path: &str, o: u64, l: u64) -> Result<Vec<u8>, StorageError> {
        let d = self.read(path)?;
        Ok(d[o as usize..(o + l).min(d.len() as u64) as usize].to_vec())
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
