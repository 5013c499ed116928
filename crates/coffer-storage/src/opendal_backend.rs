//! Local directories and S3 through OpenDAL.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use coffer_core::lock::RETENTION_SLACK_DAYS;
use coffer_core::{
    Backend, ClassedObject, Error, ObjectInfo, ObjectRetention, Result, RetentionStats, Staged,
    StorageError, ThawState, ThawStats, ThawTier, WriteRetention,
};
use futures::StreamExt;
use opendal::Operator;
use reqsign_core::ProvideCredentialChain;

use crate::aws::AwsCredentials;
use crate::failure::{is_archive_class, not_thawed, thawed, Cause, Failure, Request, S3Place};
use crate::local_stage::{sync_dirs, LocalStaged};
use crate::retry;
use crate::s3lock::{covers, storage_err, stronger, S3Client};
use crate::url::S3Location;

/// A backend on an OpenDAL operator, driven by its own tokio runtime.
pub struct OpendalBackend {
    op: Operator,
    /// For an S3 vault with a storage class (`?storage_class=`): the
    /// operator its data packs are written through, which gives them that
    /// class. Every other object goes through `op`, in the bucket's
    /// default class, so that it reads at once even when the vault's class
    /// is an archive class (GLACIER, DEEP_ARCHIVE).
    cold: Option<Operator>,
    /// Data packs of an archive class this process found readable
    /// (thawed): a thawed copy lasts days, so a restore asks once.
    thawed: Mutex<HashSet<String>>,
    rt: tokio::runtime::Runtime,
    location: String,
    /// For local vaults: the root, whose directories are fsynced after a write.
    local_root: Option<std::path::PathBuf>,
    /// For S3 vaults: object lock writes and retention.
    lock: Option<ObjectLock>,
    /// For S3 vaults: where, for messages.
    place: Option<S3Place>,
    /// An S3 vault's bucket answered a HEAD: a missing object is missing,
    /// not its bucket.
    bucket_seen: AtomicBool,
    /// For S3 vaults: the credentials OpenDAL signs with, asked why they
    /// are missing when OpenDAL says only that (its provider chain drops
    /// the identity's error).
    creds: Option<AwsCredentials>,
}

/// Object lock state of an S3 backend.
struct ObjectLock {
    s3: S3Client,
    /// What later writes get.
    retention: RwLock<WriteRetention>,
    /// Retention this process wrote or read, by path: retention is never
    /// shortened, so a known date saves a HEAD.
    known: Mutex<HashMap<String, ObjectRetention>>,
}

/// How many retention requests run at once.
const RETENTION_CONCURRENCY: usize = 8;
/// Ranged reads a restore keeps in flight against a remote store (each up to
/// 4 MiB: restore's largest read).
const REMOTE_READS: usize = 8;

fn slack() -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(24 * RETENTION_SLACK_DAYS as i64)
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
            cold: None,
            thawed: Mutex::new(HashSet::new()),
            rt,
            location,
            local_root: None,
            lock: None,
            place: None,
            bucket_seen: AtomicBool::new(false),
            creds: None,
        })
    }

    /// A vault in a local directory (created if missing). Objects are
    /// written to `<dir>/.tmp` first, fsynced, then moved into place.
    pub fn local(dir: &Path) -> Result<Self> {
        let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        // Private directories before OpenDAL makes them with the umask's mode.
        crate::local_perms::prepare_root(&abs).map_err(|e| Error::io(&abs, e))?;
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

    /// A vault in an S3 bucket/prefix. Its storage class, if it has one,
    /// goes to its data packs only ([`Backend::write_data_pack`]).
    /// Credentials: [`AwsCredentials::for_location`].
    pub fn s3(loc: &S3Location) -> Result<Self> {
        Self::s3_with_credentials(loc, &AwsCredentials::for_location(loc))
    }

    /// [`Self::s3`] signing every request (data, Object Lock, retention)
    /// with `creds`, one cache for all of them.
    pub fn s3_with_credentials(loc: &S3Location, creds: &AwsCredentials) -> Result<Self> {
        let location = format!("s3://{}/{}", loc.bucket, loc.prefix);
        let place =
            S3Place::new(loc).map_err(|e| Error::InvalidInput(format!("{location}: {e}")))?;
        let op = s3_operator(loc, None, &place, &location, creds)?;
        let cold = match &loc.storage_class {
            Some(c) => Some(s3_operator(loc, Some(c), &place, &location, creds)?),
            None => None,
        };
        let mut b = Self::with_operator(op, location)?;
        b.cold = cold;
        b.place = Some(place);
        b.creds = Some(creds.clone());
        b.lock = Some(ObjectLock {
            s3: S3Client::with_credentials(loc, creds)
                .map_err(|e| Error::InvalidInput(format!("s3://{}: {e}", loc.bucket)))?,
            retention: RwLock::new(WriteRetention::None),
            known: Mutex::new(HashMap::new()),
        });
        Ok(b)
    }

    /// Writes an object: a data pack (`data_pack`) in the vault's storage
    /// class, anything else in the bucket's default.
    fn put(&self, path: &str, data: Vec<u8>, data_pack: bool) -> Result<(), StorageError> {
        let class = if data_pack {
            self.place.as_ref().and_then(|p| p.storage_class.as_deref())
        } else {
            None
        };
        if let Some(r) = self.write_locked(path, &data, class) {
            return r;
        }
        match &self.local_root {
            None => {
                let op = match (&self.cold, data_pack) {
                    (Some(cold), true) => cold,
                    _ => &self.op,
                };
                let data = opendal::Buffer::from(data);
                self.call("write", path, move || op.write(path, data.clone()))
                    .map(|_| ())
            }
            Some(root) => {
                crate::local_perms::before_write(root, path)?;
                // Through a writer, so the bytes are let go once they are in
                // the temporary file, before the fsync that can take far
                // longer.
                self.rt
                    .block_on(async {
                        let mut w = self.op.writer(path).await?;
                        w.write(data).await?;
                        w.close().await
                    })
                    .map_err(|e| self.err("write", path, e))?;
                crate::local_perms::after_write(root, path)?;
                // The file was fsynced and moved into place; make the move
                // (and a directory it created) durable too.
                sync_dirs(root, path)
            }
        }
    }

    /// Writes with object lock retention when the vault lock asks for it,
    /// in `class` when given. Returns `None` when the write is OpenDAL's to
    /// do.
    fn write_locked(
        &self,
        path: &str,
        data: &[u8],
        class: Option<&str>,
    ) -> Option<Result<(), StorageError>> {
        let lock = self.lock.as_ref()?;
        let r = match &*lock.retention.read().expect("not poisoned") {
            WriteRetention::None => return None,
            WriteRetention::Unknown(m) => {
                return Some(Err(StorageError {
                    op: "write",
                    path: path.to_string(),
                    message: m.clone(),
                    not_found: false,
                    retryable: false,
                    kind: coffer_core::StorageErrorKind::Other,
                }))
            }
            WriteRetention::Lock { mode, days } => ObjectRetention {
                mode: *mode,
                until: jiff::Timestamp::now()
                    + jiff::SignedDuration::from_hours(24 * *days as i64)
                    + slack(),
            },
        };
        Some(
            self.rt
                .block_on(lock.s3.put_object(path, data, Some(r), class))
                .map(|_| {
                    lock.known
                        .lock()
                        .expect("not poisoned")
                        .insert(path.to_string(), r);
                })
                .map_err(|e| storage_err(e, "write", path)),
        )
    }

    /// A request of `op` on `path`, as messages name it.
    /// The signed client of an S3 vault whose data packs are in an
    /// archive class (the calls of a thaw); `None` for any other vault.
    fn cold_client(&self) -> Option<&S3Client> {
        self.archive_class()?;
        self.lock.as_ref().map(|l| &l.s3)
    }

    fn at<'a>(&'a self, op: &str, path: &'a str) -> Request<'a> {
        Request::op(self.place.as_ref(), op, path)
    }

    /// The vault layer's error for an OpenDAL error of `op` on `path`.
    fn err(&self, op: &'static str, path: &str, e: opendal::Error) -> StorageError {
        self.failure(&e).into_storage(op, path, &self.at(op, path))
    }

    /// The failure of an OpenDAL error; missing credentials are the
    /// identity's error when it had one (a web identity whose token file
    /// cannot be read, STS refusing).
    fn failure(&self, e: &opendal::Error) -> Failure {
        let mut f = Failure::of_opendal(e, self.place.as_ref());
        if f.cause == Cause::NoCredentials {
            if let Some(why) = self.creds.as_ref().and_then(|c| c.identity_error()) {
                f.cause = Cause::Identity { why };
            }
        }
        f
    }

    /// Sends an OpenDAL request, again when that can help (S3 only, see
    /// [`retry`]), and translates its error.
    async fn send<T, F, Fut>(&self, at: &Request<'_>, mut f: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = opendal::Result<T>>,
    {
        retry::run(at, || {
            let fut = f();
            async move { fut.await.map_err(|e| self.failure(&e)) }
        })
        .await
    }

    /// [`Self::send`] on the backend's runtime, for the vault layer.
    fn call<T, F, Fut>(&self, op: &'static str, path: &str, f: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = opendal::Result<T>>,
    {
        let at = self.at(op, path);
        self.rt
            .block_on(self.send(&at, f))
            .map_err(|e| e.into_storage(op, path, &at))
    }

    /// An object's metadata, `None` when it does not exist. On S3 a HEAD
    /// answer has no body, so a 404 could be a missing bucket and a 403
    /// wrong credentials: the first 404 checks the bucket, a 403 asks the
    /// bucket who the credentials are.
    fn stat(&self, path: &str) -> Result<Option<opendal::Metadata>, StorageError> {
        let at = self.at("stat", path);
        self.rt
            .block_on(async {
                match self.send(&at, move || self.op.stat(path)).await {
                    Ok(m) => Ok(Some(m)),
                    Err(f) if f.cause == Cause::NotFound => self.bucket_exists().await.map(|()| None),
                    Err(f) if matches!(&f.cause, Cause::AccessDenied { code } if code.is_empty()) => {
                        Err(self.why_denied(f).await)
                    }
                    Err(f) => Err(f),
                }
            })
            .map_err(|e| e.into_storage("stat", path, &at))
    }

    /// Fails with [`Cause::NoBucket`] when an S3 vault's bucket is missing
    /// (asked once per backend; a local vault has no bucket).
    async fn bucket_exists(&self) -> Result<(), Failure> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        if self.bucket_seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        match lock.s3.head_bucket().await {
            Err(e) if e.status == Some(404) => Err(Failure {
                cause: Cause::NoBucket,
                raw: e.raw(),
            }),
            // The HEAD of the object got through; this says nothing new.
            Err(e) if e.is_transport() => Ok(()),
            _ => {
                self.bucket_seen.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// A 403 without a body: rejected credentials if a bucket request
    /// (whose answer has a body) says so, else `f` (access denied).
    async fn why_denied(&self, f: Failure) -> Failure {
        let Some(lock) = &self.lock else {
            return f;
        };
        match lock.s3.bucket_location().await {
            Err(e) if e.is_auth() => Failure {
                cause: e.why.cause.clone(),
                raw: format!("{}; GetBucketLocation: {}", f.raw, e.raw()),
            },
            _ => f,
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

    fn concurrent_reads(&self) -> usize {
        if self.local_root.is_some() {
            1
        } else {
            REMOTE_READS
        }
    }

    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.put(path, data, false)
    }

    fn write_data_pack(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.put(path, data, true)
    }

    fn data_pack_class(&self) -> Option<String> {
        self.place.as_ref().and_then(|p| p.storage_class.clone())
    }

    fn ensure_thawed(&self, paths: &[String]) -> Result<(), StorageError> {
        let (Some(lock), Some(place)) = (&self.lock, &self.place) else {
            return Ok(());
        };
        if !place.storage_class.as_deref().is_some_and(is_archive_class) {
            return Ok(());
        }
        let todo: Vec<&String> = {
            let known = self.thawed.lock().expect("not poisoned");
            paths.iter().filter(|p| !known.contains(*p)).collect()
        };
        let heads: Vec<(&String, Result<bool, StorageError>)> = self.rt.block_on(async {
            futures::stream::iter(todo)
                .map(|path| async move {
                    let frozen = match lock.s3.head(path).await {
                        Ok(h) => Ok(h.storage_class.as_deref().is_some_and(is_archive_class)
                            && !thawed(h.restore.as_deref())),
                        // A missing pack is the restore's to report.
                        Err(e) if e.is_not_found() => Ok(false),
                        Err(e) => Err(storage_err(e, "stat", path)),
                    };
                    (path, frozen)
                })
                .buffer_unordered(RETENTION_CONCURRENCY)
                .collect()
                .await
        });
        let mut frozen = Vec::new();
        let mut known = self.thawed.lock().expect("not poisoned");
        for (path, r) in heads {
            if r? {
                frozen.push(path.clone());
            } else {
                known.insert(path.clone());
            }
        }
        if frozen.is_empty() {
            return Ok(());
        }
        frozen.sort();
        Err(not_thawed(place, &frozen, paths.len()))
    }

    fn thaw_state(&self, paths: &[String]) -> Result<Vec<ThawState>, StorageError> {
        let Some(s3) = self.cold_client() else {
            return Ok(vec![ThawState::Readable; paths.len()]);
        };
        let states = self.rt.block_on(crate::thaw::states(s3, paths))?;
        let mut known = self.thawed.lock().expect("not poisoned");
        for (p, s) in paths.iter().zip(&states) {
            if s.readable() {
                known.insert(p.clone());
            }
        }
        Ok(states)
    }

    fn request_thaw(
        &self,
        paths: &[String],
        days: u32,
        tier: ThawTier,
    ) -> Result<ThawStats, StorageError> {
        let Some(s3) = self.cold_client() else {
            return Ok(ThawStats {
                objects: paths.len(),
                ready: paths.len(),
                ..ThawStats::default()
            });
        };
        self.rt
            .block_on(crate::thaw::request(s3, paths, days, tier))
    }

    fn cheap_reads(&self) -> bool {
        self.local_root.is_some()
    }

    fn can_stage(&self) -> bool {
        self.local_root.is_some()
    }

    fn stage(&self) -> Result<Box<dyn Staged>, StorageError> {
        match &self.local_root {
            Some(root) => Ok(Box::new(LocalStaged::new(root)?)),
            None => Err(StorageError {
                op: "stage",
                path: String::new(),
                message: format!("{} takes whole objects only", self.location),
                not_found: false,
                retryable: false,
                kind: coffer_core::StorageErrorKind::Other,
            }),
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        if let Some(root) = &self.local_root {
            return local_read(root, path, 0, None);
        }
        self.call("read", path, move || self.op.read(path))
            .map(into_vec)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        if let Some(root) = &self.local_root {
            return local_read(root, path, offset, Some(len));
        }
        self.call("read", path, move || async move {
            self.op.read_with(path).range(offset..offset + len).await
        })
        .map(into_vec)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let at = self.at("list", prefix);
        let listed = self.rt.block_on(self.send(&at, move || async move {
            self.op.list_with(prefix).recursive(true).await
        }));
        let entries = match listed {
            Ok(e) => e,
            Err(f) if f.cause == Cause::NotFound => return Ok(Vec::new()),
            Err(f) => return Err(f.into_storage("list", prefix, &at)),
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

    fn list_classes(&self, prefix: &str) -> Result<Vec<ClassedObject>, StorageError> {
        // OpenDAL's listing carries no storage class: an S3 vault lists
        // through the client that also does object lock (ListObjectsV2).
        match &self.lock {
            None => Ok(self
                .list(prefix)?
                .into_iter()
                .map(|o| ClassedObject {
                    path: o.path,
                    size: o.size,
                    class: None,
                })
                .collect()),
            Some(l) => self
                .rt
                .block_on(l.s3.list_classes(prefix))
                .map_err(|e| storage_err(e, "list", prefix)),
        }
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.call("delete", path, move || self.op.delete(path))
    }

    fn modified(&self, path: &str) -> Result<Option<jiff::Timestamp>, StorageError> {
        match self.stat(path)? {
            Some(m) => Ok(m.last_modified().map(|t| t.into_inner())),
            None => Err(Failure {
                cause: Cause::NotFound,
                raw: String::new(),
            }
            .into_storage("stat", path, &self.at("stat", path))),
        }
    }

    fn exists(&self, path: &str) -> Result<bool, StorageError> {
        Ok(self.stat(path)?.is_some())
    }

    fn store_time(&self) -> Result<Option<jiff::Timestamp>, StorageError> {
        match &self.lock {
            // A local directory: the system clock is the store's.
            None => Ok(None),
            Some(l) => self
                .rt
                .block_on(l.s3.server_time())
                .map(Some)
                .map_err(|e| storage_err(e, "read the clock of", "")),
        }
    }

    fn supports_object_lock(&self) -> bool {
        self.lock.is_some()
    }

    fn set_write_retention(&self, retention: WriteRetention) {
        if let Some(l) = &self.lock {
            *l.retention.write().expect("not poisoned") = retention;
        }
    }

    fn write_retention(&self) -> WriteRetention {
        match &self.lock {
            Some(l) => l.retention.read().expect("not poisoned").clone(),
            None => WriteRetention::None,
        }
    }

    fn ensure_retention(
        &self,
        items: Vec<(String, ObjectRetention)>,
    ) -> Result<RetentionStats, StorageError> {
        let Some(lock) = &self.lock else {
            return Err(StorageError {
                op: "set retention",
                path: self.location.clone(),
                message: format!(
                    "{} is a local directory: it cannot enforce object lock",
                    self.location
                ),
                not_found: false,
                retryable: false,
                kind: coffer_core::StorageErrorKind::Other,
            });
        };
        let outcomes: Vec<(String, Result<Option<bool>, StorageError>)> = self.rt.block_on(async {
            futures::stream::iter(items)
                .map(|(path, want)| async move {
                    let r = ensure_one(lock, &path, want).await;
                    (path, r)
                })
                .buffer_unordered(RETENTION_CONCURRENCY)
                .collect()
                .await
        });
        let mut stats = RetentionStats::default();
        for (path, r) in outcomes {
            stats.objects += 1;
            match r? {
                Some(true) => stats.extended += 1,
                Some(false) => stats.unchanged += 1,
                None => stats.missing.push(path),
            }
        }
        stats.missing.sort();
        Ok(stats)
    }
}

/// The OpenDAL operator of an S3 vault, writing objects in `class` (the
/// bucket's default when `None`).
fn s3_operator(
    loc: &S3Location,
    class: Option<&str>,
    place: &S3Place,
    location: &str,
    creds: &AwsCredentials,
) -> Result<Operator> {
    let mut b = opendal::services::S3::default()
        .bucket(&loc.bucket)
        .root(&format!("/{}", loc.prefix))
        .region(loc.region.as_deref().unwrap_or("us-east-1"))
        .disable_config_load()
        .disable_ec2_metadata()
        // Static keys or AWS's chain, the cache shared with the vault's
        // S3Client (crate::aws).
        .credential_provider_chain(ProvideCredentialChain::new().push(creds.clone()));
    if let Some(e) = &loc.endpoint {
        b = b.endpoint(e);
    }
    if !loc.path_style {
        b = b.enable_virtual_host_style();
    }
    if let Some(c) = class {
        b = b.default_storage_class(c);
    }
    // OpenDAL's default HTTP client has no connect timeout. Retries are
    // crate::retry's (one policy and one notice for every S3 request),
    // not OpenDAL's RetryLayer, whose notice knows no path.
    let http = reqwest::Client::builder()
        .connect_timeout(place.connect_timeout)
        .build()
        .map_err(|e| Error::InvalidInput(format!("{location}: HTTP client: {e}")))?;
    let transport =
        opendal::HttpTransporter::new(opendal_http_transport_reqwest::ReqwestTransport::new(http));
    Ok(Operator::new(b)
        .map_err(|e| Error::InvalidInput(format!("{location}: {e}")))?
        .with_context(opendal::OperationContext::default().with_http_transport(transport)))
}

/// Gives one object at least `want`: `Some(true)` when it was extended,
/// `Some(false)` when it already had it, `None` when it does not exist.
async fn ensure_one(
    lock: &ObjectLock,
    path: &str,
    want: ObjectRetention,
) -> Result<Option<bool>, StorageError> {
    let known = lock.known.lock().expect("not poisoned").get(path).copied();
    if known.is_some_and(|k| covers(&k, &want)) {
        return Ok(Some(false));
    }
    let have = match lock.s3.head(path).await {
        Ok(h) => h.retention,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(storage_err(e, "read retention", path)),
    };
    if let Some(h) = have.filter(|h| covers(h, &want)) {
        lock.known
            .lock()
            .expect("not poisoned")
            .insert(path.to_string(), h);
        return Ok(Some(false));
    }
    let new = ObjectRetention {
        mode: have.map_or(want.mode, |h| stronger(h.mode, want.mode)),
        until: have.map_or(want.until, |h| h.until.max(want.until)) + slack(),
    };
    lock.s3
        .put_retention(path, new)
        .await
        .map_err(|e| storage_err(e, "extend retention", path))?;
    lock.known
        .lock()
        .expect("not poisoned")
        .insert(path.to_string(), new);
    Ok(Some(true))
}

/// The bytes of an OpenDAL buffer, without a copy when the buffer is one
/// piece that nothing else shares (as a local file read gives).
/// Reads `len` bytes (or up to the end) from `offset` of a local vault's
/// object with `pread` into one buffer of the exact size. OpenDAL's local
/// reader goes through pooled buffers, a blocking-pool hop and, for a read
/// it splits, a copy into one contiguous buffer: three times the memory of
/// a restore's reads, for the same bytes.
fn local_read(
    root: &Path,
    path: &str,
    offset: u64,
    len: Option<u64>,
) -> Result<Vec<u8>, StorageError> {
    use std::os::unix::fs::FileExt;
    let err = |e: std::io::Error| StorageError {
        op: "read",
        path: path.to_string(),
        not_found: e.kind() == std::io::ErrorKind::NotFound,
        retryable: false,
        kind: coffer_core::StorageErrorKind::Other,
        message: e.to_string(),
    };
    let f = std::fs::File::open(root.join(path)).map_err(err)?;
    let size = f.metadata().map_err(err)?.len();
    let end = match len {
        Some(n) => offset.saturating_add(n).min(size),
        None => size,
    };
    let mut buf = vec![0u8; end.saturating_sub(offset) as usize];
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err(e)),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

fn into_vec(b: opendal::Buffer) -> Vec<u8> {
    Vec::from(b.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_object_has_a_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let b = OpendalBackend::local(dir.path()).unwrap();
        let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
        b.write("wal/ab", vec![1, 2, 3]).unwrap();
        let t = b
            .modified("wal/ab")
            .unwrap()
            .expect("a local file has an mtime");
        assert!(t >= before && t <= jiff::Timestamp::now(), "{t}");
        assert!(b.modified("wal/missing").unwrap_err().not_found);
    }

    fn s3_loc(url: &str) -> S3Location {
        match crate::Location::parse(url).unwrap() {
            crate::Location::S3(l) => l,
            crate::Location::Local(_) => unreachable!(),
        }
    }

    #[test]
    fn a_closed_port_is_refused_after_a_few_quick_retries() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut loc = s3_loc(&format!("s3://b/p?endpoint=http://127.0.0.1:{port}"));
        loc.access_key_id = Some("k".into());
        loc.secret_access_key = Some("s".into());
        let b = OpendalBackend::s3(&loc).unwrap();
        let notices = std::sync::Arc::new(Mutex::new(Vec::new()));
        let n2 = notices.clone();
        crate::on_retry(move |n| n2.lock().unwrap().push(n.to_string()));
        let t = std::time::Instant::now();
        let e = b.exists("config").unwrap_err();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(e.kind, coffer_core::StorageErrorKind::Unreachable);
        assert!(
            e.message
                .starts_with(&format!("connection refused at 127.0.0.1:{port}")),
            "{e}"
        );
        let n = notices.lock().unwrap();
        assert_eq!(n.len(), crate::ATTEMPTS as usize - 1, "{n:?}");
        assert_eq!(
            n[0],
            format!(
                "retrying HEAD config on vault s3://b/p (attempt 2 of 4): connection refused at 127.0.0.1:{port}"
            )
        );
    }

    #[test]
    fn no_credentials_fail_at_once_saying_how_to_give_them() {
        // Nothing listens there either: signing fails before a connection.
        let mut loc = s3_loc("s3://b/p?endpoint=http://127.0.0.1:1");
        loc.access_key_id = None;
        loc.secret_access_key = None;
        loc.session_token = None;
        // The chain with nothing to find (no home, no instance metadata):
        // a test never asks 169.254.169.254.
        let creds = AwsCredentials::from_vars(
            [("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string())].into(),
        );
        let b = OpendalBackend::s3_with_credentials(&loc, &creds).unwrap();
        let e = b.write("packs/ab", vec![1]).unwrap_err();
        assert_eq!(e.kind, coffer_core::StorageErrorKind::Credentials, "{e}");
        assert!(!e.retryable);
        assert!(
            e.message
                .starts_with("no S3 credentials: set AWS_ACCESS_KEY_ID"),
            "{e}"
        );
        assert!(!e.message.contains("reqsign"), "{e}");
        let e = b.store_time().unwrap_err();
        assert_eq!(e.kind, coffer_core::StorageErrorKind::Credentials, "{e}");
    }
}
