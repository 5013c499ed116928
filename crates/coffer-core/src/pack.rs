//! Blobs and packs.
//!
//! A blob is one chunk of file data or one serialized tree. Stored form:
//! `seal(aad = "coffer.blob" || id, flag || payload)` where `flag` is 0 for a
//! raw payload and 1 for zstd. Compression is kept only when it saves space,
//! so incompressible data is stored as is.
//!
//! A pack is many sealed blobs back to back, then the sealed pack header (the
//! list of blobs: kind, id, stored length, raw length), then the header's
//! length as a little-endian u32. The pack's name is the keyed hash of all its
//! bytes, so `check --read-data` detects any flipped byte before decrypting.

use serde::{Deserialize, Serialize};

use crate::backend::ObjectKind;
use crate::crypto::{MasterKey, SEAL_PREFIX};
use crate::error::{Error, Result};
use crate::id::Id;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlobKind {
    /// A chunk of file or stream content.
    Data,
    /// A serialized directory tree.
    Tree,
}

/// One blob inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedBlob {
    /// Data or tree.
    pub kind: BlobKind,
    /// The blob's keyed hash.
    pub id: Id,
    /// Byte offset inside the pack.
    pub offset: u32,
    /// Stored (sealed) length.
    pub len: u32,
    /// Plaintext length.
    pub raw_len: u32,
}

#[derive(Serialize, Deserialize)]
struct HeaderEntry {
    kind: BlobKind,
    id: Id,
    len: u32,
    raw_len: u32,
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u8,
    blobs: Vec<HeaderEntry>,
}

fn blob_aad(id: &Id) -> [u8; 43] {
    let mut aad = [0u8; 43];
    aad[..11].copy_from_slice(b"coffer.blob");
    aad[11..].copy_from_slice(&id.0);
    aad
}

thread_local! {
    // zstd contexts are costly to make (hundreds of KiB each); keep one per thread.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// Compresses `data` into `out`; `None` when the result would not fit
/// (then compressing does not pay) or zstd fails.
fn compress_into(data: &[u8], level: i32, out: &mut [u8]) -> Option<usize> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().map(|(l, _)| *l) != Some(level) {
            *c = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        c.as_mut()?.1.compress_to_buffer(data, out).ok()
    })
}

fn decompress(data: &[u8], cap: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        d.as_mut().expect("set above").decompress(data, cap)
    })
}

/// Compresses (when it saves more than 16 bytes) and seals one blob.
pub fn seal_blob(key: &MasterKey, id: &Id, data: &[u8], level: i32) -> Vec<u8> {
    let mut buf = Vec::new();
    let n = seal_blob_into(key, id, data, level, &mut buf);
    buf.truncate(n);
    buf
}

/// Like [`seal_blob`], but into `buf`, a scratch buffer kept between calls:
/// the sealed blob is `buf[..n]` for the returned `n`. zstd writes straight
/// behind the seal's prefix and gives up as soon as its output would not be
/// smaller; then the bytes are encrypted in place. `buf` only grows, so a
/// reused buffer is never zeroed again.
pub fn seal_blob_into(
    key: &MasterKey,
    id: &Id,
    data: &[u8],
    level: i32,
    buf: &mut Vec<u8>,
) -> usize {
    let head = SEAL_PREFIX + 1;
    let most = head + data.len() + 16;
    if buf.len() < most {
        buf.reserve_exact(most - buf.len());
        buf.resize(most, 0);
    }
    let mut body = None;
    if level > 0 && data.len() > 64 {
        let room = data.len() - 17;
        body = compress_into(data, level, &mut buf[head..head + room]);
        if body.is_some() {
            buf[SEAL_PREFIX] = 1;
        }
    }
    let body = body.unwrap_or_else(|| {
        buf[SEAL_PREFIX] = 0;
        buf[head..head + data.len()].copy_from_slice(data);
        data.len()
    });
    let n = head + body + 16;
    key.seal_slice(&blob_aad(id), &mut buf[..n]);
    n
}

/// Opens one blob and verifies its content against `id`. `object` names the
/// pack for messages.
pub fn open_blob(
    key: &MasterKey,
    id: &Id,
    sealed: &[u8],
    raw_len: Option<u32>,
    object: &str,
) -> Result<Vec<u8>> {
    let mut buf = sealed.to_vec();
    open_blob_in_place(key, id, &mut buf, raw_len, object, |d| d.to_vec())
}

/// Opens one blob in place (decrypting inside `sealed`), verifies it against
/// `id` and hands the plaintext to `f`. Raw blobs are never copied; only
/// compressed ones need a buffer of their own.
pub fn open_blob_in_place<R>(
    key: &MasterKey,
    id: &Id,
    sealed: &mut [u8],
    raw_len: Option<u32>,
    object: &str,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R> {
    let plain = key
        .open_in_place(&blob_aad(id), sealed)
        .ok_or_else(|| Error::damaged(object, format!("blob {id} fails authentication")))?;
    let decompressed;
    let data: &[u8] = match plain.first() {
        Some(0) => &plain[1..],
        Some(1) => {
            decompressed = match raw_len {
                Some(n) => decompress(&plain[1..], (n as usize).max(1)),
                // Length unknown (tree blobs read through the index): stream it.
                None => zstd::stream::decode_all(&plain[1..]),
            }
            .map_err(|e| Error::damaged(object, format!("blob {id} does not decompress: {e}")))?;
            &decompressed
        }
        _ => {
            return Err(Error::damaged(
                object,
                format!("blob {id} has an unknown encoding"),
            ))
        }
    };
    if key.chunk_id(data) != *id {
        return Err(Error::damaged(
            object,
            format!("blob {id} does not match its hash"),
        ));
    }
    Ok(f(data))
}

/// Collects sealed blobs into a pack.
#[derive(Default)]
pub struct PackBuilder {
    buf: Vec<u8>,
    blobs: Vec<PackedBlob>,
}

/// A finished pack ready to upload.
pub struct FinishedPack {
    /// The pack's name.
    pub id: Id,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The blobs it holds.
    pub blobs: Vec<PackedBlob>,
}

impl PackBuilder {
    /// A builder whose buffer holds `capacity` bytes without growing (growing
    /// a 16 MiB vector doubles it and copies it).
    pub fn with_capacity(capacity: usize) -> Self {
        PackBuilder {
            buf: Vec::with_capacity(capacity),
            blobs: Vec::new(),
        }
    }

    /// Appends a sealed blob.
    pub fn add(&mut self, kind: BlobKind, id: Id, sealed: &[u8], raw_len: u32) {
        self.blobs.push(PackedBlob {
            kind,
            id,
            offset: self.buf.len() as u32,
            len: sealed.len() as u32,
            raw_len,
        });
        self.buf.extend_from_slice(sealed);
    }

    /// Bytes so far.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Appends the sealed header and names the pack.
    pub fn finish(self, key: &MasterKey) -> FinishedPack {
        let header = Header {
            version: 1,
            blobs: self
                .blobs
                .iter()
                .map(|b| HeaderEntry {
                    kind: b.kind,
                    id: b.id,
                    len: b.len,
                    raw_len: b.raw_len,
                })
                .collect(),
        };
        let plain = postcard::to_stdvec(&header).expect("serializable");
        let sealed = key.seal(ObjectKind::Pack.aad(), &plain);
        let mut bytes = self.buf;
        bytes.extend_from_slice(&sealed);
        bytes.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        FinishedPack {
            id: key.object_name(&bytes),
            bytes,
            blobs: self.blobs,
        }
    }
}

/// Reads the header of a whole pack. `object` names the pack for messages.
pub fn parse_pack(key: &MasterKey, bytes: &[u8], object: &str) -> Result<Vec<PackedBlob>> {
    let damaged = |d: &str| Error::damaged(object, d.to_string());
    if bytes.len() < 4 {
        return Err(damaged("pack is too short"));
    }
    let hlen = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as usize;
    if hlen + 4 > bytes.len() {
        return Err(damaged("pack header length is out of range"));
    }
    let hstart = bytes.len() - 4 - hlen;
    let plain = key
        .open(ObjectKind::Pack.aad(), &bytes[hstart..bytes.len() - 4])
        .ok_or_else(|| damaged("pack header fails authentication"))?;
    let header: Header = postcard::from_bytes(&plain)
        .map_err(|e| damaged(&format!("pack header does not decode: {e}")))?;
    let mut offset = 0u32;
    let mut out = Vec::with_capacity(header.blobs.len());
    for b in header.blobs {
        out.push(PackedBlob {
            kind: b.kind,
            id: b.id,
            offset,
            len: b.len,
            raw_len: b.raw_len,
        });
        offset = offset
            .checked_add(b.len)
            .filter(|&o| (o as usize) <= hstart)
            .ok_or_else(|| damaged("pack header lists blobs beyond the pack's data"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        let key = MasterKey::generate();
        let mut b = PackBuilder::default();
        let a = vec![1u8; 5000];
        let c: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for d in [&a, &c] {
            let id = key.chunk_id(d);
            b.add(
                BlobKind::Data,
                id,
                &seal_blob(&key, &id, d, 3),
                d.len() as u32,
            );
        }
        let p = b.finish(&key);
        let blobs = parse_pack(&key, &p.bytes, "p").unwrap();
        assert_eq!(blobs, p.blobs);
        for (blob, d) in blobs.iter().zip([&a, &c]) {
            let s = &p.bytes[blob.offset as usize..(blob.offset + blob.len) as usize];
            assert_eq!(
                &open_blob(&key, &blob.id, s, Some(blob.raw_len), "p").unwrap(),
                d
            );
        }
        // compressible data was compressed
        assert!(blobs[0].len < 200);
    }
}
