//! The server's shared types at the bottom of the crate: what the
//! configuration, the jobs, the API and the CLI's `--json` output all name.
//! Nothing here imports another module of the crate. [`ServerError`] and
//! its [`ErrorKind`] hold the one table from a failure to an exit code and
//! an HTTP status.

pub mod api;
mod error;
mod report;
mod restore_test;
mod verify;

pub use error::{ErrorKind, ServerError, ServerResult};
pub use report::ReportFormat;
pub use restore_test::{CheckResult, CheckStatus, RestoreTestDetails, Validation};
pub use verify::{DataScope, VerifyData};
