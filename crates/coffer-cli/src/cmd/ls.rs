//! `coffer ls`: lists the files of a snapshot (with --json: one JSON
//! array of entries).

use anyhow::Result;
use coffer_core::{SnapshotFilter, Vault};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::context;

/// `coffer ls`.
pub fn ls(
    g: &GlobalArgs,
    snapshot: &str,
    path: Option<&str>,
    long: bool,
    filter: &SnapshotFilter,
) -> Result<u8> {
    let vault = context::open(g)?;
    let (_, snap) = vault.find_snapshot(snapshot, filter)?;
    let index = vault.load_index()?;
    let start = path.unwrap_or("/").trim_end_matches('/').to_string();
    let mut out = Vec::new();
    let root = match vault.find_node(&index, &snap.tree, &start)? {
        None => Some(snap.tree),
        Some(n) => {
            let sub = n.subtree;
            out.push((start.clone(), n));
            sub
        }
    };
    if let Some(t) = root {
        walk_ls(&vault, &index, &t, &start, &mut out)?;
    }
    if g.json {
        // One JSON document, as every command prints: an array of the
        // entries, one a line (written as it goes, not built in memory).
        println!("[");
        for (i, (p, n)) in out.iter().enumerate() {
            let e = json!({"path": p, "type": format!("{:?}", n.kind).to_lowercase(), "size": n.size, "mode": format!("{:o}", n.mode),
                           "uid": n.uid, "gid": n.gid, "user": n.user, "group": n.group, "mtime": n.mtime.secs});
            println!("  {e}{}", if i + 1 < out.len() { "," } else { "" });
        }
        println!("]");
        return Ok(0);
    }
    for (p, n) in &out {
        if long {
            println!(
                "{:o} {:>8} {:>8} {:>12} {} {}",
                n.mode,
                n.user.clone().unwrap_or(n.uid.to_string()),
                n.group.clone().unwrap_or(n.gid.to_string()),
                n.size,
                jiff::Timestamp::from_second(n.mtime.secs)
                    .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                p
            );
        } else {
            println!("{p}");
        }
    }
    Ok(0)
}

fn walk_ls(
    vault: &Vault,
    index: &coffer_core::Index,
    tree: &coffer_core::Id,
    prefix: &str,
    out: &mut Vec<(String, coffer_core::Node)>,
) -> Result<()> {
    for n in vault.load_tree(index, tree)?.nodes {
        let p = format!("{prefix}/{}", n.display_name());
        let sub = n.subtree;
        out.push((p.clone(), n));
        if let Some(s) = sub {
            walk_ls(vault, index, &s, &p, out)?;
        }
    }
    Ok(())
}
