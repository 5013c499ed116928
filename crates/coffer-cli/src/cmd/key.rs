//! `coffer key add|list|remove|rotate`: the vault's key slots and key epochs.

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

use crate::args::GlobalArgs;
use crate::context;

/// `coffer key …`.
#[derive(Subcommand)]
pub enum KeyCmd {
    /// Add a key slot (new key file or password)
    Add {
        /// Key file for the new slot (created if missing)
        #[arg(long)]
        new_key_file: Option<PathBuf>,
        /// File holding the new slot's password, less exactly one trailing newline, as --password-file reads it (or COFFER_NEW_PASSWORD)
        #[arg(long)]
        new_password_file: Option<PathBuf>,
        /// A label for the slot
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List key slots
    List,
    /// Remove a key slot (not the last one)
    Remove {
        /// Slot id prefix
        id: String,
    },
    /// Start a new key epoch, revoking every slot not kept
    ///
    /// Everything written from now on is sealed under a new key that only
    /// the kept slots open. The slot that opened the
    /// vault is kept, and so is each slot opened by a --keep-* secret; every
    /// other slot is removed, and whoever held it (or a copy of it) reads
    /// only what was written before. Refused while a backup or prune runs.
    Rotate {
        /// Key file of another slot to keep (repeatable)
        #[arg(long)]
        keep_key_file: Vec<PathBuf>,
        /// Password file of another slot to keep, read as --password-file is (repeatable)
        #[arg(long)]
        keep_password_file: Vec<PathBuf>,
    },
}

/// `coffer key …`.
pub fn key(g: &GlobalArgs, k: KeyCmd) -> Result<u8> {
    if let KeyCmd::Rotate {
        keep_key_file,
        keep_password_file,
    } = &k
    {
        return key_rotate(g, keep_key_file, keep_password_file);
    }
    let vault = context::open(g)?;
    match k {
        KeyCmd::Add {
            new_key_file,
            new_password_file,
            label,
        } => {
            let (secret, created) =
                context::new_secret(new_key_file.as_deref(), new_password_file.as_deref())?;
            let id = vault.add_key(&secret, &label, None)?;
            if g.json {
                println!("{}", json!({"id": id.to_hex(), "key_file": created}));
            } else {
                if let Some(k) = created {
                    println!("created key file {} (mode 0600): keep it safe", k.display());
                }
                println!("added key slot {}", id.short());
            }
        }
        KeyCmd::List => {
            let slots = coffer_core::keys::list_slots(vault.backend().as_ref())?;
            if g.json {
                let v: Vec<_> = slots
                    .iter()
                    .map(|s| json!({"id": s.id.to_hex(), "kind": s.slot.kind, "created": s.slot.created,
                                    "hostname": s.slot.hostname, "label": s.slot.label, "current": s.id == vault.slot(),
                                    "epoch": s.slot.epoch}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let epoch = vault.epoch();
                println!(
                    "key epoch {} since {} (slots of an older epoch read only what was written before it)",
                    epoch.generation, epoch.created
                );
                for s in &slots {
                    println!(
                        "{} {:<9} {:<10} epoch {:<3} {} {} {}",
                        if s.id == vault.slot() { "*" } else { " " },
                        s.id.short(),
                        format!("{:?}", s.slot.kind).to_lowercase(),
                        s.slot.epoch,
                        s.slot.created,
                        s.slot.hostname,
                        s.slot.label
                    );
                }
            }
        }
        KeyCmd::Remove { id } => {
            let removed = coffer_core::keys::remove_slot(vault.backend().as_ref(), &id)?;
            if g.json {
                println!("{}", json!({"removed": removed.to_hex()}));
            } else {
                println!("removed key slot {}", removed.short());
            }
        }
        KeyCmd::Rotate { .. } => unreachable!("handled above"),
    }
    Ok(0)
}

/// `coffer key rotate`: reads every secret to keep before the vault is
/// touched, so that a missing file changes nothing.
fn key_rotate(g: &GlobalArgs, key_files: &[PathBuf], password_files: &[PathBuf]) -> Result<u8> {
    let mut keep = Vec::new();
    for f in key_files {
        keep.push(
            coffer_core::Secret::from_key_file(f)
                .with_context(|| format!("--keep-key-file {}", f.display()))?,
        );
    }
    for f in password_files {
        keep.push(
            coffer_core::Secret::from_password_file(f)
                .with_context(|| format!("--keep-password-file {}", f.display()))?,
        );
    }
    let (vault, opener) = context::open_with_secret(g)?;
    let stats = coffer_core::rotate(
        &vault,
        &coffer_core::RotateOptions {
            opener: &opener,
            keep: &keep,
        },
    )?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(0);
    }
    println!(
        "vault {}: key epoch {} begins (keyring epochs/{}){}",
        vault.backend().location(),
        stats.generation,
        stats.keyring.short(),
        if stats.upgraded_format {
            "; the vault is format 2 now: a coffer that reads only format 1 refuses it"
        } else {
            ""
        }
    );
    let slot = |kind: coffer_core::keys::SlotKind, label: &str| {
        let kind = kind.name();
        match label {
            "" => kind.to_string(),
            l => format!("{kind} `{l}`"),
        }
    };
    for c in &stats.carried {
        println!(
            "kept    {} -> new slot {} ({})",
            c.replaces.short(),
            c.id.short(),
            slot(c.kind, &c.label)
        );
    }
    for r in &stats.revoked {
        println!(
            "revoked {} ({}, added on {})",
            r.id.short(),
            slot(r.kind, &r.label),
            r.hostname
        );
    }
    for d in &stats.damaged {
        eprintln!("warning: {d}; left in place (remove it with `coffer key remove`)");
    }
    Ok(0)
}
