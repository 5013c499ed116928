//! Helpers for the fuzz targets in `fuzz/` (see docs/fuzzing.md); not part
//! of the supported API.
//!
//! The fuzz targets reach every parser through this crate's public API. The
//! one thing they cannot do with it is hand the blob opener a plaintext of
//! their own choosing (the encoding flag and a payload that need not be
//! what [`crate::pack::seal_blob`] would write), so that fuzz input reaches
//! the decompression and verification code behind authentication. That is
//! what [`seal_blob_payload`] does. It only seals, under the caller's key,
//! exactly as a writer holding that key could: it is no test hook and
//! changes nothing about how a vault is read.

use crate::format::crypto::MasterKey;
use crate::format::id::Id;

/// Seals `payload` (the encoding flag, 0 raw or 1 zstd, then the body) as
/// the stored form of blob `id`, as [`crate::pack::open_blob`] expects it,
/// whatever the payload holds.
pub fn seal_blob_payload(key: &MasterKey, id: &Id, payload: &[u8]) -> Vec<u8> {
    key.seal(&crate::format::pack::blob_aad(id), payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::{open_blob, seal_blob};

    /// What [`seal_blob_payload`] seals opens as a blob, like what
    /// [`seal_blob`] seals; a payload that is not what its id says is refused.
    #[test]
    fn sealed_payload_opens_as_a_blob() {
        let key = MasterKey::from_secret([7; 32]);
        let data = b"some blob content".to_vec();
        let id = key.chunk_id(&data);
        let mut payload = vec![0u8];
        payload.extend_from_slice(&data);
        let sealed = seal_blob_payload(&key, &id, &payload);
        assert_eq!(open_blob(&key, &id, &sealed, None, "p").unwrap(), data);
        assert_eq!(
            open_blob(&key, &id, &seal_blob(&key, &id, &data, 3), None, "p").unwrap(),
            data
        );
        let other = seal_blob_payload(&key, &id, b"\x00other content");
        assert!(open_blob(&key, &id, &other, None, "p").is_err());
    }
}
