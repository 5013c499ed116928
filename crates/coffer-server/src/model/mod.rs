//! The server's shared types at the bottom of the crate: what the
//! configuration, the jobs, the API and the CLI's `--json` output all name.
//! Nothing here imports another module of the crate.

mod report;
mod verify;

pub use report::ReportFormat;
pub use verify::{DataScope, VerifyData};
