//! `coffer snapshots`: lists the snapshots of a vault.

use anyhow::Result;
use serde_json::json;

use crate::args::FilterArgs;
use crate::args::GlobalArgs;
use crate::context;

/// `coffer snapshots`.
pub fn snapshots(g: &GlobalArgs, f: &FilterArgs) -> Result<u8> {
    let vault = context::open(g)?;
    let snaps = vault.snapshots(&f.filter())?;
    if g.json {
        let v: Vec<_> = snaps
            .iter()
            .map(|(id, s)| {
                let mut j = serde_json::to_value(s).unwrap();
                j["id"] = json!(id.to_hex());
                j["short_id"] = json!(id.short());
                j
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:<8}  {:<25}  {:<12}  {:<12}  paths",
            "id", "time", "host", "tags"
        );
        for (id, s) in &snaps {
            println!(
                "{:<8}  {:<25}  {:<12}  {:<12}  {}",
                id.short(),
                s.timestamp().strftime("%Y-%m-%d %H:%M:%S UTC"),
                s.hostname,
                s.tags.join(","),
                s.paths.join(" ")
            );
        }
        println!("{} snapshots", snaps.len());
    }
    Ok(0)
}
