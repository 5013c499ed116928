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

use crate::backend::{Backend, ObjectKind, Staged};
use crate::error::{Error, Result, StorageError};
use crate::format::crypto::{MasterKey, SEAL_PREFIX};
use crate::format::id::Id;

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

pub(crate) fn blob_aad(id: &Id) -> [u8; 43] {
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

/// zstd window of stored blobs (1 MiB).
const WINDOW_LOG: u32 = 20;

/// Compresses `data` and appends the result to `out` (written straight into
/// its spare capacity, so only what zstd writes is touched); `None` when it
/// would take more than `room` bytes (then compressing does not pay) or
/// zstd fails. On `None`, `out` is as it was.
fn compress_into(data: &[u8], level: i32, out: &mut Vec<u8>, room: usize) -> Option<usize> {
    let start = out.len();
    let n = COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().map(|(l, _)| *l) != Some(level) {
            let mut z = zstd::bulk::Compressor::new(level).ok()?;
            // A 1 MiB window: as good as zstd's own for chunks of about
            // 1 MiB, and a restore that streams a large chunk through
            // the decoder needs only that much per thread.
            z.set_parameter(zstd::zstd_safe::CParameter::WindowLog(WINDOW_LOG))
                .ok()?;
            *c = Some((level, z));
        }
        let mut cursor = std::io::Cursor::new(&mut *out);
        cursor.set_position(start as u64);
        c.as_mut()?.1.compress_to_buffer(data, &mut cursor).ok()
    });
    match n {
        Some(n) if n <= room => Some(n),
        _ => {
            out.truncate(start);
            None
        }
    }
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
/// behind the seal's prefix, into the buffer's spare capacity, and its
/// output is kept only when it is smaller; then the bytes are encrypted in
/// place. Only the bytes written are touched, so a buffer with room for the
/// largest chunk costs memory only as far as a blob filled it.
pub fn seal_blob_into(
    key: &MasterKey,
    id: &Id,
    data: &[u8],
    level: i32,
    buf: &mut Vec<u8>,
) -> usize {
    let head = SEAL_PREFIX + 1;
    let most = head + data.len() + 16;
    buf.clear();
    if buf.capacity() < most {
        buf.reserve_exact(most);
    }
    buf.resize(head, 0);
    let compressed =
        level > 0 && data.len() > 64 && compress_into(data, level, buf, data.len() - 17).is_some();
    if compressed {
        buf[SEAL_PREFIX] = 1;
    } else {
        buf[SEAL_PREFIX] = 0;
        buf.extend_from_slice(data);
    }
    let n = buf.len() + 16;
    buf.resize(n, 0);
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
    let plain = open_sealed(key, id, sealed, object)?;
    verify_plain(key, id, plain, raw_len, object, f)
}

/// Decrypts and authenticates a sealed blob in place; its plaintext is the
/// encoding flag and the payload.
fn open_sealed<'a>(
    key: &MasterKey,
    id: &Id,
    sealed: &'a mut [u8],
    object: &str,
) -> Result<&'a [u8]> {
    key.open_in_place(&blob_aad(id), sealed)
        .ok_or_else(|| Error::damaged(object, format!("blob {id} fails authentication")))
}

/// Compressed blobs with more plaintext than this are handed on in pieces by
/// [`open_blob_in_pieces`].
pub const PIECE: usize = 1 << 20;

/// Like [`open_blob_in_place`], but a compressed blob of more than [`PIECE`]
/// bytes of plaintext is never held whole: it is decompressed once, in
/// pieces, to check its length and hash, and then once more to hand the
/// pieces to `f` (offset in the blob, bytes, whether it is the last piece).
/// Nothing reaches `f` before the whole blob is verified.
pub fn open_blob_in_pieces(
    key: &MasterKey,
    id: &Id,
    sealed: &mut [u8],
    raw_len: u32,
    object: &str,
    mut f: impl FnMut(u64, &[u8], bool),
) -> Result<()> {
    let plain = open_sealed(key, id, sealed, object)?;
    if plain.first() != Some(&1) || raw_len as usize <= PIECE {
        return verify_plain(key, id, plain, Some(raw_len), object, |d| f(0, d, true));
    }
    let body = &plain[1..];
    let bad =
        |e: std::io::Error| Error::damaged(object, format!("blob {id} does not decompress: {e}"));
    let mut h = key.chunk_hasher();
    let mut n = 0u64;
    decompress_pieces(body, |p| {
        h.update(p);
        n += p.len() as u64;
    })
    .map_err(bad)?;
    if n != raw_len as u64 || Id(*h.finalize().as_bytes()) != *id {
        return Err(Error::damaged(
            object,
            format!("blob {id} does not match its hash"),
        ));
    }
    let mut off = 0u64;
    decompress_pieces(body, |p| {
        let at = off;
        off += p.len() as u64;
        f(at, p, off == n)
    })
    .map_err(bad)
}

/// Decompresses a zstd stream piece by piece (at most 256 KiB at a time).
fn decompress_pieces(src: &[u8], mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    use std::io::Read;
    let mut d = zstd::stream::read::Decoder::with_buffer(src)?;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = d.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n]);
    }
}

/// Decompresses (when the blob is compressed) and checks a blob's opened
/// plaintext against `id`, then hands it to `f`.
fn verify_plain<R>(
    key: &MasterKey,
    id: &Id,
    plain: &[u8],
    raw_len: Option<u32>,
    object: &str,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R> {
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
    // The length a tree or pack header records is where a restore puts the
    // next chunk: a blob of another length would be written at the wrong
    // offsets, so it is damage, as open_blob_in_pieces already held for
    // large blobs (found by the blob fuzz target, see docs/fuzzing.md).
    if let Some(n) = raw_len.filter(|&n| n as usize != data.len()) {
        return Err(Error::damaged(
            object,
            format!("blob {id} holds {} bytes, not the {n} recorded", data.len()),
        ));
    }
    Ok(f(data))
}

/// Collects sealed blobs into a pack: in memory, or written on as they come
/// into a [`Staged`] object while the pack's name is hashed along.
#[derive(Default)]
pub struct PackBuilder {
    buf: Vec<u8>,
    blobs: Vec<PackedBlob>,
    staged: Option<(Box<dyn Staged>, blake3::Hasher)>,
    size: usize,
}

/// A finished pack ready to upload.
pub struct FinishedPack {
    /// The pack's name.
    pub id: Id,
    /// Its bytes; for a staged pack, the bytes still to append (the sealed
    /// header and its length) before [`Staged::commit`].
    pub bytes: Vec<u8>,
    /// The staged object holding the pack's other bytes, if it was staged.
    pub staged: Option<Box<dyn Staged>>,
    /// The blobs it holds.
    pub blobs: Vec<PackedBlob>,
}

impl FinishedPack {
    /// Whether the pack holds data blobs only: the one kind of object a
    /// vault's storage class applies to ([`Backend::write_data_pack`]).
    pub fn is_data_only(&self) -> bool {
        !self.blobs.is_empty() && self.blobs.iter().all(|b| b.kind == BlobKind::Data)
    }

    /// Stores the pack through `backend` under its name (nothing when
    /// `dry_run`): a pack of data blobs only with
    /// [`Backend::write_data_pack`] (in the vault's storage class), any
    /// other with [`Backend::write`]. Returns its name and blobs, for the
    /// index.
    pub fn store(
        self,
        backend: &dyn Backend,
        dry_run: bool,
    ) -> std::result::Result<(Id, Vec<PackedBlob>), StorageError> {
        let path = ObjectKind::Pack.path(&self.id);
        let data_only = self.is_data_only();
        match self.staged {
            // A staged pack of a dry run is dropped, which removes it.
            Some(_) if dry_run => {}
            Some(mut s) => {
                s.append(&self.bytes)?;
                s.commit(&path)?;
            }
            None if dry_run => {}
            None if data_only => backend.write_data_pack(&path, self.bytes)?,
            None => backend.write(&path, self.bytes)?,
        }
        Ok((self.id, self.blobs))
    }
}

impl PackBuilder {
    /// A builder whose buffer holds `capacity` bytes without growing (growing
    /// a 16 MiB vector doubles it and copies it).
    pub fn with_capacity(capacity: usize) -> Self {
        PackBuilder {
            buf: Vec::with_capacity(capacity),
            ..Default::default()
        }
    }

    /// A builder that writes each blob on into `staged` as it is added, so
    /// the pack is never held in memory.
    pub fn staged(staged: Box<dyn Staged>, key: &MasterKey) -> Self {
        PackBuilder {
            staged: Some((staged, key.object_hasher())),
            ..Default::default()
        }
    }

    /// Appends a sealed blob. Fails only for a staged pack whose write fails.
    pub fn add(
        &mut self,
        kind: BlobKind,
        id: Id,
        sealed: &[u8],
        raw_len: u32,
    ) -> std::result::Result<(), StorageError> {
        match &mut self.staged {
            Some((s, h)) => {
                s.append(sealed)?;
                h.update(sealed);
            }
            None => self.buf.extend_from_slice(sealed),
        }
        self.blobs.push(PackedBlob {
            kind,
            id,
            offset: self.size as u32,
            len: sealed.len() as u32,
            raw_len,
        });
        self.size += sealed.len();
        Ok(())
    }

    /// Bytes so far.
    pub fn size(&self) -> usize {
        self.size
    }

    /// True when nothing was added and no staged object was started.
    pub fn is_fresh(&self) -> bool {
        self.blobs.is_empty() && self.staged.is_none()
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
        match self.staged {
            Some((staged, mut h)) => {
                h.update(&bytes);
                FinishedPack {
                    id: Id(*h.finalize().as_bytes()),
                    bytes,
                    staged: Some(staged),
                    blobs: self.blobs,
                }
            }
            None => FinishedPack {
                id: key.object_name(&bytes),
                bytes,
                staged: None,
                blobs: self.blobs,
            },
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
            )
            .unwrap();
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

    /// A compressed blob over [`PIECE`] reaches the sink in order, in
    /// pieces, with one `last`; a damaged one reaches it not at all.
    #[test]
    fn large_blob_in_pieces() {
        let key = MasterKey::generate();
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i / 1000 % 251) as u8 ^ (i % 7) as u8)
            .collect();
        let id = key.chunk_id(&data);
        let sealed = seal_blob(&key, &id, &data, 3);
        assert!(sealed.len() < data.len() / 2, "compressed");
        let mut got = Vec::new();
        let mut lasts = 0;
        let mut calls = 0;
        open_blob_in_pieces(
            &key,
            &id,
            &mut sealed.clone(),
            data.len() as u32,
            "p",
            |at, d, last| {
                assert_eq!(at as usize, got.len());
                got.extend_from_slice(d);
                lasts += last as usize;
                calls += 1;
            },
        )
        .unwrap();
        assert_eq!(got, data);
        assert_eq!(lasts, 1);
        assert!(calls > 1, "handed on in pieces");
        // A blob that authenticates but is not what its id says: refused
        // before any byte is handed on.
        let other: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
        let mut wrong = seal_blob(&key, &id, &other, 3);
        let err = open_blob_in_pieces(&key, &id, &mut wrong, other.len() as u32, "p", |_, _, _| {
            panic!("bytes handed on before the blob was verified")
        })
        .unwrap_err();
        assert!(err.to_string().contains("does not match its hash"), "{err}");
        // A flipped byte fails authentication.
        let mut flipped = sealed.clone();
        flipped[100] ^= 1;
        assert!(open_blob_in_pieces(
            &key,
            &id,
            &mut flipped,
            data.len() as u32,
            "p",
            |_, _, _| { panic!("damaged bytes handed on") }
        )
        .is_err());
    }

    /// Records which write each object went through.
    #[derive(Default)]
    struct Tiers {
        mem: crate::test_backend::Mem,
        data_packs: std::sync::Mutex<Vec<String>>,
    }

    impl Backend for Tiers {
        fn location(&self) -> String {
            "tiers".into()
        }
        fn write(&self, path: &str, data: Vec<u8>) -> std::result::Result<(), StorageError> {
            self.mem.write(path, data)
        }
        fn write_data_pack(
            &self,
            path: &str,
            data: Vec<u8>,
        ) -> std::result::Result<(), StorageError> {
            self.data_packs.lock().unwrap().push(path.to_string());
            self.mem.write(path, data)
        }
        fn read(&self, path: &str) -> std::result::Result<Vec<u8>, StorageError> {
            self.mem.read(path)
        }
        fn read_range(
            &self,
            path: &str,
            o: u64,
            l: u64,
        ) -> std::result::Result<Vec<u8>, StorageError> {
            self.mem.read_range(path, o, l)
        }
        fn list(&self, prefix: &str) -> std::result::Result<Vec<crate::ObjectInfo>, StorageError> {
            self.mem.list(prefix)
        }
        fn delete(&self, path: &str) -> std::result::Result<(), StorageError> {
            self.mem.delete(path)
        }
    }

    /// Only packs of data blobs only go through `write_data_pack` (the
    /// vault's storage class); tree packs and mixed ones through `write`.
    #[test]
    fn only_data_packs_take_the_vaults_storage_class() {
        let key = MasterKey::generate();
        let pack = |kinds: &[BlobKind]| {
            let mut b = PackBuilder::default();
            for (i, k) in kinds.iter().enumerate() {
                let d = vec![i as u8; 100];
                let id = key.chunk_id(&d);
                b.add(*k, id, &seal_blob(&key, &id, &d, 3), 100).unwrap();
            }
            b.finish(&key)
        };
        let t = Tiers::default();
        let data = pack(&[BlobKind::Data, BlobKind::Data]);
        let tree = pack(&[BlobKind::Tree]);
        let mixed = pack(&[BlobKind::Data, BlobKind::Tree]);
        assert!(data.is_data_only() && !tree.is_data_only() && !mixed.is_data_only());
        let (data_id, _) = data.store(&t, false).unwrap();
        tree.store(&t, false).unwrap();
        mixed.store(&t, false).unwrap();
        pack(&[BlobKind::Data]).store(&t, true).unwrap();
        assert_eq!(
            *t.data_packs.lock().unwrap(),
            vec![ObjectKind::Pack.path(&data_id)]
        );
        assert_eq!(t.mem.list("packs/").unwrap().len(), 3);
    }
}
