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
/// command and subcommand with its own options and examples (`coffer-key`,
/// then `coffer-key-add`, …, in order).
pub fn man(cmd: clap::Command) -> Result<u8> {
    let mut out = Vec::new();
    page(&cmd, "coffer", &mut out)?;
    write_stdout(&out).context("writing the manual page")?;
    Ok(0)
}

/// The page of `cmd` (titled `title`), then those of its subcommands.
fn page(cmd: &clap::Command, title: &str, out: &mut Vec<u8>) -> Result<()> {
    clap_mangen::Man::new(cmd.clone())
        .title(title)
        .render(out)
        .context("writing the manual page")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub, &format!("{title}-{}", sub.get_name()), out)?;
    }
    Ok(())
}
