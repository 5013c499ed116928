//! One entry of the restore list ([`Item`]) and the fields few entries have
//! ([`Extra`]); the list that holds them is in `list`. A file of its own so
//! that setting metadata (`meta`) reads entries without importing the list.

use coffer_core::{NodeKind, Time, Xattr};

/// One entry: only what restoring needs, about a quarter of a [`Node`]; the
/// path is its parent's number and its own name.
pub(super) struct Item {
    /// Number of the parent directory's item; [`NO_PARENT`](super::list::NO_PARENT) at the top.
    pub(super) parent: u32,
    /// Name: `names[name..name + name_len]` of the [`List`](super::list::List).
    pub(super) name: u32,
    /// Content: `chunks[chunks..chunks + nchunks]`.
    pub(super) chunks: u32,
    pub(super) nchunks: u32,
    /// Row in `extras`, or `NO_EXTRA`.
    pub(super) extra: u32,
    pub(super) mode: u32,
    /// Owner and group to set (names already mapped to local ids).
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime_nanos: u32,
    pub(super) mtime_secs: i64,
    pub(super) size: u64,
    pub(super) name_len: u16,
    pub(super) kind: NodeKind,
}

/// The fields few entries have.
pub(super) struct Extra {
    pub(super) atime: Time,
    pub(super) rdev: u64,
    /// (dev, inode) of a file with more than one link.
    pub(super) hardlink: Option<(u64, u64)>,
    pub(super) target: Option<Box<[u8]>>,
    pub(super) xattrs: Box<[Xattr]>,
}
