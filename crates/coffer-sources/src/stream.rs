//! A byte stream as a one-file snapshot (`coffer backup --stdin`).

use coffer_core::{Archiver, BackupSummary, Node, NodeKind, Result, SourceInfo, Time, Tree};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::SourceOutput;

/// Saves `reader` as a file called `name` in a one-entry tree.
pub fn save_stream<R: Read>(
    archiver: &Archiver,
    reader: R,
    name: &str,
    kind: &str,
    details: BTreeMap<String, String>,
) -> Result<SourceOutput> {
    let content = archiver.save_stream(reader, Path::new(name))?;
    let size: u64 = content.iter().map(|c| c.len as u64).sum();
    let now = jiff::Timestamp::now();
    let mut node = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    node.mode = 0o600;
    node.size = size;
    node.content = content;
    node.mtime = Time {
        secs: now.as_second(),
        nanos: now.subsec_nanosecond().max(0) as u32,
    };
    node.uid = unsafe { libc::geteuid() };
    node.gid = unsafe { libc::getegid() };
    let tree = archiver.save_tree(&Tree::new(vec![node]))?;
    Ok(SourceOutput {
        tree,
        paths: vec![name.to_string()],
        source: SourceInfo {
            kind: kind.to_string(),
            details,
        },
        summary: BackupSummary {
            files_new: 1,
            total_bytes: size,
            ..Default::default()
        },
        warnings: Vec::new(),
        parent: None,
    })
}
