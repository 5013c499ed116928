//! Local directories and S3 through OpenDAL.

use std::path::Path;

use coffer_core::{Backend, Error, ObjectInfo, Result, StorageError};
use opendal::{ErrorKind as OdKind, Operator};

use crate::url::S3Location;

/// A backend on an OpenDAL operator, driven by its own tokio runtime.
pub struct OpendalBackend {
    op: Operator,
    rt: tokio::runtime::Runtime,
    location: String,
    /// For local vaults: the root, whose directories are fsynced after a write.
    local_root: Option<std::path::PathBuf>,
}

impl OpendalBackend {
    fn with_operator(op: Operator, location: String) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coffer-storage")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(OpendalBackend {
            op,
            rt,
            location,
            local_root: None,
        })
    }

    /// A vault in a local directory (created if missing). Objects are
    /// written to `<dir>/.tmp` first, fsynced, then moved into place.
    pub fn local(dir: &Path) -> Result<Self> {
        let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let root = abs.to_string_lossy().to_string();
        let builder = opendal::services::Fs::default()
            .root(&root)
            .atomic_write_dir(&format!("{root}/.tmp"));
        let op = Operator::new(builder)
            .map_err(|e| Error::InvalidInput(format!("local vault {root}: {e}")))?;
        let mut b = Self::with_operator(op, root)?;
        b.local_root = Some(abs);
        Ok(b)
    }

    /// A vault in an S3 bucket/prefix.
    pub fn s3(loc: &S3Location) -> Result<Self> {
        let mut b = opendal::services::S3::default()
            .bucket(&loc.bucket)
            .root(&format!("/{}", loc.prefix))
            .region(loc.region.as_deref().unwrap_or("us-east-1"))
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(e) = &loc.endpoint {
            b = b.endpoint(e);
        }
        if !loc.path_style {
            b = b.enable_virtual_host_style();
        }
        if let Some(k) = &loc.access_key_id {
            b = b.access_key_id(k);
        }
        if let Some(k) = &loc.secret_access_key {
            b = b.secret_access_key(k);
        }
        if let Some(t) = &loc.session_token {
            b = b.session_token(t);
        }
        if let Some(c) = &loc.storage_class {
            b = b.default_storage_class(c);
        }
        let location = format!("s3://{}/{}", loc.bucket, loc.prefix);
        let op = Operator::new(b)
            .map_err(|e| Error::InvalidInput(format!("{location}: {e}")))?
            .layer(
                opendal::layers::RetryLayer::new()
                    .with_max_times(4)
                    .with_jitter(),
            );
        Self::with_operator(op, location)
    }

    fn err(op: &'static str, path: &str, e: opendal::Error) -> StorageError {
        StorageError {
            op,
            path: path.to_string(),
            not_found: e.kind() == OdKind::NotFound,
            retryable: e.is_temporary(),
            message: e.to_string(),
        }
    }
}

impl Backend for OpendalBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn concurrent_writes(&self) -> usize {
        if self.local_root.is_some() {
            1
        } else {
            4
        }
    }

    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.rt
            .block_on(self.op.write(path, data))
            .map_err(|e| Self::err("write", path, e))?;
        if let Some(root) = &self.local_root {
            // The file was fsynced and moved into place; make the move (and a
            // directory it created) durable too, up to the vault's root.
            let mut dir = root.join(path);
            while dir.pop() && dir.starts_with(root) {
                std::fs::File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| StorageError {
                        op: "fsync",
                        path: dir.display().to_string(),
                        message: e.to_string(),
                        not_found: false,
                        retryable: false,
                    })?;
            }
        }
        Ok(())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.rt
            .block_on(self.op.read(path))
            .map(into_vec)
            .map_err(|e| Self::err("read", path, e))
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.rt
            .block_on(async { self.op.read_with(path).range(offset..offset + len).await })
            .map(into_vec)
            .map_err(|e| Self::err("read", path, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let entries = match self
            .rt
            .block_on(async { self.op.list_with(prefix).recursive(true).await })
        {
            Ok(e) => e,
            Err(e) if e.kind() == OdKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::err("list", prefix, e)),
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if e.metadata().is_dir() {
                continue;
            }
            let mut size = e.metadata().content_length();
            if size == 0 {
                // Some services do not return sizes when listing.
                size = self
                    .rt
                    .block_on(self.op.stat(e.path()))
                    .map(|m| m.content_length())
                    .unwrap_or(0);
            }
            out.push(ObjectInfo {
                path: e.path().to_string(),
                size,
            });
        }
        Ok(out)
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.rt
            .block_on(self.op.delete(path))
            .map_err(|e| Self::err("delete", path, e))
    }

    fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.rt
            .block_on(self.op.exists(path))
            .map_err(|e| Self::err("stat", path, e))
    }
}

/// The bytes of an OpenDAL buffer, without a copy when the buffer is one
/// piece that nothing else shares (as a local file read gives).
fn into_vec(b: opendal::Buffer) -> Vec<u8> {
    Vec::from(b.to_bytes())
}
