//! Unit tests of the page splitter: cuts, fallbacks on damaged headers, pax
//! headers, and that the chunks concatenate to the input.

use super::splitter::*;
use super::tar::*;
use rand::{Rng, SeedableRng};
use std::io::Read;

/// A reader that returns at most `step` bytes per call.
struct Trickle<'a>(&'a [u8], usize);
impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(out.len()).min(self.1);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// A tar being built by hand, and the data ranges that must be paged.
#[derive(Default)]
struct Tar {
    bytes: Vec<u8>,
    paged: Vec<(usize, usize)>,
}

enum Size {
    Octal,
    Base256,
    /// The ustar field says 0; a pax header before gives the size.
    Pax,
}

fn header(name: &[u8], flag: u8, size_field: [u8; 12], mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    h[100..108].copy_from_slice(b"0000600\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(&size_field);
    h[136..148].copy_from_slice(format!("{mtime:011o}\0").as_bytes());
    h[156] = flag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| *b as u64).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn octal12(v: u64) -> [u8; 12] {
    format!("{v:011o}\0").as_bytes().try_into().unwrap()
}

impl Tar {
    fn raw_member(&mut self, name: &[u8], flag: u8, field: [u8; 12], data: &[u8], mtime: u64) {
        self.bytes
            .extend_from_slice(&header(name, flag, field, mtime));
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        if matches!(flag, b'0' | b'7' | 0) && data.len() as u64 >= MIN_PAGED {
            self.paged.push((start, self.bytes.len()));
        }
        self.bytes
            .resize(self.bytes.len().next_multiple_of(BLOCK), 0);
    }

    fn file(&mut self, name: &str, data: &[u8], size: Size, mtime: u64) {
        let mut name = name.as_bytes().to_vec();
        if name.len() > 100 {
            // A GNU long name, as GNU tar writes it.
            let mut n = name.clone();
            n.push(0);
            self.raw_member(b"././@LongLink", b'L', octal12(n.len() as u64), &n, 0);
            name.truncate(100);
        }
        let field = match size {
            Size::Octal => octal12(data.len() as u64),
            Size::Base256 => {
                let mut f = [0u8; 12];
                f[0] = 0x80;
                f[4..].copy_from_slice(&(data.len() as u64).to_be_bytes());
                f
            }
            Size::Pax => {
                let mut recs = Vec::new();
                for (k, v) in [
                    ("path", format!("long/{}", "p".repeat(150))),
                    ("size", data.len().to_string()),
                ] {
                    let body = format!(" {k}={v}\n");
                    let mut len = body.len() + 1;
                    while format!("{len}{body}").len() != len {
                        len += 1;
                    }
                    recs.extend_from_slice(format!("{len}{body}").as_bytes());
                }
                self.raw_member(b"PaxHeader", b'x', octal12(recs.len() as u64), &recs, 0);
                octal12(0)
            }
        };
        self.raw_member(&name, b'0', field, data, mtime);
    }

    fn finish(&mut self) {
        self.bytes.extend_from_slice(&[0u8; 2 * BLOCK]);
    }
}

fn random_pages(rng: &mut impl Rng, pages: usize) -> Vec<u8> {
    let mut d = vec![0u8; pages * PAGE];
    rng.fill(&mut d[..]);
    d
}

/// Splits `input` with reads of at most `step` bytes; returns the chunks.
fn split(input: &[u8], step: usize) -> (Vec<Vec<u8>>, Option<u64>, u64) {
    let mut s = PageSplitter::new(Trickle(input, step));
    let mut out = Vec::new();
    while let Some(c) = s.next_chunk().unwrap() {
        assert!(!c.is_empty(), "empty chunk");
        assert!(c.len() <= CHUNK, "chunk of {} bytes", c.len());
        out.push(c.to_vec());
    }
    (out, s.fallback_at(), s.paged_members())
}

/// The offsets where chunks start.
fn cuts(chunks: &[Vec<u8>]) -> Vec<usize> {
    let mut off = 0;
    chunks
        .iter()
        .map(|c| {
            let o = off;
            off += c.len();
            o
        })
        .collect()
}

/// The chunks concatenate to the input, and each paged range is cut at
/// its start, every CHUNK bytes, and at its end, and nowhere else.
fn assert_paged(t: &Tar, chunks: &[Vec<u8>]) {
    assert!(chunks.concat() == t.bytes, "chunks differ from the input");
    let cuts = cuts(chunks);
    let set: std::collections::HashSet<usize> = cuts.iter().copied().collect();
    for &(s, e) in &t.paged {
        let mut o = s;
        while o < e {
            assert!(set.contains(&o), "no cut at {o} in paged data {s}..{e}");
            o += CHUNK;
        }
        assert!(
            e == t.bytes.len() || set.contains(&e),
            "no cut at the end {e} of paged data {s}..{e}"
        );
        assert!(
            cuts.iter()
                .all(|c| *c <= s || *c >= e || (*c - s) % CHUNK == 0),
            "a cut inside page-aligned data {s}..{e}"
        );
    }
}

#[test]
fn cuts_on_pages_and_hands_out_the_input() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut t = Tar::default();
    t.file("PG_VERSION", b"15\n", Size::Octal, 1);
    t.file(
        "backup_label",
        b"START WAL LOCATION: 0/2000028\n",
        Size::Octal,
        1,
    );
    t.file("empty", b"", Size::Octal, 1);
    t.file("one-page", &random_pages(&mut rng, 1), Size::Octal, 1);
    t.file("two-pages", &random_pages(&mut rng, 2), Size::Octal, 1);
    t.raw_member(b"base/", b'5', octal12(0), b"", 1);
    t.raw_member(b"link", b'2', octal12(0), b"", 1);
    // A segment of a large relation, emulated small: base-256 size,
    // not a whole number of chunks.
    t.file(
        "base/5/16384",
        &random_pages(&mut rng, 40),
        Size::Base256,
        2,
    );
    t.file(
        &format!("base/5/{}", "n".repeat(180)),
        &random_pages(&mut rng, 17),
        Size::Octal,
        3,
    );
    t.file("pax-sized", &random_pages(&mut rng, 33), Size::Pax, 4);
    // Not whole pages.
    let mut odd = vec![0u8; 3 * PAGE + 700];
    rng.fill(&mut odd[..]);
    t.file("odd", &odd, Size::Octal, 5);
    t.file(
        "base/5/16384_fsm",
        &random_pages(&mut rng, 3),
        Size::Octal,
        6,
    );
    t.finish();
    for step in [usize::MAX, 1, 511, 4096, 100_003] {
        let (chunks, fb, paged) = split(&t.bytes, step);
        assert_eq!(fb, None);
        assert_eq!(paged, 6, "read size {step}");
        assert_paged(&t, &chunks);
    }
}

#[test]
fn random_tars_round_trip() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for round in 0..30 {
        let mut t = Tar::default();
        for i in 0..rng.gen_range(0..40) {
            let len = match rng.gen_range(0..4) {
                0 => rng.gen_range(0..2000),
                1 => rng.gen_range(0..40) * PAGE,
                2 => rng.gen_range(0..400_000),
                _ => PAGE,
            };
            let mut d = vec![0u8; len];
            rng.fill(&mut d[..]);
            let name = format!("f{i}-{}", "x".repeat(rng.gen_range(0..200)));
            let size = match rng.gen_range(0..5) {
                0 => Size::Base256,
                1 => Size::Pax,
                _ => Size::Octal,
            };
            t.file(&name, &d, size, rng.gen_range(0..1 << 33));
        }
        if rng.gen_bool(0.7) {
            t.finish();
        }
        let step = [usize::MAX, 777, 65536][round % 3];
        let (chunks, fb, _) = split(&t.bytes, step);
        assert_eq!(fb, None, "round {round}");
        assert_paged(&t, &chunks);
    }
}

#[test]
fn truncated_streams_are_handed_out_whole() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut t = Tar::default();
    t.file("a", &random_pages(&mut rng, 20), Size::Octal, 1);
    t.file("b", b"small", Size::Octal, 1);
    t.file("c", &random_pages(&mut rng, 20), Size::Pax, 1);
    t.finish();
    for cut in (0..t.bytes.len()).step_by(4999).chain([100, 512, 1000]) {
        let (chunks, _, _) = split(&t.bytes[..cut], 3000);
        assert!(chunks.concat() == t.bytes[..cut], "cut at {cut}");
    }
}

#[test]
fn a_corrupt_header_falls_back_to_fixed_cuts() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut t = Tar::default();
    t.file("a", &random_pages(&mut rng, 20), Size::Octal, 1);
    t.file("b", b"small", Size::Octal, 1);
    let bad = t.bytes.len();
    t.file("c", &random_pages(&mut rng, 30), Size::Octal, 1);
    t.file("d", &random_pages(&mut rng, 30), Size::Octal, 1);
    t.finish();
    t.bytes[bad + 20] ^= 0x55; // in the name of c: the checksum fails
    t.paged.truncate(1);
    let (chunks, fb, paged) = split(&t.bytes, 10_000);
    assert_eq!(fb, Some(bad as u64));
    assert_eq!(paged, 1);
    assert_paged(&t, &chunks);
    // After member a: meta chunks of CHUNK bytes each, then the rest.
    let after: Vec<usize> = cuts(&chunks)
        .into_iter()
        .filter(|c| *c >= t.paged[0].1)
        .collect();
    for w in after.windows(2) {
        assert_eq!(w[1] - w[0], CHUNK);
    }

    // A size field that is not a number (checksum made to match).
    let mut t2 = Tar::default();
    t2.file("a", &random_pages(&mut rng, 3), Size::Octal, 1);
    let at = t2.bytes.len();
    let mut h = header(b"x", b'0', *b"12345678z01\0", 0);
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| *b as u64).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    t2.bytes.extend_from_slice(&h);
    t2.bytes.extend_from_slice(&random_pages(&mut rng, 5));
    let (chunks, fb, _) = split(&t2.bytes, usize::MAX);
    assert_eq!(fb, Some(at as u64));
    assert!(chunks.concat() == t2.bytes);
}

#[test]
fn pax_records_parse() {
    assert_eq!(pax_size(b"12 size=100\n"), Ok(Some(100)));
    assert_eq!(pax_size(b"16 path=abcdefg\n"), Ok(None));
    assert_eq!(pax_size(b"13 size=100\n"), Err(()));
    assert_eq!(pax_size(b"x"), Err(()));
    assert_eq!(parse_size(b"00000001750\0"), Some(1000));
    assert_eq!(parse_size(b"        \0\0\0\0"), Some(0));
    assert_eq!(parse_size(b"0000000019\0\0"), None);
}

#[test]
fn the_label_sniffer_still_sees_the_label() {
    let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                 START TIMELINE: 1\n";
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut t = Tar::default();
    t.file("backup_label", label.as_bytes(), Size::Octal, 1);
    t.file("base/1/1259", &random_pages(&mut rng, 20), Size::Octal, 1);
    t.finish();
    let mut sniff = crate::postgres::physical::LabelSniffer::new(&t.bytes[..]);
    let mut s = PageSplitter::new(&mut sniff);
    let mut all = Vec::new();
    while let Some(c) = s.next_chunk().unwrap() {
        all.extend_from_slice(c);
    }
    drop(s);
    assert!(all == t.bytes);
    assert_eq!(sniff.captured, label.as_bytes());
}

/// The point of it: a second backup in which one page of a relation
/// changed (and its header's mtime) stores one data chunk and a meta
/// chunk, and reads back byte for byte.
#[test]
fn one_changed_page_stores_one_chunk() {
    use crate::run_backup;
    use crate::stream::{one_file, StreamReader};
    use coffer_core::BackupOptions;
    use std::path::Path;

    let v = coffer_testing::memory_vault();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let rel = random_pages(&mut rng, 256); // 2 MiB
    let other = random_pages(&mut rng, 100);
    let tar = |rel: &[u8], mtime: u64| {
        let mut t = Tar::default();
        t.file("PG_VERSION", b"15\n", Size::Octal, 1);
        t.file("base/5/16384", rel, Size::Octal, mtime);
        t.file("base/5/16390", &other, Size::Octal, 1);
        t.file("global/pg_control", &[3u8; PAGE], Size::Octal, mtime);
        t.finish();
        t.bytes
    };
    let backup = |bytes: &[u8]| {
        run_backup(
            &v,
            &BackupOptions::default(),
            &Default::default(),
            |a, _| {
                let c = a.save_chunks(PageSplitter::new(bytes), Path::new("base.tar"))?;
                one_file(a, c, "base.tar", "postgres-base", Default::default())
            },
        )
        .unwrap()
    };
    let first = tar(&rel, 1);
    let r1 = backup(&first);
    let mut rel2 = rel.clone();
    rel2[200 * PAGE + 100] ^= 1;
    let second = tar(&rel2, 2);
    let r2 = backup(&second);
    let s1 = &r1.snapshot.summary;
    let s2 = &r2.snapshot.summary;
    assert_eq!(s1.bytes_read, first.len() as u64);
    assert_eq!(s2.bytes_read, second.len() as u64);
    assert!(s1.bytes_added >= (356 * PAGE) as u64, "{s1:?}");
    // One data chunk and the meta chunk holding the header (the small
    // files after the relation are in a meta chunk too).
    assert!(
        s2.bytes_added <= (CHUNK + 2 * PAGE + 6 * BLOCK) as u64,
        "{s2:?}"
    );
    let index = v.load_index().unwrap();
    let mut got = Vec::new();
    StreamReader::open(&v, &index, &r2.snapshot)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == second, "the restored base.tar differs");
}
