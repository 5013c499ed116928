//! Tablespaces of a base backup, shared by both layouts (the tars of
//! `pg basebackup` and the files of `pg backup`): the `tablespace_map` file
//! PostgreSQL writes into a backup, the `--tablespace-map OLD=NEW` mapping a
//! restore takes, and the checks on where a restore puts each tablespace.
//!
//! A `tablespace_map` has one line per tablespace, `OID PATH`, where PATH is
//! the target of the `pg_tblspc/OID` symbolic link with `\n`, `\r` and `\`
//! escaped by a backslash (PostgreSQL 15, `do_pg_backup_start`); a server
//! that starts from a `backup_label` makes the symbolic links from it. Its
//! bytes come from a vault (or a database tool) and are treated as hostile:
//! an OID is digits only and a PATH is absolute, without NUL and without `..`
//! components, or the whole file is refused.
//!
//! Nothing here reads or writes a tar: the restores of both layouts call
//! [`relocate`], [`check_targets`] and [`prepare_locations`] before they
//! write a byte, and [`render_map`] for the `tablespace_map` they leave in
//! the data directory.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::error::{SourceError, SourceResult};

/// A tablespace of a backup: its OID (the name of its link in `pg_tblspc`)
/// and where its files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tablespace {
    /// The OID.
    pub oid: u32,
    /// Its directory (absolute).
    pub location: PathBuf,
}

/// The `--tablespace-map OLD=NEW` pairs of a restore (none by default:
/// every tablespace goes back where it was).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablespaceMapping {
    pairs: Vec<(PathBuf, PathBuf)>,
}

/// A path with `.` components and repeated or trailing `/` removed, or why
/// it is not acceptable (not absolute, a `..` component, a NUL).
fn clean_path(p: &Path) -> Result<PathBuf, &'static str> {
    let s = p.as_os_str().as_encoded_bytes();
    if s.contains(&0) {
        return Err("it holds a NUL byte");
    }
    if !p.is_absolute() {
        return Err("it is not an absolute path");
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return Err("it has a `..` component"),
            Component::Prefix(_) => return Err("it is not a Unix path"),
        }
    }
    Ok(out)
}

impl TablespaceMapping {
    /// Parses the values of repeated `--tablespace-map OLD=NEW`: both
    /// absolute (without `..`), each OLD and each NEW given once.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> SourceResult<Self> {
        let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::new();
        for a in args {
            let a = a.as_ref();
            let Some((old, new)) = a.split_once('=') else {
                return Err(SourceError::Usage(format!(
                    "--tablespace-map {a}: give OLD=NEW, the tablespace's directory at backup time \
                     and where to restore it, e.g. --tablespace-map /srv/ts1=/srv/restore/ts1"
                )));
            };
            let check = |what: &str, p: &str| {
                clean_path(Path::new(p)).map_err(|why| {
                    SourceError::Usage(format!(
                        "--tablespace-map {a}: {what} {p:?} is not usable ({why}); give absolute \
                         paths, OLD as the backup lists it (coffer snapshots --json shows its \
                         tablespaces) and NEW where to restore it"
                    ))
                })
            };
            let (old, new) = (check("OLD", old)?, check("NEW", new)?);
            if pairs.iter().any(|(o, _)| *o == old) {
                return Err(SourceError::Usage(format!(
                    "--tablespace-map {a}: {} is mapped twice; give each OLD once",
                    old.display()
                )));
            }
            if pairs.iter().any(|(_, n)| *n == new) {
                return Err(SourceError::Usage(format!(
                    "--tablespace-map {a}: {} is the NEW of two mappings; give each tablespace \
                     a directory of its own",
                    new.display()
                )));
            }
            pairs.push((old, new));
        }
        Ok(TablespaceMapping { pairs })
    }

    /// A mapping of (OLD, NEW) pairs made by a program (a restore test),
    /// checked as [`TablespaceMapping::parse`] checks its arguments.
    pub fn new(pairs: Vec<(PathBuf, PathBuf)>) -> SourceResult<Self> {
        let mut m = TablespaceMapping::default();
        for (old, new) in pairs {
            let bad = |what: &str, p: &Path, why: &str| {
                SourceError::Usage(format!(
                    "tablespace mapping {} to {}: {what} {} is not usable ({why})",
                    old.display(),
                    new.display(),
                    p.display()
                ))
            };
            let o = clean_path(&old).map_err(|why| bad("OLD", &old, why))?;
            let n = clean_path(&new).map_err(|why| bad("NEW", &new, why))?;
            if m.pairs.iter().any(|(po, pn)| *po == o || *pn == n) {
                return Err(bad("OLD or NEW", &o, "given twice"));
            }
            m.pairs.push((o, n));
        }
        Ok(m)
    }

    /// Whether no mapping was given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The (OLD, NEW) pairs, cleaned, in the order given.
    pub fn pairs(&self) -> &[(PathBuf, PathBuf)] {
        &self.pairs
    }
}

/// The error for a `tablespace_map` that is not what PostgreSQL writes.
fn bad_map(line: usize, why: impl std::fmt::Display) -> SourceError {
    SourceError::Mismatch(format!(
        "the backup's tablespace_map, line {line}: {why}; the snapshot is damaged or not a \
         PostgreSQL base backup (`coffer check` verifies it)"
    ))
}

/// Parses a `tablespace_map` (see the module documentation), as the server
/// reads it: lines end at an unescaped `\n` or `\r`, a backslash keeps the
/// next character, empty lines are skipped, and each line is digits, one
/// space, and the path (which may begin with or hold spaces). OIDs are
/// unique.
pub fn parse_map(text: &[u8]) -> SourceResult<Vec<Tablespace>> {
    let mut out: Vec<Tablespace> = Vec::new();
    let mut line = Vec::new();
    let mut lineno = 0;
    let mut escaped = false;
    let mut finish = |line: &mut Vec<u8>, lineno: usize| -> SourceResult<()> {
        if line.is_empty() {
            return Ok(());
        }
        let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || line.get(digits) != Some(&b' ') {
            return Err(bad_map(
                lineno,
                "expected an OID (digits), one space and a path",
            ));
        }
        let oid: u32 = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .filter(|o| *o != 0)
            .ok_or_else(|| bad_map(lineno, "the OID is not a 32-bit number above 0"))?;
        let raw = &line[digits + 1..];
        let path = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(raw));
        let location = clean_path(path).map_err(|why| {
            bad_map(
                lineno,
                format!("the path of tablespace {oid} is refused: {why}"),
            )
        })?;
        if out.iter().any(|t| t.oid == oid) {
            return Err(bad_map(lineno, format!("tablespace {oid} is listed twice")));
        }
        out.push(Tablespace { oid, location });
        line.clear();
        Ok(())
    };
    for &b in text {
        if escaped {
            line.push(b);
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'\n' || b == b'\r' {
            lineno += usize::from(b == b'\n');
            finish(&mut line, lineno.max(1))?;
        } else {
            line.push(b);
        }
        if line.len() > 4096 {
            return Err(bad_map(
                lineno + 1,
                "a line longer than any path PostgreSQL allows",
            ));
        }
    }
    if escaped {
        return Err(bad_map(lineno + 1, "it ends in a lone backslash"));
    }
    finish(&mut line, lineno + 1)?;
    Ok(out)
}

/// `tablespaces` as PostgreSQL writes a `tablespace_map` (escaped as the
/// module documentation says), one line each, in the order given.
pub fn render_map(tablespaces: &[Tablespace]) -> String {
    let mut s = String::new();
    for t in tablespaces {
        s.push_str(&t.oid.to_string());
        s.push(' ');
        for c in t.location.to_string_lossy().chars() {
            if matches!(c, '\n' | '\r' | '\\') {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('\n');
    }
    s
}

/// The locations, for messages: `16384 (/srv/ts1), 16385 (/srv/ts2)`.
pub fn describe(tablespaces: &[Tablespace]) -> String {
    if tablespaces.is_empty() {
        return "none".into();
    }
    tablespaces
        .iter()
        .map(|t| format!("{} ({})", t.oid, t.location.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `tablespaces` with each location moved to the NEW that `mapping` gives
/// for it as an OLD. Every tablespace must be named (`OLD=OLD` restores in
/// place); an unnamed one, or an OLD that is no tablespace's location, is
/// an error naming the tablespaces there are and the flags to give.
pub fn relocate(
    tablespaces: &[Tablespace],
    mapping: &TablespaceMapping,
) -> SourceResult<Vec<Tablespace>> {
    for (old, new) in mapping.pairs() {
        if !tablespaces.iter().any(|t| t.location == *old) {
            return Err(SourceError::Usage(format!(
                "--tablespace-map {}={}: the backup has no tablespace at {}; its tablespaces: {} \
                 (give OLD as one of these locations)",
                old.display(),
                new.display(),
                old.display(),
                describe(tablespaces)
            )));
        }
    }
    // A location outside the data directory is written only where the
    // operator said: the snapshot's own locations are not trusted to name
    // where a restore may write (a write-only host can add snapshots).
    let unmapped: Vec<&Tablespace> = tablespaces
        .iter()
        .filter(|t| !mapping.pairs().iter().any(|(old, _)| *old == t.location))
        .collect();
    if !unmapped.is_empty() {
        let flags: Vec<String> = unmapped
            .iter()
            .map(|t| format!("--tablespace-map {0}={0}", t.location.display()))
            .collect();
        return Err(SourceError::Usage(format!(
            "the backup has tablespaces outside the data directory ({}): name where each goes, \
             e.g. `{}` to restore in place (the location must be empty or missing), or another \
             empty directory as NEW",
            describe(tablespaces),
            flags.join(" ")
        )));
    }
    Ok(tablespaces
        .iter()
        .map(|t| {
            let location = mapping
                .pairs()
                .iter()
                .find(|(old, _)| *old == t.location)
                .map(|(_, new)| new.clone())
                .expect("every tablespace is mapped");
            Tablespace {
                oid: t.oid,
                location,
            }
        })
        .collect())
}

/// Checks where a restore puts each tablespace, before anything is
/// written: each location absolute, not a symbolic link, an empty directory
/// or missing, not inside (nor holding) the data directory `pgdata` or
/// another tablespace.
pub fn check_targets(tablespaces: &[Tablespace], pgdata: &Path) -> SourceResult<()> {
    let pgdata_clean = std::path::absolute(pgdata).unwrap_or_else(|_| pgdata.to_path_buf());
    let pgdata_clean = clean_path(&pgdata_clean).unwrap_or(pgdata_clean);
    let fix = "give an empty or missing directory of its own with --tablespace-map OLD=NEW";
    let mut seen = BTreeSet::new();
    for t in tablespaces {
        let loc = clean_path(&t.location).map_err(|why| {
            SourceError::Usage(format!(
                "tablespace {} would be restored to {}, which {why}; {fix}",
                t.oid,
                t.location.display()
            ))
        })?;
        if !seen.insert(loc.clone()) {
            return Err(SourceError::Usage(format!(
                "two tablespaces would be restored to {}; {fix}",
                loc.display()
            )));
        }
        let nested = |a: &Path, b: &Path| a.starts_with(b) || b.starts_with(a);
        if nested(&loc, &pgdata_clean) {
            return Err(SourceError::Usage(format!(
                "tablespace {} would be restored to {}, inside or around the data directory {}; {fix}",
                t.oid,
                loc.display(),
                pgdata_clean.display()
            )));
        }
        for o in tablespaces.iter().filter(|o| o.oid != t.oid) {
            if let Ok(ol) = clean_path(&o.location) {
                if nested(&loc, &ol) && loc != ol {
                    return Err(SourceError::Usage(format!(
                        "tablespace {} would be restored to {}, inside or around tablespace {} \
                         at {}; {fix}",
                        t.oid,
                        loc.display(),
                        o.oid,
                        ol.display()
                    )));
                }
            }
        }
        match std::fs::symlink_metadata(&loc) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(SourceError::Usage(format!(
                    "tablespace {} would be restored to {}, which is a symbolic link (a restore \
                     never writes through one); {fix}",
                    t.oid,
                    loc.display()
                )))
            }
            Ok(m) if !m.is_dir() => {
                return Err(SourceError::Usage(format!(
                    "tablespace {} would be restored to {}, which is not a directory; {fix}",
                    t.oid,
                    loc.display()
                )))
            }
            Ok(_) => {
                let mut rd = std::fs::read_dir(&loc)
                    .map_err(|e| SourceError::io(format!("reading {}", loc.display()), e))?;
                if rd.next().is_some() {
                    return Err(SourceError::Usage(format!(
                        "tablespace {} would be restored to {}, which is not empty; {fix}",
                        t.oid,
                        loc.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SourceError::io(
                    format!("tablespace {} location {}", t.oid, loc.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// Makes each location (checked by [`check_targets`]) that is missing, with
/// its missing parents, and sets it to mode 0700 as PostgreSQL wants.
pub fn prepare_locations(tablespaces: &[Tablespace]) -> SourceResult<()> {
    use std::os::unix::fs::PermissionsExt;
    for t in tablespaces {
        std::fs::create_dir_all(&t.location).map_err(|e| {
            SourceError::io(
                format!("creating tablespace {} at {}", t.oid, t.location.display()),
                e,
            )
        })?;
        std::fs::set_permissions(&t.location, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| SourceError::io(format!("chmod 0700 {}", t.location.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(oid: u32, p: &str) -> Tablespace {
        Tablespace {
            oid,
            location: p.into(),
        }
    }

    #[test]
    fn a_map_parses_as_the_server_reads_it_and_renders_back() {
        // An escaped backslash, an escaped newline, a space, CRLF, an empty line.
        let text = b"16384 /srv/ts one\\\\x\\\nend\n\n16385 /srv/two/\r\n";
        let m = parse_map(text).unwrap();
        assert_eq!(
            m,
            vec![ts(16384, "/srv/ts one\\x\nend"), ts(16385, "/srv/two")]
        );
        let rendered = render_map(&m);
        assert_eq!(rendered, "16384 /srv/ts one\\\\x\\\nend\n16385 /srv/two\n");
        assert_eq!(parse_map(rendered.as_bytes()).unwrap(), m);
        assert_eq!(parse_map(b"").unwrap(), vec![]);
        assert_eq!(parse_map(b"7 /a").unwrap(), vec![ts(7, "/a")]);
    }

    #[test]
    fn a_hostile_map_is_refused() {
        for (bad, says) in [
            (&b"x16384 /srv/a\n"[..], "expected an OID"),
            (b"16384/srv/a\n", "expected an OID"),
            (b"-1 /srv/a\n", "expected an OID"),
            (b"99999999999 /srv/a\n", "32-bit"),
            (b"0 /srv/a\n", "32-bit"),
            (b"16384 srv/a\n", "not an absolute path"),
            (b"16384  /srv/a\n", "not an absolute path"),
            (b"16384 /srv/../etc\n", "`..`"),
            (b"16384 /srv/a\0b\n", "NUL"),
            (b"16384 /srv/a\n16384 /srv/b\n", "listed twice"),
            (b"16384 /srv/a\\", "lone backslash"),
        ] {
            let e = parse_map(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(e.contains("tablespace_map, line"), "{e}");
        }
        let long = format!("1 /{}\n", "a".repeat(5000));
        assert!(parse_map(long.as_bytes()).is_err());
    }

    #[test]
    fn a_mapping_is_parsed_and_refused_with_the_fix() {
        let m = TablespaceMapping::parse(&["/srv/a/=/new/a", "/srv/b=/new//b"]).unwrap();
        assert_eq!(
            m.pairs(),
            &[
                (PathBuf::from("/srv/a"), PathBuf::from("/new/a")),
                (PathBuf::from("/srv/b"), PathBuf::from("/new/b"))
            ]
        );
        assert!(TablespaceMapping::default().is_empty());
        for (args, says) in [
            (&["/srv/a"][..], "give OLD=NEW"),
            (
                &["srv/a=/new"],
                "OLD \"srv/a\" is not usable (it is not an absolute path)",
            ),
            (&["/srv/a=new"], "NEW \"new\" is not usable"),
            (&["/srv/a=/new/../etc"], "`..`"),
            (&["/srv/a=/n1", "/srv/a/=/n2"], "mapped twice"),
            (&["/srv/a=/n1", "/srv/b=/n1"], "the NEW of two mappings"),
        ] {
            let e = TablespaceMapping::parse(args).unwrap_err();
            assert!(e.is_usage(), "{e}");
            let e = e.to_string();
            assert!(e.contains("--tablespace-map"), "{e}");
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn relocate_moves_what_is_mapped_and_names_the_tablespaces_otherwise() {
        let list = [ts(16384, "/srv/a"), ts(16385, "/srv/b")];
        let m = TablespaceMapping::parse(&["/srv/a=/srv/a", "/srv/b=/new/b"]).unwrap();
        assert_eq!(
            relocate(&list, &m).unwrap(),
            vec![ts(16384, "/srv/a"), ts(16385, "/new/b")]
        );
        // Every tablespace must be named: the snapshot does not say where
        // a restore may write.
        let e = relocate(&list, &TablespaceMapping::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--tablespace-map /srv/a=/srv/a --tablespace-map /srv/b=/srv/b"),
            "{e}"
        );
        let m = TablespaceMapping::parse(&["/srv/b=/new/b"]).unwrap();
        let e = relocate(&list, &m).unwrap_err().to_string();
        assert!(e.contains("`--tablespace-map /srv/a=/srv/a`"), "{e}");
        let m = TablespaceMapping::parse(&["/srv/c=/new/c"]).unwrap();
        let e = relocate(&list, &m).unwrap_err();
        assert!(e.is_usage());
        let e = e.to_string();
        assert!(
            e.contains(
                "has no tablespace at /srv/c; its tablespaces: 16384 (/srv/a), 16385 (/srv/b)"
            ),
            "{e}"
        );
        let e = relocate(&[], &m).unwrap_err().to_string();
        assert!(e.contains("its tablespaces: none"), "{e}");
    }

    #[test]
    fn targets_must_be_empty_or_missing_and_apart() {
        let d = tempfile::tempdir().unwrap();
        let p = |s: &str| d.path().join(s);
        let pgdata = p("data");
        std::fs::create_dir(p("empty")).unwrap();
        std::fs::create_dir(p("full")).unwrap();
        std::fs::write(p("full/x"), b"x").unwrap();
        std::fs::write(p("file"), b"x").unwrap();
        std::os::unix::fs::symlink(p("empty"), p("link")).unwrap();
        let at = |s: &str| ts(1, p(s).to_str().unwrap());
        check_targets(&[at("empty"), ts(2, p("new/x").to_str().unwrap())], &pgdata).unwrap();
        for (list, says) in [
            (vec![at("full")], "is not empty"),
            (vec![at("file")], "is not a directory"),
            (vec![at("link")], "symbolic link"),
            (vec![at("data/ts")], "data directory"),
            (vec![at("")], "data directory"),
            (
                vec![at("new"), ts(2, p("new/x").to_str().unwrap())],
                "inside or around tablespace",
            ),
            (
                vec![at("new"), ts(2, p("new").to_str().unwrap())],
                "two tablespaces",
            ),
            (vec![ts(1, "rel")], "not an absolute path"),
        ] {
            let e = check_targets(&list, &pgdata).unwrap_err();
            assert!(e.is_usage(), "{e}");
            let e = e.to_string();
            assert!(e.contains(says), "{list:?}: {e}");
            assert!(e.contains("--tablespace-map OLD=NEW"), "{e}");
        }
        prepare_locations(&[ts(2, p("new/x").to_str().unwrap())]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p("new/x")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
