//! The snapshots of a vault: `GET /vaults/{vault}/snapshots` (each with
//! whether a legal hold keeps it and the configured source that made it,
//! from its `source:NAME` tag) and
//! `GET /vaults/{vault}/snapshots/{snapshot}/files` (one directory of a
//! snapshot, for the dashboard's snapshot browser).

use crate::config::Config;
use crate::http::api::respond::{ok, open_vault, view, Answer, ApiError};
use crate::model::api::{FileEntry, SnapshotFiles, SnapshotView};
use coffer_core::SnapshotFilter;
use serde_json::json;

pub(super) fn snapshots(config: &Config, name: &str) -> Answer {
    let v = open_vault(config, name)?;
    let snaps = v.snapshots(&SnapshotFilter::default())?;
    let holds: std::collections::HashSet<_> = v.holds()?.into_iter().map(|h| h.snapshot).collect();
    let out = snaps
        .into_iter()
        .map(|(id, s)| {
            let mut j = serde_json::to_value(&s).map_err(ApiError::internal)?;
            j["id"] = json!(id.to_hex());
            j["short_id"] = json!(id.short());
            j["held"] = json!(holds.contains(&id));
            if let Some(name) = crate::runner::tagged_source(&s.tags) {
                j["source_name"] = json!(name);
            }
            view::<SnapshotView>(j)
        })
        .collect::<Result<Vec<_>, _>>()?;
    ok(out)
}

/// The entries of one directory of a snapshot (what `coffer ls` walks),
/// for the dashboard's snapshot browser.
pub(super) fn snapshot_files(config: &Config, vault: &str, snapshot: &str, path: &str) -> Answer {
    let v = open_vault(config, vault)?;
    let (id, snap) = v.find_snapshot(snapshot, &SnapshotFilter::default())?;
    let index = v.load_index()?;
    let dir = path.trim_end_matches('/');
    let tree = match v.find_node(&index, &snap.tree, dir)? {
        None => snap.tree,
        Some(n) => n.subtree.ok_or_else(|| {
            ApiError::bad(format!(
                "{path} in snapshot {} is not a directory",
                id.short()
            ))
        })?,
    };
    let entries: Vec<FileEntry> = v
        .load_tree(&index, &tree)?
        .nodes
        .iter()
        .map(|n| FileEntry {
            name: n.display_name().to_string(),
            path: format!("{dir}/{}", n.display_name()),
            kind: format!("{:?}", n.kind).to_lowercase(),
            size: n.size,
            mode: format!("{:o}", n.mode),
            user: n.user.clone(),
            group: n.group.clone(),
            mtime: jiff::Timestamp::from_second(n.mtime.secs)
                .ok()
                .map(|t| t.to_string()),
        })
        .collect();
    ok(SnapshotFiles {
        snapshot: id.to_hex(),
        path: if dir.is_empty() { "/" } else { dir }.to_string(),
        entries,
    })
}
