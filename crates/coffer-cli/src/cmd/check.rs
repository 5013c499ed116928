//! `coffer check`: the vault's structure, and with --read-data its data.

use anyhow::{bail, Result};
use coffer_core::{CheckOptions, ReadData};
use coffer_server::model::VerifyData;

use crate::args::GlobalArgs;
use crate::context;
use crate::error::UsageError;
use crate::output::{count, print_damage};

/// `coffer check`.
pub fn check(g: &GlobalArgs, read_data: bool, read_data_subset: Option<String>) -> Result<u8> {
    let vault = context::open(g)?;
    let rd = match (read_data, read_data_subset) {
        (_, Some(s)) => parse_subset(&s)?,
        (true, None) => ReadData::All,
        (false, None) => ReadData::None,
    };
    let report = coffer_core::check(&vault, &CheckOptions { read_data: rd })?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_damage(&report.problems);
        if !g.quiet || !report.ok() {
            println!(
                "checked {}, {}, {}, {} ({} read, {} verified); {}; {} ({} read); {}",
                count(report.snapshots as u64, "snapshot"),
                count(report.trees as u64, "tree"),
                count(report.index_objects as u64, "index object"),
                count(report.packs as u64, "pack"),
                report.packs_read,
                count(report.blobs_read as u64, "blob"),
                count(report.unreferenced_packs as u64, "unreferenced pack"),
                count(report.wal_files as u64, "WAL file"),
                report.wal_files_read,
                if report.ok() {
                    "no errors".to_string()
                } else {
                    count(report.problems.len() as u64, "problem")
                }
            );
        }
    }
    if report.ok() {
        Ok(0)
    } else {
        // The report is the output (also with --json); say it on stderr too.
        eprintln!(
            "error: vault {} is damaged: {} problems",
            vault.backend().location(),
            report.problems.len()
        );
        Ok(1)
    }
}

/// `--read-data-subset`, by the one grammar of a data subset (the server's
/// [`VerifyData::parse_subset`], which `coffer verify` and `[[verify]]`
/// use): a share checks that fraction of the packs at random here.
fn parse_subset(s: &str) -> Result<ReadData> {
    match VerifyData::parse_subset(s) {
        Ok(VerifyData::Percent(p)) => Ok(ReadData::Fraction(p / 100.0)),
        Ok(VerifyData::Part(n, m)) => Ok(ReadData::Part(n, m)),
        Ok(VerifyData::All) => Ok(ReadData::All),
        Ok(VerifyData::Structure) => Ok(ReadData::None),
        Err(m) => bail!(UsageError(format!("--read-data-subset {m}"))),
    }
}
