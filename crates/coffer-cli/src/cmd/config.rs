//! `coffer config …`: the daemon's configuration file.

use anyhow::Result;
use clap::Subcommand;
use coffer_server::config::{Config, ConfigError, KeySource};
use coffer_server::preflight::{self, Check};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::args::GlobalArgs;
use crate::context::config_path;

/// `coffer config` subcommands.
#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file: print every problem as file:line:column (exit 2), or a summary with each rule's next run; warn about what fails at run time here (a key file that cannot be read, a password variable not set)
    Check {
        /// The file (default: --config, COFFER_CONFIG, /etc/coffer/coffer.toml for root, else $XDG_CONFIG_HOME/coffer/coffer.toml)
        file: Option<PathBuf>,
        /// Also try every vault (opened with its key), database source (connected to, its client tool's version checked) and email or webhook sink (connected to, nothing sent), in parallel; exit 1 if one fails
        #[arg(long)]
        connect: bool,
        /// With --connect: the time limit of each check (default 20s)
        #[arg(long, value_parser = parse_timeout, requires = "connect")]
        timeout: Option<Duration>,
    },
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("`{s}` is not a duration such as 20s or 1m: {e}"))?;
    Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{s}`: the time limit must be longer than zero"))
}

/// Runs a `coffer config` subcommand; returns the exit code.
pub fn run(g: &GlobalArgs, cmd: ConfigCmd) -> Result<u8> {
    match cmd {
        ConfigCmd::Check {
            file,
            connect,
            timeout,
        } => check(
            g,
            &config_path(g, file.as_deref()),
            connect.then(|| timeout.unwrap_or(preflight::DEFAULT_TIMEOUT)),
        ),
    }
}

/// `file:line:column: warning: message`.
fn warning_line(w: &ConfigError) -> String {
    match (w.line, w.column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}: warning: {}", w.file.display(), w.message),
        _ => format!("{}: warning: {}", w.file.display(), w.message),
    }
}

/// One line of a check: `ok   vault "main" (url): opened, 3 snapshots`.
fn check_line(c: &Check) -> String {
    format!(
        "{:<4} {} \"{}\" ({}): {}",
        if c.ok { "ok" } else { "FAIL" },
        c.subject.as_str(),
        c.name,
        c.target,
        c.detail
    )
}

fn check(g: &GlobalArgs, path: &Path, connect: Option<Duration>) -> Result<u8> {
    let checked = Config::check(path);
    let warnings = checked.warnings;
    let config = match checked.config {
        Ok(c) => c,
        Err(errors) => {
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "file": path,
                        "valid": false,
                        "errors": errors.0,
                        "warnings": warnings,
                    }))?
                );
            }
            for e in &errors.0 {
                eprintln!("{e}");
            }
            for w in &warnings {
                eprintln!("{}", warning_line(w));
            }
            eprintln!(
                "{}: {}; nothing runs until the file is fixed",
                path.display(),
                crate::output::count(errors.0.len() as u64, "problem")
            );
            return Ok(2);
        }
    };
    if !g.json {
        for w in &warnings {
            eprintln!("{}", warning_line(w));
        }
    }
    let checks = connect.map(|timeout| {
        if !g.json && !g.quiet {
            eprintln!(
                "trying every vault, source and sink (at most {} each) …",
                humantime_secs(timeout)
            );
        }
        preflight::connect(&config, timeout)
    });
    let failed = checks
        .as_ref()
        .map_or(0, |c| c.iter().filter(|c| !c.ok).count());
    let code = if failed > 0 { 1 } else { 0 };
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
            .map(|s| {
                let mut v = json!({"name": s.name, "kind": s.kind, "tags": s.tags});
                if let Some(m) = s.method() {
                    v["method"] = m.into();
                }
                if let Some(f) = s.files() {
                    v["backup_type"] = f.backup_type.as_str().into();
                }
                v
            })
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
                            "tiers": r.tiers.iter().map(|t| json!({"after_days": t.after_days, "vault": t.vault, "retention": t.retention})).collect::<Vec<_>>(),
                            "copy_to": r.copy_to.iter().map(|c| json!({"vault": c.vault, "retention": c.retention})).collect::<Vec<_>>(),
                            "pg_backup_type": r.pg_backup_type.map(|t| t.as_str()),
                            "next_run": next.as_ref().map(|z| z.timestamp().to_string()),
                        })
                    })
                    .collect();
                json!({"name": p.name, "rules": rules})
            })
            .collect();
        let mut doc = json!({
            "file": path,
            "valid": true,
            "state_dir": config.state_dir,
            "vaults": vaults,
            "sources": sources,
            "plans": plans,
            "warnings": warnings,
        });
        if let Some(c) = &checks {
            doc["checks"] = serde_json::to_value(c)?;
            doc["checks_failed"] = failed.into();
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(code);
    }
    if g.quiet {
        for c in checks.iter().flatten().filter(|c| !c.ok) {
            eprintln!("{}", check_line(c));
        }
        return Ok(code);
    }
    match warnings.len() {
        0 => println!("{}: valid", path.display()),
        n => println!(
            "{}: valid, with {} (above: what fails at run time as things are here)",
            path.display(),
            crate::output::count(n as u64, "warning")
        ),
    }
    println!("state directory: {}", config.state_dir.display());
    println!("\nvaults ({}):", config.vaults.len());
    for v in &config.vaults {
        let tier = v.tier.name();
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
        let how = match (s.method(), s.files()) {
            (_, Some(f)) => format!(", method files, {}", f.backup_type.as_str()),
            (Some(m), None) => format!(", method {m}"),
            _ => String::new(),
        };
        println!(
            "  {:<12} {}{how}{tags}",
            s.name,
            kind.as_str().unwrap_or("")
        );
    }
    println!("\nplans ({}), rules ({}):", config.plans.len(), rules.len());
    for (r, next) in &rules {
        println!(
            "  {}: {} in {} -> vault {} ({}){}",
            r.id(),
            r.schedule,
            r.timezone_name,
            r.vault,
            r.sources.join(", "),
            r.pg_backup_type
                .map(|t| format!(", pg_backup_type {}", t.as_str()))
                .unwrap_or_default()
        );
        match next {
            Some(z) => println!("    next run: {}", z.strftime("%Y-%m-%d %H:%M %Z (%:z)")),
            None => println!("    next run: never (the schedule's years are past)"),
        }
    }
    if let Some(checks) = &checks {
        println!("\nchecks ({}):", checks.len());
        for c in checks {
            println!("{}", check_line(c));
        }
        if failed > 0 {
            eprintln!(
                "{}: {failed} of {} checks failed",
                path.display(),
                checks.len()
            );
        }
    }
    Ok(code)
}

/// `20s`, `1m 30s`.
fn humantime_secs(d: Duration) -> String {
    jiff::SignedDuration::try_from(d)
        .map(|s| format!("{s:#}"))
        .unwrap_or_else(|_| format!("{}s", d.as_secs()))
}
