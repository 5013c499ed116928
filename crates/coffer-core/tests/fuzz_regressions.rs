//! Regression tests for what the fuzz targets in `fuzz/` found (see
//! docs/fuzzing.md), and the writer of their seed corpus.
//!
//! Every input that made a target crash is decoded here, through the same
//! public entry point the target used, and must give a value or an error,
//! never a panic. Each test is named after the target that found it.

use std::path::Path;

use coffer_core::backend::{Backend, ObjectKind};
use coffer_core::fuzzing::seal_blob_payload;
use coffer_core::index::{IndexFile, IndexPack};
use coffer_core::pack::{
    open_blob_in_pieces, open_blob_in_place, seal_blob, BlobKind, PackBuilder, PackedBlob,
};
use coffer_core::{
    keys, ChunkRef, Id, KdfParams, MasterKey, Node, NodeKind, Origin, Secret, Snapshot, SourceInfo,
    Time, Tree, Xattr,
};
use coffer_testing::MemoryBackend;

/// The fixed keys of the fuzz targets (fuzz/src/lib.rs): seeds made with
/// them stay valid for the targets.
const VAULT_ID: &str = "00112233445566778899aabbccddeeff";
const MASTER_SECRET: [u8; 32] = [7; 32];
const KEY_FILE_SECRET: [u8; 32] = [9; 32];

/// blob (crash-3bbed2bd…, input `41 02 01 10 00 01`): a compressed blob
/// whose zstd body is empty, so that its content is empty and hashes to
/// its id, with a recorded length of 1048834. `open_blob_in_place` took it
/// as 0 bytes, which a restore would have written where 1048834 were due;
/// `open_blob_in_pieces` refused it. Both now refuse a blob whose length is
/// not the one recorded, compressed or not, small or large.
#[test]
fn blob_of_another_length_than_recorded_is_damage() {
    let key = MasterKey::from_secret(MASTER_SECRET);
    let input = [0x41u8, 0x02, 0x01, 0x10, 0x00, 0x01];
    let raw_len = u32::from_le_bytes(input[1..5].try_into().unwrap());
    let id = key.chunk_id(b"");
    let sealed = seal_blob_payload(&key, &id, &input[5..]);
    let whole = open_blob_in_place(&key, &id, &mut sealed.clone(), Some(raw_len), "p", |d| {
        d.len()
    });
    let err = whole.unwrap_err().to_string();
    assert!(
        err.contains("holds 0 bytes, not the 1048834 recorded"),
        "{err}"
    );
    assert!(
        open_blob_in_pieces(&key, &id, &mut sealed.clone(), raw_len, "p", |_, _, _| {
            panic!("nothing is handed on")
        })
        .is_err()
    );

    // A raw (uncompressed) small blob: only its own length passes.
    let data = b"abc";
    let id = key.chunk_id(data);
    let sealed = seal_blob(&key, &id, data, 0);
    let open = |len: Option<u32>| {
        open_blob_in_place(&key, &id, &mut sealed.clone(), len, "p", <[u8]>::to_vec)
    };
    assert_eq!(open(Some(3)).unwrap(), data);
    assert_eq!(
        open(None).unwrap(),
        data,
        "unknown length: the hash decides"
    );
    assert!(open(Some(5)).is_err());
    assert!(open(Some(2)).is_err());
    let pieces =
        |len: u32| open_blob_in_pieces(&key, &id, &mut sealed.clone(), len, "p", |_, _, _| {});
    assert!(pieces(3).is_ok());
    assert!(pieces(5).is_err());
}

fn sample_tree() -> Tree {
    let mut file = Node::new(b"file.txt".to_vec(), NodeKind::File);
    file.mode = 0o644;
    file.user = Some("root".into());
    file.mtime = Time {
        secs: 1_700_000_000,
        nanos: 5,
    };
    file.size = 10;
    file.content = vec![ChunkRef {
        id: Id([3; 32]),
        len: 10,
    }];
    file.xattrs = vec![Xattr {
        name: b"user.a".to_vec(),
        value: b"b".to_vec(),
    }];
    let mut dir = Node::new(b"dir".to_vec(), NodeKind::Dir);
    dir.subtree = Some(Id([4; 32]));
    let mut link = Node::new(b"link".to_vec(), NodeKind::Symlink);
    link.target = Some(b"file.txt".to_vec());
    Tree::new(vec![file, dir, link])
}

fn sample_snapshot() -> Snapshot {
    Snapshot {
        version: 1,
        time: "2026-01-02T03:04:05Z".into(),
        tree: Id([1; 32]),
        paths: vec!["/etc".into()],
        hostname: "host".into(),
        username: "root".into(),
        tags: vec!["a".into(), "b".into()],
        parent: Some(Id([2; 32])),
        source: SourceInfo {
            kind: "files".into(),
            details: [("k".to_string(), "v".to_string())].into(),
        },
        program_version: "0.1.0".into(),
        summary: Default::default(),
        retain_until: Some("2027-01-01T00:00:00Z".into()),
        origin: Some(Origin {
            vault: VAULT_ID.into(),
            snapshot: Id([5; 32]),
        }),
        rewritten_from: Some(Id([6; 32])),
    }
}

/// Writes the seed corpus of the fuzz targets into `$COFFER_FUZZ_SEEDS`
/// (fuzz/seeds), one directory per target; server_config's seeds are
/// written by hand. Run with `COFFER_FUZZ_SEEDS=fuzz/seeds cargo test -p
/// coffer-core --test fuzz_regressions -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes the fuzz seed corpus"]
fn write_seed_corpus() {
    let root = std::env::var("COFFER_FUZZ_SEEDS").expect("COFFER_FUZZ_SEEDS names the directory");
    let root = Path::new(&root);
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let key = MasterKey::from_secret(MASTER_SECRET);
    let tree = sample_tree().encode();

    put("tree", "three-nodes", &tree);
    put("tree", "empty", &Tree::new(Vec::new()).encode());

    put(
        "snapshot",
        "full",
        &serde_json::to_vec(&sample_snapshot()).unwrap(),
    );

    let blob = |i: u8, kind| PackedBlob {
        kind,
        id: Id([i; 32]),
        offset: i as u32 * 100,
        len: 100,
        raw_len: 60,
    };
    let index = IndexFile {
        version: 1,
        packs: vec![
            IndexPack {
                id: Id([10; 32]),
                blobs: vec![blob(1, BlobKind::Data), blob(2, BlobKind::Tree)],
            },
            IndexPack {
                id: Id([11; 32]),
                blobs: vec![blob(1, BlobKind::Data)],
            },
        ],
    };
    put("index", "two-packs", &postcard::to_stdvec(&index).unwrap());

    // A real pack of a data and a tree blob: whole (odd mode), and its
    // header's plaintext behind the length of its blob data (even mode).
    let data: Vec<u8> = (0..300u32).map(|i| (i % 7) as u8).collect();
    let mut pb = PackBuilder::default();
    for (kind, d) in [(BlobKind::Data, &data), (BlobKind::Tree, &tree)] {
        let id = key.chunk_id(d);
        pb.add(kind, id, &seal_blob(&key, &id, d, 3), d.len() as u32)
            .unwrap();
    }
    let pack = pb.finish(&key).bytes;
    let hlen = u32::from_le_bytes(pack[pack.len() - 4..].try_into().unwrap()) as usize;
    let hstart = pack.len() - 4 - hlen;
    let header = key
        .open(ObjectKind::Pack.aad(), &pack[hstart..pack.len() - 4])
        .unwrap();
    let mut seed = vec![0u8];
    seed.extend_from_slice(&(hstart as u16).to_le_bytes());
    seed.extend_from_slice(&header);
    put("pack_header", "header-plaintext", &seed);
    let mut seed = vec![1u8];
    seed.extend_from_slice(&pack);
    put("pack_header", "whole-pack", &seed);

    // Blob payloads: ctl 1 (the id is the content's hash), raw_len, payload.
    let blob_seed = |raw_len: u32, payload: &[u8]| {
        let mut s = vec![1u8];
        s.extend_from_slice(&raw_len.to_le_bytes());
        s.extend_from_slice(payload);
        s
    };
    let mut raw = vec![0u8];
    raw.extend_from_slice(&tree);
    put("blob", "raw-tree", &blob_seed(tree.len() as u32, &raw));
    let mut z = vec![1u8];
    z.extend_from_slice(&zstd::bulk::compress(&data, 3).unwrap());
    put("blob", "zstd-data", &blob_seed(data.len() as u32, &z));
    // Over PIECE (1 MiB) of plaintext: the streamed path.
    let big: Vec<u8> = (0..(3u32 << 19)).map(|i| (i / 4096 % 5) as u8).collect();
    let mut z = vec![1u8];
    z.extend_from_slice(&zstd::bulk::compress(&big, 19).unwrap());
    put("blob", "zstd-large", &blob_seed(big.len() as u32, &z));

    // Key slots bound to VAULT_ID wrapping MASTER_SECRET.
    let mem = MemoryBackend::new();
    let id = keys::add_slot(
        &mem,
        VAULT_ID,
        &key,
        &Secret::KeyFile(KEY_FILE_SECRET),
        "seed",
        None,
    )
    .unwrap();
    let mut seed = vec![0u8];
    seed.extend_from_slice(&mem.read(&ObjectKind::Key.path(&id)).unwrap());
    put("key_slot", "key-file-slot", &seed);
    let small = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };
    let id = keys::add_slot(
        &mem,
        VAULT_ID,
        &key,
        &Secret::Password("pw".into()),
        "",
        Some(small),
    )
    .unwrap();
    let mut seed = vec![0u8];
    seed.extend_from_slice(&mem.read(&ObjectKind::Key.path(&id)).unwrap());
    put("key_slot", "password-slot", &seed);
    let dir = tempfile::tempdir().unwrap();
    keys::write_new_key_file(&dir.path().join("k")).unwrap();
    let mut seed = vec![1u8];
    seed.extend_from_slice(&std::fs::read(dir.path().join("k")).unwrap());
    put("key_slot", "key-file", &seed);

    let mem = std::sync::Arc::new(MemoryBackend::new());
    coffer_core::Vault::init(
        mem.clone(),
        &Secret::KeyFile(KEY_FILE_SECRET),
        &Default::default(),
    )
    .unwrap();
    put("vault_config", "config", &mem.read("config").unwrap());
}
