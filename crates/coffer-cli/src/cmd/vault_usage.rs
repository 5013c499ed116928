//! `coffer vault usage`: each vault's bytes by storage class, the share the
//! kept snapshots reference, and a monthly cost estimate from the
//! configuration's `[prices]` (coffer-server's [`coffer_server::usage`]
//! computes it; this file only picks the vaults and prints).
//!
//! Which vaults: `--vault-name NAME` (or the positional VAULT naming one)
//! is a vault of the configuration; `--vault`/COFFER_VAULT (or a positional
//! VAULT that is a location) is that vault alone, unlocked as for other
//! commands; neither: every vault of the configuration when there is one
//! (`--config`, COFFER_CONFIG, or the default file), else the default
//! vault. Prices come from the configuration when there is one, else the
//! defaults.

use anyhow::Result;
use clap::Args;
use coffer_core::Progress;
use coffer_server::config::{Config, PriceTable};
use coffer_server::usage::{self, PriceNote, VaultUsage};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

use crate::args::GlobalArgs;
use crate::context;
use crate::error::UsageError;
use crate::output::{count, human, table};
use crate::progress::{ProgressView, Work};

/// `coffer vault usage`.
#[derive(Args)]
pub struct UsageArgs {
    /// A vault of the configuration file by name, or (not one of its names) a vault as --vault takes (default: every vault of the configuration; without one, --vault or the default vault)
    #[arg(id = "vault_name", value_name = "VAULT")]
    vault: Option<String>,
    /// A vault of the configuration file, by name
    #[arg(
        long = "vault-name",
        id = "config_vault",
        value_name = "NAME",
        conflicts_with = "vault_name"
    )]
    vault_name: Option<String>,
    /// Configuration file with the vaults and the [prices] table (default: /etc/coffer/coffer.toml for root, else $XDG_CONFIG_HOME/coffer/coffer.toml)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// What to measure.
enum Which {
    /// Vaults of the configuration, by name.
    Configured(Box<Config>, Vec<String>),
    /// One vault as the vault options name it, priced by `PriceTable`.
    Direct(GlobalArgs, PriceTable),
}

/// Whether a positional VAULT is a location rather than a name.
fn is_location(v: &str) -> bool {
    v.contains("://") || v.contains('/') || v.starts_with('.')
}

fn not_configured(config: &Config, name: &str) -> anyhow::Error {
    let known: Vec<&str> = config.vaults.iter().map(|v| v.name.as_str()).collect();
    UsageError(format!(
        "vault `{name}` is not in {} (vaults: {}); give a vault name of the configuration, or --vault DIR|s3://… with its key",
        config.path.display(),
        if known.is_empty() { "none".into() } else { known.join(", ") }
    ))
    .into()
}

fn which(g: &GlobalArgs, a: UsageArgs) -> Result<Which> {
    // `--config` of this command is read into `g` by the parser.
    let _ = a.config;
    let have_config = g.config.is_some() || context::config_path(g, None).exists();
    if let Some(name) = a.vault_name {
        let config = context::load_config(g)?;
        if config.vault(&name).is_none() {
            return Err(not_configured(&config, &name));
        }
        return Ok(Which::Configured(Box::new(config), vec![name]));
    }
    let config = if have_config {
        Some(context::load_config(g)?)
    } else {
        None
    };
    let prices = config
        .as_ref()
        .map(|c| c.prices.clone())
        .unwrap_or_default();
    match (a.vault, config) {
        (Some(v), Some(config)) if config.vault(&v).is_some() => {
            Ok(Which::Configured(Box::new(config), vec![v]))
        }
        (Some(v), Some(config)) if !is_location(&v) => Err(not_configured(&config, &v)),
        (Some(v), _) => Ok(Which::Direct(context::with_vault(g, Some(v)), prices)),
        (None, Some(config)) if g.vault.is_none() && !config.vaults.is_empty() => {
            let names = config.vaults.iter().map(|v| v.name.clone()).collect();
            Ok(Which::Configured(Box::new(config), names))
        }
        (None, _) => Ok(Which::Direct(g.clone(), prices)),
    }
}

/// Runs `coffer vault usage`.
pub fn run(g: &GlobalArgs, a: UsageArgs) -> Result<u8> {
    let which = which(g, a)?;
    let mut done: Vec<VaultUsage> = Vec::new();
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    let prices = match which {
        Which::Configured(config, names) => {
            for name in names {
                let r = measured(g, &name, |p| {
                    usage::measure_configured(&config, &name, p).map_err(anyhow::Error::from)
                });
                match r {
                    Ok(u) => done.push(u),
                    Err(e) => failed.push((name, e)),
                }
            }
            config.prices
        }
        Which::Direct(g2, prices) => {
            let t = context::target(&g2);
            let name = t.name.clone().unwrap_or_else(|| t.location.clone());
            let vault = context::open(&g2)?;
            let u = measured(g, &name, |p| {
                usage::measure(&name, &vault, &prices, p).map_err(anyhow::Error::from)
            })?;
            done.push(u);
            prices
        }
    };
    print(g, &done, &failed, &prices)?;
    match failed.len() {
        0 => Ok(0),
        // One vault asked for: its error as any command's.
        _ if done.is_empty() && failed.len() == 1 && !g.json => Err(failed.pop().expect("one").1),
        _ => {
            let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
            Err(crate::audit::Reported {
                code: 1,
                reason: format!("the usage of {} could not be measured", names.join(", ")),
            }
            .into())
        }
    }
}

/// Runs `f` with a progress line naming the vault.
fn measured(
    g: &GlobalArgs,
    name: &str,
    f: impl FnOnce(&Progress) -> Result<VaultUsage>,
) -> Result<VaultUsage> {
    let p = Arc::new(Progress::default());
    p.set_part(coffer_core::progress::Part {
        what: format!("vault {name}"),
        ..Default::default()
    });
    let view = ProgressView::start(g, p.clone(), Work::Usage);
    let r = f(&p);
    view.finish();
    r
}

/// Dollars for people: `$0`, `<$0.0001`, `$0.0042`, `$12.30`.
fn usd(x: f64) -> String {
    if x == 0.0 {
        "$0".into()
    } else if x < 0.0001 {
        "<$0.0001".into()
    } else if x < 1.0 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn print(
    g: &GlobalArgs,
    done: &[VaultUsage],
    failed: &[(String, anyhow::Error)],
    prices: &PriceTable,
) -> Result<()> {
    let note = PriceNote::of(prices);
    let total = usage::total(done);
    if g.json {
        let errors: Vec<serde_json::Value> = failed
            .iter()
            .map(|(n, e)| json!({"vault": n, "error": crate::error::message(e)}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "vaults": done,
                "errors": errors,
                "total": total,
                "prices": note,
            }))?
        );
        return Ok(());
    }
    for (n, e) in failed {
        eprintln!("error: vault {n}: {}", crate::error::message(e));
    }
    if g.quiet {
        return Ok(());
    }
    for (i, v) in done.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let at = if v.vault == v.location {
            String::new()
        } else {
            format!(" ({})", v.location)
        };
        println!(
            "vault {}{at}: {}, {} in {}, {} referenced by kept snapshots, {}/month",
            v.vault,
            count(v.snapshots, "snapshot"),
            human(v.bytes),
            count(v.objects, "object"),
            percent(v.referenced_share),
            usd(v.usd_per_month)
        );
        let rows: Vec<Vec<String>> = v
            .classes
            .iter()
            .map(|c| {
                vec![
                    c.class.clone(),
                    c.objects.to_string(),
                    human(c.bytes),
                    percent(c.referenced_share),
                    c.usd_per_gb_month
                        .map_or("unpriced".into(), |p| format!("${p}")),
                    c.usd_per_month.map_or("-".into(), usd),
                ]
            })
            .collect();
        for l in table(
            &[
                "class",
                "objects",
                "bytes",
                "referenced",
                "$/GB-month",
                "$/month",
            ],
            &rows,
        ) {
            println!("  {l}");
        }
        let p = &v.packs;
        let mut parts = Vec::new();
        if p.unreferenced_bytes > 0 {
            parts.push(format!(
                "{} in {} no snapshot references (freed by the next `coffer prune`)",
                human(p.unreferenced_bytes),
                count(p.unreferenced_packs, "pack")
            ));
        }
        if p.partly_used_waste_bytes > 0 {
            parts.push(format!(
                "{} of unused blobs and headers inside packs in use (unused blobs go when prune repacks)",
                human(p.partly_used_waste_bytes)
            ));
        }
        if !parts.is_empty() {
            println!(
                "  packs: {} in {}; {}",
                human(p.bytes),
                count(p.packs, "pack"),
                parts.join(", ")
            );
        }
        if !v.unpriced_classes.is_empty() {
            println!(
                "  not priced: {} (set a price in [prices] of the configuration)",
                v.unpriced_classes.join(", ")
            );
        }
        for w in &v.warnings {
            println!("  warning: {w}");
        }
    }
    if done.len() > 1 {
        println!();
        println!(
            "total: {}, {} in {}, {} referenced, {}/month",
            count(done.len() as u64, "vault"),
            human(total.bytes),
            count(total.objects, "object"),
            percent(total.referenced_share),
            usd(total.usd_per_month)
        );
    }
    if !done.is_empty() {
        let over = if note.overridden.is_empty() {
            "no price overridden".to_string()
        } else {
            format!("overridden by [prices]: {}", note.overridden.join(", "))
        };
        println!(
            "prices: USD per GB-month (1 GB = 2^30 bytes), storage only; defaults are {}, taken {} ({over})",
            note.source, note.taken
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_keep_small_costs_visible() {
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(0.000_42), "$0.0004");
        assert_eq!(usd(0.000_000_1), "<$0.0001");
        assert_eq!(usd(12.3), "$12.30");
        assert_eq!(percent(0.875), "88%");
    }
}
