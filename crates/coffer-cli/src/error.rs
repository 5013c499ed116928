//! Errors as the command line reports them: [`UsageError`] (exit code 2),
//! [`message`], the one line an error is printed as, and [`exit_code`],
//! which takes the code from the error's kind (the server's one table,
//! [`coffer_server::model::ErrorKind::exit_code`]).

use coffer_server::model::{ErrorKind, ServerError};

/// A usage or configuration error (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);
impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// The error and its causes, leaving out a cause whose text the message
/// before it already includes.
pub fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// The kind of the first typed error in `e`'s chain: a [`UsageError`], a
/// server, source or vault error; anything else is a failure (`internal`).
pub fn kind(e: &anyhow::Error) -> ErrorKind {
    for cause in e.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return ErrorKind::Usage;
        }
        if let Some(s) = cause.downcast_ref::<ServerError>() {
            return s.kind;
        }
        if let Some(s) = cause.downcast_ref::<coffer_sources::SourceError>() {
            return ErrorKind::of_source(s);
        }
        if let Some(c) = cause.downcast_ref::<coffer_core::Error>() {
            return ErrorKind::of_core(c.kind());
        }
    }
    ErrorKind::Internal
}

/// The exit code of a command that failed with `e`.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    kind(e).exit_code()
}
