//! [`build`]: opens the vaults the rules use, evaluates every control in a
//! fixed order (one function per control, in `controls/`), and adds each
//! source's status and the jobs of the period.

use crate::model::{ServerError, ServerResult};
use std::collections::{BTreeMap, BTreeSet};

use coffer_core::Vault;
use jiff::Timestamp;

use crate::catalog::{Catalog, CatalogError, JobFilter};
use crate::config::Config;
use crate::health::{self, Status, WalProbe};
use crate::report::control::{Control, ControlStatus};
use crate::report::controls;
use crate::report::document::{JobCount, Report, SourceStatus, Summary};

/// Opens a vault of the configuration by name.
pub type VaultOpener<'a> = &'a dyn Fn(&str) -> ServerResult<Vault>;

/// The vaults rules write into (their own, copies, their tiers), in
/// configuration order.
fn vaults_in_use(config: &Config) -> Vec<String> {
    let mut used = BTreeSet::new();
    for r in config.rules() {
        used.insert(r.vault.clone());
        used.extend(r.copy_to.iter().map(|c| c.vault.clone()));
        used.extend(r.tiers.iter().map(|t| t.vault.clone()));
    }
    config
        .vaults
        .iter()
        .filter(|v| used.contains(&v.name))
        .map(|v| v.name.clone())
        .collect()
}

/// Evaluates every control at `now` for the period since `since`. Vaults
/// are opened with `open` (for their format, lock and archived WAL).
/// Reads only; stores and emits nothing.
pub fn build(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    since: Timestamp,
    open: VaultOpener,
) -> Result<Report, CatalogError> {
    let used = vaults_in_use(config);
    let mut opened: BTreeMap<String, ServerResult<Vault>> = BTreeMap::new();
    for v in &used {
        opened.insert(v.clone(), open(v));
    }
    let probe_fn = |v: &str| -> ServerResult<Option<Timestamp>> {
        match opened.get(v) {
            Some(Ok(vault)) => coffer_core::wal::newest(vault)
                .map(|n| n.and_then(|(_, t)| t))
                .map_err(|e| ServerError::vault(format!("vault `{v}`"), &e)),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    };
    let probe: WalProbe = &probe_fn;
    let mut controls = vec![
        controls::rule_coverage(config),
        controls::backup_frequency(config, catalog, now)?,
        controls::retention_minimum(config, now),
        controls::encryption(&used, &opened),
        controls::key_age(config, now, &used, &opened),
        controls::vault_lock(config, &used, &opened),
        controls::cross_vault_copy(config, catalog, since)?,
    ];
    let mut healths = Vec::new();
    for s in &config.sources {
        healths.push(health::source_health(config, catalog, s, now, probe)?);
    }
    controls.push(controls::rpo(&healths, now));
    controls.push(controls::restore_test(config, catalog, now)?);
    controls.push(controls::verification(config, catalog, now, &used)?);
    let jobs = jobs_in_period(catalog, since)?;

    let summary = Summary {
        pass: count(&controls, ControlStatus::Pass),
        fail: count(&controls, ControlStatus::Fail),
        not_evaluated: count(&controls, ControlStatus::NotEvaluated),
    };
    Ok(Report {
        generated_at: now,
        period_start: since,
        config: config.path.clone(),
        summary,
        controls,
        sources: healths
            .into_iter()
            .map(|h| SourceStatus {
                status: Status::overall(&h),
                health: h,
            })
            .collect(),
        jobs,
    })
}

/// The jobs since `since`, counted by kind and final state.
fn jobs_in_period(catalog: &Catalog, since: Timestamp) -> Result<Vec<JobCount>, CatalogError> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for j in catalog.list_jobs(&JobFilter {
        since: Some(since),
        ..Default::default()
    })? {
        *counts
            .entry(j.kind.to_string())
            .or_default()
            .entry(j.state.to_string())
            .or_default() += 1;
    }
    Ok(counts
        .into_iter()
        .map(|(kind, states)| JobCount { kind, states })
        .collect())
}

fn count(c: &[Control], s: ControlStatus) -> usize {
    c.iter().filter(|c| c.status == s).count()
}
