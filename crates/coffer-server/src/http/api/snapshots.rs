//! The snapshots of a vault: `GET /vaults/{vault}/snapshots` (each with
//! whether a legal hold keeps it) and
//! `GET /vaults/{vault}/snapshots/{snapshot}/files` (one directory of a
//! snapshot, for the dashboard's snapshot browser).

use crate::config::Config;
use crate::http::api::respond::{core_error, ok, open_vault, Answer, ApiError};
use coffer_core::SnapshotFilter;
use serde_json::{json, Value};

pub(super) fn snapshots(config: &Config, name: &str) -> Answer {
    let v = open_vault(config, name)?;
    let snaps = v
        .snapshots(&SnapshotFilter::default())
        .map_err(core_error)?;
    let holds: std::collections::HashSet<_> = v
        .holds()
        .map_err(core_error)?
        .into_iter()
        .map(|h| h.snapshot)
        .collect();
    ok(snaps
        .into_iter()
        .map(|(id, s)| {
            let mut j = serde_json::to_value(&s).unwrap_or(Value::Null);
            j["id"] = json!(id.to_hex());
            j["short_id"] = json!(id.short());
            j["held"] = json!(holds.contains(&id));
            j
        })
        .collect::<Vec<_>>())
}

/// The entries of one directory of a snapshot (what `coffer ls` walks),
/// for the dashboard's snapshot browser.
pub(super) fn snapshot_files(config: &Config, vault: &str, snapshot: &str, path: &str) -> Answer {
    let v = open_vault(config, vault)?;
    let (id, snap) = v
        .find_snapshot(snapshot, &SnapshotFilter::default())
        .map_err(core_error)?;
    let index = v.load_index().map_err(core_error)?;
    let dir = path.trim_end_matches('/');
    let tree = match v.find_node(&index, &snap.tree, dir).map_err(core_error)? {
        None => snap.tree,
        Some(n) => n.subtree.ok_or_else(|| {
            ApiError::bad(format!(
                "{path} in snapshot {} is not a directory",
                id.short()
            ))
        })?,
    };
    let entries: Vec<Value> = v
        .load_tree(&index, &tree)
        .map_err(core_error)?
        .nodes
        .iter()
        .map(|n| {
            json!({
                "name": n.display_name(),
                "path": format!("{dir}/{}", n.display_name()),
                "type": format!("{:?}", n.kind).to_lowercase(),
                "size": n.size,
                "mode": format!("{:o}", n.mode),
                "user": n.user,
                "group": n.group,
                "mtime": jiff::Timestamp::from_second(n.mtime.secs).ok().map(|t| t.to_string()),
            })
        })
        .collect();
    ok(
        json!({"snapshot": id.to_hex(), "path": if dir.is_empty() { "/" } else { dir }, "entries": entries}),
    )
}
