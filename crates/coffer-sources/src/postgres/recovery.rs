//! Restoring a base backup into a new data directory set up for
//! point-in-time recovery from the WAL archived by `coffer wal-push`
//! ([`super::wal`]).
//!
//! A restore fills an empty or missing directory (mode 0700), writes
//! `recovery.signal` and appends the recovery settings to
//! `postgresql.auto.conf`: a `restore_command` that runs `coffer wal-fetch`
//! with the vault and a key or password *file* (never a password), the
//! recovery target, and `recovery_target_action = 'promote'`. When coffer
//! runs as root, the files are given to the owner of the directory's parent,
//! or to the user named by the caller; PostgreSQL refuses a data directory
//! its server user does not own.
//!
//! The steps are shared by both layouts of a base backup: the tars of
//! `pg basebackup` ([`restore_pgdata`], [`restore_pgdata_tars`] with
//! tablespaces) and the files of `pg backup`
//! (`super::backup`): [`prepare_pgdata`] before anything is written,
//! [`configure_recovery`] after.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::segment::parse_lsn;
use super::tablespace::{
    check_targets, parse_map, prepare_locations, relocate, render_map, Tablespace,
    TablespaceMapping,
};
use crate::error::{SourceError, SourceResult};
use crate::process;

/// Where recovery stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryTarget {
    /// Replay all archived WAL (no target).
    Latest,
    /// As soon as the base backup is consistent (`recovery_target = 'immediate'`).
    Immediate,
    /// A time (`recovery_target_time`), as PostgreSQL parses a timestamptz.
    Time(String),
    /// An LSN (`recovery_target_lsn`).
    Lsn(String),
    /// A transaction id (`recovery_target_xid`).
    Xid(String),
    /// A restore point made with `pg_create_restore_point` (`recovery_target_name`).
    Name(String),
}

/// How the server reads the vault during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalSecret {
    /// `--key-file PATH` (absolute).
    KeyFile(PathBuf),
    /// `--password-file PATH` (absolute).
    PasswordFile(PathBuf),
}

/// What the recovery configuration says.
#[derive(Debug, Clone)]
pub struct RecoveryOptions {
    /// The coffer executable the server runs (absolute).
    pub coffer: PathBuf,
    /// The vault location (absolute path or URL).
    pub vault: String,
    /// The secret file.
    pub secret: WalSecret,
    /// Where to stop.
    pub target: RecoveryTarget,
    /// Stop just after the target (true, PostgreSQL's default) or just before it.
    pub inclusive: bool,
    /// The timeline to follow (`recovery_target_timeline`: `latest`,
    /// `current` or a number); `None`: PostgreSQL's default, `latest`.
    pub timeline: Option<String>,
    /// Keep the restored cluster's `archive_mode` (true) or turn archiving
    /// off (false). A restored server that archives into the vault it was
    /// restored from adds a new timeline to that archive once it promotes:
    /// later restores that follow the latest timeline go down that branch,
    /// and the original cluster's own next timeline history file then
    /// collides with it. So archiving stays on only when asked for, for a
    /// restore that replaces the original cluster.
    pub archive: bool,
}

/// Options of [`restore_pgdata`].
#[derive(Debug, Clone)]
pub struct PgdataOptions {
    /// The data directory (empty or missing).
    pub dir: PathBuf,
    /// The recovery configuration.
    pub recovery: RecoveryOptions,
    /// When running as root: the owner (uid, gid) to give the files;
    /// `None`: the owner of the directory's parent.
    pub owner: Option<(u32, u32)>,
    /// A line recorded in the configuration (which snapshot this is).
    pub comment: String,
    /// Where tablespaces go other than where they were (`--tablespace-map
    /// OLD=NEW`; none by default).
    pub tablespace_map: TablespaceMapping,
}

/// What [`restore_pgdata`] did.
#[derive(Debug, Clone)]
pub struct PgdataRestored {
    /// Bytes of tar unpacked.
    pub bytes: u64,
    /// The lines appended to `postgresql.auto.conf`.
    pub settings: Vec<String>,
    /// The owner given to the files, when running as root.
    pub owner: Option<(u32, u32)>,
    /// Where each tablespace went.
    pub tablespaces: Vec<Tablespace>,
}

impl PgdataRestored {
    /// Where the restore went: the data directory, and each tablespace.
    pub fn restored_to(&self, opts: &PgdataOptions) -> String {
        let dir = opts.dir.display().to_string();
        if self.tablespaces.is_empty() {
            dir
        } else {
            format!(
                "{dir} (tablespaces {})",
                super::tablespace::describe(&self.tablespaces)
            )
        }
    }
}

/// A string as a single-quoted value in postgresql.conf.
fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A word for `/bin/sh`, with `%` doubled (PostgreSQL expands `%f`, `%p`
/// and `%%` in restore_command).
fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./,:=@+".contains(&b));
    let w = if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    };
    w.replace('%', "%%")
}

/// The `restore_command` that fetches WAL with coffer.
pub fn restore_command(o: &RecoveryOptions) -> SourceResult<String> {
    let (flag, file) = match &o.secret {
        WalSecret::KeyFile(p) => ("--key-file", p),
        WalSecret::PasswordFile(p) => ("--password-file", p),
    };
    for p in [&o.coffer, file] {
        if !p.is_absolute() {
            return Err(SourceError::Usage(format!(
                "{} is not an absolute path: the server runs restore_command in its own directory",
                p.display()
            )));
        }
    }
    let words = [
        shell_word(&o.coffer.to_string_lossy()),
        "--vault".into(),
        shell_word(&o.vault),
        flag.into(),
        shell_word(&file.to_string_lossy()),
        "--quiet".into(),
        "wal-fetch".into(),
    ];
    Ok(format!("{} %f %p", words.join(" ")))
}

/// The recovery settings, one `name = 'value'` line each.
pub fn recovery_settings(o: &RecoveryOptions) -> SourceResult<Vec<String>> {
    let mut v = vec![format!(
        "restore_command = {}",
        conf_quote(&restore_command(o)?)
    )];
    let set = |k: &str, val: &str| format!("{k} = {}", conf_quote(val));
    let nonempty = |what: &str, s: &str| {
        if s.trim().is_empty() {
            Err(SourceError::Usage(format!("{what} is empty")))
        } else {
            Ok(())
        }
    };
    match &o.target {
        RecoveryTarget::Latest => {}
        RecoveryTarget::Immediate => v.push(set("recovery_target", "immediate")),
        RecoveryTarget::Time(t) => {
            nonempty("--target-time", t)?;
            v.push(set("recovery_target_time", t));
        }
        RecoveryTarget::Lsn(l) => {
            if parse_lsn(l).is_none() {
                return Err(SourceError::Usage(format!(
                    "--target-lsn {l}: give an LSN as PostgreSQL writes it, e.g. 0/3000060"
                )));
            }
            v.push(set("recovery_target_lsn", l));
        }
        RecoveryTarget::Xid(x) => {
            if x.trim().parse::<u64>().is_err() {
                return Err(SourceError::Usage(format!(
                    "--target-xid {x}: give a transaction id (a number, as txid_current() returns)"
                )));
            }
            v.push(set("recovery_target_xid", x.trim()));
        }
        RecoveryTarget::Name(n) => {
            nonempty("--target-name", n)?;
            v.push(set("recovery_target_name", n));
        }
    }
    if matches!(
        o.target,
        RecoveryTarget::Time(_) | RecoveryTarget::Lsn(_) | RecoveryTarget::Xid(_)
    ) {
        v.push(set(
            "recovery_target_inclusive",
            if o.inclusive { "on" } else { "off" },
        ));
    }
    if let Some(t) = &o.timeline {
        let t = t.trim();
        let ok = t == "latest" || t == "current" || t.parse::<u32>().is_ok_and(|n| n > 0);
        if !ok {
            return Err(SourceError::Usage(format!(
                "--target-timeline {t}: give latest, current or a timeline number (e.g. 2)"
            )));
        }
        v.push(set("recovery_target_timeline", t));
    }
    if o.target != RecoveryTarget::Latest {
        v.push(set("recovery_target_action", "promote"));
    }
    if !o.archive {
        v.push(set("archive_mode", "off"));
    }
    Ok(v)
}

/// The uid and primary gid of user `name` (for `--pgdata-owner`).
pub fn lookup_user(name: &str) -> SourceResult<(u32, u32)> {
    let u = uzers::get_user_by_name(name).ok_or_else(|| {
        SourceError::Usage(format!(
            "--pgdata-owner {name}: no such user on this machine (give the user the server runs as, e.g. postgres)"
        ))
    })?;
    Ok((u.uid(), u.primary_group_id()))
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> SourceResult<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| SourceError::io(format!("changing the owner of {}", path.display()), e))?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| SourceError::io(path.display().to_string(), e))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(path)
            .map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?
        {
            let e = e.map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?;
            chown_tree(&e.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Checks that the data directory of `opts` is empty or missing, makes it
/// (mode 0700), and says whom to give the files to (running as root: the
/// caller's choice or the owner of the directory's parent). Nothing is
/// written when the directory is not empty.
pub fn prepare_pgdata(opts: &PgdataOptions) -> SourceResult<Option<(u32, u32)>> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = &opts.dir;
    match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(SourceError::Usage(format!(
                    "--pgdata {} is not empty: give an empty or missing directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).map_err(|e| {
                SourceError::io(
                    format!("creating {} (does its parent exist?)", dir.display()),
                    e,
                )
            })?;
        }
        Err(e) => return Err(SourceError::io(format!("--pgdata {}", dir.display()), e)),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SourceError::io(format!("chmod 0700 {}", dir.display()), e))?;
    if !is_root() {
        return Ok(None);
    }
    if let Some(o) = opts.owner {
        return Ok(Some(o));
    }
    let parent = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/"));
    let m =
        std::fs::metadata(&parent).map_err(|e| SourceError::io(parent.display().to_string(), e))?;
    Ok(Some((m.uid(), m.gid())))
}

/// After the files are in place: checks that `backup_label` is there,
/// writes `recovery.signal`, appends `settings` to `postgresql.auto.conf`
/// and gives every file below `dirs` (the data directory and any
/// tablespace) to `owner`.
pub fn configure_recovery(
    opts: &PgdataOptions,
    settings: &[String],
    owner: Option<(u32, u32)>,
    dirs: &[&Path],
) -> SourceResult<()> {
    let dir = &opts.dir;
    if !dir.join("backup_label").exists() {
        return Err(SourceError::Mismatch(format!(
            "{} holds no backup_label after the restore: the snapshot is not a base backup",
            dir.display()
        )));
    }
    let signal = dir.join("recovery.signal");
    std::fs::write(&signal, b"")
        .map_err(|e| SourceError::io(format!("writing {}", signal.display()), e))?;
    let conf = dir.join("postgresql.auto.conf");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&conf)
        .map_err(|e| SourceError::io(format!("opening {}", conf.display()), e))?;
    let mut text = format!("\n# {}\n", opts.comment.replace('\n', " "));
    for s in settings {
        text.push_str(s);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| SourceError::io(format!("writing {}", conf.display()), e))?;
    if let Some((uid, gid)) = owner {
        for d in dirs {
            chown_tree(d, uid, gid)?;
        }
    }
    Ok(())
}

/// Unpacks a base backup (the tar read from `reader`) into a new data
/// directory set up for point-in-time recovery (see the module
/// documentation).
pub fn restore_pgdata<R: Read>(reader: R, opts: &PgdataOptions) -> SourceResult<PgdataRestored> {
    restore_pgdata_tars(reader, Vec::<(Tablespace, R)>::new(), opts)
}

/// `tar --extract` of `reader` into `dir`; the bytes read. GNU tar strips
/// leading `/`, refuses `..` members and never writes through a symbolic
/// link it extracted (such a link is made only at the end).
fn extract<R: Read>(reader: R, dir: &Path) -> SourceResult<u64> {
    let mut tar = Command::new("tar");
    tar.args(["--extract", "--file=-", "--no-same-owner", "--directory"])
        .arg(dir)
        .stdout(Stdio::null());
    let (bytes, _) = process::stdin_from(
        tar,
        reader,
        format!("tar --extract into {}", dir.display()),
        None,
    )?;
    Ok(bytes)
}

/// [`restore_pgdata`] of a base backup with tablespaces: `base` (the data
/// directory's tar) and, for each tablespace as the backup lists it, its
/// tar. Before anything is written, the tablespaces are moved by
/// `opts.tablespace_map` and their new locations checked
/// ([`super::tablespace`]); after the data directory is unpacked, its
/// `tablespace_map` (which must list the same tablespaces) is rewritten with
/// the new locations, from which the server makes the `pg_tblspc` links when
/// it starts.
pub fn restore_pgdata_tars<B: Read, R: Read>(
    base: B,
    tablespaces: Vec<(Tablespace, R)>,
    opts: &PgdataOptions,
) -> SourceResult<PgdataRestored> {
    let dir = &opts.dir;
    let settings = recovery_settings(&opts.recovery)?;
    let listed: Vec<Tablespace> = tablespaces.iter().map(|(t, _)| t.clone()).collect();
    let moved = relocate(&listed, &opts.tablespace_map)?;
    check_targets(&moved, dir)?;
    let owner = prepare_pgdata(opts)?;
    prepare_locations(&moved)?;
    let mut bytes = extract(base, dir)?;
    replace_map(dir, &listed, &moved)?;
    for ((_, reader), t) in tablespaces.into_iter().zip(&moved) {
        bytes += extract(reader, &t.location)?;
    }
    let mut dirs: Vec<&Path> = vec![dir];
    dirs.extend(moved.iter().map(|t| t.location.as_path()));
    configure_recovery(opts, &settings, owner, &dirs)?;
    Ok(PgdataRestored {
        bytes,
        settings,
        owner,
        tablespaces: moved,
    })
}

/// Replaces the `tablespace_map` a restore wrote into `dir` with one that
/// names where each tablespace went (`moved`), after checking that it lists
/// the tablespaces the snapshot lists (`listed`). The old map is removed
/// first and the new one made with `O_EXCL`, so nothing is ever written
/// through a link in its place.
pub fn replace_map(dir: &Path, listed: &[Tablespace], moved: &[Tablespace]) -> SourceResult<()> {
    let map = dir.join("tablespace_map");
    match std::fs::symlink_metadata(&map) {
        Ok(m) if m.is_file() => {
            let text = std::fs::read(&map)
                .map_err(|e| SourceError::io(format!("reading {}", map.display()), e))?;
            let mut in_tar: Vec<u32> = parse_map(&text)?.iter().map(|t| t.oid).collect();
            let mut want: Vec<u32> = listed.iter().map(|t| t.oid).collect();
            in_tar.sort_unstable();
            want.sort_unstable();
            if in_tar != want {
                return Err(SourceError::Mismatch(format!(
                    "the restored tablespace_map lists tablespaces {in_tar:?} where the \
                     snapshot lists {want:?}: the snapshot is damaged (`coffer check` verifies it); \
                     {} is incomplete",
                    dir.display()
                )));
            }
            std::fs::remove_file(&map)
                .map_err(|e| SourceError::io(format!("replacing {}", map.display()), e))?;
        }
        Ok(_) => {
            return Err(SourceError::Mismatch(format!(
                "{} is not a regular file after the restore: the snapshot is damaged",
                map.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !listed.is_empty() {
                return Err(SourceError::Mismatch(format!(
                    "the snapshot lists tablespaces but the restored data directory holds no tablespace_map: \
                     the snapshot is damaged (`coffer check` verifies it); {} is incomplete",
                    dir.display()
                )));
            }
        }
        Err(e) => return Err(SourceError::io(map.display().to_string(), e)),
    }
    if !moved.is_empty() {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&map)
            .map_err(|e| SourceError::io(format!("writing {}", map.display()), e))?;
        f.write_all(render_map(moved).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| SourceError::io(format!("writing {}", map.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_quote_and_refuse() {
        let o = RecoveryOptions {
            coffer: "/usr/bin/coffer".into(),
            vault: "/srv/it's a vault%".into(),
            secret: WalSecret::KeyFile("/etc/coffer/k".into()),
            target: RecoveryTarget::Time("2026-01-01 10:00:00+00".into()),
            inclusive: false,
            timeline: None,
            archive: true,
        };
        let s = recovery_settings(&o).unwrap();
        assert_eq!(
            s[0],
            r"restore_command = '/usr/bin/coffer --vault ''/srv/it''\\''''s a vault%%'' --key-file /etc/coffer/k --quiet wal-fetch %f %p'"
        );
        assert_eq!(s[1], "recovery_target_time = '2026-01-01 10:00:00+00'");
        assert_eq!(s[2], "recovery_target_inclusive = 'off'");
        assert_eq!(s[3], "recovery_target_action = 'promote'");
        let mut bad = o.clone();
        bad.secret = WalSecret::PasswordFile("rel/pw".into());
        assert!(recovery_settings(&bad).is_err());
        bad = o.clone();
        bad.target = RecoveryTarget::Lsn("zz".into());
        assert!(recovery_settings(&bad).is_err());
        bad.target = RecoveryTarget::Immediate;
        assert_eq!(
            recovery_settings(&bad).unwrap()[1],
            "recovery_target = 'immediate'"
        );
        bad.timeline = Some("2".into());
        assert_eq!(
            recovery_settings(&bad).unwrap()[2],
            "recovery_target_timeline = '2'"
        );
        for t in ["0", "two", "-1", ""] {
            bad.timeline = Some(t.into());
            assert!(recovery_settings(&bad).is_err(), "{t:?}");
        }
    }

    /// A ustar member (GNU tar checks the header's checksum).
    fn member(tar: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000700\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }

    fn base_tar(map: &str) -> Vec<u8> {
        let mut t = Vec::new();
        member(
            &mut t,
            "backup_label",
            b'0',
            "",
            b"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n",
        );
        member(&mut t, "tablespace_map", b'0', "", map.as_bytes());
        member(&mut t, "pg_tblspc/", b'5', "", b"");
        t.extend_from_slice(&[0u8; 1024]);
        t
    }

    fn options(dir: &Path, map: &[String]) -> PgdataOptions {
        PgdataOptions {
            dir: dir.join("data"),
            recovery: RecoveryOptions {
                coffer: "/usr/bin/coffer".into(),
                vault: "/srv/vault".into(),
                secret: WalSecret::KeyFile("/etc/coffer/k".into()),
                target: RecoveryTarget::Latest,
                inclusive: true,
                timeline: None,
                archive: false,
            },
            owner: None,
            comment: "test".into(),
            tablespace_map: TablespaceMapping::parse(map).unwrap(),
        }
    }

    #[test]
    fn issue18_tablespace_tars_go_to_their_mapped_locations_and_the_map_is_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let new = d.path().join("new ts");
        let mut ts = Vec::new();
        member(&mut ts, "PG_15_1/", b'5', "", b"");
        member(&mut ts, "PG_15_1/1/16385", b'0', "", &[9u8; 700]);
        ts.extend_from_slice(&[0u8; 1024]);
        let opts = options(d.path(), &[format!("/orig/ts={}", new.display())]);
        let orig = Tablespace {
            oid: 16384,
            location: "/orig/ts".into(),
        };
        let done = restore_pgdata_tars(
            &base_tar("16384 /orig/ts\n")[..],
            vec![(orig, &ts[..])],
            &opts,
        )
        .unwrap();
        assert_eq!(done.tablespaces[0].location, new);
        assert_eq!(
            std::fs::read(new.join("PG_15_1/1/16385")).unwrap(),
            vec![9u8; 700]
        );
        assert_eq!(
            std::fs::read_to_string(opts.dir.join("tablespace_map")).unwrap(),
            format!("16384 {}\n", new.display())
        );
        assert!(opts.dir.join("recovery.signal").exists());
    }

    #[test]
    fn issue18_a_hostile_tablespace_tar_writes_nothing_outside_its_location() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mut ts = Vec::new();
        member(
            &mut ts,
            "PG_15_1/link",
            b'2',
            outside.to_str().unwrap(),
            b"",
        );
        member(&mut ts, "PG_15_1/link/evil", b'0', "", b"pwned");
        member(&mut ts, "../escaped", b'0', "", b"pwned");
        ts.extend_from_slice(&[0u8; 1024]);
        let new = d.path().join("ts");
        let opts = options(d.path(), &[format!("/orig/ts={}", new.display())]);
        let orig = Tablespace {
            oid: 16384,
            location: "/orig/ts".into(),
        };
        let e = restore_pgdata_tars(
            &base_tar("16384 /orig/ts\n")[..],
            vec![(orig, &ts[..])],
            &opts,
        )
        .unwrap_err();
        assert!(e.to_string().contains("tar --extract into"), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!d.path().join("escaped").exists());
    }

    #[test]
    fn issue18_a_map_in_the_tar_that_disagrees_with_the_snapshot_is_damage() {
        let d = tempfile::tempdir().unwrap();
        let ts = d.path().join("ts");
        let opts = options(d.path(), &[format!("{0}={0}", ts.display())]);
        let orig = Tablespace {
            oid: 16384,
            location: ts,
        };
        let e = restore_pgdata_tars(&base_tar("16390 /x\n")[..], vec![(orig, &b""[..])], &opts)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("lists tablespaces [16390] where the snapshot lists [16384]"),
            "{e}"
        );
        // A mapping for a snapshot without tablespaces: refused before anything is written.
        let opts = options(d.path(), &["/a=/b".to_string()]);
        let d2 = tempfile::tempdir().unwrap();
        let opts = PgdataOptions {
            dir: d2.path().join("data"),
            ..opts
        };
        let e = restore_pgdata(&base_tar("")[..], &opts).unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("its tablespaces: none"),
            "{e}"
        );
        assert!(!opts.dir.exists());
    }
}
