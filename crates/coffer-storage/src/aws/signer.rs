//! [`AwsSigner`]: SigV4 for one service and region with [`AwsCredentials`].

use reqsign_aws_v4::{Credential, RequestSigner};
use reqsign_core::{Context, Signer};
use sha2::Digest;

use super::AwsCredentials;

/// Signs requests to one AWS service (`s3`, `sns`) in one region. Clones
/// share the credential cache.
#[derive(Clone, Debug)]
pub struct AwsSigner {
    signer: Signer<Credential>,
}

impl AwsSigner {
    /// A signer for `service` in `region` with `creds`.
    pub fn new(creds: &AwsCredentials, service: &str, region: &str) -> AwsSigner {
        AwsSigner {
            signer: Signer::new(
                Context::new(),
                creds.clone(),
                RequestSigner::new(service, region),
            ),
        }
    }

    /// Signs `parts` in place. With `body`, the payload's SHA-256 is signed
    /// too (`x-amz-content-sha256`, which every service but S3 needs);
    /// without, S3's `UNSIGNED-PAYLOAD`.
    ///
    /// # Errors
    /// No credentials (`failed to load signing credential`), or an
    /// identity that could not give them (the error's source is then an
    /// [`IdentityError`](super::IdentityError) naming it).
    pub async fn sign(
        &self,
        parts: &mut http::request::Parts,
        body: Option<&[u8]>,
    ) -> reqsign_core::Result<()> {
        if let Some(b) = body {
            let hash = hex::encode(sha2::Sha256::digest(b));
            parts.headers.insert(
                "x-amz-content-sha256",
                http::HeaderValue::from_str(&hash).expect("hex is a header value"),
            );
        }
        self.signer.sign(parts, None).await
    }
}
