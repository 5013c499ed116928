//! The `tokens` table: API tokens, stored as their hash only (see
//! `crate::auth`).

use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::database::Catalog;
use super::error::{CatalogError, Result};
use super::time_format::{format_time, DbTime};
use super::time_serde;

impl Catalog {
    /// Stores a new token (its hash only). Fails with
    /// [`CatalogError::InvalidInput`] when `name` is taken.
    pub fn token_insert(&self, t: &TokenRecord) -> Result<()> {
        let name = t.name.clone();
        self.write("creating a token", |tx| {
            let taken: bool = tx.query_row(
                "SELECT COUNT(*) > 0 FROM tokens WHERE name = ?1",
                [&t.name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(CatalogError::InvalidInput(format!(
                    "a token named `{name}` exists already: choose another --name, or revoke it first (`coffer token revoke {name}`)"
                ))
                .into());
            }
            tx.execute(
                "INSERT INTO tokens (name, role, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.name, t.role, t.hash, format_time(t.created_at), t.expires_at.map(format_time)],
            )?;
            Ok(())
        })
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read("listing tokens", |c| {
            let mut st = c.prepare(
                "SELECT name, role, hash, created_at, expires_at, revoked_at, last_used_at FROM tokens ORDER BY created_at, name",
            )?;
            let rows = st.query_map([], token_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The token whose hash is `hash`, if any (revoked and expired ones too).
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.read("looking up a token", |c| {
            Ok(c.query_row(
                "SELECT name, role, hash, created_at, expires_at, revoked_at, last_used_at FROM tokens WHERE hash = ?1",
                [hash],
                token_from_row,
            )
            .optional()?)
        })
    }

    /// Records that token `name` was used at `at`.
    pub fn token_used(&self, name: &str, at: Timestamp) -> Result<()> {
        self.write("recording a token's use", |tx| {
            tx.execute(
                "UPDATE tokens SET last_used_at = ?2 WHERE name = ?1",
                params![name, format_time(at)],
            )?;
            Ok(())
        })
    }

    /// Revokes token `name`; false when there is no such token or it was
    /// revoked already.
    pub fn token_revoke(&self, name: &str, at: Timestamp) -> Result<bool> {
        self.write("revoking a token", |tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, format_time(at)],
            )?;
            Ok(n > 0)
        })
    }
}

/// A stored API token (never the token itself: its BLAKE3 hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Its unique name.
    pub name: String,
    /// Its role (`viewer`, `operator`, `admin`).
    pub role: String,
    /// The hex BLAKE3 hash of the token.
    #[serde(skip)]
    pub hash: String,
    /// When it was created.
    #[serde(with = "time_serde")]
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    #[serde(with = "time_serde::option")]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked.
    #[serde(with = "time_serde::option")]
    pub revoked_at: Option<Timestamp>,
    /// When it was last used.
    #[serde(with = "time_serde::option")]
    pub last_used_at: Option<Timestamp>,
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        name: r.get(0)?,
        role: r.get(1)?,
        hash: r.get(2)?,
        created_at: r.get::<_, DbTime>(3)?.0,
        expires_at: r.get::<_, Option<DbTime>>(4)?.map(|d| d.0),
        revoked_at: r.get::<_, Option<DbTime>>(5)?.map(|d| d.0),
        last_used_at: r.get::<_, Option<DbTime>>(6)?.map(|d| d.0),
    })
}
