//! Page-aligned chunking of a PostgreSQL base backup's tar stream (issue 3).
//!
//! The vault's content-defined chunker cuts a base backup's tar at 1 MiB on
//! average, wherever the content says. A table in which one page changed
//! then costs a whole chunk or two around that page, and a tar header whose
//! mtime or size changed (every file that was written to) costs the chunk it
//! sits in, so a day's base backup stores far more than the blocks that
//! changed. [`PageSplitter`] knows the tar layout instead:
//!
//! - the data of a regular file of at least two pages ([`MIN_PAGED`]) is cut
//!   at its start, then every [`CHUNK`] bytes, and at its end. PostgreSQL's
//!   relation files are whole pages, so an unchanged run of 16 pages gives
//!   the same chunk in every backup, wherever the file sits in the tar;
//! - everything else (header blocks, padding, small files and the data of
//!   other members) goes into "meta" chunks, cut before each such file's
//!   data, at the end of the stream, and whenever they reach [`CHUNK`].
//!
//! How the stream is cut is not part of the vault format (readers
//! concatenate the chunks), so this changes only how well base backups
//! deduplicate. The bytes handed out, concatenated, are always the input.
//! A header that fails its checksum, or a size that cannot be parsed, does
//! not fail the backup: the rest of the stream is cut every [`CHUNK`] bytes
//! and a warning is logged.
//!
//! Memory: two [`CHUNK`] buffers, plus at most [`PAX_MAX`] for a pax header
//! being read.

use std::io::{ErrorKind, Read};

use coffer_core::ChunkSource;

/// PostgreSQL's page (block) size: the unit in which relation files change.
pub const PAGE: usize = 8192;

/// The size of the chunks a data file is cut into: 16 pages (128 KiB).
///
/// Why 16: a changed page costs its whole chunk, so smaller is better for
/// what a daily backup stores (a few scattered changed pages cost 128 KiB
/// each, not 1 MiB); but every chunk costs an index entry (44 bytes in
/// memory, more in index objects) and a pack entry, and zstd sees less
/// context per chunk. At 128 KiB a 1 TiB cluster is 8 million chunks (about
/// 350 MiB of index in memory). It is also a multiple of the 512-byte tar
/// block, so meta chunks stay block-aligned.
pub const CHUNK: usize = 16 * PAGE;

/// A regular file with at least this many bytes (two pages) has its data
/// cut on page boundaries; smaller ones go into meta chunks.
pub const MIN_PAGED: u64 = 2 * PAGE as u64;

/// A pax extended header longer than this is not parsed (the rest of the
/// stream then falls back to fixed cuts).
pub const PAX_MAX: usize = 64 << 10;

/// The tar block size.
const BLOCK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A 512-byte header block is next.
    Header,
    /// `left` more bytes of a member (data and padding) go into meta.
    Meta { left: u64 },
    /// `left` more bytes of a paged member's data, then `pad` bytes of padding.
    Data { left: u64, pad: u64 },
    /// After a damaged header: fixed cuts every CHUNK bytes.
    Raw,
    /// The input ended; hand out what meta holds, then nothing.
    End,
}

/// What `step` produced.
enum Out {
    Meta,
    Data(usize),
    Nothing,
}

/// The data of a pax header being read.
struct PaxCapture {
    /// `x` (the next member) or `g` (global).
    kind: u8,
    /// Data bytes still to come (padding excluded).
    left: u64,
    buf: Vec<u8>,
    overflow: bool,
}

/// Cuts a tar stream into page-aligned chunks (see the module
/// documentation). A [`ChunkSource`] for
/// [`Archiver::save_chunks`](coffer_core::Archiver::save_chunks).
pub struct PageSplitter<R> {
    reader: R,
    meta: Vec<u8>,
    data: Vec<u8>,
    /// The last chunk handed out was `meta`: clear it on the next call.
    meta_out: bool,
    state: State,
    pax: Option<PaxCapture>,
    /// A size from a pax `x` header, for the next member.
    pax_size: Option<u64>,
    /// Bytes read from the input.
    pos: u64,
    paged: u64,
    fallback_at: Option<u64>,
}

impl<R: Read> PageSplitter<R> {
    /// A splitter over the tar stream `reader`.
    pub fn new(reader: R) -> Self {
        PageSplitter {
            reader,
            meta: Vec::with_capacity(CHUNK),
            data: vec![0; CHUNK],
            meta_out: false,
            state: State::Header,
            pax: None,
            pax_size: None,
            pos: 0,
            paged: 0,
            fallback_at: None,
        }
    }

    /// How many members had their data cut on page boundaries so far.
    pub fn paged_members(&self) -> u64 {
        self.paged
    }

    /// The offset of the damaged header after which the stream was cut at
    /// fixed offsets, if that happened.
    pub fn fallback_at(&self) -> Option<u64> {
        self.fallback_at
    }

    /// The next chunk, or `None` at the end of the stream.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        if self.meta_out {
            self.meta.clear();
            self.meta_out = false;
        }
        Ok(match self.step()? {
            Out::Meta => {
                self.meta_out = true;
                Some(&self.meta[..])
            }
            Out::Data(n) => Some(&self.data[..n]),
            Out::Nothing => None,
        })
    }

    /// Reads up to `want` bytes onto the end of `meta`; fewer only at the
    /// end of the input.
    fn read_meta(&mut self, want: usize) -> std::io::Result<usize> {
        let start = self.meta.len();
        self.meta.resize(start + want, 0);
        let r = read_full(&mut self.reader, &mut self.meta[start..]);
        let n = *r.as_ref().unwrap_or(&0);
        self.meta.truncate(start + n);
        self.pos += n as u64;
        r
    }

    fn fall_back(&mut self, at: u64, why: &str) {
        tracing::warn!(
            offset = at,
            "the base backup's tar stream has {why} at byte {at}: the rest of it is cut every \
             {} KiB instead of on page boundaries (the backup is complete; it only \
             deduplicates less)",
            CHUNK >> 10
        );
        self.fallback_at = Some(at);
        self.pax = None;
        self.state = State::Raw;
    }

    fn step(&mut self) -> std::io::Result<Out> {
        loop {
            if self.meta.len() >= CHUNK {
                return Ok(Out::Meta);
            }
            match self.state {
                State::End => {
                    return Ok(if self.meta.is_empty() {
                        Out::Nothing
                    } else {
                        Out::Meta
                    });
                }
                State::Data { left, pad } => {
                    if left == 0 {
                        self.state = State::Meta { left: pad };
                        continue;
                    }
                    debug_assert!(self.meta.is_empty(), "meta is flushed before data");
                    let want = left.min(CHUNK as u64) as usize;
                    let n = read_full(&mut self.reader, &mut self.data[..want])?;
                    self.pos += n as u64;
                    self.state = if n < want {
                        State::End
                    } else {
                        State::Data {
                            left: left - n as u64,
                            pad,
                        }
                    };
                    if n > 0 {
                        return Ok(Out::Data(n));
                    }
                }
                State::Meta { left } => {
                    if left == 0 {
                        self.member_done();
                        continue;
                    }
                    let want = left.min((CHUNK - self.meta.len()) as u64) as usize;
                    let start = self.meta.len();
                    let n = self.read_meta(want)?;
                    if let Some(p) = &mut self.pax {
                        let take = (n as u64).min(p.left) as usize;
                        if p.buf.len() + take > PAX_MAX {
                            p.overflow = true;
                        } else {
                            p.buf.extend_from_slice(&self.meta[start..start + take]);
                        }
                        p.left -= take as u64;
                    }
                    self.state = if n < want {
                        State::End
                    } else {
                        State::Meta {
                            left: left - n as u64,
                        }
                    };
                }
                State::Header => {
                    if CHUNK - self.meta.len() < BLOCK {
                        return Ok(Out::Meta);
                    }
                    let at = self.pos;
                    let start = self.meta.len();
                    if self.read_meta(BLOCK)? < BLOCK {
                        self.state = State::End;
                        continue;
                    }
                    let mut h = [0u8; BLOCK];
                    h.copy_from_slice(&self.meta[start..]);
                    if self.header(&h, at) {
                        // The meta before a paged member's data, its header last.
                        return Ok(Out::Meta);
                    }
                }
                State::Raw => {
                    let want = CHUNK - self.meta.len();
                    if self.read_meta(want)? < want {
                        self.state = State::End;
                    }
                }
            }
        }
    }

    /// Decides what follows header `h` (read at offset `at`); true when the
    /// meta read so far must be handed out now (a paged member's data follows).
    fn header(&mut self, h: &[u8; BLOCK], at: u64) -> bool {
        if h.iter().all(|b| *b == 0) {
            // End-of-archive (or padding) block.
            return false;
        }
        if !checksum_ok(h) {
            self.fall_back(at, "a header block that fails its checksum");
            return false;
        }
        let Some(mut size) = parse_size(&h[124..136]) else {
            self.fall_back(at, "a header whose size field does not parse");
            return false;
        };
        let flag = h[156];
        // A pax size applies to the next real member (a GNU long name may
        // come between).
        if !matches!(flag, b'x' | b'g' | b'L' | b'K') {
            if let Some(s) = self.pax_size.take() {
                size = s;
            }
        }
        let Some(padded) = size.checked_next_multiple_of(BLOCK as u64) else {
            self.fall_back(at, "a header with an impossible size");
            return false;
        };
        match flag {
            b'0' | 0 | b'7' if size >= MIN_PAGED => {
                self.paged += 1;
                self.state = State::Data {
                    left: size,
                    pad: padded - size,
                };
                return true;
            }
            // Old GNU sparse members with extension blocks between the
            // header and the data: not worth reading (PostgreSQL never
            // writes them).
            b'S' if h[482] != 0 => {
                self.fall_back(at, "a GNU sparse member");
                return false;
            }
            b'x' | b'g' => {
                self.pax = Some(PaxCapture {
                    kind: flag,
                    left: size,
                    buf: Vec::new(),
                    overflow: false,
                });
            }
            _ => {}
        }
        self.state = State::Meta { left: padded };
        false
    }

    /// A member that went into meta ended: a header is next.
    fn member_done(&mut self) {
        self.state = State::Header;
        let Some(p) = self.pax.take() else {
            return;
        };
        let at = self.pos;
        if p.overflow {
            self.fall_back(at, "a pax header longer than 64 KiB");
            return;
        }
        match pax_size(&p.buf) {
            Ok(None) => {}
            Ok(Some(s)) if p.kind == b'x' => self.pax_size = Some(s),
            Ok(Some(_)) => self.fall_back(at, "a global pax header that sets a size"),
            Err(()) => self.fall_back(at, "a pax header that does not parse"),
        }
    }
}

impl<R: Read> ChunkSource for PageSplitter<R> {
    fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        PageSplitter::next_chunk(self)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// An octal field: digits between optional leading spaces and a NUL or
/// space; an empty field is 0.
fn parse_octal(f: &[u8]) -> Option<u64> {
    let s = f
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| **b != 0 && **b != b' ');
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// A size field: octal, or base-256 (GNU) when its first bit is set.
fn parse_size(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        if f[0] & 0x40 != 0 {
            // Negative.
            return None;
        }
        let mut v: u64 = (f[0] & 0x3f) as u64;
        for b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(*b as u64)?;
        }
        return Some(v);
    }
    parse_octal(f)
}

/// Whether the header's checksum field matches its bytes (with the field
/// itself read as spaces), as an unsigned or (old tars) signed sum.
fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(want) = parse_octal(&h[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += b as u64;
        signed += b as i8 as i64;
    }
    want == unsigned || want as i64 == signed
}

/// The `size` record of a pax header's data (`"LEN key=value\n"` records).
fn pax_size(mut d: &[u8]) -> Result<Option<u64>, ()> {
    let mut size = None;
    while !d.is_empty() {
        let sp = d.iter().position(|b| *b == b' ').ok_or(())?;
        let len: usize = std::str::from_utf8(&d[..sp])
            .map_err(|_| ())?
            .parse()
            .map_err(|_| ())?;
        if len <= sp + 1 || len > d.len() || d[len - 1] != b'\n' {
            return Err(());
        }
        let rec = &d[sp + 1..len - 1];
        if let Some(v) = rec.strip_prefix(b"size=") {
            let v = std::str::from_utf8(v).map_err(|_| ())?;
            size = Some(v.parse::<u64>().map_err(|_| ())?);
        }
        d = &d[len..];
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

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
        let mut sniff = crate::pg_physical::LabelSniffer::new(&t.bytes[..]);
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
        use coffer_core::{BackupOptions, InitOptions, Secret, Vault};
        use std::path::Path;
        use std::sync::Arc;

        let v = Vault::init(
            Arc::new(coffer_storage::MemoryBackend::new()),
            &Secret::KeyFile([7; 32]),
            &InitOptions::default(),
        )
        .unwrap();
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
}
