//! The list of entries a restore makes, and the checks of the names it
//! writes: a node name is one plain file name (not empty, `.` or `..`, no
//! `/` or NUL), and only a directory has a subtree. A snapshot that breaks
//! either is damaged (or hostile); it is refused before anything is written.

use coffer_core::{Error, Id, Index, Node, NodeKind, Part, Result, Time, Vault};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::item::{Extra, Item};
use super::meta::Meta;
use crate::filter::Patterns;

/// The entries to restore, kept compact because a large tree has millions:
/// one fixed-size row per entry, with names and content chunk lists in
/// shared arrays and the rare fields (link targets, xattrs, device numbers,
/// hard-link keys, recorded atimes) in a side table. About 56 bytes a row
/// plus its name and 8 bytes per chunk (its index entry, not its id),
/// against about 250 for a row of separately allocated fields.
#[derive(Default)]
pub(super) struct List {
    pub(super) items: Vec<Item>,
    names: Vec<u8>,
    chunks: Vec<Part>,
    extras: Vec<Extra>,
}

pub(super) const NO_PARENT: u32 = u32::MAX;
const NO_EXTRA: u32 = u32::MAX;

/// Lengths of a [`List`]'s arrays, to cut it back to.
#[derive(Clone, Copy)]
struct Mark(usize, usize, usize, usize);

impl List {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    fn mark(&self) -> Mark {
        Mark(
            self.items.len(),
            self.names.len(),
            self.chunks.len(),
            self.extras.len(),
        )
    }

    fn truncate(&mut self, m: Mark) {
        self.items.truncate(m.0);
        self.names.truncate(m.1);
        self.chunks.truncate(m.2);
        self.extras.truncate(m.3);
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.items.shrink_to_fit();
        self.names.shrink_to_fit();
        self.chunks.shrink_to_fit();
        self.extras.shrink_to_fit();
    }

    /// Adds `n`, found in directory `dir` of the snapshot, below item
    /// `parent`, its chunks looked up in `index`; refuses a name that is
    /// not one plain file name.
    pub(super) fn push(
        &mut self,
        n: Node,
        parent: u32,
        dir: &Path,
        meta: &Meta,
        index: &Index,
    ) -> Result<()> {
        check_name(&n.name, dir)?;
        let path = dir.join(OsStr::from_bytes(&n.name));
        let (uid, gid) = meta.owner(&n);
        let too_many = || Error::InvalidInput("too many entries to restore at once".into());
        let name_len = u16::try_from(n.name.len()).map_err(|_| {
            Error::InvalidInput(format!(
                "a name of {} bytes in the snapshot is longer than any file system takes",
                n.name.len()
            ))
        })?;
        let hardlink =
            (n.kind != NodeKind::Dir && n.links > 1 && n.inode != 0).then_some((n.dev, n.inode));
        let extra = if hardlink.is_some()
            || n.rdev != 0
            || n.target.is_some()
            || !n.xattrs.is_empty()
            || n.atime != Time::default()
        {
            self.extras.push(Extra {
                atime: n.atime,
                rdev: n.rdev,
                hardlink,
                target: n.target.map(Vec::into_boxed_slice),
                xattrs: n.xattrs.into_boxed_slice(),
            });
            u32::try_from(self.extras.len() - 1).map_err(|_| too_many())?
        } else {
            NO_EXTRA
        };
        let item = Item {
            parent,
            name: u32::try_from(self.names.len()).map_err(|_| too_many())?,
            chunks: u32::try_from(self.chunks.len()).map_err(|_| too_many())?,
            nchunks: u32::try_from(n.content.len()).map_err(|_| too_many())?,
            extra,
            mode: n.mode,
            uid,
            gid,
            mtime_nanos: n.mtime.nanos,
            mtime_secs: n.mtime.secs,
            size: n.size,
            name_len,
            kind: n.kind,
        };
        if self.items.len() >= NO_PARENT as usize {
            return Err(too_many());
        }
        for c in &n.content {
            self.chunks
                .push(Part::of(index, c, || path.display().to_string())?);
        }
        self.names.extend_from_slice(&n.name);
        self.items.push(item);
        Ok(())
    }

    pub(super) fn name(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.names[it.name as usize..it.name as usize + it.name_len as usize]
    }

    pub(super) fn content(&self, i: usize) -> &[Part] {
        let it = &self.items[i];
        &self.chunks[it.chunks as usize..(it.chunks + it.nchunks) as usize]
    }

    pub(super) fn extra(&self, i: usize) -> Option<&Extra> {
        self.extras.get(self.items[i].extra as usize)
    }

    /// The path of item `i` relative to the target: plain names only, as
    /// [`List::push`] checked each.
    pub(super) fn rel(&self, i: usize) -> PathBuf {
        self.rel_from(i, NO_PARENT)
    }

    /// The path of item `i` relative to its ancestor `top` (relative to the
    /// target for [`NO_PARENT`]).
    pub(super) fn rel_from(&self, i: usize, top: u32) -> PathBuf {
        let mut up = Vec::new();
        let mut j = i as u32;
        while j != top && j != NO_PARENT {
            up.push(j as usize);
            j = self.items[j as usize].parent;
        }
        let mut p = PathBuf::new();
        for &k in up.iter().rev() {
            p.push(OsStr::from_bytes(self.name(k)));
        }
        p
    }
}

/// Refuses a node name that is not one plain file name: empty, `.`, `..`,
/// or holding `/` or NUL. Such a name can only come from a damaged or
/// hostile tree (no file system lists one), and written it could reach
/// outside the target. `dir` is the snapshot directory holding it; the
/// caller names the snapshot.
pub(super) fn check_name(name: &[u8], dir: &Path) -> Result<()> {
    let why = if name.is_empty() {
        "is empty"
    } else if name == b"." || name == b".." {
        "is `.` or `..`"
    } else if name.contains(&b'/') {
        "holds a `/`"
    } else if name.contains(&0) {
        "holds a NUL byte"
    } else {
        return Ok(());
    };
    Err(damaged(
        dir,
        name,
        &format!("the entry's name {why}, which no file name may; nothing was restored"),
    ))
}

/// The error for a damaged (or hostile) entry `name` of snapshot
/// directory `dir`.
fn damaged(dir: &Path, name: &[u8], detail: &str) -> Error {
    let dir = dir.to_string_lossy();
    Error::Damaged {
        object: format!(
            "snapshot path {}/{}",
            dir.trim_end_matches('/'),
            name.escape_ascii()
        ),
        detail: detail.to_string(),
    }
}

/// Refuses a node that has a subtree but is not a directory: restoring
/// what is below it would mean going through a symlink or a file.
pub(super) fn check_subtree(n: &Node, dir: &Path) -> Result<()> {
    if n.subtree.is_some() && n.kind != NodeKind::Dir {
        return Err(damaged(
            dir,
            &n.name,
            &format!(
                "a {:?} node has entries below it, which only a directory may; nothing was restored",
                n.kind
            ),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn collect(
    vault: &Vault,
    index: &Index,
    tree: &Id,
    parent: u32,
    snap_path: &Path,
    inc: &Patterns,
    forced: bool,
    meta: &Meta,
    out: &mut List,
) -> Result<bool> {
    let t = vault.load_tree(index, tree)?;
    let mut any = false;
    let mut last: Option<Vec<u8>> = None;
    for n in t.nodes {
        check_name(&n.name, snap_path)?;
        check_subtree(&n, snap_path)?;
        // Trees are sorted by name (Tree::new), so a name given twice (a
        // symlink and a directory, say) is next to itself.
        if last.as_deref() == Some(&n.name[..]) {
            return Err(damaged(
                snap_path,
                &n.name,
                "the name is given twice in one directory; nothing was restored",
            ));
        }
        last = Some(n.name.clone());
        let sp = snap_path.join(OsStr::from_bytes(&n.name));
        let selected = forced || inc.is_empty() || inc.matches(&sp);
        let mark = out.mark();
        let pos = out.len();
        let sub = n.subtree;
        out.push(n, parent, snap_path, meta, index)?;
        let mut keep = selected;
        if let Some(sub) = sub {
            keep |= collect(
                vault, index, &sub, pos as u32, &sp, inc, selected, meta, out,
            )?;
        }
        if !keep {
            out.truncate(mark);
        }
        any |= keep;
    }
    Ok(any)
}
