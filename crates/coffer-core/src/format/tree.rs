//! Trees: one serialized directory listing per blob.
//!
//! A tree is the postcard encoding of [`Tree`]: its nodes sorted by raw name
//! bytes (names need not be UTF-8). Trees are content-addressed blobs, so an
//! unchanged directory yields the same tree id and is stored once.
//!
//! Decoding validates (see [`Tree::validate`]): a tree read from a vault is
//! hostile until checked, and a restore joins node names onto its target.
//! No name is empty, `.`, `..`, or holds `/` or NUL; names are strictly
//! increasing (sorted, no duplicates, so a symlink and a directory cannot
//! share a name); only a directory has a subtree, and every directory has
//! one; a symlink's target holds no NUL. A tree that breaks a rule is damage
//! ([`crate::Error::Damaged`] naming the tree and the offending name).

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::format::id::Id;

/// Whether `name` may be a node's name (`Err`: the rule it breaks). The one rule for
/// every name that becomes a directory entry: node names of trees, stream
/// names of one-file snapshots.
pub fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("a name must not be empty")
    } else if name == b"." || name == b".." {
        Err("a name must not be `.` or `..`")
    } else if name.contains(&b'/') {
        Err("a name must not contain `/`")
    } else if name.contains(&0) {
        Err("a name must not contain NUL")
    } else {
        Ok(())
    }
}

/// `name` quoted for messages: valid UTF-8 as is (control characters and
/// quotes escaped), other bytes as `\xNN`.
pub fn escape_name(name: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in name.utf8_chunks() {
        out.extend(chunk.valid().escape_debug());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// The snapshot path of damage found in the tree of directory `dir` (`/a/b`,
/// empty for the root): the offending entry `name` below it, or the
/// directory itself when no entry is to blame. Used by `check` and by
/// restore, so both name a damaged snapshot the same way.
pub fn damage_path(dir: &str, name: Option<&[u8]>) -> String {
    match name {
        Some(n) => format!("{dir}/{}", String::from_utf8_lossy(n).escape_debug()),
        None if dir.is_empty() => "/".to_string(),
        None => dir.to_string(),
    }
}

/// Why bytes are not a valid tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Not the postcard encoding of a tree.
    #[error("does not decode as a tree")]
    Undecodable,
    /// A node name breaks [`check_name`].
    #[error("node name {} is not allowed: {why}", escape_name(.name))]
    BadName {
        /// The name.
        name: Vec<u8>,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Names out of order or repeated.
    #[error("node name {} follows {}: names must be unique and sorted", escape_name(.name), escape_name(.previous))]
    Unsorted {
        /// The name out of place.
        name: Vec<u8>,
        /// The name before it.
        previous: Vec<u8>,
    },
    /// A directory without its tree.
    #[error("directory node {} has no subtree", escape_name(.name))]
    DirWithoutSubtree {
        /// The directory's name.
        name: Vec<u8>,
    },
    /// A non-directory with a subtree (a symlink with children would be
    /// written through).
    #[error("{kind:?} node {} has a subtree: only a directory may have one", escape_name(.name))]
    SubtreeOfNonDir {
        /// The node's name.
        name: Vec<u8>,
        /// What it is.
        kind: NodeKind,
    },
    /// A symlink target with NUL.
    #[error("symlink node {} has a target that contains NUL", escape_name(.name))]
    BadTarget {
        /// The symlink's name.
        name: Vec<u8>,
    },
}

impl TreeError {
    /// The offending node's name (`None` when the bytes do not decode).
    pub fn name(&self) -> Option<&[u8]> {
        match self {
            TreeError::Undecodable => None,
            TreeError::BadName { name, .. }
            | TreeError::Unsorted { name, .. }
            | TreeError::DirWithoutSubtree { name }
            | TreeError::SubtreeOfNonDir { name, .. }
            | TreeError::BadTarget { name } => Some(name),
        }
    }

    /// As the damage of tree blob `id`.
    pub fn damaged(&self, id: &Id) -> Error {
        Error::damaged(format!("tree {id}"), self.to_string())
    }
}

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

    /// Deserializes and [validates](Self::validate).
    pub fn decode(bytes: &[u8]) -> Result<Tree, TreeError> {
        let tree: Tree = postcard::from_bytes(bytes).map_err(|_| TreeError::Undecodable)?;
        tree.validate()?;
        Ok(tree)
    }

    /// [`Tree::decode`] of blob `id`: a failure is [`Error::Damaged`] naming
    /// `tree <id>` and what is wrong (with the offending name escaped).
    pub fn decode_blob(id: &Id, bytes: &[u8]) -> crate::Result<Tree> {
        Tree::decode(bytes).map_err(|e| e.damaged(id))
    }

    /// Checks the rules of the module doc on every node.
    pub fn validate(&self) -> Result<(), TreeError> {
        let mut prev: Option<&[u8]> = None;
        for n in &self.nodes {
            check_name(&n.name).map_err(|why| TreeError::BadName {
                name: n.name.clone(),
                why,
            })?;
            if let Some(p) = prev {
                if p >= n.name.as_slice() {
                    return Err(TreeError::Unsorted {
                        name: n.name.clone(),
                        previous: p.to_vec(),
                    });
                }
            }
            prev = Some(&n.name);
            match (n.kind, n.subtree.is_some()) {
                (NodeKind::Dir, false) => {
                    return Err(TreeError::DirWithoutSubtree {
                        name: n.name.clone(),
                    })
                }
                (NodeKind::Dir, true) | (_, false) => {}
                (kind, true) => {
                    return Err(TreeError::SubtreeOfNonDir {
                        name: n.name.clone(),
                        kind,
                    })
                }
            }
            if n.kind == NodeKind::Symlink && n.target.as_ref().is_some_and(|t| t.contains(&0)) {
                return Err(TreeError::BadTarget {
                    name: n.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// The node called `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &[u8]) -> Node {
        let mut n = Node::new(name.to_vec(), NodeKind::Dir);
        n.subtree = Some(Id([1; 32]));
        n
    }

    /// Encodes `nodes` in the order given (as a hostile writer would).
    fn raw(nodes: Vec<Node>) -> Vec<u8> {
        Tree { version: 1, nodes }.encode()
    }

    #[test]
    fn a_sound_tree_decodes() {
        let mut l = Node::new(b"link".to_vec(), NodeKind::Symlink);
        l.target = Some(b"../x".to_vec());
        let t = Tree::new(vec![
            dir(b"d"),
            Node::new(b"f\xff".to_vec(), NodeKind::File),
            l,
            Node::new(b"...".to_vec(), NodeKind::File),
        ]);
        assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn hostile_names_are_damage_naming_the_name() {
        for (name, why) in [
            (&b""[..], "empty"),
            (b".", "`.` or `..`"),
            (b"..", "`.` or `..`"),
            (b"a/b", "`/`"),
            (b"/etc", "`/`"),
            (b"a\0b", "NUL"),
        ] {
            let e = Tree::decode(&raw(vec![Node::new(name.to_vec(), NodeKind::File)])).unwrap_err();
            assert_eq!(e.name(), Some(name));
            let msg = e.damaged(&Id([9; 32])).to_string();
            assert!(msg.contains(&format!("tree {}", Id([9; 32]))), "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert!(msg.contains(&escape_name(name)), "{msg}");
        }
        assert_eq!(escape_name(b"a\0\xff\n"), "\"a\\0\\xff\\n\"");
    }

    #[test]
    fn duplicates_unsorted_and_subtrees_of_non_dirs_are_damage() {
        let mut link = Node::new(b"x".to_vec(), NodeKind::Symlink);
        link.target = Some(b"/etc".to_vec());
        // Symlink `x` and directory `x` in one tree.
        let e = Tree::decode(&raw(vec![link.clone(), dir(b"x")])).unwrap_err();
        assert!(matches!(e, TreeError::Unsorted { .. }), "{e}");
        let e = Tree::decode(&raw(vec![dir(b"b"), dir(b"a")])).unwrap_err();
        assert!(matches!(e, TreeError::Unsorted { .. }), "{e}");
        let mut with_sub = link.clone();
        with_sub.subtree = Some(Id([2; 32]));
        let e = Tree::decode(&raw(vec![with_sub])).unwrap_err();
        assert!(e.to_string().contains("only a directory"), "{e}");
        let e = Tree::decode(&raw(vec![Node::new(b"d".to_vec(), NodeKind::Dir)])).unwrap_err();
        assert!(matches!(e, TreeError::DirWithoutSubtree { .. }), "{e}");
        let mut nul = link;
        nul.target = Some(b"/etc\0x".to_vec());
        let e = Tree::decode(&raw(vec![nul])).unwrap_err();
        assert!(matches!(e, TreeError::BadTarget { .. }), "{e}");
        assert_eq!(Tree::decode(b"\xff\xff"), Err(TreeError::Undecodable));
    }
}
