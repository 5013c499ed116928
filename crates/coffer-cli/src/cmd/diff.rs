//! `coffer diff`: what changed between two snapshots.

use anyhow::Result;
use coffer_core::SnapshotFilter;
use serde_json::json;

use crate::args::GlobalArgs;
use crate::context;

/// The long help of `coffer diff`: what its output means (the markers are
/// coffer-core's [`coffer_core::Change`] constants).
pub const LONG_ABOUT: &str = "\
Show what changed from snapshot A to snapshot B: one line per entry that
changed, its marker and its path, then a count.

Markers:
  +  added: in B only (each entry below an added directory too)
  -  removed: in A only (each entry below a removed directory too)
  M  modified: a file's content, a symlink's target or a device's number
  T  type changed: e.g. a file became a directory or a symlink
  U  metadata only: mode, owner, group, extended attributes, or a file's
     modification time

Only what changed is listed. A directory is listed for a change of its own
(type, mode, owner, group, extended attributes): not because an entry inside
it changed, nor for its modification time, which moves whenever an entry is
added or removed in it (that entry's own line shows it).

With --json: {\"from\": ID, \"to\": ID, \"changes\": [{\"change\": MARKER, \"path\": PATH}, ...]}";

/// `coffer diff A B`.
pub fn diff(g: &GlobalArgs, a: &str, b: &str) -> Result<u8> {
    let vault = context::open(g)?;
    let (ia, sa) = vault.find_snapshot(a, &SnapshotFilter::default())?;
    let (ib, sb) = vault.find_snapshot(b, &SnapshotFilter::default())?;
    let index = vault.load_index()?;
    let changes = coffer_core::diff(&vault, &index, &sa.tree, &sb.tree)?;
    if g.json {
        println!(
            "{}",
            json!({"from": ia.to_hex(), "to": ib.to_hex(), "changes": changes})
        );
    } else {
        for c in &changes {
            println!("{}  {}", c.change, c.path);
        }
        println!(
            "{} from {} to {}",
            crate::output::count(changes.len() as u64, "change"),
            ia.short(),
            ib.short()
        );
    }
    Ok(0)
}
