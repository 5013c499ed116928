//! The grammar of one cron field: whitespace-separated fields with their
//! offsets, comma-separated items, values (numbers or names `JAN`–`DEC`,
//! `SUN`–`SAT`), ranges `a-b` with steps `/n`, and the bit set they give.

use super::error::{err, ScheduleError};

/// Splits on whitespace, keeping each field's byte offset.
pub(super) fn fields(text: &str, base: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in text.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((base + s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((base + s, &text[s..]));
    }
    out
}

pub(super) const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
pub(super) const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field's grammar: its name (for messages), bounds, and names.
pub(super) struct FieldDef {
    pub(super) name: &'static str,
    pub(super) min: u32,
    pub(super) max: u32,
    /// Names and the value of the first (JAN = 1; SUN = 0 or 1).
    pub(super) names: Option<(&'static [&'static str], u32)>,
}

/// Comma-separated items with their offsets.
pub(super) fn items(off: usize, text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = off;
    text.split(',').map(move |it| {
        let o = pos;
        pos += it.len() + 1;
        (o, it)
    })
}

pub(super) fn value(off: usize, text: &str, def: &FieldDef) -> Result<u32, ScheduleError> {
    if let Some((names, first)) = def.names {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            return Ok(first + i as u32);
        }
    }
    let v: u32 = text.parse().map_err(|_| {
        let names = def
            .names
            .map(|(n, _)| format!(" or a name {}-{}", n[0], n[n.len() - 1]))
            .unwrap_or_default();
        err(
            off,
            text.len(),
            format!(
                "bad {} `{text}`: expected a number {}-{}{names}",
                def.name, def.min, def.max
            ),
        )
    })?;
    if v < def.min || v > def.max {
        return Err(err(
            off,
            text.len(),
            format!(
                "{} `{v}` is out of range: {} allows {}-{}",
                def.name, def.name, def.min, def.max
            ),
        ));
    }
    Ok(v)
}

/// One item `*`, `a`, `a-b`, with an optional `/step`: (low, high, step).
pub(super) fn range(
    off: usize,
    item: &str,
    def: &FieldDef,
) -> Result<(u32, u32, u32), ScheduleError> {
    if item.is_empty() {
        return Err(err(
            off,
            0,
            format!(
                "empty item in the {} field (two commas in a row?)",
                def.name
            ),
        ));
    }
    let (r, step) = match item.split_once('/') {
        Some((r, s)) => {
            let step_off = off + r.len() + 1;
            let step: u32 = s.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                err(
                    step_off,
                    s.len(),
                    format!(
                        "bad step `{s}` in the {} field: expected a positive number",
                        def.name
                    ),
                )
            })?;
            (r, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = if r == "*" {
        (def.min, def.max)
    } else if let Some((a, b)) = r.split_once('-') {
        let lo = value(off, a, def)?;
        let hi = value(off + a.len() + 1, b, def)?;
        if lo > hi {
            return Err(err(
                off,
                r.len(),
                format!(
                    "range `{r}` in the {} field runs backwards: write the smaller value first",
                    def.name
                ),
            ));
        }
        (lo, hi)
    } else {
        let v = value(off, r, def)?;
        // `5/15` means from 5 to the end in steps of 15.
        (v, if step.is_some() { def.max } else { v })
    };
    Ok((lo, hi, step.unwrap_or(1)))
}

pub(super) fn bits((off, text): (usize, &str), def: &FieldDef) -> Result<u64, ScheduleError> {
    let mut set = 0u64;
    for (item_off, item) in items(off, text) {
        let (lo, hi, step) = range(item_off, item, def)?;
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}
