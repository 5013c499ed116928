//! `coffer init`: creates a vault.

use anyhow::Result;
use serde_json::json;

use crate::args::GlobalArgs;
use crate::context;

/// `coffer init`.
pub fn init(g: &GlobalArgs, label: &str) -> Result<u8> {
    let (vault, key) = context::init(g, label, !g.json && !g.quiet)?;
    if g.json {
        println!(
            "{}",
            json!({"vault": vault.backend().location(), "id": vault.config().id, "key_file": key})
        );
    }
    Ok(0)
}
