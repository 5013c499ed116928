//! The objects `check` reads besides snapshots, index and packs: vault lock
//! records and legal holds, writer sessions and prune plans (all must open
//! and parse), and archived WAL files (names must decrypt; with read-data,
//! the selected files must authenticate and decompress).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ops::check::options::CheckOptions;
use crate::ops::check::report::{split, CheckReport, Problem};
use crate::vault::handle::Vault;

/// Vault lock records and legal holds must open and parse: forget, prune
/// and the daemon refuse to act on a vault whose lock or holds they cannot
/// read, rather than guess.
pub(super) fn check_lock_objects(vault: &Vault, report: &mut CheckReport) -> Result<()> {
    let results = [vault.lock_state().map(|_| ()), vault.holds().map(|_| ())];
    for r in results {
        match r {
            Ok(()) => {}
            Err(e @ Error::Damaged { .. }) => {
                let (object, detail) = split(&e);
                report.problems.push(Problem::new(
                    object,
                    format!(
                        "{detail}; forget and the daemon refuse to act while a lock record or hold cannot be read (restore it from a copy of the vault)"
                    ),
                    Vec::new(),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Session and prune plan objects must open and parse: a writer that
/// cannot read a plan refuses to back up.
pub(super) fn check_prune_objects(vault: &Vault, report: &mut CheckReport) -> Result<()> {
    let (sessions, bad_sessions) = crate::format::session::list(vault)?;
    let (plans, bad_plans) = crate::ops::prune::list_plans(vault)?;
    report.sessions = sessions.len() + bad_sessions.len();
    report.prune_plans = plans.len() + bad_plans.len();
    for e in bad_sessions.iter().chain(&bad_plans) {
        let (object, detail) = split(e);
        report.problems.push(Problem::new(
            object,
            format!("{detail}; delete the object (prune waits for, and backups refuse, what they cannot read)"),
            Vec::new(),
        ));
    }
    Ok(())
}

/// Archived WAL files: every name under `wal/` must decrypt (structure);
/// the files read-data selects must also authenticate and decompress. WAL
/// files belong to no snapshot, so their problems list none.
pub(super) fn check_wal(
    vault: &Vault,
    opts: &CheckOptions,
    report: &mut CheckReport,
) -> Result<()> {
    let (files, bad) = crate::format::wal::list(vault)?;
    report.wal_files = files.len();
    for path in bad {
        report.problems.push(Problem::new(
            path,
            "name does not decrypt as an archived WAL file name (damaged, or written under another key)".into(),
            Vec::new(),
        ));
    }
    let selected: Vec<&crate::format::wal::WalObject> = files
        .iter()
        .filter(|w| {
            let b = u32::from_str_radix(&w.path[4..6], 16).unwrap_or(0);
            opts.read_data.select_wal(b)
        })
        .collect();
    report.wal_files_read = selected.len();
    let problems: Vec<Problem> = selected
        .par_iter()
        .filter_map(|w| {
            let r = vault
                .backend()
                .read(&w.path)
                .map_err(|e| vault.storage_err(e))
                .and_then(|b| crate::format::wal::open(vault, &w.name, &b, &w.path));
            r.err().map(|e| {
                Problem::new(
                    w.path.clone(),
                    format!("WAL file {}: {}", w.name, split(&e).1),
                    Vec::new(),
                )
            })
        })
        .collect();
    report.problems.extend(problems);
    Ok(())
}
