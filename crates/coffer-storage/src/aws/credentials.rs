//! [`AwsCredentials`]: the one credential provider of every AWS request.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqsign_aws_v4::{Credential, DefaultCredentialProvider};
use reqsign_core::{Context, OsEnv, ProvideCredential, StaticEnv};
use reqsign_file_read_tokio::TokioFileRead;

use super::http::{Http, StsEndpoint};
use super::web_identity::{self, WebIdentity};
use crate::url::S3Location;

/// Temporary credentials are fetched again when they expire within this
/// (the AWS SDKs' margin), so no request is signed with a key about to
/// lapse.
pub(crate) const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Where credentials come from, and the cache of temporary ones. Cheap to
/// clone: clones share the cache. `Debug` never shows a key.
#[derive(Clone)]
pub struct AwsCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    ctx: Context,
    sts: Option<StsEndpoint>,
    cache: tokio::sync::Mutex<Option<Credential>>,
    /// Why the last load failed (cleared by a success): OpenDAL asks
    /// through a provider chain, which drops errors, so its backend reads
    /// the message here.
    last_error: std::sync::Mutex<Option<String>>,
}

enum Source {
    /// Keys given in the vault location or the environment.
    Static(Credential),
    /// `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`.
    WebIdentity(WebIdentity),
    /// The rest of AWS's chain: profiles (shared config and credentials
    /// files, `AWS_PROFILE`), SSO, `credential_process`, ECS / EKS Pod
    /// Identity container credentials, EC2 instance metadata (IMDSv2).
    Chain(DefaultCredentialProvider),
    /// `AWS_ENDPOINT_URL_STS` is set but is no URL: every signing fails
    /// saying so.
    Invalid(String),
    #[cfg(test)]
    Fake(Arc<dyn Fn() -> Credential + Send + Sync>),
}

/// An identity that could not give credentials; its message names the
/// identity (the role, the token file) and what to check. Attached as the
/// source of the reqsign error the signer sees, so that storage errors
/// tell it from rejected or missing keys.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct IdentityError(pub(crate) String);

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("source", &self.source_name())
            .finish_non_exhaustive()
    }
}

static FROM_ENV: OnceLock<AwsCredentials> = OnceLock::new();

impl AwsCredentials {
    /// The credentials of an S3 location: its static keys when it has them
    /// (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, and
    /// `AWS_SESSION_TOKEN`), else [`Self::from_env`].
    pub fn for_location(loc: &S3Location) -> AwsCredentials {
        match (&loc.access_key_id, &loc.secret_access_key) {
            (Some(k), Some(s)) => AwsCredentials::new(
                Source::Static(Credential {
                    access_key_id: k.clone(),
                    secret_access_key: s.clone(),
                    session_token: loc.session_token.clone(),
                    expires_in: None,
                }),
                Context::new(),
                None,
            ),
            _ => AwsCredentials::from_env(),
        }
    }

    /// The process's credentials from the standard AWS chain, one shared
    /// cache for the whole process (the first call reads the
    /// environment): static keys in the environment; else web identity
    /// (`AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`, optionally
    /// `AWS_ROLE_SESSION_NAME`; STS at `AWS_ENDPOINT_URL_STS` when set);
    /// else profiles, SSO, `credential_process`, container credentials
    /// and EC2 instance metadata (off with `AWS_EC2_METADATA_DISABLED=true`).
    pub fn from_env() -> AwsCredentials {
        FROM_ENV
            .get_or_init(|| {
                let vars: HashMap<String, String> = std::env::vars().collect();
                AwsCredentials::from_vars_with(&vars, Context::new().with_env(OsEnv))
            })
            .clone()
    }

    /// [`Self::from_env`] for `vars` instead of the process environment,
    /// with no home directory (no shared config files): for tests.
    pub fn from_vars(vars: HashMap<String, String>) -> AwsCredentials {
        let env = StaticEnv {
            home_dir: None,
            envs: vars.clone(),
        };
        AwsCredentials::from_vars_with(&vars, Context::new().with_env(env))
    }

    fn from_vars_with(vars: &HashMap<String, String>, ctx: Context) -> AwsCredentials {
        let var = |k: &str| vars.get(k).filter(|v| !v.trim().is_empty()).cloned();
        let sts = match var("AWS_ENDPOINT_URL_STS").map(|s| StsEndpoint::parse(&s)) {
            None => None,
            Some(Ok(e)) => Some(e),
            Some(Err(m)) => return AwsCredentials::new(Source::Invalid(m), ctx, None),
        };
        let source =
            if let (Some(k), Some(s)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                Source::Static(Credential {
                    access_key_id: k,
                    secret_access_key: s,
                    session_token: var("AWS_SESSION_TOKEN"),
                    expires_in: None,
                })
            } else if let Some(w) = web_identity::from_vars(&var) {
                Source::WebIdentity(w)
            } else {
                Source::Chain(
                    DefaultCredentialProvider::builder()
                        .no_env()
                        .no_web_identity()
                        .build(),
                )
            };
        let ctx = ctx
            .with_file_read(TokioFileRead)
            .with_http_send(Http::new(sts.clone()));
        AwsCredentials::new(source, ctx, sts)
    }

    fn new(source: Source, ctx: Context, sts: Option<StsEndpoint>) -> AwsCredentials {
        AwsCredentials {
            inner: Arc::new(Inner {
                source,
                ctx,
                sts,
                cache: tokio::sync::Mutex::new(None),
                last_error: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Which kind of identity, for messages and `Debug`.
    pub fn source_name(&self) -> &'static str {
        match &self.inner.source {
            Source::Static(_) => "static keys",
            Source::WebIdentity(_) => "web identity",
            Source::Chain(_) => "AWS credential chain",
            Source::Invalid(_) => "invalid configuration",
            #[cfg(test)]
            Source::Fake(_) => "fake",
        }
    }

    /// Credentials to sign with now: `Ok(None)` when no source has any.
    /// Temporary ones are cached and fetched again [`REFRESH_BEFORE`] they
    /// expire.
    pub async fn get(&self) -> reqsign_core::Result<Option<Credential>> {
        let i = &self.inner;
        if let Source::Static(c) = &i.source {
            return Ok(Some(c.clone()));
        }
        let mut cached = i.cache.lock().await;
        let fresh_until = reqsign_core::time::Timestamp::now() + REFRESH_BEFORE;
        if let Some(c) = cached
            .as_ref()
            .filter(|c| !c.access_key_id.is_empty() && c.expires_in.is_none_or(|e| e > fresh_until))
        {
            return Ok(Some(c.clone()));
        }
        let got = self.load().await;
        *i.last_error.lock().expect("not poisoned") = match &got {
            Err(e) => Some(identity_message(e)),
            Ok(_) => None,
        };
        let got = got?;
        cached.clone_from(&got);
        Ok(got)
    }

    /// Why the identity could not give credentials the last time it was
    /// asked, if it could not: names the identity (the role and the token
    /// file of a web identity) and what to check.
    pub(crate) fn identity_error(&self) -> Option<String> {
        self.inner.last_error.lock().expect("not poisoned").clone()
    }

    async fn load(&self) -> reqsign_core::Result<Option<Credential>> {
        let i = &self.inner;
        let fail = |m: String| {
            reqsign_core::Error::credential_invalid(m.clone()).with_source(IdentityError(m))
        };
        match &i.source {
            Source::Static(c) => Ok(Some(c.clone())),
            Source::Invalid(m) => Err(fail(m.clone())),
            Source::WebIdentity(w) => {
                let sts = i
                    .sts
                    .as_ref()
                    .map_or_else(|| "https://sts.amazonaws.com".into(), |s| s.url());
                w.assume(&i.ctx, &sts).await.map(Some).map_err(fail)
            }
            Source::Chain(p) => p.provide_credential(&i.ctx).await,
            #[cfg(test)]
            Source::Fake(f) => Ok(Some(f())),
        }
    }
}

/// The message of a load error: the identity's own (an [`IdentityError`]),
/// else reqsign's with its context.
fn identity_message(e: &reqsign_core::Error) -> String {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(i) = s.downcast_ref::<IdentityError>() {
            return i.0.clone();
        }
        src = s.source();
    }
    let mut m = e.to_string();
    for c in e.context() {
        m = format!("{m} ({c})");
    }
    m
}

impl ProvideCredential for AwsCredentials {
    type Credential = Credential;

    /// The signer's context is not used: the provider has its own (its
    /// HTTP client, the STS endpoint), the same whoever signs.
    async fn provide_credential(&self, _: &Context) -> reqsign_core::Result<Option<Credential>> {
        self.get().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn fake(lasts: Duration) -> (AwsCredentials, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let f = move || {
            let i = n2.fetch_add(1, Ordering::SeqCst);
            Credential {
                access_key_id: format!("ASIA{i}"),
                secret_access_key: "s".into(),
                session_token: Some("t".into()),
                expires_in: Some(reqsign_core::time::Timestamp::now() + lasts),
            }
        };
        (
            AwsCredentials::new(Source::Fake(Arc::new(f)), Context::new(), None),
            n,
        )
    }

    #[test]
    fn temporary_credentials_are_cached_and_refreshed_before_they_expire() {
        let rt = rt();
        let (c, n) = fake(Duration::from_secs(3600));
        for _ in 0..3 {
            let k = rt.block_on(c.get()).unwrap().unwrap();
            assert_eq!(k.access_key_id, "ASIA0");
        }
        // Clones share the cache.
        rt.block_on(c.clone().get()).unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Expiring within the margin: fetched again each time.
        let (c, n) = fake(REFRESH_BEFORE - Duration::from_secs(60));
        assert_eq!(
            rt.block_on(c.get()).unwrap().unwrap().access_key_id,
            "ASIA0"
        );
        assert_eq!(
            rt.block_on(c.get()).unwrap().unwrap().access_key_id,
            "ASIA1"
        );
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_environment_picks_the_source_and_debug_shows_no_key() {
        let vars = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let c = AwsCredentials::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ]));
        assert_eq!(c.source_name(), "static keys");
        let d = format!("{c:?}");
        assert!(
            !d.contains("very-secret") && !d.contains("AKIAEXAMPLE"),
            "{d}"
        );
        let c = AwsCredentials::from_vars(vars(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
        ]));
        assert_eq!(c.source_name(), "web identity");
        let e = rt().block_on(c.get()).unwrap_err();
        assert_eq!(e.kind(), reqsign_core::ErrorKind::CredentialInvalid);
        let m = e.to_string();
        assert_eq!(c.identity_error().as_deref(), Some(m.as_str()));
        assert!(m.contains("role arn:aws:iam::1:role/r"), "{m}");
        assert!(m.contains("/nonexistent/token"), "{m}");
        let c = AwsCredentials::from_vars(vars(&[("AWS_ENDPOINT_URL_STS", "sts")]));
        let m = rt().block_on(c.get()).unwrap_err().to_string();
        assert!(m.starts_with("AWS_ENDPOINT_URL_STS=`sts`"), "{m}");
        // Nothing: the chain finds nothing (no home, no metadata).
        let c = AwsCredentials::from_vars(vars(&[("AWS_EC2_METADATA_DISABLED", "true")]));
        assert_eq!(c.source_name(), "AWS credential chain");
        assert!(rt().block_on(c.get()).unwrap().is_none());
    }
}
