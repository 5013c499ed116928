//! Which commands the audit trail records, and as what action
//! ([`action_of`]); `main` records each of them through
//! [`crate::audit::record`] after the command ran.

use coffer_server::audit::Action;

use crate::args::GlobalArgs;
use crate::audit::Audited;

/// The vault a command acts on, as the audit trail names it.
fn vault(g: &GlobalArgs, positional: Option<&String>) -> Option<String> {
    let g = GlobalArgs {
        vault: positional.cloned().or_else(|| g.vault.clone()),
        ..g.clone()
    };
    Some(crate::context::target(&g).location)
}

/// The audited action of a command: the commands that change something.
/// Token commands record themselves ([`crate::cmd::token::run`]).
pub(crate) fn action_of(cmd: &crate::cli::Cmd, g: &GlobalArgs) -> Option<Audited> {
    use crate::cli::Cmd;
    use crate::cmd::hold::SnapshotCmd;
    use crate::cmd::key::KeyCmd;
    use crate::cmd::pg::PgCmd;
    use crate::cmd::vault_lock::VaultCmd;
    let on = |action, target: Option<String>| Audited {
        action,
        target,
        state_dir: None,
    };
    Some(match cmd {
        Cmd::Init { .. } => on(Action::VaultInit, vault(g, None)),
        Cmd::Backup(a) if !a.dry_run => on(Action::Backup, vault(g, None)),
        Cmd::Pg(PgCmd::Basebackup { .. }) => on(Action::Backup, vault(g, None)),
        Cmd::Pg(PgCmd::WalPrune { dry_run: false }) => on(Action::WalPrune, vault(g, None)),
        Cmd::Restore { snapshot, .. } => on(Action::Restore, Some(snapshot.clone())),
        Cmd::Copy(a) if !a.dry_run => on(
            Action::Copy,
            Some(format!(
                "{} -> {}",
                vault(g, None).unwrap_or_default(),
                a.to.as_deref().unwrap_or("?")
            )),
        ),
        Cmd::Prune(a) if !a.dry_run => on(Action::Prune, vault(g, None)),
        Cmd::Key(KeyCmd::Add { label, .. }) => on(
            Action::KeyAdd,
            vault(g, None).map(|v| match label.as_str() {
                "" => v,
                l => format!("{v} (slot `{l}`)"),
            }),
        ),
        Cmd::Key(KeyCmd::Remove { id }) => on(Action::KeyRemove, Some(id.clone())),
        Cmd::Key(KeyCmd::Rotate { .. }) => on(Action::KeyRotate, vault(g, None)),
        Cmd::Plan { cmd, state_dir } => match cmd {
            crate::cmd::plan::PlanCmd::Run { rule, .. } => Audited {
                action: Action::RuleRun,
                target: Some(rule.clone()),
                state_dir: state_dir.clone(),
            },
        },
        Cmd::Verify(a) => Audited {
            action: Action::VerifyRun,
            target: a.rule.clone().or(a.vault_name.clone()).or(vault(g, None)),
            state_dir: a.state_dir.clone(),
        },
        Cmd::RestoreTest(crate::cmd::restore_test::RestoreTestCmd::Run {
            name, state_dir, ..
        }) => Audited {
            action: Action::RestoreTestRun,
            target: Some(name.clone()),
            state_dir: state_dir.clone(),
        },
        Cmd::Snapshot(SnapshotCmd::Hold { id, .. }) => on(Action::SnapshotHold, Some(id.clone())),
        Cmd::Snapshot(SnapshotCmd::Release { id }) => on(Action::SnapshotRelease, Some(id.clone())),
        Cmd::Forget(a) if !a.dry_run => on(Action::Forget, vault(g, None)),
        Cmd::Rewrite(a) if !a.dry_run => on(Action::Rewrite, vault(g, None)),
        Cmd::Vault(VaultCmd::Lock { vault: v, .. }) => on(Action::VaultLock, vault(g, v.as_ref())),
        Cmd::Vault(VaultCmd::Unlock { vault: v }) => on(Action::VaultUnlock, vault(g, v.as_ref())),
        Cmd::Vault(VaultCmd::ExtendRetention { vault: v, dry_run }) if !dry_run => {
            on(Action::VaultExtendRetention, vault(g, v.as_ref()))
        }
        _ => return None,
    })
}
