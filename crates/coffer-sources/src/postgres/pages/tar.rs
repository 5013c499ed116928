//! Reading tar headers: octal and base-256 size fields, the header
//! checksum, and the `size` record of a pax extended header.

use std::io::{ErrorKind, Read};

/// The tar block size.
pub(super) const BLOCK: usize = 512;

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(super) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
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
pub(super) fn parse_size(f: &[u8]) -> Option<u64> {
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
pub(super) fn checksum_ok(h: &[u8; BLOCK]) -> bool {
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
pub(super) fn pax_size(mut d: &[u8]) -> Result<Option<u64>, ()> {
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
