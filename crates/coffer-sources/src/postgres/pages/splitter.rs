//! [`PageSplitter`]: the state machine that walks the tar stream and hands
//! out page-aligned data chunks and meta chunks, and the sizes it cuts by.

use std::io::Read;

use coffer_core::ChunkSource;

use super::tar::{checksum_ok, parse_size, pax_size, read_full, BLOCK};

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
