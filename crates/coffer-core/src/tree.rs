//! Trees: one serialized directory listing per blob.
//!
//! A tree is the postcard encoding of [`Tree`]: its nodes sorted by raw name
//! bytes (names need not be UTF-8). Trees are content-addressed blobs, so an
//! unchanged directory yields the same tree id and is stored once.

use serde::{Deserialize, Serialize};

use crate::id::Id;

/// A reference to one chunk of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// The chunk's id.
    pub id: Id,
    /// The chunk's plaintext length.
    pub len: u32,
}

/// The type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A directory; its entries are in `subtree`.
    Dir,
    /// A symbolic link; its target is in `target`.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A character device (`rdev`).
    CharDevice,
    /// A block device (`rdev`).
    BlockDevice,
    /// A unix socket (restored as nothing; recorded for completeness).
    Socket,
}

/// A point in time with nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds.
    pub nanos: u32,
}

/// An extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    /// The attribute's name.
    pub name: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// One directory entry with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The entry's name (raw bytes).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: NodeKind,
    /// Permission bits, including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Owner name, if it resolved at backup time.
    pub user: Option<String>,
    /// Group name, if it resolved at backup time.
    pub group: Option<String>,
    /// Modification time.
    pub mtime: Time,
    /// Access time: zero, not recorded (see docs/format.md); restored when
    /// an older snapshot has one.
    pub atime: Time,
    /// Status change time (used to detect changes, not restored).
    pub ctime: Time,
    /// Inode number (change detection and hard links).
    pub inode: u64,
    /// Device of the file system holding it (hard links).
    pub dev: u64,
    /// Number of hard links.
    pub links: u64,
    /// Size in bytes (files).
    pub size: u64,
    /// Device number (device nodes).
    pub rdev: u64,
    /// Link target (symlinks).
    pub target: Option<Vec<u8>>,
    /// Content chunks in order (files).
    pub content: Vec<ChunkRef>,
    /// The directory's tree (directories).
    pub subtree: Option<Id>,
    /// Extended attributes.
    pub xattrs: Vec<Xattr>,
}

impl Node {
    /// A node of `kind` with every other field empty.
    pub fn new(name: Vec<u8>, kind: NodeKind) -> Self {
        Node {
            name,
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime: Time::default(),
            atime: Time::default(),
            ctime: Time::default(),
            inode: 0,
            dev: 0,
            links: 0,
            size: 0,
            rdev: 0,
            target: None,
            content: Vec::new(),
            subtree: None,
            xattrs: Vec::new(),
        }
    }

    /// The name for display (lossy for names that are not UTF-8).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A directory listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// Tree format version (1).
    pub version: u8,
    /// Entries sorted by name.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// A tree of `nodes`, sorted by name.
    pub fn new(mut nodes: Vec<Node>) -> Self {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Tree { version: 1, nodes }
    }

    /// Serializes for storage.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("serializable")
    }

    /// Deserializes; `None` if the bytes are not a tree.
    pub fn decode(bytes: &[u8]) -> Option<Tree> {
        postcard::from_bytes(bytes).ok()
    }

    /// The node called `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }
}
