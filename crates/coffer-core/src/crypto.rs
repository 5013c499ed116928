//! Encryption and keyed hashing.
//!
//! Cipher: XChaCha20-Poly1305 with a fresh random 192-bit nonce per sealed
//! message. With 2^40 messages under one key the chance of a nonce repeating is
//! about 2^80 / 2^193 = 2^-113, so random nonces are safe at any realistic
//! vault size (this is why XChaCha and not ChaCha20 or AES-GCM with 96-bit
//! nonces).
//!
//! Sealed layout: `scheme (1 byte = 1) || nonce (24) || ciphertext || tag (16)`.
//! The scheme byte leaves room for other wrappings later (write-only clients
//! with per-session keys, see docs/format.md).
//!
//! Every sealed message is bound to its purpose by associated data (the
//! object kind, and for blobs the chunk id), so an object moved to another
//! name or a blob swapped inside a pack fails authentication.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::id::Id;

/// Scheme byte of messages sealed with the vault's data key.
pub const SCHEME_DATA_KEY: u8 = 1;
/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = 1 + 24 + 16;

/// The vault's master key and the subkeys derived from it.
///
/// The 32-byte master secret is random, created at `init`, and stored only
/// wrapped in key slots. Subkeys are derived with BLAKE3's key derivation
/// mode under fixed context strings.
#[derive(Clone)]
pub struct MasterKey {
    secret: [u8; 32],
    data: XChaCha20Poly1305,
    id_key: [u8; 32],
    name_key: [u8; 32],
    chunker_seed: u64,
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::from_secret(secret)
    }

    /// Rebuilds the key hierarchy from the master secret.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let data_key = blake3::derive_key("coffer 2026 v1 data encryption key", &secret);
        let id_key = blake3::derive_key("coffer 2026 v1 chunk id key", &secret);
        let name_key = blake3::derive_key("coffer 2026 v1 object name key", &secret);
        let seed = blake3::derive_key("coffer 2026 v1 chunker seed", &secret);
        MasterKey {
            secret,
            data: XChaCha20Poly1305::new((&data_key).into()),
            id_key,
            name_key,
            chunker_seed: u64::from_le_bytes(seed[..8].try_into().unwrap()),
        }
    }

    /// The master secret (only for wrapping it into a key slot).
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The keyed id of a chunk or tree plaintext.
    pub fn chunk_id(&self, data: &[u8]) -> Id {
        let mut h = blake3::Hasher::new_keyed(&self.id_key);
        if data.len() >= 128 * 1024 {
            h.update_rayon(data);
        } else {
            h.update(data);
        }
        Id(*h.finalize().as_bytes())
    }

    /// The name of a stored object: keyed hash of its stored bytes.
    pub fn object_name(&self, stored: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.name_key, stored).as_bytes())
    }

    /// Seed XOR'd into the chunker's gear table, so chunk boundaries do not
    /// reveal content to someone who knows the plaintext of other files.
    pub fn chunker_seed(&self) -> u64 {
        self.chunker_seed
    }

    /// Seals `plaintext` under the data key, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.data, aad, plaintext)
    }

    /// Opens a message sealed by [`MasterKey::seal`]; `None` if it fails
    /// authentication.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open_with(&self.data, aad, sealed)
    }
}

/// Seals with an arbitrary 32-byte key (used for key slots).
pub(crate) fn seal_key(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_with(&XChaCha20Poly1305::new(key.into()), aad, plaintext)
}

/// Opens with an arbitrary 32-byte key (used for key slots).
pub(crate) fn open_key(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    open_with(&XChaCha20Poly1305::new(key.into()), aad, sealed)
}

fn seal_with(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(SCHEME_DATA_KEY);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < OVERHEAD || sealed[0] != SCHEME_DATA_KEY {
        return None;
    }
    cipher
        .decrypt(
            XNonce::from_slice(&sealed[1..25]),
            Payload {
                msg: &sealed[25..],
                aad,
            },
        )
        .ok()
}

/// Fills a buffer with random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_aad_binding() {
        let k = MasterKey::generate();
        let s = k.seal(b"a", b"hello");
        assert_eq!(k.open(b"a", &s).unwrap(), b"hello");
        assert!(k.open(b"b", &s).is_none());
        let mut bad = s.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(k.open(b"a", &bad).is_none());
        let other = MasterKey::generate();
        assert!(other.open(b"a", &s).is_none());
    }

    #[test]
    fn hierarchy_is_deterministic() {
        let a = MasterKey::from_secret([7; 32]);
        let b = MasterKey::from_secret([7; 32]);
        assert_eq!(a.chunk_id(b"x"), b.chunk_id(b"x"));
        assert_ne!(a.chunk_id(b"x"), a.object_name(b"x"));
        assert_eq!(a.chunker_seed(), b.chunker_seed());
    }
}
