//! AWS identities and request signing shared by every AWS request coffer
//! makes: the S3 data path (OpenDAL), the S3 calls OpenDAL lacks
//! ([`crate::S3Client`]: Object Lock, retention, probes) and the SNS
//! notification sink of the server.
//!
//! There is one credential provider, [`AwsCredentials`]: static keys when
//! the vault location or the environment has them, else the standard AWS
//! chain (web identity, shared config and credentials files and profiles,
//! SSO, `credential_process`, ECS / EKS Pod Identity container
//! credentials, EC2 instance metadata with IMDSv2), with temporary
//! credentials cached and refreshed before they expire. Every signer
//! ([`AwsSigner`], OpenDAL's) asks it, so a process makes one STS call per
//! credential lifetime whatever it talks to.

mod credentials;
mod http;
mod signer;
mod sns;
mod web_identity;

pub use credentials::AwsCredentials;
pub(crate) use credentials::IdentityError;
pub use signer::AwsSigner;
pub use sns::{default_endpoint as sns_default_endpoint, SnsClient, SnsError, SnsMessage};
