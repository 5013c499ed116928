//! Pack headers: `parse_pack` over a whole pack. The first input byte
//! chooses the pack: odd, the input itself (the unauthenticated length
//! handling); even, a pack of N zero bytes of "blob data" (N from the next
//! two bytes) followed by the rest of the input sealed as its header, so
//! that the input reaches the header's decoder and bounds checks.
//! Every blob a parsed header lists lies inside the pack's data, and
//! opening it gives its content or an error.
#![no_main]

use coffer_core::backend::ObjectKind;
use coffer_core::pack::{open_blob, parse_pack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = coffer_fuzz::key();
    let pack = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        if rest.len() < 2 {
            return;
        }
        let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let sealed = key.seal(ObjectKind::Pack.aad(), &rest[2..]);
        let mut pack = vec![0u8; n];
        pack.extend_from_slice(&sealed);
        pack.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        pack
    };
    let Ok(blobs) = parse_pack(key, &pack, "packs/fuzz") else {
        return;
    };
    let hlen = u32::from_le_bytes(pack[pack.len() - 4..].try_into().unwrap()) as usize;
    let data_end = pack.len() - 4 - hlen;
    let mut next = 0u64;
    for b in &blobs {
        assert_eq!(b.offset as u64, next, "blobs follow each other");
        next += b.len as u64;
        assert!(
            next <= data_end as u64,
            "a listed blob lies in the pack's data"
        );
        let sealed = &pack[b.offset as usize..next as usize];
        let opened = open_blob(key, &b.id, sealed, Some(b.raw_len), "packs/fuzz");
        // Zeros never authenticate; a whole pack's blobs may (the seed
        // is a real pack), and then are what their ids say.
        if mode & 1 == 0 {
            assert!(opened.is_err(), "zeros open as a blob");
        } else if let Ok(d) = opened {
            assert_eq!(key.chunk_id(&d), b.id);
        }
    }
});
