//! Web identity (IRSA, `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`):
//! the token file is read again before every STS call, because whoever
//! writes it (the kubelet) replaces it before the token expires; a token
//! that cannot be read, is empty or has expired fails here with a message
//! that names the role and the file, before STS is asked.

use std::path::{Path, PathBuf};

use base64::Engine;
use reqsign_aws_v4::{AssumeRoleWithWebIdentityCredentialProvider, Credential};
use reqsign_core::{Context, ProvideCredential};

/// The role to assume and the file its token is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebIdentity {
    /// `AWS_ROLE_ARN`.
    pub(crate) role_arn: String,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub(crate) token_file: PathBuf,
    /// `AWS_ROLE_SESSION_NAME`, `coffer` when unset.
    pub(crate) session_name: String,
}

impl WebIdentity {
    /// The start of every message: which identity failed.
    fn who(&self) -> String {
        format!(
            "web identity for role {} (token file {})",
            self.role_arn,
            self.token_file.display()
        )
    }

    /// Reads the token: never empty, never expired (when it says when it
    /// expires: a JWT's `exp`).
    fn token(&self) -> Result<String, String> {
        let raw = std::fs::read(&self.token_file).map_err(|e| {
            format!(
                "{}: cannot read the token file: {e}; check that the projected service-account token is mounted and readable by coffer (AWS_WEB_IDENTITY_TOKEN_FILE)",
                self.who()
            )
        })?;
        let token = String::from_utf8(raw)
            .map_err(|_| format!("{}: the token file is not text (a JWT)", self.who()))?
            .trim()
            .to_string();
        if token.is_empty() {
            return Err(format!(
                "{}: the token file is empty; check what writes it (the kubelet for IRSA)",
                self.who()
            ));
        }
        if let Some(exp) = jwt_expiry(&token) {
            if exp <= jiff::Timestamp::now() {
                return Err(format!(
                    "{}: the token expired at {exp}; the file is read again before each refresh, so check that whatever writes it (the kubelet for IRSA) still renews it",
                    self.who()
                ));
            }
        }
        Ok(token)
    }

    /// Temporary credentials from STS (`AssumeRoleWithWebIdentity`,
    /// through `ctx`'s HTTP client, at `sts`).
    pub(crate) async fn assume(&self, ctx: &Context, sts: &str) -> Result<Credential, String> {
        let token = self.token()?;
        let p = AssumeRoleWithWebIdentityCredentialProvider::new()
            .with_role_arn(&self.role_arn)
            .with_subject_token(token.clone())
            .with_role_session_name(self.session_name.clone());
        let r = p.provide_credential(ctx).await;
        // STS errors are reqsign's; the token must never be in a message
        // even if a server echoes it.
        let redact = |m: String| m.replace(&token, "[token]");
        match r {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(format!("{}: STS at {sts} gave no credentials", self.who())),
            Err(e) => Err(redact(format!(
                "{}: STS at {sts} refused AssumeRoleWithWebIdentity: {}; check the role's trust policy and AWS_ENDPOINT_URL_STS",
                self.who(),
                chain(&e)
            ))),
        }
    }
}

/// The web identity the environment names, if it names one.
pub(crate) fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Option<WebIdentity> {
    let role_arn = var("AWS_ROLE_ARN")?;
    let token_file = var("AWS_WEB_IDENTITY_TOKEN_FILE")?;
    Some(WebIdentity {
        role_arn,
        token_file: Path::new(&token_file).to_path_buf(),
        session_name: var("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "coffer".into()),
    })
}

/// An error with its causes, `a: b: c` (reqsign's own message is short).
fn chain(e: &reqsign_core::Error) -> String {
    let mut m = e.to_string();
    for c in e.context() {
        if !c.starts_with("token") && !c.starts_with("subject_token") {
            m = format!("{m} ({c})");
        }
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        m = format!("{m}: {s}");
        src = s.source();
    }
    m
}

/// The `exp` claim of a JWT, when `token` is one and has it.
fn jwt_expiry(token: &str) -> Option<jiff::Timestamp> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    jiff::Timestamp::from_second(v.get("exp")?.as_i64()?).ok()
}

#[cfg(test)]
pub(crate) fn jwt(exp: i64) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2ln",
        b(r#"{"alg":"RS256"}"#),
        b(&format!(
            r#"{{"sub":"system:serviceaccount:backup:coffer","exp":{exp}}}"#
        ))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wi(file: PathBuf) -> WebIdentity {
        WebIdentity {
            role_arn: "arn:aws:iam::123456789012:role/coffer".into(),
            token_file: file,
            session_name: "coffer".into(),
        }
    }

    #[test]
    fn unreadable_empty_and_expired_tokens_name_the_role_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        let m = wi(f.clone()).token().unwrap_err();
        assert!(
            m.contains("role arn:aws:iam::123456789012:role/coffer"),
            "{m}"
        );
        assert!(m.contains(&f.display().to_string()), "{m}");
        assert!(m.contains("cannot read the token file"), "{m}");
        std::fs::write(&f, "\n").unwrap();
        assert!(wi(f.clone()).token().unwrap_err().contains("is empty"));
        let old = jwt(jiff::Timestamp::now().as_second() - 60);
        std::fs::write(&f, &old).unwrap();
        let m = wi(f.clone()).token().unwrap_err();
        assert!(m.contains("expired at"), "{m}");
        assert!(!m.contains(&old), "{m}");
        let new = jwt(jiff::Timestamp::now().as_second() + 600);
        std::fs::write(&f, &new).unwrap();
        assert_eq!(wi(f.clone()).token().unwrap(), new);
        // Not a JWT: STS judges it.
        std::fs::write(&f, "opaque").unwrap();
        assert_eq!(wi(f).token().unwrap(), "opaque");
    }
}
