//! `coffer snapshot hold|release|holds`: legal holds on snapshots (a held
//! snapshot cannot be forgotten until released). "Now" is
//! [`crate::clock::now`].

use anyhow::Result;
use clap::Subcommand;
use coffer_core::{Id, SnapshotFilter, Vault};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::clock::now;
use crate::context;
use crate::context::who;

/// `coffer snapshot …`.
#[derive(Subcommand)]
pub enum SnapshotCmd {
    /// Place a legal hold on a snapshot: it cannot be forgotten until released
    Hold {
        /// Snapshot id prefix or `latest`
        id: String,
        /// Why (recorded with the hold)
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Release a snapshot's legal hold
    Release {
        /// Snapshot id prefix or `latest`
        id: String,
    },
    /// List legal holds
    Holds,
}

/// Resolves a snapshot for hold/release; a full 64-hex id is taken as is
/// when the snapshot is gone, so a stale hold can still be released.
fn resolve(vault: &Vault, name: &str) -> Result<Id> {
    match vault.find_snapshot(name, &SnapshotFilter::default()) {
        Ok((id, _)) => Ok(id),
        Err(e) => match Id::parse(&name.to_ascii_lowercase()) {
            Some(id) if e.kind() == coffer_core::ErrorKind::NotFound => Ok(id),
            _ => Err(e.into()),
        },
    }
}

fn hold_json(h: &coffer_core::HoldRecord) -> serde_json::Value {
    json!({"snapshot": h.snapshot.to_hex(), "short_id": h.snapshot.short(), "reason": h.reason, "who": h.who, "created": h.created})
}

/// `coffer snapshot …`.
pub fn snapshot(g: &GlobalArgs, c: SnapshotCmd) -> Result<u8> {
    let v = context::open(g)?;
    match c {
        SnapshotCmd::Hold { id, reason } => {
            let now = now()?;
            let (sid, _) = v.find_snapshot(&id, &SnapshotFilter::default())?;
            let (h, new) = v.hold_snapshot(&sid, &reason, &who(), now)?;
            if g.json {
                let mut j = hold_json(&h);
                j["new"] = json!(new);
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else if !g.quiet {
                if new {
                    println!(
                        "placed a legal hold on snapshot {}: it cannot be forgotten until `coffer snapshot release {}`",
                        sid.short(),
                        sid.short()
                    );
                } else {
                    println!(
                        "snapshot {} is already held (since {} by {}{})",
                        sid.short(),
                        h.created,
                        h.who,
                        if h.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", h.reason)
                        }
                    );
                }
            }
        }
        SnapshotCmd::Release { id } => {
            let sid = resolve(&v, &id)?;
            let h = v.release_snapshot(&sid)?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&hold_json(&h))?);
            } else if !g.quiet {
                println!(
                    "released the legal hold on snapshot {} (placed {} by {})",
                    sid.short(),
                    h.created,
                    h.who
                );
            }
        }
        SnapshotCmd::Holds => {
            let holds = v.holds()?;
            if g.json {
                let l: Vec<_> = holds.iter().map(hold_json).collect();
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                for h in &holds {
                    println!(
                        "{}  {}  {}  {}",
                        h.snapshot.short(),
                        h.created,
                        h.who,
                        h.reason
                    );
                }
                println!("{} legal holds", holds.len());
            }
        }
    }
    Ok(0)
}
