//! API tokens and roles.
//!
//! A token is `cof_` followed by 32 random bytes in base64url (43
//! characters). It is shown once, when created; the catalog keeps only its
//! BLAKE3 hash (a random 256-bit secret needs no slow KDF: nobody can guess
//! it from the hash). Each token has one [`Role`]:
//!
//! - `viewer` reads (vaults, sources, jobs, snapshots, reports, events);
//! - `operator` also starts jobs (rule runs, verify, restore tests,
//!   restores of a files snapshot through the API) and previews a forget;
//! - `admin` also changes holds, forgets for real and manages tokens.

use crate::catalog::{Catalog, CatalogError, TokenRecord};
use jiff::Timestamp;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The prefix of every token (lets secret scanners recognise them).
pub const TOKEN_PREFIX: &str = "cof_";

/// What a token may do; each role may do all the lower ones may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and starts jobs.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Role, AuthError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(AuthError::InvalidInput(format!(
                "unknown role `{s}`: choose viewer, operator or admin"
            ))),
        }
    }
}

/// Why a request is not authenticated, or a token not created.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error(
        "no token: send `Authorization: Bearer TOKEN` (create one with `coffer token create`)"
    )]
    Missing,
    /// Unknown, revoked or expired token (not told apart, on purpose).
    #[error("the token is unknown, revoked or expired")]
    Invalid,
    /// Bad input to [`create_token`].
    #[error("{0}")]
    InvalidInput(String),
    /// The catalog.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A token that authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The hex BLAKE3 hash of `token`, as stored.
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn new_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// Parses a token lifetime such as `90d`, `12h` or `1y`.
pub fn parse_lifetime(s: &str) -> Result<std::time::Duration, AuthError> {
    let d = humantime::parse_duration(s).map_err(|e| {
        AuthError::InvalidInput(format!(
            "--expires `{s}` is not a duration such as 90d, 12h or 1y: {e}"
        ))
    })?;
    if d.is_zero() {
        return Err(AuthError::InvalidInput(format!(
            "--expires `{s}` is zero: give a positive duration such as 90d"
        )));
    }
    Ok(d)
}

/// Creates a token named `name` with `role`, valid for `lifetime` (or
/// forever); returns the token (shown once) and its record.
pub fn create_token(
    catalog: &Catalog,
    name: &str,
    role: Role,
    lifetime: Option<std::time::Duration>,
    now: Timestamp,
) -> Result<(String, TokenRecord), AuthError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(AuthError::InvalidInput(format!(
            "token name `{name}`: use 1 to 64 letters, digits, `-`, `_`, `.` or `@`"
        )));
    }
    let expires_at = match lifetime {
        None => None,
        Some(d) => Some(
            jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .ok_or_else(|| AuthError::InvalidInput("--expires is too far away".into()))?,
        ),
    };
    let token = new_token();
    let rec = TokenRecord {
        name: name.to_string(),
        role: role.as_str().to_string(),
        hash: hash_token(&token),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    catalog.token_insert(&rec)?;
    Ok((token, rec))
}

/// Checks the value of an `Authorization` header at `now`.
pub fn authenticate(
    catalog: &Catalog,
    header: Option<&str>,
    now: Timestamp,
) -> Result<Principal, AuthError> {
    let h = header.ok_or(AuthError::Missing)?.trim();
    let token = match h.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(AuthError::Missing),
    };
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(AuthError::Invalid);
    }
    let rec = catalog
        .token_by_hash(&hash_token(token))?
        .ok_or(AuthError::Invalid)?;
    if rec.revoked_at.is_some() || rec.expires_at.is_some_and(|e| e <= now) {
        return Err(AuthError::Invalid);
    }
    let role: Role = rec.role.parse().map_err(|_| AuthError::Invalid)?;
    let _ = catalog.token_used(&rec.name, now);
    Ok(Principal {
        name: rec.name,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_authenticate_revoke_expire() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let (t, rec) = create_token(&c, "ci", Role::Operator, None, now).unwrap();
        assert!(t.starts_with("cof_") && t.len() == 47);
        assert_ne!(rec.hash, t);
        let p = authenticate(&c, Some(&format!("Bearer {t}")), now).unwrap();
        assert_eq!(p.role, Role::Operator);
        assert!(matches!(
            authenticate(&c, None, now),
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            authenticate(&c, Some("Bearer cof_nope"), now),
            Err(AuthError::Invalid)
        ));
        assert!(create_token(&c, "ci", Role::Admin, None, now).is_err());
        assert!(c.token_revoke("ci", now).unwrap());
        assert!(authenticate(&c, Some(&format!("Bearer {t}")), now).is_err());
        let day = parse_lifetime("1d").unwrap();
        let (t2, _) = create_token(&c, "short", Role::Viewer, Some(day), now).unwrap();
        let later = now
            .checked_add(jiff::SignedDuration::from_hours(25))
            .unwrap();
        assert!(authenticate(&c, Some(&format!("Bearer {t2}")), now).is_ok());
        assert!(authenticate(&c, Some(&format!("Bearer {t2}")), later).is_err());
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }
}
