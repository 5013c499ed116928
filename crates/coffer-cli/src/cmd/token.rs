//! `coffer token`: API tokens of `coffer serve` (create, list, revoke),
//! each creation and revocation recorded in the audit trail by name (never
//! the token) through [`crate::audit::record`].

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use coffer_server::audit::{Action, Outcome};
use coffer_server::auth::{self, Role};
use serde_json::json;
use std::path::PathBuf;

use crate::args::GlobalArgs;
use crate::context::state;
use crate::error::UsageError;

/// `coffer token …`.
#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token for the HTTP API (printed once; only its hash is kept)
    Create {
        /// viewer (reads), operator (also starts jobs), admin (also holds, forget, tokens)
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A unique name (default: ROLE-TIME)
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 90d or 12h (default: no expiry)
        #[arg(long, value_parser = auth::parse_lifetime)]
        expires: Option<std::time::Duration>,
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// List tokens (names, roles, expiry; never the tokens)
    List {
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Revoke a token by name
    Revoke {
        /// The token's name
        name: String,
        /// The daemon's state directory (default: the configuration's state_dir)
        #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
}

fn parse_role(s: &str) -> Result<Role, coffer_server::auth::AuthError> {
    s.parse()
}

/// Runs `coffer token …`.
pub fn run(g: &GlobalArgs, c: TokenCmd) -> Result<u8> {
    let now = crate::clock::now()?;
    match c {
        TokenCmd::Create {
            role,
            name,
            expires,
            state_dir,
        } => {
            let catalog = state(g, state_dir.clone())?
                .open_catalog()
                .context("opening the job catalog")?;
            let name = name.unwrap_or_else(|| format!("{role}-{}", now.as_second()));
            let r = auth::create_token(&catalog, &name, role, expires, now);
            let outcome = match &r {
                Ok(_) => Outcome::Ok,
                Err(e) => Outcome::Error(e.to_string()),
            };
            let target = format!("{name} ({role})");
            crate::audit::record(g, state_dir, Action::TokenCreate, Some(&target), &outcome);
            let (token, rec) = r.map_err(|e| match e {
                auth::AuthError::InvalidInput(m) => UsageError(m).into(),
                coffer_server::auth::AuthError::Catalog(
                    coffer_server::catalog::CatalogError::InvalidInput(m),
                ) => anyhow::Error::from(UsageError(m)),
                e => e.into(),
            })?;
            if g.json {
                let mut j = serde_json::to_value(&rec)?;
                j["token"] = json!(token);
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                println!("{token}");
                if !g.quiet {
                    eprintln!(
                        "created {} token `{}`{}; it is shown only now: store it in a secret manager",
                        rec.role,
                        rec.name,
                        rec.expires_at
                            .map(|e| format!(" (expires {e})"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        TokenCmd::List { state_dir } => {
            let catalog = state(g, state_dir)?
                .open_catalog()
                .context("opening the job catalog")?;
            let tokens = catalog.tokens()?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                for t in &tokens {
                    let status = if t.revoked_at.is_some() {
                        "revoked".to_string()
                    } else if t.expires_at.is_some_and(|e| e <= now) {
                        "expired".to_string()
                    } else {
                        t.expires_at
                            .map(|e| format!("expires {e}"))
                            .unwrap_or_else(|| "no expiry".into())
                    };
                    println!(
                        "{:<24} {:<8} created {}  {}  last used {}",
                        t.name,
                        t.role,
                        t.created_at,
                        status,
                        t.last_used_at
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "never".into())
                    );
                }
                println!("{}", crate::output::count(tokens.len() as u64, "token"));
            }
            Ok(0)
        }
        TokenCmd::Revoke { name, state_dir } => {
            let catalog = state(g, state_dir.clone())?
                .open_catalog()
                .context("opening the job catalog")?;
            let revoked = catalog.token_revoke(&name, now);
            let err =
                format!("no active token named `{name}` (`coffer token list` shows the tokens)");
            let outcome = match &revoked {
                Ok(true) => Outcome::Ok,
                Ok(false) => Outcome::Error(err.clone()),
                Err(e) => Outcome::Error(e.to_string()),
            };
            crate::audit::record(g, state_dir, Action::TokenRevoke, Some(&name), &outcome);
            let revoked = revoked?;
            if !revoked {
                bail!(UsageError(err));
            }
            if g.json {
                println!("{}", json!({"name": name, "revoked": true}));
            } else if !g.quiet {
                println!("revoked token `{name}`");
            }
            Ok(0)
        }
    }
}
