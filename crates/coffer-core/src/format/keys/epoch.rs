//! Keyrings: the object that carries a key epoch's older secrets.
//!
//! A rotation to generation `n` writes one keyring at `epochs/<random id>`:
//! the JSON [`Keyring`] sealed with XChaCha20-Poly1305 under a key derived
//! from epoch `n`'s secret, bound to the vault id and the keyring's own id.
//! It holds the secrets of every older epoch (0 … n-1), so a key of epoch
//! `n` reads everything in the vault, while a key of an older epoch cannot
//! open it. A keyring is written once and never changed; the next rotation
//! writes a new one, and older keyrings stay (they hold nothing their own
//! epoch's slots could not already read).
//!
//! Slots of epoch `n` name their keyring (`keyring` in the slot), so an
//! opener reads exactly one keyring, and a keyring left by a rotation that
//! stopped before it wrote a slot is never used.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, ObjectKind};
use crate::error::{Error, Result};
use crate::format::crypto::{self, EpochKey, MasterKey};
use crate::format::id::Id;

/// A keyring as sealed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keyring {
    /// Keyring format version (1).
    version: u32,
    /// The generation of the epoch this keyring belongs to (≥ 1).
    generation: u32,
    /// Its epoch tag (non-zero; written in the nonce of what it seals).
    tag: u32,
    /// When the epoch began (RFC 3339).
    created: String,
    /// Every older epoch, epoch 0 first.
    older: Vec<OlderEpoch>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OlderEpoch {
    generation: u32,
    tag: u32,
    created: String,
    /// The epoch's secret, base64.
    secret: String,
}

fn keyring_key(secret: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("coffer 2026 v2 keyring key", secret)
}

fn keyring_aad(vault_id: &str, id: &Id) -> Vec<u8> {
    let kind = String::from_utf8_lossy(ObjectKind::Epoch.aad()).into_owned();
    format!("{kind}:{vault_id}:{}", id.to_hex()).into_bytes()
}

/// A new key epoch after `current`'s newest: a random secret and a random
/// non-zero tag that no known epoch has.
pub(crate) fn next(current: &MasterKey, generation: u32) -> EpochKey {
    let tag = loop {
        let t = u32::from_be_bytes(crypto::random_bytes());
        if t != 0 && current.epochs().iter().all(|e| e.tag != t) {
            break t;
        }
    };
    EpochKey::new(
        tag,
        generation,
        jiff::Timestamp::now().to_string(),
        crypto::random_bytes(),
    )
}

/// Seals and stores the keyring of `new` (which holds every epoch of
/// `current`); returns the key of the new epoch, whose slots are still to
/// be written, and the keyring's id.
pub(crate) fn write(
    backend: &dyn Backend,
    vault_id: &str,
    current: &MasterKey,
    new: EpochKey,
) -> Result<(MasterKey, Id)> {
    let body = Keyring {
        version: 1,
        generation: new.generation,
        tag: new.tag,
        created: new.created.clone(),
        older: current
            .epochs()
            .iter()
            .map(|e| OlderEpoch {
                generation: e.generation,
                tag: e.tag,
                created: e.created.clone(),
                secret: B64.encode(e.secret),
            })
            .collect(),
    };
    let id = Id::random();
    let plain = serde_json::to_vec(&body).expect("serializable");
    let sealed = crypto::seal_key(
        &keyring_key(&new.secret),
        &keyring_aad(vault_id, &id),
        &plain,
    );
    backend
        .write(&ObjectKind::Epoch.path(&id), sealed)
        .map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })?;
    let mut epochs = current.epochs().to_vec();
    epochs.push(new);
    Ok((MasterKey::with_epochs(epochs, Some(id)), id))
}

/// Reads keyring `id` of epoch `generation` with that epoch's secret and
/// returns the key of every epoch up to it. Every field is checked: the
/// keyring is the vault's most sensitive object after the slots.
pub(crate) fn load(
    backend: &dyn Backend,
    vault_id: &str,
    id: &Id,
    generation: u32,
    secret: [u8; 32],
) -> Result<MasterKey> {
    let path = ObjectKind::Epoch.path(id);
    let sealed = backend.read(&path).map_err(|source| {
        if source.not_found {
            Error::damaged(
                &path,
                format!(
                    "the keyring of key epoch {generation} is missing, so nothing sealed under \
                     its older epochs can be read: put it back from a copy or an earlier version of \
                     the vault (docs/format.md, \"Objects a vault cannot live without\")"
                ),
            )
        } else {
            Error::Storage {
                location: backend.location(),
                source,
            }
        }
    })?;
    let plain = crypto::open_key(&keyring_key(&secret), &keyring_aad(vault_id, id), &sealed)
        .ok_or_else(|| Error::damaged(&path, "fails authentication"))?;
    let ring: Keyring = serde_json::from_slice(&plain)
        .map_err(|e| Error::damaged(&path, format!("does not parse: {e}")))?;
    let bad = |what: &str| Error::damaged(&path, what.to_string());
    if ring.version != 1 {
        return Err(bad("has an unknown keyring version"));
    }
    if ring.generation != generation || ring.tag == 0 {
        return Err(bad("is not the keyring of its key slot's epoch"));
    }
    let mut epochs = Vec::with_capacity(ring.older.len() + 1);
    for (i, e) in ring.older.iter().enumerate() {
        let first = i == 0;
        let ordered = epochs
            .last()
            .is_none_or(|p: &EpochKey| p.generation < e.generation);
        if first != (e.generation == 0)
            || first != (e.tag == 0)
            || !ordered
            || e.generation >= generation
            || e.tag == ring.tag
            || epochs.iter().any(|p: &EpochKey| p.tag == e.tag)
        {
            return Err(bad("lists its older epochs out of order or twice"));
        }
        let raw: [u8; 32] = B64
            .decode(&e.secret)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("holds a secret that is not 32 bytes of base64"))?;
        epochs.push(EpochKey::new(e.tag, e.generation, e.created.clone(), raw));
    }
    if epochs.is_empty() {
        return Err(bad("lists no older epochs"));
    }
    epochs.push(EpochKey::new(ring.tag, generation, ring.created, secret));
    Ok(MasterKey::with_epochs(epochs, Some(*id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::Mem;

    const VAULT: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn a_keyring_opens_only_with_its_epoch_and_holds_the_older_ones() {
        let b = Mem::default();
        let k0 = MasterKey::generate();
        let old = k0.seal(b"x", b"epoch 0");
        let e1 = next(&k0, 1);
        let s1 = e1.secret;
        let (k1, id1) = write(&b, VAULT, &k0, e1).unwrap();
        let e2 = next(&k1, 2);
        let s2 = e2.secret;
        let (k2, id2) = write(&b, VAULT, &k1, e2).unwrap();
        let mid = k1.seal(b"x", b"epoch 1");
        let new = k2.seal(b"x", b"epoch 2");
        let r2 = load(&b, VAULT, &id2, 2, s2).unwrap();
        for (sealed, plain) in [(&old, "epoch 0"), (&mid, "epoch 1"), (&new, "epoch 2")] {
            assert_eq!(r2.open(b"x", sealed).unwrap(), plain.as_bytes());
        }
        assert_eq!(r2.generation(), 2);
        assert_eq!(r2.chunk_id(b"c"), k0.chunk_id(b"c"));
        // Epoch 1's key reads epochs 0 and 1, never 2.
        let r1 = load(&b, VAULT, &id1, 1, s1).unwrap();
        assert!(r1.open(b"x", &mid).is_some() && r1.open(b"x", &old).is_some());
        assert!(r1.open(b"x", &new).is_none());
        // Epoch 1's secret does not open epoch 2's keyring, nor another
        // vault's, nor under another generation.
        assert!(load(&b, VAULT, &id2, 2, s1).is_err());
        assert!(load(&b, "ffeeddccbbaa99887766554433221100", &id2, 2, s2).is_err());
        assert!(load(&b, VAULT, &id2, 3, s2).is_err());
        // A lost keyring is damage that names it.
        b.delete(&ObjectKind::Epoch.path(&id2)).unwrap();
        let e = load(&b, VAULT, &id2, 2, s2).err().unwrap().to_string();
        assert!(e.contains(&id2.to_hex()) && e.contains("missing"), "{e}");
    }
}
