//! `coffer snapshots`: lists the snapshots of a vault.

use anyhow::Result;
use serde_json::json;

use crate::args::FilterArgs;
use crate::args::GlobalArgs;
use crate::context;
use crate::output::{count, table};

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
        let rows: Vec<Vec<String>> = snaps
            .iter()
            .map(|(id, s)| {
                vec![
                    id.short(),
                    s.timestamp().strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    s.hostname.clone(),
                    s.tags.join(","),
                    s.paths.join(" "),
                ]
            })
            .collect();
        for l in table(&["id", "time", "host", "tags", "paths"], &rows) {
            println!("{l}");
        }
        println!("{}", count(snaps.len() as u64, "snapshot"));
    }
    Ok(0)
}
