//! Encryption and keyed hashing.
//!
//! Cipher: XChaCha20-Poly1305 with a fresh random 192-bit nonce per sealed
//! message. With 2^40 messages under one key the chance of a nonce repeating is
//! about 2^80 / 2^193 = 2^-113, so random nonces are safe at any realistic
//! vault size (this is why XChaCha and not ChaCha20 or AES-GCM with 96-bit
//! nonces).
//!
//! Sealed layout: `scheme (1) || nonce (24) || ciphertext || tag (16)`.
//!
//! - Scheme 1: sealed under the data key of key epoch 0 (every format-1
//!   vault, and a format-2 vault until its first rotation); the nonce is 24
//!   random bytes.
//! - Scheme 2: sealed under the data key of a later key epoch; the nonce's
//!   first 4 bytes are that epoch's tag (big-endian, never 0) and the other
//!   20 are random. The tag says which epoch's key opens the message, and is
//!   authenticated as part of the nonce. 160 random bits keep the chance of
//!   a repeat at 2^40 messages under one epoch's key below 2^-80.
//!
//! Other scheme bytes are left for other wrappings (write-only clients with
//! per-session keys, see docs/format.md).
//!
//! Key epochs (see [`crate::keys`]): every epoch has its own 32-byte secret
//! and the data key derived from it. The keys that name and identify data
//! (chunk ids, object names, the chunker seed, WAL names) are derived from
//! epoch 0's secret and never change, so deduplication carries across a
//! rotation; only reading content needs an epoch's data key.
//!
//! Every sealed message is bound to its purpose by associated data (the
//! object kind, and for blobs the chunk id), so an object moved to another
//! name or a blob swapped inside a pack fails authentication.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::format::id::Id;

/// The AEAD every sealed message uses, in every format version so far (as
/// reports name it).
pub const AEAD: &str = "XChaCha20-Poly1305";
/// Scheme byte of messages sealed with key epoch 0's data key.
pub const SCHEME_DATA_KEY: u8 = 1;
/// Scheme byte of messages sealed with a later key epoch's data key.
pub const SCHEME_EPOCH: u8 = 2;
/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = 1 + 24 + 16;
/// Bytes in front of the ciphertext (scheme and nonce): the room
/// [`MasterKey::seal_slice`] needs before the plaintext.
pub const SEAL_PREFIX: usize = 1 + 24;

/// One key epoch's secret and data key.
#[derive(Clone)]
pub(crate) struct EpochKey {
    /// 0 for epoch 0; a random non-zero number for later epochs, written in
    /// the nonce of every message sealed under it.
    pub(crate) tag: u32,
    /// 0 for epoch 0, one more for each rotation.
    pub(crate) generation: u32,
    /// When the epoch began (RFC 3339), when known.
    pub(crate) created: String,
    pub(crate) secret: [u8; 32],
    cipher: XChaCha20Poly1305,
}

impl EpochKey {
    pub(crate) fn new(tag: u32, generation: u32, created: String, secret: [u8; 32]) -> Self {
        let data_key = blake3::derive_key("coffer 2026 v1 data encryption key", &secret);
        EpochKey {
            tag,
            generation,
            created,
            secret,
            cipher: XChaCha20Poly1305::new((&data_key).into()),
        }
    }
}

/// The vault's master key and the subkeys derived from it.
///
/// The 32-byte master secret of epoch 0 is random, created at `init`; the
/// secret of each later key epoch is random, created by a rotation. Secrets
/// are stored only wrapped: the current epoch's in key slots, older ones in
/// the current epoch's keyring object. Subkeys are derived with BLAKE3's key
/// derivation mode under fixed context strings.
#[derive(Clone)]
pub struct MasterKey {
    /// Every epoch this key knows, oldest first; the last is the current
    /// one, which seals.
    epochs: std::sync::Arc<Vec<EpochKey>>,
    /// The keyring object of the current epoch (`None` for epoch 0).
    keyring: Option<Id>,
    id_key: [u8; 32],
    name_key: [u8; 32],
    wal_name_mac: [u8; 32],
    wal_name_cipher: [u8; 32],
    chunker_seed: u64,
}

impl MasterKey {
    /// A fresh random master key (epoch 0).
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::from_secret(secret)
    }

    /// Rebuilds the key hierarchy of epoch 0 from its secret.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self::with_epochs(vec![EpochKey::new(0, 0, String::new(), secret)], None)
    }

    /// The hierarchy of `epochs` (oldest first, epoch 0 first; the last is
    /// the current one, whose keyring object is `keyring`). Naming and
    /// identity keys come from epoch 0.
    pub(crate) fn with_epochs(epochs: Vec<EpochKey>, keyring: Option<Id>) -> Self {
        let base = &epochs.first().expect("epoch 0 is always known").secret;
        let id_key = blake3::derive_key("coffer 2026 v1 chunk id key", base);
        let name_key = blake3::derive_key("coffer 2026 v1 object name key", base);
        let seed = blake3::derive_key("coffer 2026 v1 chunker seed", base);
        let wal_name_mac = blake3::derive_key("coffer 2026 v1 wal name iv key", base);
        let wal_name_cipher = blake3::derive_key("coffer 2026 v1 wal name cipher key", base);
        MasterKey {
            epochs: std::sync::Arc::new(epochs),
            keyring,
            id_key,
            name_key,
            wal_name_mac,
            wal_name_cipher,
            chunker_seed: u64::from_le_bytes(seed[..8].try_into().unwrap()),
        }
    }

    /// The current epoch's secret (only for wrapping it into a key slot).
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.current().secret
    }

    /// The current key epoch (the one that seals).
    pub(crate) fn current(&self) -> &EpochKey {
        self.epochs.last().expect("at least epoch 0")
    }

    /// The keyring object of the current epoch (`None` for epoch 0).
    pub(crate) fn keyring(&self) -> Option<Id> {
        self.keyring
    }

    /// Every epoch this key knows, oldest first.
    pub(crate) fn epochs(&self) -> &[EpochKey] {
        &self.epochs
    }

    /// The current key epoch's generation: 0 until the vault's first
    /// rotation, one more for each.
    pub fn generation(&self) -> u32 {
        self.current().generation
    }

    /// The epoch tag of a sealed message (0 for scheme 1), if it is one.
    pub fn epoch_tag_of(sealed: &[u8]) -> Option<u32> {
        match *sealed.first()? {
            SCHEME_DATA_KEY => Some(0),
            SCHEME_EPOCH if sealed.len() >= 5 => {
                Some(u32::from_be_bytes(sealed[1..5].try_into().unwrap()))
            }
            _ => None,
        }
    }

    /// Whether `sealed` names an epoch this key holds (false for a
    /// message of a later epoch, or one that is too short to say).
    pub fn knows_epoch_of(&self, sealed: &[u8]) -> bool {
        self.epoch_cipher(sealed).is_some()
    }

    fn epoch_cipher(&self, sealed: &[u8]) -> Option<&XChaCha20Poly1305> {
        let tag = Self::epoch_tag_of(sealed)?;
        self.epochs.iter().find(|e| e.tag == tag).map(|e| &e.cipher)
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

    /// A hasher that gives [`MasterKey::chunk_id`] of the bytes fed to it.
    pub(crate) fn chunk_hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.id_key)
    }

    /// The name of a stored object: keyed hash of its stored bytes.
    pub fn object_name(&self, stored: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.name_key, stored).as_bytes())
    }

    /// A hasher that gives [`MasterKey::object_name`] of the bytes fed to it.
    pub(crate) fn object_hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.name_key)
    }

    /// Encrypts a short name deterministically (a synthetic IV): the nonce
    /// is the keyed BLAKE3 hash of the name (first 24 bytes) and the name is
    /// encrypted with XChaCha20 under that nonce. Returns `nonce ||
    /// ciphertext`. Equal names give equal output, so a writer and a reader
    /// that know only the name find the same object; different names give
    /// unrelated output, and nothing about the name shows but its length.
    pub fn seal_name(&self, name: &[u8]) -> Vec<u8> {
        let iv = self.name_iv(name);
        let mut out = Vec::with_capacity(24 + name.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(name);
        self.name_keystream(&iv, &mut out[24..]);
        out
    }

    /// Decrypts the output of [`MasterKey::seal_name`]; `None` when it is
    /// too short or its nonce is not the keyed hash of the decrypted name
    /// (damaged, or made under another key).
    pub fn open_name(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 24 {
            return None;
        }
        let iv: [u8; 24] = sealed[..24].try_into().ok()?;
        let mut name = sealed[24..].to_vec();
        self.name_keystream(&iv, &mut name);
        (self.name_iv(&name) == iv).then_some(name)
    }

    fn name_iv(&self, name: &[u8]) -> [u8; 24] {
        let h = blake3::keyed_hash(&self.wal_name_mac, name);
        h.as_bytes()[..24].try_into().expect("24 of 32 bytes")
    }

    fn name_keystream(&self, iv: &[u8; 24], buf: &mut [u8]) {
        use chacha20::cipher::{KeyIvInit, StreamCipher};
        let mut c = chacha20::XChaCha20::new((&self.wal_name_cipher).into(), iv.into());
        c.apply_keystream(buf);
    }

    /// Seed XOR'd into the chunker's gear table, so chunk boundaries do not
    /// reveal content to someone who knows the plaintext of other files.
    pub fn chunker_seed(&self) -> u64 {
        self.chunker_seed
    }

    /// Seals `plaintext` under the current epoch's data key, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let e = self.current();
        seal_with(&e.cipher, e.tag, aad, plaintext)
    }

    /// Seals in place inside a slice laid out as [`SEAL_PREFIX`] bytes of
    /// room, the plaintext, and 16 bytes of room for the tag.
    pub fn seal_slice(&self, aad: &[u8], buf: &mut [u8]) {
        let e = self.current();
        seal_slice_with(&e.cipher, e.tag, aad, buf)
    }

    /// Opens a sealed message in place and returns its plaintext, a slice of
    /// `sealed`; `None` if it fails authentication (or was sealed under an
    /// epoch this key does not know).
    pub fn open_in_place<'a>(&self, aad: &[u8], sealed: &'a mut [u8]) -> Option<&'a [u8]> {
        let cipher = self.epoch_cipher(sealed)?;
        open_in_place_with(cipher, aad, sealed)
    }

    /// Opens a message sealed by [`MasterKey::seal`]; `None` if it fails
    /// authentication (or was sealed under an epoch this key does not know).
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open_with(self.epoch_cipher(sealed)?, aad, sealed)
    }
}

/// Seals with an arbitrary 32-byte key (used for key slots).
pub(crate) fn seal_key(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_with(&XChaCha20Poly1305::new(key.into()), 0, aad, plaintext)
}

/// Opens with an arbitrary 32-byte key (used for key slots).
pub(crate) fn open_key(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    open_with(&XChaCha20Poly1305::new(key.into()), aad, sealed)
}

fn seal_with(cipher: &XChaCha20Poly1305, epoch: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(OVERHEAD + plaintext.len());
    buf.resize(SEAL_PREFIX, 0);
    buf.extend_from_slice(plaintext);
    buf.extend_from_slice(&[0; 16]);
    seal_slice_with(cipher, epoch, aad, &mut buf);
    buf
}

/// Seals under `cipher`; `epoch` is the epoch tag (0: scheme 1, else
/// scheme 2 with the tag in the nonce).
fn seal_slice_with(cipher: &XChaCha20Poly1305, epoch: u32, aad: &[u8], buf: &mut [u8]) {
    assert!(
        buf.len() >= OVERHEAD,
        "sealing needs room for the prefix and the tag"
    );
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    if epoch == 0 {
        buf[0] = SCHEME_DATA_KEY;
    } else {
        buf[0] = SCHEME_EPOCH;
        nonce[..4].copy_from_slice(&epoch.to_be_bytes());
    }
    buf[1..SEAL_PREFIX].copy_from_slice(&nonce);
    let end = buf.len() - 16;
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut buf[SEAL_PREFIX..end])
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    buf[end..].copy_from_slice(&tag);
}

fn open_in_place_with<'a>(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    sealed: &'a mut [u8],
) -> Option<&'a [u8]> {
    if sealed.len() < OVERHEAD || !matches!(sealed[0], SCHEME_DATA_KEY | SCHEME_EPOCH) {
        return None;
    }
    let (head, rest) = sealed.split_at_mut(SEAL_PREFIX);
    let (msg, tag) = rest.split_at_mut(rest.len() - 16);
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(&head[1..]), aad, msg, (&*tag).into())
        .ok()?;
    Some(msg)
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let mut buf = sealed.to_vec();
    let n = open_in_place_with(cipher, aad, &mut buf)?.len();
    buf.truncate(SEAL_PREFIX + n);
    buf.drain(..SEAL_PREFIX);
    Some(buf)
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
    fn each_epoch_seals_under_its_own_key_and_names_stay() {
        let e0 = EpochKey::new(0, 0, String::new(), [1; 32]);
        let e1 = EpochKey::new(0xdead_beef, 1, String::new(), [2; 32]);
        let old = MasterKey::with_epochs(vec![e0.clone()], None);
        let new = MasterKey::with_epochs(vec![e0, e1], Some(Id([9; 32])));
        let before = old.seal(b"a", b"old");
        let after = new.seal(b"a", b"new");
        assert_eq!(before[0], SCHEME_DATA_KEY);
        assert_eq!(after[0], SCHEME_EPOCH);
        assert_eq!(MasterKey::epoch_tag_of(&after), Some(0xdead_beef));
        assert_eq!(after.len(), OVERHEAD + 3);
        // The new key reads both epochs; the old one only its own.
        assert_eq!(new.open(b"a", &before).unwrap(), b"old");
        assert_eq!(new.open(b"a", &after).unwrap(), b"new");
        assert!(old.open(b"a", &after).is_none());
        // The tag is authenticated: another tag fails.
        let mut moved = after.clone();
        moved[4] ^= 1;
        assert!(new.open(b"a", &moved).is_none());
        // Ids, names and the chunker stay, so dedup carries over.
        assert_eq!(old.chunk_id(b"x"), new.chunk_id(b"x"));
        assert_eq!(old.object_name(b"x"), new.object_name(b"x"));
        assert_eq!(old.chunker_seed(), new.chunker_seed());
        assert_eq!(old.seal_name(b"n"), new.seal_name(b"n"));
    }

    #[test]
    fn hierarchy_is_deterministic() {
        let a = MasterKey::from_secret([7; 32]);
        let b = MasterKey::from_secret([7; 32]);
        assert_eq!(a.chunk_id(b"x"), b.chunk_id(b"x"));
        assert_ne!(a.chunk_id(b"x"), a.object_name(b"x"));
        assert_eq!(a.chunker_seed(), b.chunker_seed());
    }

    #[test]
    fn sealed_names_are_deterministic_and_checked() {
        let a = MasterKey::from_secret([7; 32]);
        let n = b"000000010000000000000002";
        let s = a.seal_name(n);
        assert_eq!(s, a.seal_name(n));
        assert_eq!(s.len(), 24 + n.len());
        assert_ne!(&s[24..], &n[..]);
        assert_eq!(a.open_name(&s).unwrap(), n);
        assert_ne!(a.seal_name(b"000000010000000000000003"), s);
        let mut bad = s.clone();
        bad[30] ^= 1;
        assert!(a.open_name(&bad).is_none());
        assert!(MasterKey::from_secret([8; 32]).open_name(&s).is_none());
        assert!(a.open_name(&s[..10]).is_none());
    }
}
