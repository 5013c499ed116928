//! Per-object calls: PUT with object lock retention, HEAD (storage class,
//! retention, version), PutObjectRetention, and DELETE of an object or of
//! one version (with the governance bypass).

use coffer_core::ObjectRetention;
use jiff::Timestamp;

use super::client::S3Client;
use super::encoding::{encode, md5_b64, mode_name, parse_mode, s3_time};
use super::error::S3Error;

/// What HEAD says about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadInfo {
    /// `x-amz-storage-class` (absent means STANDARD).
    pub storage_class: Option<String>,
    /// The object lock retention, if any.
    pub retention: Option<ObjectRetention>,
    /// The current version's id, on a versioned bucket.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// `x-amz-restore`: a restore (thaw) of an archived object asked for
    /// (`ongoing-request="true"`) or done (`ongoing-request="false",
    /// expiry-date="…"`); `None` when none was asked.
    pub restore: Option<String>,
}

impl S3Client {
    /// PUT an object, with object lock retention when given, in
    /// `storage_class` when given (else the bucket's default). A vault
    /// gives its storage class to its data packs only (see
    /// [`coffer_core::Backend::write_data_pack`]). Returns the new
    /// version's id (on a versioned bucket).
    pub async fn put_object(
        &self,
        path: &str,
        data: &[u8],
        retention: Option<ObjectRetention>,
        storage_class: Option<&str>,
    ) -> Result<Option<String>, S3Error> {
        let mut h = vec![("content-md5", md5_b64(data))];
        if let Some(c) = storage_class {
            h.push(("x-amz-storage-class", c.to_string()));
        }
        if let Some(r) = retention {
            h.push(("x-amz-object-lock-mode", mode_name(r.mode).to_string()));
            h.push(("x-amz-object-lock-retain-until-date", s3_time(r.until)));
        }
        let r = self
            .request(http::Method::PUT, Some(path), "", &h, data, "PutObject")
            .await?;
        Ok(r.header("x-amz-version-id"))
    }
    /// HEAD an object: storage class, retention, version.
    pub async fn head(&self, path: &str) -> Result<HeadInfo, S3Error> {
        let r = self
            .request(http::Method::HEAD, Some(path), "", &[], &[], "HeadObject")
            .await?;
        let retention = match (
            r.header("x-amz-object-lock-mode")
                .as_deref()
                .and_then(parse_mode),
            r.header("x-amz-object-lock-retain-until-date")
                .and_then(|u| u.parse::<Timestamp>().ok()),
        ) {
            (Some(mode), Some(until)) => Some(ObjectRetention { mode, until }),
            _ => None,
        };
        Ok(HeadInfo {
            storage_class: r.header("x-amz-storage-class"),
            retention,
            version_id: r.header("x-amz-version-id").filter(|v| v != "null"),
            size: r
                .header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
            restore: r.header("x-amz-restore"),
        })
    }

    /// PutObjectRetention on the current version.
    pub async fn put_retention(&self, path: &str, r: ObjectRetention) -> Result<(), S3Error> {
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            mode_name(r.mode),
            s3_time(r.until)
        );
        let h = [("content-md5", md5_b64(body.as_bytes()))];
        self.request(
            http::Method::PUT,
            Some(path),
            "retention",
            &h,
            body.as_bytes(),
            "PutObjectRetention",
        )
        .await
        .map(|_| ())
    }

    /// DELETE one version of an object (with
    /// `x-amz-bypass-governance-retention` when `bypass`).
    pub async fn delete_version(
        &self,
        path: &str,
        version: &str,
        bypass: bool,
    ) -> Result<(), S3Error> {
        let mut h = Vec::new();
        if bypass {
            h.push(("x-amz-bypass-governance-retention", "true".to_string()));
        }
        self.request(
            http::Method::DELETE,
            Some(path),
            &format!("versionId={}", encode(version, false)),
            &h,
            &[],
            "DeleteObject (version)",
        )
        .await
        .map(|_| ())
    }

    /// DELETE an object (its current version: on a versioned bucket this
    /// adds a delete marker).
    pub async fn delete(&self, path: &str) -> Result<(), S3Error> {
        self.request(
            http::Method::DELETE,
            Some(path),
            "",
            &[],
            &[],
            "DeleteObject",
        )
        .await
        .map(|_| ())
    }
}
