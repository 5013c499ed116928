//! Where secrets come from. Secrets never sit in `coffer.toml`: a vault
//! is unlocked by `key_file`, `password_file` or `password_env`; a database
//! source (and an email sink) takes its password from `password_file` or
//! `password_env`. A password inside a URL is refused
//! ([`url_has_password`]), and the message never repeats it.
//!
//! Where a secret will come from is checked here too, as far as this
//! machine can tell: a file that cannot be read, or a variable that is not
//! set, is a warning (the daemon may run with another environment, or get
//! the file later), which `coffer config check --connect` turns into a
//! failed check.

use super::validate::{Validator, S};
use crate::model::{ServerError, ServerResult};
use std::path::{Path, PathBuf};

/// Fields the sections read only to refuse them with a useful message (an
/// inline `password`): never offered as a field that is allowed.
pub(super) const REFUSED_FIELDS: &[&str] = &["password"];

/// Where a database source's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A file holding it (less one trailing `\n` or `\r\n`, as every
    /// password file: `coffer_core::keys::read_password_file`).
    File(PathBuf),
    /// An environment variable holding it.
    Env(String),
}

impl SecretRef {
    /// Reads the secret. The error names the file or variable, never the
    /// value.
    /// The error's kind is `config`: the configuration must be fixed.
    pub fn read(&self) -> ServerResult<String> {
        match self {
            // The one rule for password files (less one trailing newline),
            // as the CLI reads them.
            SecretRef::File(p) => coffer_core::keys::read_password_file(p).map_err(|e| {
                ServerError::config(match e {
                    coffer_core::Error::Io { source, .. } => {
                        format!("cannot read password file {}: {source}", p.display())
                    }
                    e => e.to_string(),
                })
            }),
            SecretRef::Env(v) => std::env::var(v).map_err(|_| {
                ServerError::config(format!(
                    "environment variable {v} (password_env) is not set"
                ))
            }),
        }
    }
}

/// Whether a URL's user information holds a password (`scheme://user:pw@host`).
pub(super) fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.contains(':'),
        None => false,
    }
}

impl Validator<'_> {
    /// Warns unless the file a secret (or certificate) is read from, named
    /// by `field` of `owner`, can be read now. `path` is the file as
    /// resolved.
    pub(super) fn readable_file(&mut self, owner: &str, field: &str, at: &S<PathBuf>, path: &Path) {
        if let Err(e) = std::fs::File::open(path) {
            self.warn(
                at,
                format!(
                    "{owner}: {field} {} cannot be read here: {e}; it fails at run time unless the daemon's machine has it",
                    path.display()
                ),
            );
        }
    }

    /// Warns unless the environment variable a secret comes from
    /// (`field` of `owner`) is set here.
    pub(super) fn env_set(&mut self, owner: &str, field: &str, at: &S<String>) {
        let var = at.get_ref();
        if var.is_empty() {
            return;
        }
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            self.warn(
                at,
                format!(
                    "{owner}: {field} = \"{var}\", but {var} is not set here; it fails at run time unless the daemon's environment sets it"
                ),
            );
        }
    }
}
