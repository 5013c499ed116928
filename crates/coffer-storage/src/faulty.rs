//! A backend that fails on command, for fault tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use coffer_core::{
    Backend, ObjectInfo, ObjectRetention, RetentionStats, StorageError, WriteRetention,
};

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every operation succeeds.
    None,
    /// Writes fail after `n` more successful writes (a full disk, a crash point).
    FailWritesAfter(u64),
    /// Every read fails.
    FailReads,
}

/// Wraps a backend and injects [`Fault`]s.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    fault: Mutex<Fault>,
    writes: AtomicU64,
}

impl FaultyBackend {
    /// Wraps `inner` with no fault set.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        FaultyBackend {
            inner,
            fault: Mutex::new(Fault::None),
            writes: AtomicU64::new(0),
        }
    }

    /// Sets the fault; counting of writes restarts.
    pub fn set(&self, f: Fault) {
        self.writes.store(0, Ordering::SeqCst);
        *self.fault.lock().unwrap() = f;
    }

    fn injected(op: &'static str, path: &str) -> StorageError {
        StorageError {
            op,
            path: path.into(),
            message: "injected fault (no space left on device)".into(),
            not_found: false,
            retryable: false,
            kind: coffer_core::StorageErrorKind::Other,
        }
    }
}

impl FaultyBackend {
    /// Counts a write; fails it when [`Fault::FailWritesAfter`] says so.
    fn count_write(&self, path: &str) -> Result<(), StorageError> {
        if let Fault::FailWritesAfter(n) = *self.fault.lock().unwrap() {
            if self.writes.fetch_add(1, Ordering::SeqCst) >= n {
                return Err(Self::injected("write", path));
            }
        }
        Ok(())
    }
}

impl Backend for FaultyBackend {
    fn location(&self) -> String {
        format!("faulty:{}", self.inner.location())
    }

    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.count_write(path)?;
        self.inner.write(path, data)
    }

    fn write_data_pack(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.count_write(path)?;
        self.inner.write_data_pack(path, data)
    }

    fn ensure_thawed(&self, paths: &[String]) -> Result<(), StorageError> {
        self.inner.ensure_thawed(paths)
    }

    fn thaw_state(&self, paths: &[String]) -> Result<Vec<coffer_core::ThawState>, StorageError> {
        self.inner.thaw_state(paths)
    }

    fn request_thaw(
        &self,
        paths: &[String],
        days: u32,
        tier: coffer_core::ThawTier,
    ) -> Result<coffer_core::ThawStats, StorageError> {
        self.inner.request_thaw(paths, days, tier)
    }

    fn data_pack_class(&self) -> Option<String> {
        self.inner.data_pack_class()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        if *self.fault.lock().unwrap() == Fault::FailReads {
            return Err(Self::injected("read", path));
        }
        self.inner.read(path)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        if *self.fault.lock().unwrap() == Fault::FailReads {
            return Err(Self::injected("read", path));
        }
        self.inner.read_range(path, offset, len)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        self.inner.list(prefix)
    }

    fn list_classes(&self, prefix: &str) -> Result<Vec<coffer_core::ClassedObject>, StorageError> {
        self.inner.list_classes(prefix)
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.inner.delete(path)
    }

    fn modified(&self, path: &str) -> Result<Option<jiff::Timestamp>, StorageError> {
        self.inner.modified(path)
    }

    fn supports_object_lock(&self) -> bool {
        self.inner.supports_object_lock()
    }

    fn set_write_retention(&self, retention: WriteRetention) {
        self.inner.set_write_retention(retention)
    }

    fn write_retention(&self) -> WriteRetention {
        self.inner.write_retention()
    }

    fn ensure_retention(
        &self,
        items: Vec<(String, ObjectRetention)>,
    ) -> Result<RetentionStats, StorageError> {
        self.inner.ensure_retention(items)
    }
}
