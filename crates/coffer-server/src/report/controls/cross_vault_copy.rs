//! The `cross-vault-copy` control: every source is copied into a second
//! vault by its rules (`copy_to`), and a copy job completed in the period.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::coverage::rules_of;
use super::evidence::when;
use crate::catalog::{Catalog, CatalogError, JobFilter, JobKind, JobState};
use crate::config::Config;
use crate::report::control::Control;

/// `cross-vault-copy`: every source is copied into a second vault, with a
/// completed copy since `since`.
pub(in crate::report) fn cross_vault_copy(
    config: &Config,
    catalog: &Catalog,
    since: Timestamp,
) -> Result<Control, CatalogError> {
    let mut c = Control::new(
        "cross-vault-copy",
        "Every source is copied into a second vault, with a completed copy in the period".into(),
    );
    for s in &config.sources {
        let targets: BTreeSet<String> = rules_of(config, &s.name)
            .iter()
            .flat_map(|r| r.copy_to.iter().map(|c| c.vault.clone()))
            .collect();
        if targets.is_empty() {
            c.fail(format!(
                "source `{}`: no rule copies it into a second vault (copy_to)",
                s.name
            ));
            continue;
        }
        let copies = catalog.list_jobs(&JobFilter {
            kinds: vec![JobKind::Copy],
            states: vec![JobState::Completed, JobState::Partial],
            source: Some(s.name.clone()),
            since: Some(since),
            limit: Some(1),
            ..Default::default()
        })?;
        let list = targets.into_iter().collect::<Vec<_>>().join(", ");
        match copies.first() {
            Some(j) => c.ok(format!(
                "source `{}`: copied into {list}; copy job {} {} at {:.0}",
                s.name,
                j.id,
                j.state,
                when(j)
            )),
            None => c.fail(format!(
                "source `{}`: copied into {list} by its rules, but no copy job completed since {since:.0}",
                s.name
            )),
        }
    }
    Ok(c.judged())
}
