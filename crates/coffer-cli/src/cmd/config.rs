//! `coffer config …`: the daemon's configuration file.

use anyhow::Result;
use clap::Subcommand;
use coffer_server::config::{Config, KeySource, Tier};
use serde_json::json;
use std::path::{Path, PathBuf};

use crate::args::GlobalArgs;
use crate::context::config_path;

/// `coffer config` subcommands.
#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file: print every problem as file:line:column (exit 2), or a summary with each rule's next run
    Check {
        /// The file (default: --config, COFFER_CONFIG, /etc/coffer/coffer.toml for root, else $XDG_CONFIG_HOME/coffer/coffer.toml)
        file: Option<PathBuf>,
    },
}

/// Runs a `coffer config` subcommand; returns the exit code.
pub fn run(g: &GlobalArgs, cmd: ConfigCmd) -> Result<u8> {
    match cmd {
        ConfigCmd::Check { file } => check(g, &config_path(g, file.as_deref())),
    }
}

fn check(g: &GlobalArgs, path: &Path) -> Result<u8> {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "file": path,
                        "valid": false,
                        "errors": errors.0,
                    }))?
                );
            }
            for e in &errors.0 {
                eprintln!("{e}");
            }
            let n = errors.0.len();
            eprintln!(
                "{}: {n} problem{}; nothing runs until the file is fixed",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            return Ok(2);
        }
    };
    let now = jiff::Timestamp::now();
    let rules: Vec<_> = config
        .rules()
        .map(|r| {
            let next = r
                .schedule
                .next_after(now, &r.timezone)
                .map(|t| t.to_zoned(r.timezone.clone()));
            (r, next)
        })
        .collect();
    if g.json {
        let vaults: Vec<_> = config
            .vaults
            .iter()
            .map(|v| {
                json!({
                    "name": v.name,
                    "url": v.url,
                    // Where the key comes from, never the key.
                    "key": match &v.key {
                        KeySource::KeyFile(p) => json!({"key_file": p}),
                        KeySource::PasswordFile(p) => json!({"password_file": p}),
                        KeySource::PasswordEnv(e) => json!({"password_env": e}),
                    },
                    "tier": v.tier,
                    "storage_class": v.storage_class,
                    "lock": v.lock,
                })
            })
            .collect();
        let sources: Vec<_> = config
            .sources
            .iter()
            .map(|s| json!({"name": s.name, "kind": s.kind, "tags": s.tags}))
            .collect();
        let plans: Vec<_> = config
            .plans
            .iter()
            .map(|p| {
                let rules: Vec<_> = rules
                    .iter()
                    .filter(|(r, _)| r.plan == p.name)
                    .map(|(r, next)| {
                        json!({
                            "id": r.id(),
                            "name": r.name,
                            "vault": r.vault,
                            "sources": r.sources,
                            "schedule": r.schedule.to_string(),
                            "timezone": r.timezone_name,
                            "start_window_seconds": r.start_window.as_secs(),
                            "completion_window_seconds": r.completion_window.as_secs(),
                            "retention": r.retention,
                            "cold_after_days": r.cold_after_days,
                            "cold_vault": r.cold_vault,
                            "copy_to": r.copy_to.iter().map(|c| json!({"vault": c.vault, "retention": c.retention})).collect::<Vec<_>>(),
                            "next_run": next.as_ref().map(|z| z.timestamp().to_string()),
                        })
                    })
                    .collect();
                json!({"name": p.name, "rules": rules})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": path,
                "valid": true,
                "state_dir": config.state_dir,
                "vaults": vaults,
                "sources": sources,
                "plans": plans,
            }))?
        );
        return Ok(0);
    }
    if g.quiet {
        return Ok(0);
    }
    println!("{}: valid", path.display());
    println!("state directory: {}", config.state_dir.display());
    println!("\nvaults ({}):", config.vaults.len());
    for v in &config.vaults {
        let tier = match v.tier {
            Tier::Hot => "hot",
            Tier::Cold => "cold",
        };
        let lock = v
            .lock
            .as_ref()
            .map(|l| {
                format!(
                    ", lock {}-{} days ({})",
                    l.min_retention_days,
                    l.max_retention_days,
                    match l.mode() {
                        coffer_core::LockMode::Governance => "governance",
                        coffer_core::LockMode::Compliance => "compliance",
                    }
                )
            })
            .unwrap_or_default();
        println!("  {:<12} {} ({tier}{lock})", v.name, v.url);
    }
    println!("\nsources ({}):", config.sources.len());
    for s in &config.sources {
        let kind = serde_json::to_value(s.kind)?;
        let tags = if s.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.tags.join(", "))
        };
        println!("  {:<12} {}{tags}", s.name, kind.as_str().unwrap_or(""));
    }
    println!("\nplans ({}), rules ({}):", config.plans.len(), rules.len());
    for (r, next) in &rules {
        println!(
            "  {}: {} in {} -> vault {} ({})",
            r.id(),
            r.schedule,
            r.timezone_name,
            r.vault,
            r.sources.join(", ")
        );
        match next {
            Some(z) => println!("    next run: {}", z.strftime("%Y-%m-%d %H:%M %Z (%:z)")),
            None => println!("    next run: never (the schedule's years are past)"),
        }
    }
    Ok(0)
}
