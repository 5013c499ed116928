//! `coffer diff`: what changed between two snapshots.

use anyhow::Result;
use coffer_core::SnapshotFilter;
use serde_json::json;

use crate::args::GlobalArgs;
use crate::context;

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
