//! Restore test of a command snapshot: the stream fed to the test's
//! `validate_command`, which must exit 0.

use super::context::Ctx;
use super::failure::failed;
use super::validate::Run;
use crate::model::ServerResult;
use coffer_sources::restore::Destination;
use std::time::Instant;

pub(super) fn test_command(c: &Ctx<'_>, t: &mut Run) -> ServerResult<()> {
    let cmd = c
        .test
        .validate_command
        .clone()
        .ok_or_else(|| failed("a command source needs validate_command".to_string()))?;
    let start = Instant::now();
    let result = c.restore(
        Destination::Command {
            command: Some(cmd.clone()),
            role: "validate_command".into(),
            discard_output: true,
        },
        &t.cancel,
    );
    t.details.restore_seconds = Some(start.elapsed().as_secs_f64());
    t.details.validation_seconds = Some(0.0);
    match result {
        Ok(o) => {
            t.check(
                "validate_command",
                true,
                format!(
                    "read {} and exited with status 0",
                    coffer_core::human_bytes(o.bytes)
                ),
            );
            Ok(())
        }
        Err(e) => {
            t.check("validate_command", false, e.to_string());
            Ok(())
        }
    }
}
