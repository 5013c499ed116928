//! Measures the resident memory of coffer's in-memory index per chunk.
//!
//!   coffer-index-memory synthetic N [BLOBS_PER_PACK]
//!       builds an `Index` in this process from synthetic index objects
//!       (`Index::add` + `Index::finish`), one object at a time.
//!   coffer-index-memory write DIR N [BLOBS_PER_PACK]
//!       creates a local vault at DIR (key file DIR.key) holding only index
//!       objects for N random chunks, written as the archiver writes them
//!       (postcard, sealed, 50,000 blobs per object).
//!   coffer-index-memory load DIR
//!       opens that vault in a fresh process and measures `Vault::load_index`:
//!       the path `coffer backup`/`restore` take.
//!
//! Prints `key=value` lines. RSS is VmRSS from /proc/self/status; the peak
//! is VmHWM. "per chunk" numbers are (after - before) / chunks.

use coffer_core::index::{IndexFile, IndexPack};
use coffer_core::pack::PackedBlob;
use coffer_core::{BlobKind, Id, Index, InitOptions, ObjectKind, Secret, Vault};
use coffer_storage::OpendalBackend;
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// As the archiver: an index object is written every 50,000 blobs.
const BLOBS_PER_INDEX_OBJECT: usize = 50_000;

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}
fn rss() -> u64 {
    status("VmRSS:")
}
fn hwm() -> u64 {
    status("VmHWM:")
}

extern "C" {
    /// glibc: returns free heap memory to the system.
    fn malloc_trim(pad: usize) -> i32;
    /// glibc: sets a malloc parameter.
    fn mallopt(param: i32, value: i32) -> i32;
}

/// The malloc settings `coffer` itself makes at start (coffer-cli main.rs):
/// a fixed 4 MiB mmap threshold. Set COFFER_BENCH_MALLOC=glibc to measure
/// with glibc's defaults instead.
fn malloc_like_cli() -> &'static str {
    const M_MMAP_THRESHOLD: i32 = -3;
    if std::env::var("COFFER_BENCH_MALLOC").as_deref() == Ok("glibc") {
        return "glibc-defaults";
    }
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 4 << 20);
    }
    "coffer-cli (M_MMAP_THRESHOLD=4MiB)"
}

/// VmRSS after handing free heap memory back: what of `rss()` is live.
fn rss_after_trim() -> u64 {
    unsafe { malloc_trim(0) };
    rss()
}

fn random_id(rng: &mut impl RngCore) -> Id {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    Id(b)
}

/// Yields index objects covering `n` random chunks, `per_pack` chunks per
/// pack; one pack in a hundred holds trees.
fn index_files(n: usize, per_pack: usize) -> impl Iterator<Item = IndexFile> {
    let mut rng = rand::thread_rng();
    let mut left = n;
    let mut packs_made = 0usize;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let mut f = IndexFile {
            version: 1,
            packs: Vec::new(),
        };
        let mut in_file = 0;
        while left > 0 && in_file < BLOBS_PER_INDEX_OBJECT {
            let k = per_pack.min(left);
            let kind = if packs_made % 100 == 99 {
                BlobKind::Tree
            } else {
                BlobKind::Data
            };
            let mut offset = 0u32;
            let blobs = (0..k)
                .map(|_| {
                    let raw_len = 512 * 1024 + (rng.next_u32() % (1024 * 1024));
                    let len = raw_len / 2 + 41;
                    let b = PackedBlob {
                        kind,
                        id: random_id(&mut rng),
                        offset,
                        len,
                        raw_len,
                    };
                    offset = offset.wrapping_add(len);
                    b
                })
                .collect();
            f.packs.push(IndexPack {
                id: random_id(&mut rng),
                blobs,
            });
            packs_made += 1;
            left -= k;
            in_file += k;
        }
        Some(f)
    })
}

fn report(mode: &str, chunks: usize, before: u64, after: u64, peak: u64, secs: f64) {
    let trimmed = rss_after_trim();
    println!("mode={mode}");
    println!("chunks={chunks}");
    println!("bytes_per_entry_table={}", Index::BYTES_PER_ENTRY);
    println!("rss_before={before}");
    println!("rss_after={after}");
    println!("rss_peak={peak}");
    println!(
        "rss_per_chunk={:.1}",
        (after as f64 - before as f64) / chunks as f64
    );
    println!(
        "peak_per_chunk={:.1}",
        (peak as f64 - before as f64) / chunks as f64
    );
    println!("rss_after_trim={trimmed}");
    println!(
        "trimmed_per_chunk={:.1}",
        (trimmed as f64 - before as f64) / chunks as f64
    );
    println!("seconds={secs:.2}");
}

fn backend(dir: &Path) -> Arc<dyn coffer_core::Backend> {
    Arc::new(OpendalBackend::local(dir).expect("local backend"))
}

fn key_path(dir: &Path) -> PathBuf {
    let mut p = dir.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

fn main() {
    let malloc = malloc_like_cli();
    println!("malloc={malloc}");
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!(
            "usage: {0} synthetic N [BLOBS_PER_PACK]\n       {0} write DIR N [BLOBS_PER_PACK]\n       {0} load DIR",
            args[0]
        );
        std::process::exit(2)
    };
    let num = |s: Option<&String>, d: usize| -> usize {
        s.map(|s| s.replace('_', "").parse().unwrap_or_else(|_| usage()))
            .unwrap_or(d)
    };
    match args.get(1).map(String::as_str) {
        Some("synthetic") => {
            let n = num(args.get(2), 0);
            let per_pack = num(args.get(3), 16).max(1);
            if n == 0 {
                usage()
            }
            let t = Instant::now();
            let before = rss();
            let mut index = Index::with_capacity(n);
            let mut probe = None;
            for f in index_files(n, per_pack) {
                probe.get_or_insert(f.packs[0].blobs[0].id);
                index.add(&f);
            }
            index.finish();
            let after = rss();
            let peak = hwm();
            assert_eq!(index.len(), n, "duplicate random ids?");
            assert!(index.contains(&probe.unwrap()));
            println!("blobs_per_pack={per_pack}");
            println!("packs={}", index.packs().len());
            report("synthetic", n, before, after, peak, t.elapsed().as_secs_f64());
        }
        Some("write") => {
            let dir = PathBuf::from(args.get(2).unwrap_or_else(|| usage()));
            let n = num(args.get(3), 0);
            let per_pack = num(args.get(4), 16).max(1);
            if n == 0 {
                usage()
            }
            let key = key_path(&dir);
            let secret = coffer_core::keys::write_new_key_file(&key).expect("new key file");
            let vault = Vault::init(backend(&dir), &secret, &InitOptions::default()).expect("init");
            let (mut objects, mut bytes) = (0, 0);
            for f in index_files(n, per_pack) {
                let body = postcard::to_stdvec(&f).expect("postcard");
                bytes += body.len();
                vault
                    .save_object(ObjectKind::Index, &body)
                    .expect("save index object");
                objects += 1;
            }
            println!("mode=write");
            println!("chunks={n}");
            println!("blobs_per_pack={per_pack}");
            println!("index_objects={objects}");
            println!("index_plaintext_bytes={bytes}");
        }
        Some("load") => {
            let dir = PathBuf::from(args.get(2).unwrap_or_else(|| usage()));
            let secret = Secret::from_key_file(&key_path(&dir)).expect("key file");
            let vault = Vault::open(backend(&dir), &secret).expect("open vault");
            let before = rss();
            let t = Instant::now();
            let index = vault.load_index().expect("load_index");
            let secs = t.elapsed().as_secs_f64();
            let after = rss();
            let peak = hwm();
            println!("packs={}", index.packs().len());
            report("load_index", index.len(), before, after, peak, secs);
        }
        _ => usage(),
    }
}
