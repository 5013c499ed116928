//! `coffer completions SHELL` and `coffer man`: shell completions and the
//! manual page, both generated from the clap definition the parser uses, so
//! they never disagree with the program. `main` hands over that definition.

use crate::output::write_stdout;
use anyhow::{Context, Result};

/// Prints the completions of `cmd` (the whole `coffer` command) for `shell`.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "coffer", &mut out);
    write_stdout(&out).context("writing the completions")?;
    Ok(0)
}

/// Prints the manual page of `cmd`: coffer's page, then one section per
/// command with its own options (the page of each subcommand, in order).
pub fn man(cmd: clap::Command) -> Result<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("writing the manual page")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        clap_mangen::Man::new(sub.clone())
            .title(format!("coffer-{}", sub.get_name()))
            .render(&mut out)
            .context("writing the manual page")?;
    }
    write_stdout(&out).context("writing the manual page")?;
    Ok(0)
}
