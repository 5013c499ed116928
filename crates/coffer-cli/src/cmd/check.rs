//! `coffer check`: the vault's structure, and with --read-data its data.

use anyhow::{bail, Result};
use coffer_core::{CheckOptions, ReadData};

use crate::args::GlobalArgs;
use crate::context;
use crate::error::UsageError;
use crate::output::print_damage;

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
                        "checked {} snapshots, {} trees, {} index objects, {} packs ({} read, {} blobs verified); {} unreferenced packs; {} WAL files ({} read); {}",
                        report.snapshots,
                        report.trees,
                        report.index_objects,
                        report.packs,
                        report.packs_read,
                        report.blobs_read,
                        report.unreferenced_packs,
                        report.wal_files,
                        report.wal_files_read,
                        if report.ok() { "no errors".to_string() } else { format!("{} problems", report.problems.len()) }
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

fn parse_subset(s: &str) -> Result<ReadData> {
    let bad = || {
        UsageError(format!(
            "--read-data-subset `{s}`: give a percentage like 10% or a part like 1/5"
        ))
    };
    if let Some(p) = s.strip_suffix('%') {
        let f: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(f > 0.0 && f <= 100.0) {
            bail!(bad());
        }
        return Ok(ReadData::Fraction(f / 100.0));
    }
    let (n, m) = s.split_once('/').ok_or_else(bad)?;
    let (n, m): (u32, u32) = (
        n.trim().parse().map_err(|_| bad())?,
        m.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || m == 0 || n > m {
        bail!(bad());
    }
    Ok(ReadData::Part(n, m))
}
