//! Directory trees to back up, and comparisons of a restored tree with
//! its source.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::data::{noise, write};

/// Whether the tests run as root (who may chown and make device nodes).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A tree of regular files in nested directories, large and small, an
/// empty file and an empty directory: about 5 MB, for content tests.
pub fn small_tree(root: &Path) {
    for i in 0..4u64 {
        write(
            &root.join(format!("big/f{i}.bin")),
            &noise(i, 1_200_000 + i as usize * 1000),
        );
    }
    write(&root.join("a/b/c/small.txt"), b"small file\n");
    write(
        &root.join("a/b/text.txt"),
        &b"line of text\n".repeat(40_000),
    );
    write(&root.join("a/other/x.bin"), &noise(77, 300_000));
    write(&root.join("empty"), b"");
    std::fs::create_dir_all(root.join("emptydir")).unwrap();
}

/// Asserts that two trees hold the same names and, in their regular
/// files, the same bytes (metadata is not compared).
pub fn assert_same_contents(a: &Path, b: &Path) {
    let names = |p: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let (na, nb) = (names(a), names(b));
    assert_eq!(na, nb, "entries of {}", a.display());
    for n in na {
        let (x, y) = (a.join(&n), b.join(&n));
        if x.is_dir() {
            assert!(y.is_dir());
            assert_same_contents(&x, &y);
        } else {
            assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap());
        }
    }
}

/// Builds a tree exercising every kind of entry and metadata.
pub fn rich_tree(root: &Path) {
    write(&root.join("a.txt"), b"hello\n");
    write(&root.join("dir/b.bin"), &noise(1, 3_000_000));
    write(
        &root.join("dir/sub/c.txt"),
        &b"compressible line\n".repeat(50_000),
    );
    write(&root.join("dir/empty-file"), b"");
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::os::unix::fs::symlink("dir/sub/c.txt", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    std::fs::hard_link(root.join("dir/b.bin"), root.join("hardlink.bin")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    // A name that is not UTF-8.
    write(
        &root.join(OsStr::from_bytes(b"latin1-\xe9t\xe9.txt")),
        b"bytes",
    );
    // A sparse file: 20 MiB with one byte of data in the middle.
    let f = std::fs::File::create(root.join("sparse.img")).unwrap();
    f.set_len(20 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"x", 10 << 20).unwrap();
    xattr::set(root.join("a.txt"), "user.coffer", b"value").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o4751)).unwrap();
    std::fs::set_permissions(
        root.join("empty-dir"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    if is_root() {
        std::os::unix::fs::lchown(root.join("dir/sub/c.txt"), Some(1234), Some(2345)).unwrap();
        let dev = std::ffi::CString::new(root.join("null-dev").as_os_str().as_bytes()).unwrap();
        assert_eq!(
            unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) },
            0
        );
    }
    let t = filetime::FileTime::from_unix_time(1_600_000_000, 123_456_789);
    filetime::set_file_mtime(root.join("dir/b.bin"), t).unwrap();
    filetime::set_symlink_file_times(root.join("link"), t, t).unwrap();
}

/// Asserts two trees are equal in content and metadata (but atime/ctime).
pub fn assert_same_tree(a: &Path, b: &Path) {
    let ea = entries(a);
    let eb = entries(b);
    assert_eq!(
        ea.keys().collect::<Vec<_>>(),
        eb.keys().collect::<Vec<_>>(),
        "restored tree has other entries than the source"
    );
    for (k, x) in &ea {
        let y = &eb[k];
        assert_eq!(x, y, "entry {k:?} differs");
    }
    // Hard links: the same groups of paths share an inode.
    assert_eq!(link_groups(a), link_groups(b), "hard link groups differ");
}

#[derive(Debug, PartialEq)]
struct Entry {
    kind: char,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    size: u64,
    content: Option<Vec<u8>>,
    target: Option<PathBuf>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    rdev: u64,
    nlink: u64,
}

fn link_groups(root: &Path) -> Vec<Vec<Vec<u8>>> {
    let mut g: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for (k, _) in entries(root) {
        let m = std::fs::symlink_metadata(root.join(OsStr::from_bytes(&k))).unwrap();
        if m.is_file() && m.nlink() > 1 {
            g.entry(m.ino()).or_default().push(k);
        }
    }
    let mut v: Vec<_> = g.into_values().collect();
    v.sort();
    v
}

fn entries(root: &Path) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    collect(root, root, &mut out);
    out
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Entry>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_fifo() {
            'p'
        } else if ft.is_char_device() {
            'c'
        } else {
            'f'
        };
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = xattr::list(&p)
            .map(|l| {
                l.map(|n| {
                    let v = xattr::get(&p, &n).unwrap().unwrap_or_default();
                    (n.as_bytes().to_vec(), v)
                })
                .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        let rel = p
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        out.insert(
            rel,
            Entry {
                kind,
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                mtime: if kind == 'd' {
                    (0, 0)
                } else {
                    (m.mtime(), m.mtime_nsec())
                },
                size: if kind == 'd' { 0 } else { m.size() },
                content: (kind == 'f').then(|| std::fs::read(&p).unwrap()),
                target: (kind == 'l').then(|| std::fs::read_link(&p).unwrap()),
                xattrs,
                rdev: m.rdev(),
                nlink: if kind == 'd' { 0 } else { m.nlink() },
            },
        );
        if kind == 'd' {
            collect(root, &p, out);
        }
    }
}
