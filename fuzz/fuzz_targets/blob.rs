//! Blob opening after authentication: the input's payload (encoding flag
//! and body) is sealed under the fixed key as blob `id`, so that it gets
//! through authentication to decompression, the length and hash checks and
//! the tree decoder, as a blob written by someone holding the key would.
//!
//! Input: `ctl` (1 byte), `raw_len` (u32 LE), then the payload. `ctl` bit 0:
//! make `id` the real hash of the payload's content (so that the input can
//! pass verification); bit 1: open in place with the raw length unknown
//! (as tree blobs are read) rather than given.
//!
//! `raw_len` is taken modulo 2^28, the largest chunk a vault config
//! allows: the decompressor reserves `raw_len` bytes up front, and a 4 GiB
//! reservation for a length that the writer recorded is not a parser bug.
//!
//! Checked: nothing panics; whatever is accepted hashes to `id`; the
//! pieces of `open_blob_in_pieces` follow each other, end with exactly one
//! `last`, and it accepts exactly what `open_blob_in_place` with the same
//! length accepts.
#![no_main]

use coffer_core::fuzzing::seal_blob_payload;
use coffer_core::pack::{open_blob_in_pieces, open_blob_in_place};
use coffer_core::{Id, Tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let ctl = data[0];
    let raw_len = u32::from_le_bytes(data[1..5].try_into().unwrap()) % (1 << 28);
    let payload = &data[5..];
    let key = coffer_fuzz::key();
    let content = match payload.split_first() {
        Some((0, body)) => Some(body.to_vec()),
        Some((1, body)) => zstd::bulk::decompress(body, 4 << 20).ok(),
        _ => None,
    };
    let id = match content {
        Some(c) if ctl & 1 == 1 => key.chunk_id(&c),
        _ => Id([ctl; 32]),
    };
    let sealed = seal_blob_payload(key, &id, payload);

    let given = (ctl & 2 == 0).then_some(raw_len);
    let whole = open_blob_in_place(key, &id, &mut sealed.clone(), given, "packs/fuzz", |d| {
        assert_eq!(key.chunk_id(d), id, "an accepted blob hashes to its id");
        // What load_tree does with a tree blob.
        let _ = Tree::decode(d);
        d.len()
    });

    let mut h = Vec::new();
    let mut next = 0u64;
    let mut lasts = 0;
    let pieces = open_blob_in_pieces(
        key,
        &id,
        &mut sealed.clone(),
        raw_len,
        "packs/fuzz",
        |at, d, last| {
            assert_eq!(at, next, "pieces follow each other");
            assert_eq!(lasts, 0, "nothing after the last piece");
            next += d.len() as u64;
            lasts += last as usize;
            h.extend_from_slice(d);
        },
    );
    if pieces.is_ok() {
        assert_eq!(lasts, 1, "exactly one last piece");
        assert_eq!(key.chunk_id(&h), id, "the pieces hash to the blob's id");
    }
    if given.is_some() {
        assert_eq!(
            pieces.is_ok(),
            whole.is_ok(),
            "in pieces and in place agree on a blob of length {raw_len}: {pieces:?} / {whole:?}"
        );
    }
});
