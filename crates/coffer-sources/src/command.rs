//! Any command's standard output as a snapshot (`coffer backup --command
//! 'vault operator raft snapshot save /dev/stdout' --name vault-raft`).
//!
//! The command runs through `/bin/sh -c`. Its output becomes a snapshot
//! only if it exits with status 0; a failure or a kill fails the backup
//! before anything refers to the data. The snapshot records the command,
//! its exit status and, when given, the command that restores it (which
//! reads the stream on its standard input).

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

use coffer_core::Archiver;

use crate::error::{SourceError, SourceResult};
use crate::{process, stream, SourceOutput};

/// Snapshot kind.
pub const KIND: &str = "command";
/// The shell commands run through.
pub const SHELL: &str = "/bin/sh";

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSource {
    /// The shell command whose standard output is saved.
    pub command: String,
    /// The snapshot's name (its path and file name).
    pub name: String,
    /// A shell command that restores the stream from its standard input.
    pub restore_command: Option<String>,
}

impl CommandSource {
    /// Checks the name: one non-empty path component.
    pub fn new(
        command: String,
        name: String,
        restore_command: Option<String>,
    ) -> SourceResult<Self> {
        stream::check_name(&name, "--name")?;
        if command.trim().is_empty() {
            return Err(SourceError::Usage("--command is empty".into()));
        }
        Ok(CommandSource {
            command,
            name,
            restore_command,
        })
    }

    /// Runs the command and streams its output into the vault.
    pub fn backup(&self, archiver: &Archiver) -> SourceResult<SourceOutput> {
        let mut c = Command::new(SHELL);
        c.arg("-c").arg(&self.command);
        let content = process::stdout_to_vault(
            archiver,
            c,
            format!("command `{}`", self.command),
            None,
            &self.name,
        )?;
        let mut d = BTreeMap::new();
        d.insert("command".into(), self.command.clone());
        d.insert("shell".into(), format!("{SHELL} -c"));
        d.insert("exit_status".into(), "0".into());
        match &self.restore_command {
            Some(r) => {
                d.insert("restore_command".into(), r.clone());
                d.insert(
                    "restore_needs".into(),
                    "the restore command, which reads the stream on its standard input".into(),
                );
            }
            None => {
                d.insert(
                    "restore_needs".into(),
                    "nothing recorded: restore to a file with --to-file".into(),
                );
            }
        }
        Ok(stream::one_file(archiver, content, &self.name, KIND, d)?)
    }
}

/// Runs `restore_command` through the shell with the stream on its
/// standard input; its output goes to ours.
pub fn restore<R: Read>(reader: R, restore_command: &str) -> SourceResult<u64> {
    pipe_into(reader, restore_command, "restore command", false)
}

/// Runs `command` through the shell with `reader` on its standard input;
/// its output goes to ours, or nowhere with `discard_output`. `role` names
/// it in messages (`restore command`, `validate_command`).
pub fn pipe_into<R: Read>(
    reader: R,
    command: &str,
    role: &str,
    discard_output: bool,
) -> SourceResult<u64> {
    let mut c = Command::new(SHELL);
    c.arg("-c").arg(command);
    if discard_output {
        c.stdout(std::process::Stdio::null());
    }
    let (n, _) = process::stdin_from(c, reader, format!("{role} `{command}`"), None)?;
    Ok(n)
}
