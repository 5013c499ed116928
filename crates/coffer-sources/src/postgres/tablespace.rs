//! Tablespaces of a base backup: the `tablespace_map` PostgreSQL returns
//! from `pg_backup_stop`, read as hostile text, and where a restore puts
//! each tablespace. (A first version; the `--tablespace-map` mapping is
//! being built.)

use std::path::{Component, Path, PathBuf};

use crate::error::{SourceError, SourceResult};

/// One tablespace: its OID and its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tablespace {
    /// The OID (the name of its link in `pg_tblspc`).
    pub oid: u32,
    /// The directory it lives in.
    pub location: PathBuf,
}

/// Parses a `tablespace_map` (`OID PATH` lines; PostgreSQL escapes a
/// newline, a carriage return or a backslash in PATH with a backslash).
pub fn parse_map(text: &str) -> SourceResult<Vec<Tablespace>> {
    let bad = |line: &str, why: &str| {
        SourceError::Mismatch(format!("the backup's tablespace_map line {line:?} {why}"))
    };
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for ch in text.chars() {
        if esc {
            cur.push(ch);
            esc = false;
        } else if ch == '\\' {
            esc = true;
        } else if ch == '\n' {
            lines.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    for line in lines {
        let Some((oid, path)) = line.split_once(' ') else {
            return Err(bad(&line, "is not `OID PATH`"));
        };
        let oid: u32 = oid
            .parse()
            .ok()
            .filter(|_| oid.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(&line, "does not start with an OID"))?;
        let location = PathBuf::from(path);
        if !clean_absolute(&location) {
            return Err(bad(&line, "has no clean absolute path"));
        }
        out.push(Tablespace { oid, location });
    }
    Ok(out)
}

fn clean_absolute(p: &Path) -> bool {
    p.is_absolute()
        && !p.as_os_str().is_empty()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && !p.to_string_lossy().contains('\0')
}

/// Where each tablespace goes: its own location, or the NEW of an
/// `OLD=NEW` pair in `mapping`. Every location must be absolute, empty or
/// missing, and neither inside `pgdata` nor inside another location.
pub fn relocate(
    stored: &[Tablespace],
    mapping: &[(PathBuf, PathBuf)],
    pgdata: &Path,
) -> SourceResult<Vec<Tablespace>> {
    let mut out: Vec<Tablespace> = Vec::new();
    for t in stored {
        let location = mapping
            .iter()
            .find(|(old, _)| old == &t.location)
            .map(|(_, new)| new.clone())
            .unwrap_or_else(|| t.location.clone());
        if !clean_absolute(&location) {
            return Err(SourceError::Usage(format!(
                "tablespace {} would go to {}: give an absolute path with --tablespace-map OLD=NEW",
                t.oid,
                location.display()
            )));
        }
        if location.starts_with(pgdata) || pgdata.starts_with(&location) {
            return Err(SourceError::Usage(format!(
                "tablespace {} would go to {}, which overlaps the data directory {}: move it with --tablespace-map {}=NEW",
                t.oid,
                location.display(),
                pgdata.display(),
                t.location.display()
            )));
        }
        if let Some(o) = out
            .iter()
            .find(|o| o.location.starts_with(&location) || location.starts_with(&o.location))
        {
            return Err(SourceError::Usage(format!(
                "tablespaces {} and {} would overlap at {}: give each its own directory with --tablespace-map OLD=NEW",
                o.oid,
                t.oid,
                location.display()
            )));
        }
        match std::fs::read_dir(&location) {
            Ok(mut rd) => {
                if rd.next().is_some() {
                    return Err(SourceError::Usage(format!(
                        "the location {} of tablespace {} is not empty: give an empty or missing directory with --tablespace-map {}=NEW",
                        location.display(),
                        t.oid,
                        t.location.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SourceError::io(
                    format!("tablespace location {}", location.display()),
                    e,
                ))
            }
        }
        out.push(Tablespace {
            oid: t.oid,
            location,
        });
    }
    Ok(out)
}

/// A `tablespace_map` for `ts`, escaped as PostgreSQL writes it.
pub fn render_map(ts: &[Tablespace]) -> String {
    let mut s = String::new();
    for t in ts {
        let p = t.location.to_string_lossy();
        let mut e = String::new();
        for ch in p.chars() {
            if matches!(ch, '\n' | '\r' | '\\') {
                e.push('\\');
            }
            e.push(ch);
        }
        s.push_str(&format!("{} {e}\n", t.oid));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip() {
        let t = vec![Tablespace {
            oid: 16390,
            location: "/srv/ts one\\x".into(),
        }];
        let text = render_map(&t);
        assert_eq!(text, "16390 /srv/ts one\\\\x\n");
        assert_eq!(parse_map(&text).unwrap(), t);
        assert!(parse_map("x /a\n").is_err());
        assert!(parse_map("1 rel/a\n").is_err());
        assert!(parse_map("1 /a/../b\n").is_err());
    }
}
