//! WAL segment file names (`TTTTTTTTXXXXXXXXYYYYYYYY`) and LSNs as
//! PostgreSQL writes them, shared by base backups ([`super::physical`]) and
//! WAL archiving ([`super::wal`]).

/// A WAL segment file name: timeline, and the segment number split as
/// PostgreSQL writes it (`TTTTTTTTXXXXXXXXYYYYYYYY`, hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Segment {
    /// Timeline.
    pub timeline: u32,
    /// The "log" part (high 32 bits of the LSN).
    pub log: u32,
    /// The segment within the log.
    pub seg: u32,
}

impl Segment {
    /// Parses a segment name; `None` for history, backup and partial files.
    pub fn parse(name: &str) -> Option<Segment> {
        if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let p = |r: std::ops::Range<usize>| u32::from_str_radix(&name[r], 16).ok();
        Some(Segment {
            timeline: p(0..8)?,
            log: p(8..16)?,
            seg: p(16..24)?,
        })
    }

    /// The segment holding `lsn` on `timeline`, with segments of `seg_size`
    /// bytes.
    pub fn of_lsn(timeline: u32, lsn: u64, seg_size: u64) -> Segment {
        let per_log = 0x1_0000_0000 / seg_size;
        let n = lsn / seg_size;
        Segment {
            timeline,
            log: (n / per_log) as u32,
            seg: (n % per_log) as u32,
        }
    }

    /// The file name.
    pub fn name(&self) -> String {
        format!("{:08X}{:08X}{:08X}", self.timeline, self.log, self.seg)
    }

    /// The segment number counted from 0 (for gap arithmetic).
    pub fn number(&self, seg_size: u64) -> u64 {
        self.log as u64 * (0x1_0000_0000 / seg_size) + self.seg as u64
    }
}

/// Parses an LSN written as PostgreSQL does (`0/2000028`).
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Writes an LSN as PostgreSQL does.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}
