//! [`ObjectLockClient`]: a blocking [`S3Client`] with its own small runtime,
//! for the CLI and tests.

use super::client::S3Client;
use super::error::S3Error;
use crate::url::S3Location;

/// A blocking [`S3Client`] with its own small runtime, for the CLI and tests.
pub struct ObjectLockClient {
    rt: tokio::runtime::Runtime,
    pub(super) client: S3Client,
    pub(super) location: String,
}

impl ObjectLockClient {
    /// A client for `loc`.
    pub fn new(loc: &S3Location) -> Result<ObjectLockClient, S3Error> {
        let client = S3Client::new(loc)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| client.err("start", "runtime", None, "Config", &e.to_string()))?;
        Ok(ObjectLockClient {
            rt,
            client,
            location: format!("s3://{}/{}", loc.bucket, loc.prefix),
        })
    }

    /// The async client.
    pub fn client(&self) -> &S3Client {
        &self.client
    }

    /// Runs a future of the client to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}
