//! Restore confinement: hostile snapshots, written straight through
//! coffer-core, and targets holding symlinks (issue 14). Each case runs
//! with `openat2` and with the component-by-component walk of kernels that
//! lack it, and checks that the directory standing for `/etc` outside the
//! target is untouched.

use super::beneath::{Beneath, Resolve};
use super::*;
use crate::{run_backup, SnapshotMeta, SourceOutput};
use coffer_core::{BackupOptions, ErrorKind, Node, SourceInfo, Tree};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{symlink, MetadataExt};

const BOTH: [Resolve; 2] = [Resolve::Auto, Resolve::Walk];

/// An entry of a snapshot to build.
enum E {
    File(&'static [u8], &'static [u8]),
    /// A file with two links, sharing inode `ino` with the others.
    Linked(&'static [u8], &'static [u8], u64),
    Dir(&'static [u8], Vec<E>),
    Link(&'static [u8], Vec<u8>),
    /// Any node, with a subtree made of the entries when given.
    Raw(Box<Node>, Option<Vec<E>>),
}

use coffer_testing::memory_vault as vault;

fn save(a: &coffer_core::Archiver, entries: Vec<E>) -> Result<Id> {
    let mut nodes = Vec::new();
    for e in entries {
        let n = match e {
            E::File(name, data) | E::Linked(name, data, _) => {
                let mut n = Node::new(name.to_vec(), NodeKind::File);
                n.mode = 0o640;
                n.size = data.len() as u64;
                n.content = a.save_bytes(data, Path::new("test"))?;
                if let E::Linked(_, _, ino) = e {
                    (n.links, n.inode, n.dev) = (2, ino, 1);
                }
                n
            }
            E::Dir(name, sub) => {
                let mut n = Node::new(name.to_vec(), NodeKind::Dir);
                n.mode = 0o750;
                n.subtree = Some(save(a, sub)?);
                n
            }
            E::Link(name, target) => {
                let mut n = Node::new(name.to_vec(), NodeKind::Symlink);
                n.mode = 0o777;
                n.target = Some(target);
                n
            }
            E::Raw(n, sub) => {
                let mut n = *n;
                if let Some(sub) = sub {
                    n.subtree = Some(save(a, sub)?);
                }
                n
            }
        };
        nodes.push(n);
    }
    a.save_tree(&Tree::new(nodes))
}

fn snapshot(v: &Vault, entries: Vec<E>) -> Snapshot {
    let r = run_backup(
        v,
        &BackupOptions::default(),
        &SnapshotMeta::default(),
        |a, _| {
            Ok::<_, Error>(SourceOutput {
                tree: save(a, entries)?,
                paths: vec!["/hostile".into()],
                source: SourceInfo {
                    kind: "files".into(),
                    details: Default::default(),
                },
                summary: Default::default(),
                warnings: Vec::new(),
                parent: None,
            })
        },
    )
    .unwrap();
    r.snapshot
}

fn restore_into(
    v: &Vault,
    snap: &Snapshot,
    target: &Path,
    resolve: Resolve,
) -> Result<RestoreStats> {
    let index = v.load_index().unwrap();
    let opts = RestoreOptions {
        target: target.to_path_buf(),
        ..Default::default()
    };
    restore_with(v, &index, snap, &opts, &Progress::default(), resolve)
}

/// A directory standing for `/etc`: one file with live content.
struct Outside {
    dir: tempfile::TempDir,
    before: BTreeMap<PathBuf, Vec<u8>>,
}

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("passwd"), b"live content").unwrap();
        let before = listing(dir.path());
        Outside { dir, before }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn victim(&self) -> PathBuf {
        self.dir.path().join("passwd")
    }
    fn assert_untouched(&self) {
        assert_eq!(listing(self.path()), self.before, "outside was written");
    }
}

/// Every entry below `dir` with its content (a symlink's target).
fn listing(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.insert(p.clone(), b"<dir>".to_vec());
            out.extend(listing(&p));
        } else if m.file_type().is_symlink() {
            out.insert(
                p.clone(),
                std::fs::read_link(&p).unwrap().into_os_string().into_vec(),
            );
        } else {
            let mut v = format!("{:o} {} ", m.mode(), m.mtime_nsec()).into_bytes();
            v.extend(std::fs::read(&p).unwrap());
            out.insert(p.clone(), v);
        }
    }
    out
}

fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).unwrap().is_dir()
}

#[test]
fn openat2_is_used_where_the_kernel_has_it_and_the_walk_otherwise() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    for (resolve, uses) in [(Resolve::Auto, true), (Resolve::Walk, false)] {
        let b = Beneath::open(t.path(), resolve).unwrap();
        b.dir(b.root_fd(), Path::new("d"), false).unwrap();
        assert_eq!(b.uses_openat2(), uses, "{resolve:?}");
    }
}

#[test]
fn the_handle_refuses_a_symlink_on_the_way_and_a_path_that_climbs() {
    let out = Outside::new();
    let t = tempfile::tempdir().unwrap();
    symlink(out.path(), t.path().join("etc")).unwrap();
    for resolve in BOTH {
        let b = Beneath::open(t.path(), resolve).unwrap();
        let root = b.root_fd();
        for rel in ["etc", "etc/x", "../x", "/tmp", "a/../../x"] {
            assert!(
                b.dir(root, Path::new(rel), false).is_err(),
                "{resolve:?} {rel}"
            );
        }
        let e = b.create_file(Path::new("etc/passwd")).unwrap_err();
        assert!(e.to_string().contains("restore follows no symlink"), "{e}");
        assert!(b.create_file(Path::new("../passwd")).is_err());
        out.assert_untouched();
    }
}

#[test]
fn a_symlink_in_the_target_at_a_directory_position_is_replaced_by_the_directory() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let snap = snapshot(
            &v,
            vec![E::Dir(
                b"etc",
                vec![
                    E::File(b"passwd", b"from the snapshot"),
                    E::File(b"empty", b""),
                ],
            )],
        );
        let t = tempfile::tempdir().unwrap();
        symlink(out.path(), t.path().join("etc")).unwrap();
        restore_into(&v, &snap, t.path(), resolve).unwrap();
        out.assert_untouched();
        assert!(is_real_dir(&t.path().join("etc")));
        assert_eq!(
            std::fs::read(t.path().join("etc/passwd")).unwrap(),
            b"from the snapshot"
        );
        assert_eq!(std::fs::read(t.path().join("etc/empty")).unwrap(), b"");
    }
}

#[test]
fn a_symlink_in_the_target_at_a_file_position_is_replaced_not_written_through() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let snap = snapshot(
            &v,
            vec![
                E::File(b"content", b"from the snapshot"),
                E::File(b"empty", b""),
                E::Link(b"link", b"elsewhere".to_vec()),
            ],
        );
        let t = tempfile::tempdir().unwrap();
        for name in ["content", "empty", "link"] {
            symlink(out.victim(), t.path().join(name)).unwrap();
        }
        restore_into(&v, &snap, t.path(), resolve).unwrap();
        out.assert_untouched();
        assert_eq!(
            std::fs::read(t.path().join("content")).unwrap(),
            b"from the snapshot"
        );
        let m = std::fs::symlink_metadata(t.path().join("empty")).unwrap();
        assert!(m.is_file() && m.len() == 0);
        assert_eq!(
            std::fs::read_link(t.path().join("link")).unwrap(),
            Path::new("elsewhere")
        );
    }
}

#[test]
fn a_file_in_the_target_hard_linked_to_one_outside_is_replaced_not_truncated() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let snap = snapshot(&v, vec![E::File(b"passwd", b"new"), E::File(b"empty", b"")]);
        let t = tempfile::tempdir().unwrap();
        if std::fs::hard_link(out.victim(), t.path().join("passwd")).is_err() {
            panic!("tempdirs on one file system are needed for this test");
        }
        std::fs::hard_link(out.victim(), t.path().join("empty")).unwrap();
        restore_into(&v, &snap, t.path(), resolve).unwrap();
        out.assert_untouched();
        assert_eq!(std::fs::read(t.path().join("passwd")).unwrap(), b"new");
        assert_eq!(std::fs::read(t.path().join("empty")).unwrap(), b"");
    }
}

#[test]
fn a_symlink_then_a_directory_of_that_name_restored_into_one_target() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let first = snapshot(
            &v,
            vec![E::Link(b"x", out.path().as_os_str().as_bytes().to_vec())],
        );
        let second = snapshot(&v, vec![E::Dir(b"x", vec![E::File(b"passwd", b"second")])]);
        let t = tempfile::tempdir().unwrap();
        restore_into(&v, &first, t.path(), resolve).unwrap();
        assert_eq!(std::fs::read_link(t.path().join("x")).unwrap(), out.path());
        restore_into(&v, &second, t.path(), resolve).unwrap();
        out.assert_untouched();
        assert!(is_real_dir(&t.path().join("x")));
        assert_eq!(std::fs::read(t.path().join("x/passwd")).unwrap(), b"second");
    }
}

#[test]
fn a_symlink_to_etc_with_a_file_below_it_is_refused() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let target = out.path().as_os_str().as_bytes().to_vec();
        let mut link = Node::new(b"etc".to_vec(), NodeKind::Symlink);
        link.target = Some(target);
        let snap = snapshot(
            &v,
            vec![E::Raw(
                Box::new(link),
                Some(vec![E::File(b"passwd", b"evil")]),
            )],
        );
        let t = tempfile::tempdir().unwrap();
        let e = restore_into(&v, &snap, t.path(), resolve).unwrap_err();
        // Refused where the tree is decoded (coffer-core) before restore's
        // own check of what it writes is reached; either names the entry.
        assert_eq!(e.kind(), ErrorKind::Damaged, "{e}");
        assert!(e.to_string().contains("\"etc\""), "{e}");
        out.assert_untouched();
        assert!(listing(t.path()).is_empty());
    }
}

#[test]
fn a_name_twice_in_one_tree_is_refused_as_damage() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let target = out.path().as_os_str().as_bytes().to_vec();
        let snap = snapshot(
            &v,
            vec![
                E::Link(b"etc", target),
                E::Dir(b"etc", vec![E::File(b"passwd", b"evil")]),
            ],
        );
        let t = tempfile::tempdir().unwrap();
        let e = restore_into(&v, &snap, t.path(), resolve).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Damaged, "{e}");
        assert!(e.to_string().contains("\"etc\""), "{e}");
        out.assert_untouched();
        assert!(listing(t.path()).is_empty());
    }
}

#[test]
fn a_hard_link_whose_first_path_would_be_outside_is_refused() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let snap = snapshot(
            &v,
            vec![
                E::Linked(b"..", b"evil", 9),
                E::Linked(b"passwd", b"evil", 9),
            ],
        );
        let t = tempfile::tempdir().unwrap();
        let e = restore_into(&v, &snap, t.path(), resolve).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Damaged, "{e}");
        out.assert_untouched();
    }
}

#[test]
fn hard_links_below_a_replaced_symlink_are_made_beneath_the_target() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let snap = snapshot(
            &v,
            vec![
                E::Dir(b"a", vec![E::Linked(b"passwd", b"linked content", 5)]),
                E::Dir(b"b", vec![E::Linked(b"passwd", b"linked content", 5)]),
            ],
        );
        let t = tempfile::tempdir().unwrap();
        symlink(out.path(), t.path().join("a")).unwrap();
        symlink(out.path(), t.path().join("b")).unwrap();
        restore_into(&v, &snap, t.path(), resolve).unwrap();
        out.assert_untouched();
        let (a, b) = (t.path().join("a/passwd"), t.path().join("b/passwd"));
        assert_eq!(std::fs::read(&b).unwrap(), b"linked content");
        assert_eq!(
            std::fs::metadata(&a).unwrap().ino(),
            std::fs::metadata(&b).unwrap().ino()
        );
        assert!(is_real_dir(&t.path().join("a")) && is_real_dir(&t.path().join("b")));
    }
}

#[test]
fn names_that_are_not_one_file_name_are_refused_as_damage() {
    let names: [&[u8]; 6] = [b"..", b".", b"a/b", b"", b"nul\0byte", b"/etc"];
    for resolve in BOTH {
        for name in names {
            let out = Outside::new();
            let v = vault();
            let mut n = Node::new(name.to_vec(), NodeKind::File);
            n.mode = 0o644;
            let snap = snapshot(&v, vec![E::Dir(b"d", vec![E::Raw(Box::new(n), None)])]);
            let t = tempfile::tempdir().unwrap();
            let target = t.path().join("target");
            let e = restore_into(&v, &snap, &target, resolve).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Damaged, "{name:?}: {e}");
            // The tree decoder refuses it first (naming the tree and the
            // name); restore's own check would name the snapshot path.
            let m = e.to_string();
            assert!(
                m.contains("node name") || m.contains("snapshot path /d/"),
                "{name:?}: {e}"
            );
            out.assert_untouched();
            // Refused before anything was written: not even the target.
            assert!(!target.exists(), "{name:?}");
        }
    }
}

#[test]
fn a_non_empty_directory_where_the_snapshot_has_a_file_is_kept_and_named() {
    let v = vault();
    let snap = snapshot(
        &v,
        vec![E::File(b"f", b"x"), E::Link(b"emptied", b"t".to_vec())],
    );
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("f/kept")).unwrap();
    std::fs::create_dir(t.path().join("emptied")).unwrap();
    let e = restore_into(&v, &snap, t.path(), Resolve::Auto).unwrap_err();
    assert!(
        e.to_string()
            .contains(&t.path().join("f").display().to_string()),
        "{e}"
    );
    assert!(is_real_dir(&t.path().join("f/kept")));
}

#[test]
fn an_empty_directory_where_the_snapshot_has_a_symlink_is_replaced() {
    let v = vault();
    let snap = snapshot(&v, vec![E::Link(b"l", b"t".to_vec()), E::File(b"f", b"x")]);
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("l")).unwrap();
    std::fs::create_dir(t.path().join("f")).unwrap();
    restore_into(&v, &snap, t.path(), Resolve::Auto).unwrap();
    assert_eq!(
        std::fs::read_link(t.path().join("l")).unwrap(),
        Path::new("t")
    );
    assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"x");
}

#[test]
fn a_file_where_the_snapshot_has_a_directory_is_replaced() {
    for resolve in BOTH {
        let v = vault();
        let snap = snapshot(
            &v,
            vec![E::Dir(b"d", vec![E::Dir(b"e", vec![E::File(b"f", b"x")])])],
        );
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("d"), b"old").unwrap();
        restore_into(&v, &snap, t.path(), resolve).unwrap();
        assert_eq!(std::fs::read(t.path().join("d/e/f")).unwrap(), b"x");
        let m = std::fs::metadata(t.path().join("d")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o750);
    }
}

#[test]
fn a_deep_tree_restores_with_its_modes_through_both_resolvers() {
    for resolve in BOTH {
        let v = vault();
        let snap = snapshot(
            &v,
            vec![
                E::Dir(
                    b"a",
                    vec![
                        E::Dir(
                            b"b",
                            vec![E::Dir(b"c", vec![E::File(b"f", b"1")]), E::File(b"g", b"2")],
                        ),
                        E::Dir(b"d", vec![E::Dir(b"e", vec![])]),
                    ],
                ),
                E::Dir(b"z", vec![E::Link(b"up", b"../a".to_vec())]),
            ],
        );
        let t = tempfile::tempdir().unwrap();
        let st = restore_into(&v, &snap, t.path(), resolve).unwrap();
        assert_eq!((st.dirs, st.files, st.others), (6, 2, 1));
        assert_eq!(std::fs::read(t.path().join("a/b/c/f")).unwrap(), b"1");
        assert_eq!(std::fs::read(t.path().join("a/b/g")).unwrap(), b"2");
        assert!(is_real_dir(&t.path().join("a/d/e")));
        let m = std::fs::metadata(t.path().join("a/b/c/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(
            std::fs::read_link(t.path().join("z/up")).unwrap(),
            Path::new("../a")
        );
    }
}

#[test]
fn backing_up_below_a_symlinked_parent_records_directories_and_restores_beneath() {
    let live = tempfile::tempdir().unwrap();
    let real = live.path().join("releases/v2");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("data.txt"), b"live data").unwrap();
    symlink(&real, live.path().join("current")).unwrap();
    let v = vault();
    let backup = |paths: Vec<PathBuf>| {
        let fopts = crate::files::FilesOptions {
            paths,
            ..Default::default()
        };
        run_backup(
            &v,
            &BackupOptions::default(),
            &SnapshotMeta::default(),
            |a, i| crate::files::backup(a, i, &fopts, &Progress::default()),
        )
        .unwrap()
        .snapshot
    };
    let through = live.path().join("current/data.txt");
    let snap = backup(vec![through.clone()]);
    let index = v.load_index().unwrap();
    // Every parent of the path is a directory node; none is a symlink.
    let mut at = String::new();
    for c in through.parent().unwrap().components().skip(1) {
        at.push('/');
        at.push_str(&c.as_os_str().to_string_lossy());
        let n = v.find_node(&index, &snap.tree, &at).unwrap().unwrap();
        assert_eq!(n.kind, NodeKind::Dir, "{at}");
    }
    let n = v
        .find_node(&index, &snap.tree, &through.to_string_lossy())
        .unwrap()
        .unwrap();
    assert_eq!(n.kind, NodeKind::File);

    // Restored into an empty directory, nothing is written to the live file.
    std::fs::write(real.join("data.txt"), b"changed since").unwrap();
    for resolve in BOTH {
        let t = tempfile::tempdir().unwrap();
        restore_into(&v, &snap, t.path(), resolve).unwrap();
        let rel = through.strip_prefix("/").unwrap();
        assert_eq!(std::fs::read(t.path().join(rel)).unwrap(), b"live data");
        assert!(is_real_dir(t.path().join(rel).parent().unwrap()));
        assert_eq!(
            std::fs::read(real.join("data.txt")).unwrap(),
            b"changed since"
        );
    }

    // A given path that is itself a symlink stays one, with nothing below.
    let snap = backup(vec![live.path().join("current")]);
    let index = v.load_index().unwrap();
    let at = live.path().join("current");
    let n = v
        .find_node(&index, &snap.tree, &at.to_string_lossy())
        .unwrap()
        .unwrap();
    assert_eq!(n.kind, NodeKind::Symlink);
    assert!(n.subtree.is_none());
    assert_eq!(n.target.as_deref(), Some(real.as_os_str().as_bytes()));
}

#[test]
fn a_fifo_replaces_a_symlink_and_gets_its_mode_and_time_without_being_opened() {
    use std::os::unix::fs::FileTypeExt;
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let mut n = Node::new(b"pipe".to_vec(), NodeKind::Fifo);
        // Group and other write: bits the umask takes, so set again.
        n.mode = 0o622;
        n.mtime = coffer_core::Time {
            secs: 1_000_000_000,
            nanos: 5,
        };
        let snap = snapshot(&v, vec![E::Dir(b"d", vec![E::Raw(Box::new(n), None)])]);
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        symlink(out.victim(), t.path().join("d/pipe")).unwrap();
        let st = restore_into(&v, &snap, t.path(), resolve).unwrap();
        assert_eq!(st.others, 1);
        out.assert_untouched();
        let m = std::fs::symlink_metadata(t.path().join("d/pipe")).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.mode() & 0o7777, 0o622);
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_000_000_000, 5));
    }
}

#[test]
fn a_subpath_restores_beneath_the_target_and_a_symlink_with_children_is_refused() {
    for resolve in BOTH {
        let out = Outside::new();
        let v = vault();
        let mut link = Node::new(b"l".to_vec(), NodeKind::Symlink);
        link.target = Some(out.path().as_os_str().as_bytes().to_vec());
        let good = snapshot(
            &v,
            vec![E::Dir(b"a", vec![E::Dir(b"b", vec![E::File(b"f", b"1")])])],
        );
        // In a snapshot of its own: the tree that holds it is damage as a
        // whole, so it would hide the good entries beside it.
        let bad = snapshot(
            &v,
            vec![E::Raw(
                Box::new(link),
                Some(vec![E::File(b"passwd", b"evil")]),
            )],
        );
        let index = v.load_index().unwrap();
        let run = |snap: &Snapshot, sub: &str, t: &Path| {
            let opts = RestoreOptions {
                target: t.to_path_buf(),
                subpath: Some(sub.into()),
                ..Default::default()
            };
            restore_with(&v, &index, snap, &opts, &Progress::default(), resolve)
        };
        let t = tempfile::tempdir().unwrap();
        run(&good, "/a/b/f", t.path()).unwrap();
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"1");
        run(&good, "/a/b", &t.path().join("dir")).unwrap();
        assert_eq!(std::fs::read(t.path().join("dir/f")).unwrap(), b"1");
        let e = run(&bad, "/l", &t.path().join("link")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Damaged, "{e}");
        let m = e.to_string();
        assert!(m.contains("\"l\"") || m.contains("snapshot path /l"), "{e}");
        out.assert_untouched();
    }
}
