//! Bucket calls: the store's clock, HeadBucket, GetBucketLocation,
//! GetBucketVersioning, GetObjectLockConfiguration and CreateBucket.

use jiff::Timestamp;

use super::client::S3Client;
use super::encoding::parse_http_date;
use super::error::S3Error;
use super::xml::xml_tag;

impl S3Client {
    /// The store's clock: the `Date` header of a fresh HEAD of the bucket
    /// (every S3 answer carries one, RFC 7231's IMF-fixdate, whole
    /// seconds). Nothing is written: under object lock a probe object would
    /// be retained.
    pub async fn server_time(&self) -> Result<Timestamp, S3Error> {
        let r = self
            .request(http::Method::HEAD, None, "", &[], &[], "HeadBucket")
            .await?;
        let date = r.header("date").unwrap_or_default();
        parse_http_date(&date).ok_or_else(|| {
            self.err(
                "HeadBucket",
                &format!("on bucket {}", self.bucket),
                None,
                "Date",
                &format!("the answer's Date header `{date}` is not an HTTP date, so the store's clock is unknown"),
            )
        })
    }

    /// HeadBucket: whether the bucket exists (a 404 error if not).
    pub(crate) async fn head_bucket(&self) -> Result<(), S3Error> {
        self.request(http::Method::HEAD, None, "", &[], &[], "HeadBucket")
            .await
            .map(|_| ())
    }

    /// GetBucketLocation, asked only for its error: unlike a HEAD's, it
    /// has a body that says whether the credentials were rejected.
    pub(crate) async fn bucket_location(&self) -> Result<(), S3Error> {
        self.request(
            http::Method::GET,
            None,
            "location",
            &[],
            &[],
            "GetBucketLocation",
        )
        .await
        .map(|_| ())
    }

    /// GetBucketVersioning: `Enabled`, `Suspended`, or `None` (never enabled).
    pub async fn bucket_versioning(&self) -> Result<Option<String>, S3Error> {
        let r = self
            .request(
                http::Method::GET,
                None,
                "versioning",
                &[],
                &[],
                "GetBucketVersioning",
            )
            .await?;
        Ok(xml_tag(&String::from_utf8_lossy(&r.body), "Status").filter(|s| !s.is_empty()))
    }

    /// GetObjectLockConfiguration: whether object lock is enabled on the
    /// bucket, and its default retention rule if any (as text).
    pub async fn object_lock_configuration(&self) -> Result<(bool, Option<String>), S3Error> {
        let r = match self
            .request(
                http::Method::GET,
                None,
                "object-lock",
                &[],
                &[],
                "GetObjectLockConfiguration",
            )
            .await
        {
            Ok(r) => r,
            Err(e) if e.code == "ObjectLockConfigurationNotFoundError" => return Ok((false, None)),
            Err(e) => return Err(e),
        };
        let t = String::from_utf8_lossy(&r.body);
        let enabled = xml_tag(&t, "ObjectLockEnabled").as_deref() == Some("Enabled");
        let rule = xml_tag(&t, "DefaultRetention").map(|d| {
            let mode = xml_tag(&d, "Mode").unwrap_or_default();
            let n = xml_tag(&d, "Days")
                .map(|x| format!("{x} days"))
                .or_else(|| xml_tag(&d, "Years").map(|x| format!("{x} years")))
                .unwrap_or_default();
            format!("{mode} {n}")
        });
        Ok((enabled, rule))
    }

    /// CreateBucket, with object lock (and so versioning) when asked.
    pub async fn create_bucket(&self, object_lock: bool) -> Result<(), S3Error> {
        let mut h = Vec::new();
        if object_lock {
            h.push(("x-amz-bucket-object-lock-enabled", "true".to_string()));
        }
        self.request(http::Method::PUT, None, "", &h, &[], "CreateBucket")
            .await
            .map(|_| ())
    }
}
