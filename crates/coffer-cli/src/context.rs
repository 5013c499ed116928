//! The context a command runs in: which vault it means and how to unlock
//! it, which configuration file and state directory, and the job catalog
//! there. Every command resolves these through this file, so the rules
//! (flags, then environment, then defaults) are written once.

use anyhow::{bail, Context, Result};
use coffer_core::{Secret, Vault};
use coffer_server::catalog::{Catalog, CatalogError};
use coffer_server::config::{Config, ConfigError};
use coffer_server::state::StateDir;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::args::GlobalArgs;
use crate::error::UsageError;

/// The data directory (`$XDG_DATA_HOME/coffer` or `~/.local/share/coffer`).
pub fn data_dir() -> PathBuf {
    coffer_server::state::xdg_dir("XDG_DATA_HOME", ".local/share")
}

/// A resolved vault location.
pub struct Target {
    /// Storage location string (path or s3 URL).
    pub location: String,
    /// The name, when it is a named local vault (`default`, …).
    pub name: Option<String>,
    /// Whether the user gave no vault at all (the default vault).
    pub is_default: bool,
}

impl Target {
    /// The key file that goes with a named vault.
    pub fn default_key_file(&self) -> Option<PathBuf> {
        self.name
            .as_ref()
            .map(|n| data_dir().join("keys").join(format!("{n}.key")))
    }
}

/// Resolves `--vault`/`COFFER_VAULT`.
pub fn target(g: &GlobalArgs) -> Target {
    match g.vault.as_deref().filter(|v| !v.is_empty()) {
        None => named("default", true),
        Some(v) if v.contains("://") || v.contains('/') || v.starts_with('.') => Target {
            location: v.to_string(),
            name: None,
            is_default: false,
        },
        Some(name) => named(name, false),
    }
}

fn named(name: &str, is_default: bool) -> Target {
    Target {
        location: data_dir()
            .join("vaults")
            .join(name)
            .to_string_lossy()
            .into_owned(),
        name: Some(name.to_string()),
        is_default,
    }
}

/// Reads a password file by the one rule (coffer_core::keys::read_password_file:
/// less one trailing newline); an empty one is a usage error.
fn read_password_file(pf: &Path) -> Result<Secret> {
    Secret::from_password_file(pf).map_err(|e| match e {
        coffer_core::Error::InvalidInput(m) => UsageError(m).into(),
        e => anyhow::Error::new(e).context(format!("reading password file {}", pf.display())),
    })
}

/// The one order a vault's secret is looked for in, whichever vault it is
/// (the one a command works on, or `copy --to`'s): a key file, a password
/// file, the password in the variable `password_var`, then a named vault's
/// own key file if it exists.
fn find_secret(
    key_file: Option<&Path>,
    password_file: Option<&Path>,
    password_var: &str,
    default_key_file: Option<PathBuf>,
) -> Result<Option<Secret>> {
    if let Some(kf) = key_file {
        return Ok(Some(Secret::from_key_file(kf)?));
    }
    if let Some(pf) = password_file {
        return Ok(Some(read_password_file(pf)?));
    }
    if let Some(pw) = std::env::var(password_var).ok().filter(|p| !p.is_empty()) {
        return Ok(Some(Secret::Password(pw)));
    }
    if let Some(kf) = default_key_file.filter(|p| p.exists()) {
        return Ok(Some(Secret::from_key_file(&kf)?));
    }
    Ok(None)
}

/// The secret the user gave, if any.
pub fn secret(g: &GlobalArgs, t: &Target) -> Result<Option<Secret>> {
    find_secret(
        g.key_file.as_deref(),
        g.password_file.as_deref(),
        "COFFER_PASSWORD",
        t.default_key_file(),
    )
}

fn no_secret(t: &Target) -> anyhow::Error {
    UsageError(format!(
        "no secret for vault {}: set COFFER_PASSWORD, --password-file or --key-file (COFFER_KEY_FILE)",
        t.location
    ))
    .into()
}

/// Opens the backend of a target.
pub fn backend(t: &Target) -> Result<Arc<dyn coffer_core::Backend>> {
    Ok(coffer_storage::open_location(&t.location)?)
}

/// Opens an existing vault.
pub fn open(g: &GlobalArgs) -> Result<Vault> {
    Ok(open_with_secret(g)?.0)
}

/// Opens an existing vault and returns the secret that opened it.
pub fn open_with_secret(g: &GlobalArgs) -> Result<(Vault, Secret)> {
    let t = target(g);
    let backend = backend(&t)?;
    let config_exists = Vault::exists(backend.as_ref())?;
    if !config_exists {
        // A location that lost its `config` gets the core's error (what is
        // missing and how to get it back), never advice to init over it.
        return Err(match Vault::missing(backend.as_ref())? {
            coffer_core::Error::NotFound { .. } => coffer_core::Error::NotFound {
                what: format!("vault at {}", t.location),
                hint: ": create it with `coffer init` (or run `coffer backup DIR` for the default vault)"
                    .into(),
            },
            lost => lost,
        }
        .into());
    }
    let secret = secret(g, &t)?.ok_or_else(|| no_secret(&t))?;
    let vault = Vault::open(backend, &secret)?;
    warn_skipped_slots(&vault);
    Ok((vault, secret))
}

/// Warns (on standard error, also with --quiet and --json) of each key slot
/// that was skipped when `vault` was opened: it names the slot, so that it
/// can be removed (`coffer key remove`) or restored.
fn warn_skipped_slots(vault: &Vault) {
    for p in vault.skipped_slots() {
        eprintln!("warning: vault {}: {p}", vault.backend().location());
    }
}

/// Creates a vault. Without a secret, a named vault gets a new key file in
/// the data directory; `--key-file` naming a missing file creates it.
pub fn init(g: &GlobalArgs, label: &str, announce: bool) -> Result<(Vault, Option<PathBuf>)> {
    let t = target(g);
    let backend = backend(&t)?;
    // Before a key file is made: a location that holds a vault, or the
    // objects of one that lost its `config`, is never initialized.
    Vault::check_can_init(backend.as_ref())?;
    let mut created_key = None;
    let secret = match (&g.key_file, secret_without_key_file(g)?) {
        (Some(kf), _) if !kf.exists() => {
            created_key = Some(kf.clone());
            coffer_core::keys::write_new_key_file(kf)?
        }
        (Some(kf), _) => Secret::from_key_file(kf)?,
        (None, Some(s)) => s,
        (None, None) => match t.default_key_file() {
            Some(kf) if kf.exists() => Secret::from_key_file(&kf)?,
            Some(kf) => {
                created_key = Some(kf.clone());
                coffer_core::keys::write_new_key_file(&kf)?
            }
            None => return Err(no_secret(&t)),
        },
    };
    let vault = Vault::init(
        backend,
        &secret,
        &coffer_core::InitOptions {
            label: label.to_string(),
            ..Default::default()
        },
    )?;
    if announce {
        eprintln!("created vault at {}", t.location);
        if let Some(k) = &created_key {
            eprintln!(
                "created key file {} (mode 0600): keep a copy of it somewhere safe; without it the vault cannot be read",
                k.display()
            );
        }
    }
    Ok((vault, created_key))
}

fn secret_without_key_file(g: &GlobalArgs) -> Result<Option<Secret>> {
    let g2 = GlobalArgs {
        key_file: None,
        ..g.clone()
    };
    // A named vault's default key file is handled by the caller.
    secret(
        &g2,
        &Target {
            location: String::new(),
            name: None,
            is_default: false,
        },
    )
}

/// Reads a new secret for `key add`.
pub fn new_secret(
    key_file: Option<&Path>,
    password_file: Option<&Path>,
) -> Result<(Secret, Option<PathBuf>)> {
    if let Some(kf) = key_file {
        if kf.exists() {
            return Ok((Secret::from_key_file(kf)?, None));
        }
        return Ok((
            coffer_core::keys::write_new_key_file(kf)?,
            Some(kf.to_path_buf()),
        ));
    }
    if let Some(pf) = password_file {
        // The same rule as opening with --password-file.
        return Ok((read_password_file(pf)?, None));
    }
    if let Ok(pw) = std::env::var("COFFER_NEW_PASSWORD") {
        if !pw.is_empty() {
            return Ok((Secret::Password(pw), None));
        }
    }
    bail!(UsageError(
        "key add needs the new secret: --new-key-file PATH, --new-password-file PATH or COFFER_NEW_PASSWORD".into()
    ))
}

/// Opens a second, existing vault (`copy --to`): `location` is a directory,
/// an s3:// URL or a local vault name, unlocked by `key_file`, else
/// `password_file`, else `COFFER_TO_PASSWORD`, else a named vault's own key
/// file. The first vault's secret is never tried on it. Creates nothing.
pub fn open_other(
    g: &GlobalArgs,
    location: &str,
    key_file: Option<&Path>,
    password_file: Option<&Path>,
    flags: &str,
) -> Result<Vault> {
    let t = target(&GlobalArgs {
        vault: Some(location.to_string()),
        ..g.clone()
    });
    let backend = backend(&t)?;
    if !Vault::exists(backend.as_ref())? {
        return Err(match Vault::missing(backend.as_ref())? {
            coffer_core::Error::NotFound { .. } => coffer_core::Error::NotFound {
                what: format!("vault at {}", t.location),
                hint: format!(
                    ": create it first with `coffer init --vault {}` (and its own key)",
                    t.location
                ),
            },
            lost => lost,
        }
        .into());
    }
    let secret = match find_secret(
        key_file,
        password_file,
        "COFFER_TO_PASSWORD",
        t.default_key_file(),
    )? {
        Some(s) => s,
        None => bail!(UsageError(format!(
            "no secret for vault {}: give {flags}",
            t.location
        ))),
    };
    match Vault::open(backend, &secret) {
        Err(e) if e.kind() == coffer_core::ErrorKind::WrongKey => bail!(
            "the secret given for vault {} opens none of its key slots: check {flags}",
            t.location
        ),
        r => {
            let vault = r.with_context(|| format!("opening vault {}", t.location))?;
            warn_skipped_slots(&vault);
            Ok(vault)
        }
    }
}

/// The configuration file a command means: `file`, else `--config` /
/// `COFFER_CONFIG`, else the system's or the user's default.
pub fn config_path(g: &GlobalArgs, file: Option<&Path>) -> PathBuf {
    if let Some(f) = file {
        return f.to_path_buf();
    }
    if let Some(f) = g.config.as_ref().filter(|f| !f.as_os_str().is_empty()) {
        return f.clone();
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/etc/coffer/coffer.toml");
    }
    coffer_server::state::xdg_dir("XDG_CONFIG_HOME", ".config").join("coffer.toml")
}

/// Loads the configuration or reports its problems as a usage error (exit 2).
pub fn load_config(g: &GlobalArgs) -> Result<Config> {
    Ok(load_config_checked(g)?.0)
}

/// [`load_config`] with the configuration's warnings (what is valid but
/// fails at run time on this machine: an unreadable key file, an unset
/// `password_env`), for `coffer serve` to log when it starts.
pub fn load_config_checked(g: &GlobalArgs) -> Result<(Config, Vec<ConfigError>)> {
    let path = config_path(g, None);
    let checked = Config::check(&path);
    let config = checked.config.map_err(|errors| {
        let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        anyhow::Error::from(UsageError(format!(
            "{}\n{}: fix the configuration (coffer config check shows every problem)",
            lines.join("\n"),
            path.display()
        )))
    })?;
    Ok((config, checked.warnings))
}

/// The configuration, with `state_dir` overridden by the command's
/// `--state-dir` (or COFFER_STATE_DIR, which clap reads into it) if given:
/// what `serve`, `plan run`, `restore-test`, `verify NAME`, `status` and
/// `report` run with.
pub fn config_with_state_dir(g: &GlobalArgs, state_dir: Option<PathBuf>) -> Result<Config> {
    let mut config = load_config(g)?;
    if let Some(d) = state_dir {
        config.state_dir = d;
    }
    Ok(config)
}

/// The job catalog of `dir`, created if missing.
/// The vault of a command that records a job (`verify`, `prune` of a
/// `--vault`): a usage error stops the command; any other failure to open
/// the vault is the job's to record (it is FAILED with that reason).
pub fn open_for_job(g: &GlobalArgs) -> Result<coffer_server::model::ServerResult<Vault>> {
    match open(g) {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.downcast_ref::<UsageError>().is_some() => Err(e),
        Err(e) => Ok(Err(coffer_server::model::ServerError::new(
            crate::error::kind(&e),
            crate::error::message(&e),
        ))),
    }
}

pub fn open_catalog(dir: &StateDir) -> Result<Catalog> {
    dir.open_catalog().context("opening the job catalog")
}

/// The state directory of a command that reads the catalog (`jobs`,
/// `events`, `verify` of a `--vault`): `dir` (its `--state-dir`, which clap
/// fills from COFFER_STATE_DIR), else an explicitly given configuration's
/// state_dir, else the default.
pub fn resolve_state_dir(g: &GlobalArgs, dir: Option<&Path>) -> Result<StateDir> {
    let from_config = match (dir, &g.config) {
        (None, Some(_)) => Some(load_config(g)?.state_dir),
        _ => None,
    };
    Ok(StateDir::resolve(dir.or(from_config.as_deref())))
}

/// The state directory: --state-dir / COFFER_STATE_DIR, else an explicitly
/// given configuration's, else the default.
pub(crate) fn state(g: &GlobalArgs, dir: Option<PathBuf>) -> Result<StateDir> {
    if let Some(d) = dir.or_else(|| std::env::var_os("COFFER_STATE_DIR").map(PathBuf::from)) {
        return Ok(StateDir::new(d));
    }
    Ok(match &g.config {
        Some(_) => StateDir::new(load_config(g)?.state_dir),
        None => StateDir::resolve(None),
    })
}

/// The catalog of `state` for a listing command (`jobs list`, `events`).
/// `None` when nothing was recorded yet: that is an empty list (printed as
/// `[]` with `--json`), not a failure, with a note of where we looked, in
/// case it is the wrong directory.
pub(crate) fn open_for_listing(
    g: &GlobalArgs,
    state: &StateDir,
) -> Result<Option<coffer_server::catalog::Catalog>> {
    match state.open_existing_catalog() {
        Ok(c) => Ok(Some(c)),
        Err(e @ CatalogError::Missing { .. }) => {
            if g.json {
                println!("[]");
            }
            if !g.quiet {
                eprintln!("note: {e}");
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Who is acting, recorded in lock and hold records.
pub fn who() -> String {
    format!("{}@{}", coffer_sources::username(), coffer_core::hostname())
}

/// A copy of the global options with the positional vault, if given.
pub fn with_vault(g: &GlobalArgs, vault: Option<String>) -> GlobalArgs {
    GlobalArgs {
        vault: vault.or_else(|| g.vault.clone()),
        ..g.clone()
    }
}

/// The configuration (with `state_dir` overridden) and its catalog.
pub fn config_and_catalog(
    g: &GlobalArgs,
    state_dir: Option<PathBuf>,
) -> Result<(Config, Arc<Catalog>)> {
    let config = config_with_state_dir(g, state_dir)?;
    let catalog = StateDir::new(config.state_dir.clone())
        .open_catalog()
        .with_context(|| format!("opening the job catalog in {}", config.state_dir.display()))?;
    Ok((config, Arc::new(catalog)))
}
