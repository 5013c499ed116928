//! Backends for tests: coffer-storage's in-memory and fault-injecting
//! ones, and a backend that crashes at a chosen write or delete.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coffer_core::{Backend, ObjectInfo, StorageError};
pub use coffer_storage::{Fault, FaultyBackend, MemoryBackend};

/// Fails every write and delete from the `crash_at`-th on (counting from
/// 0), as if the process died there; reads and lists still work, so the
/// test can look. It counts the mutations asked of it, failed or not: a
/// run with `crash_at = u64::MAX` tells how many crash points there are.
pub struct CrashBackend {
    inner: Arc<dyn Backend>,
    mutations: AtomicU64,
    crash_at: u64,
}

impl CrashBackend {
    /// Wraps `inner`, crashing at mutation `crash_at`.
    pub fn new(inner: Arc<dyn Backend>, crash_at: u64) -> Self {
        CrashBackend {
            inner,
            mutations: AtomicU64::new(0),
            crash_at,
        }
    }

    /// How many writes and deletes were asked for so far.
    pub fn mutations(&self) -> u64 {
        self.mutations.load(Ordering::SeqCst)
    }

    fn mutate(&self, op: &'static str, path: &str) -> Result<(), StorageError> {
        if self.mutations.fetch_add(1, Ordering::SeqCst) >= self.crash_at {
            return Err(StorageError {
                op,
                path: path.into(),
                message: "injected crash".into(),
                not_found: false,
                retryable: false,
                kind: coffer_core::StorageErrorKind::Other,
            });
        }
        Ok(())
    }
}

impl Backend for CrashBackend {
    fn location(&self) -> String {
        "crash:".into()
    }
    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.mutate("write", path)?;
        self.inner.write(path, data)
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.inner.read(path)
    }
    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read_range(path, offset, len)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        self.inner.list(prefix)
    }
    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.mutate("delete", path)?;
        self.inner.delete(path)
    }
}

/// A new in-memory backend holding a copy of every object of `src`.
pub fn copy_of(src: &dyn Backend) -> Arc<MemoryBackend> {
    let dst = Arc::new(MemoryBackend::new());
    for o in src.list("").unwrap() {
        dst.write(&o.path, src.read(&o.path).unwrap()).unwrap();
    }
    dst
}

/// The paths of every object `backend` holds, sorted (for "nothing
/// written" checks).
pub fn object_paths(backend: &dyn Backend) -> Vec<String> {
    let mut v: Vec<String> = backend
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    v.sort();
    v
}
