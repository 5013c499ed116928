//! Content-defined chunking of a stream, with little memory and few copies.
//!
//! The cut points are exactly those of `fastcdc::v2020::StreamCDC` with
//! normalization level 1 and the vault's seed (the same function,
//! [`fastcdc::v2020::cut_gear`], decides them), but the stream is not held
//! in a buffer of the maximum chunk size that is shifted after every chunk.
//! Instead a cut is first looked for in a window of twice the average size;
//! only when the window holds no cut point (about one chunk in ten) is it
//! widened, doubling up to the maximum. A cut found inside a window is the cut the full
//! buffer would give: the gear hash at a position depends only on the bytes
//! before it, and the scan visits positions in the same order.
//!
//! Chunks are handed out as slices of the chunker's buffer, so a caller that
//! hashes, compresses and seals a chunk on its own thread copies nothing.

use fastcdc::v2020::{cut_gear, get_gear_with_seed, Normalization, MASKS};
use std::io::{ErrorKind, Read};

use crate::vault::config::ChunkerParams;

thread_local! {
    // The buffer of the last chunker that ended on this thread, for the next
    // one: saves allocating and zeroing megabytes per file.
    static SPARE: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

/// Something that hands out a stream's chunks in order: the vault's
/// content-defined [`Chunker`], or a source's own splitter that knows where
/// its format's units begin (see
/// [`Archiver::save_chunks`](crate::Archiver::save_chunks)). The chunks,
/// concatenated, are the stream.
pub trait ChunkSource {
    /// The next chunk (never empty), or `None` at the end of the stream.
    /// The slice is valid until the next call.
    fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>>;
}

impl<S: ChunkSource + ?Sized> ChunkSource for &mut S {
    fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        (**self).next_chunk()
    }
}

impl<R: Read> ChunkSource for Chunker<R> {
    fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        Chunker::next_chunk(self)
    }
}

/// Splits a reader into content-defined chunks.
pub struct Chunker<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    min: usize,
    avg: usize,
    max: usize,
    window: usize,
    masks: [u64; 4],
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
}

impl<R: Read> Chunker<R> {
    /// A chunker over `reader` with the vault's parameters and seed.
    pub fn new(reader: R, params: ChunkerParams, seed: u64) -> Self {
        let bits = fastcdc::v2020::logarithm2(params.avg);
        let level = Normalization::Level1.bits();
        let mask_s = MASKS[(bits + level) as usize];
        let mask_l = MASKS[(bits - level) as usize];
        let (gear, gear_ls) = get_gear_with_seed(seed);
        let (min, avg, max) = (
            params.min as usize,
            params.avg as usize,
            params.max as usize,
        );
        let window = (2 * avg).clamp(min + 1, max);
        Chunker {
            reader,
            buf: SPARE.with(|s| s.take()).unwrap_or_default(),
            start: 0,
            end: 0,
            eof: false,
            min,
            avg,
            max,
            window,
            masks: [mask_s, mask_l, mask_s << 1, mask_l << 1],
            gear,
            gear_ls,
        }
    }

    /// Reads until `want` bytes from `start` are buffered or the stream ends.
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        if self.end - self.start >= want || self.eof {
            return Ok(());
        }
        if self.buf.capacity() - self.start < want {
            // Move what is left to the front; grow only when that is not enough.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.capacity() < want {
                // Room for two windows, so the move above happens at most
                // once per window of data.
                let size = (2 * want).min(self.max.max(want));
                self.buf.reserve_exact(size - self.buf.len());
            }
        }
        // Zeroed (once per buffer) only as far as this fill reads: a buffer
        // with room for the largest chunk costs memory only where a chunk
        // that large was read into it.
        let need = self.start + want;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.end - self.start < want {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next chunk, or `None` at the end of the stream.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        let mut want = self.window;
        loop {
            self.fill(want)?;
            let avail = (self.end - self.start).min(self.max);
            if avail == 0 {
                return Ok(None);
            }
            let [mask_s, mask_l, mask_s_ls, mask_l_ls] = self.masks;
            let (_, count) = cut_gear(
                &self.buf[self.start..self.start + avail],
                self.min,
                self.avg,
                self.max,
                mask_s,
                mask_l,
                mask_s_ls,
                mask_l_ls,
                &self.gear,
                &self.gear_ls,
            );
            let all_seen = self.eof && self.end - self.start == avail;
            if count < avail || avail == self.max || all_seen {
                let s = self.start;
                self.start += count;
                return Ok(Some(&self.buf[s..s + count]));
            }
            // No cut point in the window, and more data may follow: twice
            // the window, up to the maximum (a cut found in a wider window
            // is still the one the full buffer gives).
            want = (2 * want).min(self.max);
        }
    }
}

impl<R> Drop for Chunker<R> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // A buffer widened for a large chunk is let go: it is needed for
        // about one chunk in ten and would otherwise stay on every thread.
        if !buf.is_empty() && buf.capacity() <= 2 * self.window {
            SPARE.with(|s| s.set(Some(buf)));
        }
    }
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

    #[test]
    fn cuts_like_streamcdc() {
        let params = ChunkerParams {
            min: 64 * 1024,
            avg: 256 * 1024,
            max: 2 * 1024 * 1024,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Random data, long runs of zeros (forced max cuts), and a tail
        // shorter than the minimum.
        let mut data = vec![0u8; 6 << 20];
        rng.fill(&mut data[..3 << 20]);
        rng.fill(&mut data[(5 << 20) + 100..]);
        data.extend_from_slice(&[1, 2, 3]);
        for seed in [0u64, 0xdead_beef] {
            let expect: Vec<usize> = fastcdc::v2020::StreamCDC::with_level_and_seed(
                &data[..],
                params.min,
                params.avg,
                params.max,
                Normalization::Level1,
                seed,
            )
            .map(|c| c.unwrap().length)
            .collect();
            for step in [usize::MAX, 4096, 100_003] {
                let mut c = Chunker::new(Trickle(&data, step), params, seed);
                let mut got = Vec::new();
                let mut off = 0;
                while let Some(ch) = c.next_chunk().unwrap() {
                    assert_eq!(ch, &data[off..off + ch.len()]);
                    off += ch.len();
                    got.push(ch.len());
                }
                assert_eq!(got, expect, "seed {seed}, read size {step}");
            }
        }
    }

    #[test]
    fn empty_and_tiny_streams() {
        let p = ChunkerParams::default();
        let mut c = Chunker::new(&b""[..], p, 1);
        assert!(c.next_chunk().unwrap().is_none());
        let mut c = Chunker::new(&b"abc"[..], p, 1);
        assert_eq!(c.next_chunk().unwrap().unwrap(), b"abc");
        assert!(c.next_chunk().unwrap().is_none());
    }
}
