//! Key slots: the master secret wrapped once per password or key file.
//!
//! A slot is a small JSON object at `keys/<random id>`. A password slot
//! derives its wrapping key with Argon2id (parameters and salt in the slot);
//! a key-file slot derives it with BLAKE3 from the file's 256-bit secret and
//! the slot's salt (the secret is already uniformly random, so a slow KDF adds
//! nothing). The wrapped master secret is sealed with XChaCha20-Poly1305
//! bound to the vault id, so a slot cannot be moved to another vault.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::backend::{Backend, ObjectKind};
use crate::crypto::{self, MasterKey};
use crate::error::{Error, Result};
use crate::id::Id;

/// The first line of a coffer key file.
pub const KEY_FILE_HEADER: &str = "coffer-key-file-v1";

/// What unlocks a vault.
#[derive(Clone)]
pub enum Secret {
    /// A password (from COFFER_PASSWORD or a password file).
    Password(String),
    /// The 256-bit secret read from a key file.
    KeyFile([u8; 32]),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Secret::Password(_) => f.write_str("Secret::Password(<redacted>)"),
            Secret::KeyFile(_) => f.write_str("Secret::KeyFile(<redacted>)"),
        }
    }
}

impl Secret {
    /// Reads a password file: its content less one trailing `\n` or `\r\n`
    /// (as the format documents). An empty password is refused.
    pub fn from_password_file(path: &Path) -> Result<Secret> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let pw = text.strip_suffix('\n').unwrap_or(&text);
        let pw = pw.strip_suffix('\r').unwrap_or(pw);
        if pw.is_empty() {
            return Err(Error::InvalidInput(format!(
                "password file {} is empty",
                path.display()
            )));
        }
        Ok(Secret::Password(pw.to_string()))
    }

    /// Reads a key file written by [`write_new_key_file`].
    pub fn from_key_file(path: &Path) -> Result<Secret> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some(KEY_FILE_HEADER) {
            return Err(Error::InvalidInput(format!(
                "{} is not a coffer key file (its first line must be `{KEY_FILE_HEADER}`)",
                path.display()
            )));
        }
        let raw = lines
            .next()
            .and_then(|l| B64.decode(l.trim()).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: the key file's second line must be 32 bytes in base64",
                    path.display()
                ))
            })?;
        Ok(Secret::KeyFile(raw.try_into().unwrap()))
    }

    fn kind(&self) -> SlotKind {
        match self {
            Secret::Password(_) => SlotKind::Password,
            Secret::KeyFile(_) => SlotKind::KeyFile,
        }
    }
}

/// Writes a new key file with a random secret, mode 0600, refusing to
/// overwrite an existing file.
pub fn write_new_key_file(path: &Path) -> Result<Secret> {
    use std::io::Write;
    let secret: [u8; 32] = crypto::random_bytes();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
    let text = format!(
        "{KEY_FILE_HEADER}\n{}\n# This file unlocks a coffer vault. Keep a copy somewhere safe: without it (or another key slot) the vault cannot be read.\n",
        B64.encode(secret)
    );
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))?;
    Ok(Secret::KeyFile(secret))
}

/// Kinds of key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotKind {
    /// Argon2id over a password.
    Password,
    /// BLAKE3 over a key file's secret.
    KeyFile,
}

/// Argon2id parameters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        // OWASP's second Argon2id recommendation: 46 MiB, t=1 is the minimum;
        // we take 64 MiB and t=3 (about 0.2 s here).
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

/// A key slot as stored (JSON, not itself encrypted: it holds only salts and
/// the wrapped secret).
/// Unknown fields are ignored so that later slot kinds (write-only clients)
/// do not lock out this version's readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySlot {
    /// Slot format version (1).
    pub version: u32,
    /// Password or key file.
    pub kind: SlotKind,
    /// When the slot was added (RFC 3339).
    pub created: String,
    /// Host that added it.
    pub hostname: String,
    /// Optional label given by the user.
    #[serde(default)]
    pub label: String,
    /// Argon2id parameters (password slots).
    #[serde(default)]
    pub kdf: Option<KdfParams>,
    /// Salt, base64.
    pub salt: String,
    /// The master secret sealed under the slot's wrapping key, base64.
    pub wrapped: String,
}

/// A slot with its id, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SlotInfo {
    /// The slot's id (object name).
    pub id: Id,
    /// The slot.
    #[serde(flatten)]
    pub slot: KeySlot,
}

fn wrapping_key(secret: &Secret, salt: &[u8], kdf: Option<KdfParams>) -> Result<[u8; 32]> {
    match secret {
        Secret::Password(pw) => {
            let p = kdf.unwrap_or_default();
            // Refuse absurd parameters a tampered slot could carry.
            if p.m_kib > 4 << 20 || p.t > 100 || p.p > 64 {
                return Err(Error::InvalidInput("a key slot asks for Argon2id parameters beyond 4 GiB / t=100 / p=64: refusing it".into()));
            }
            let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32))
                .map_err(|e| Error::InvalidInput(format!("bad Argon2id parameters: {e}")))?;
            let a =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = [0u8; 32];
            a.hash_password_into(pw.as_bytes(), salt, &mut out)
                .map_err(|e| Error::InvalidInput(format!("Argon2id failed: {e}")))?;
            Ok(out)
        }
        Secret::KeyFile(k) => {
            let mut h = blake3::Hasher::new_derive_key("coffer 2026 v1 key file wrapping key");
            h.update(k);
            h.update(salt);
            Ok(*h.finalize().as_bytes())
        }
    }
}

fn slot_aad(vault_id: &str) -> Vec<u8> {
    format!("coffer.keyslot:{vault_id}").into_bytes()
}

/// Wraps `master` for `secret` and stores the slot; returns its id.
pub fn add_slot(
    backend: &dyn Backend,
    vault_id: &str,
    master: &MasterKey,
    secret: &Secret,
    label: &str,
    kdf: Option<KdfParams>,
) -> Result<Id> {
    let salt: [u8; 16] = crypto::random_bytes();
    let kdf = match secret {
        Secret::Password(_) => Some(kdf.unwrap_or_default()),
        Secret::KeyFile(_) => None,
    };
    let wk = wrapping_key(secret, &salt, kdf)?;
    let slot = KeySlot {
        version: 1,
        kind: secret.kind(),
        created: jiff::Timestamp::now().to_string(),
        hostname: crate::hostname(),
        label: label.to_string(),
        kdf,
        salt: B64.encode(salt),
        wrapped: B64.encode(crypto::seal_key(&wk, &slot_aad(vault_id), master.secret())),
    };
    let id = Id::random();
    let body = serde_json::to_vec_pretty(&slot).expect("serializable");
    backend
        .write(&ObjectKind::Key.path(&id), body)
        .map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })?;
    Ok(id)
}

/// Lists every key slot. A slot that cannot be parsed is reported as damaged.
pub fn list_slots(backend: &dyn Backend) -> Result<Vec<SlotInfo>> {
    let storage = |source| Error::Storage {
        location: backend.location(),
        source,
    };
    let mut out = Vec::new();
    for obj in backend.list(ObjectKind::Key.prefix()).map_err(storage)? {
        let Some(id) = ObjectKind::Key.id_of(&obj.path) else {
            continue;
        };
        let body = backend.read(&obj.path).map_err(storage)?;
        // A slot of a kind this version does not know, or a damaged one, is
        // skipped: it must not lock out the other slots.
        match serde_json::from_slice::<KeySlot>(&body) {
            Ok(slot) => out.push(SlotInfo { id, slot }),
            Err(e) => tracing::warn!("{}: key slot skipped: {e}", obj.path),
        }
    }
    out.sort_by(|a, b| a.slot.created.cmp(&b.slot.created));
    Ok(out)
}

/// Finds the slot `secret` opens and returns the master key and that slot's id.
pub fn open(backend: &dyn Backend, vault_id: &str, secret: &Secret) -> Result<(MasterKey, Id)> {
    let slots = list_slots(backend)?;
    for s in slots.iter().filter(|s| s.slot.kind == secret.kind()) {
        let salt = B64
            .decode(&s.slot.salt)
            .map_err(|_| Error::damaged(ObjectKind::Key.path(&s.id), "salt is not base64"))?;
        let wrapped = B64.decode(&s.slot.wrapped).map_err(|_| {
            Error::damaged(ObjectKind::Key.path(&s.id), "wrapped key is not base64")
        })?;
        let wk = wrapping_key(secret, &salt, s.slot.kdf)?;
        if let Some(master) = crypto::open_key(&wk, &slot_aad(vault_id), &wrapped) {
            let secret: [u8; 32] = master.try_into().map_err(|_| {
                Error::damaged(
                    ObjectKind::Key.path(&s.id),
                    "wrapped secret has the wrong length",
                )
            })?;
            return Ok((MasterKey::from_secret(secret), s.id));
        }
    }
    Err(Error::WrongKey {
        vault: backend.location(),
    })
}

/// Removes a key slot. The last slot cannot be removed.
pub fn remove_slot(backend: &dyn Backend, id_prefix: &str) -> Result<Id> {
    let slots = list_slots(backend)?;
    let matches: Vec<_> = slots
        .iter()
        .filter(|s| s.id.to_hex().starts_with(id_prefix))
        .collect();
    let target = match matches.as_slice() {
        [] => return Err(Error::not_found(format!("key slot {id_prefix}"))),
        [one] => *one,
        _ => {
            return Err(Error::InvalidInput(format!(
                "key slot prefix {id_prefix} is ambiguous: give more digits"
            )))
        }
    };
    if slots.len() == 1 {
        return Err(Error::InvalidInput(format!(
            "key slot {} is the vault's last one and cannot be removed: add another first (coffer key add)",
            target.id.short()
        )));
    }
    backend
        .delete(&ObjectKind::Key.path(&target.id))
        .map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })?;
    Ok(target.id)
}
