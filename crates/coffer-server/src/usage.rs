//! A vault's usage with its monthly cost estimate: coffer-core's
//! [`coffer_core::usage`] (bytes by kind and storage class, the share the
//! snapshots reference) priced by the configuration's `[prices]`
//! ([`PriceTable`]). The one place the cost is computed, for `coffer vault
//! usage` and any other front end.
//!
//! Cost per class = bytes / 2^30 × USD per GB-month. Not included: request,
//! retrieval and transfer charges, the minimum billable object size of the
//! infrequent-access classes (128 KiB), the 40 KiB an archive class bills
//! per object, and minimum storage durations; the estimate is of storage.

use coffer_core::{KindUsage, PackUsage, Progress, UsageReport, Vault};
use serde::Serialize;

use crate::config::{Config, PriceTable, PRICES_SOURCE, PRICES_TAKEN};
use crate::model::{ServerError, ServerResult};

/// Bytes in a GB as AWS bills storage.
const GB: f64 = (1u64 << 30) as f64;

/// One storage class of a vault, priced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCost {
    /// The store's class (`STANDARD`, `GLACIER`, …) or `local`.
    pub class: String,
    /// Objects in it.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of those, bytes the snapshots reference.
    pub referenced_bytes: u64,
    /// `referenced_bytes / bytes` (1 when empty).
    pub referenced_share: f64,
    /// USD per GB-month of the class; `None` when the table has none.
    pub usd_per_gb_month: Option<f64>,
    /// The class's monthly cost; `None` when unpriced.
    pub usd_per_month: Option<f64>,
}

/// A vault's usage and cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VaultUsage {
    /// The vault's name in the configuration, or its location.
    pub vault: String,
    /// Its location.
    pub location: String,
    /// Every object.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes the snapshots reference.
    pub referenced_bytes: u64,
    /// `referenced_bytes / bytes` (1 when empty).
    pub referenced_share: f64,
    /// Readable snapshots.
    pub snapshots: u64,
    /// By storage class, largest first.
    pub classes: Vec<ClassCost>,
    /// By kind of object.
    pub kinds: Vec<KindUsage>,
    /// The packs: referenced, freed by the next prune, freed by repacking.
    pub packs: PackUsage,
    /// The monthly cost of the priced classes.
    pub usd_per_month: f64,
    /// Classes with objects but no price (their cost is not in the sum).
    pub unpriced_classes: Vec<String>,
    /// What could not be read (the referenced share is then a lower bound).
    pub warnings: Vec<String>,
}

/// Where the prices come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceNote {
    /// The defaults' source.
    pub source: &'static str,
    /// When the defaults were taken (`YYYY-MM`).
    pub taken: &'static str,
    /// Classes whose price the configuration set (`[prices]`).
    pub overridden: Vec<String>,
    /// A GB is this many bytes.
    pub bytes_per_gb: u64,
}

impl PriceNote {
    /// The note of `prices`.
    pub fn of(prices: &PriceTable) -> PriceNote {
        PriceNote {
            source: PRICES_SOURCE,
            taken: PRICES_TAKEN,
            overridden: prices.overridden.clone(),
            bytes_per_gb: 1 << 30,
        }
    }
}

/// The share `part / whole`, 1 for an empty whole.
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// `report` priced by `prices`, under the name `vault`.
pub fn estimate(vault: &str, report: UsageReport, prices: &PriceTable) -> VaultUsage {
    let mut total = 0.0;
    let mut unpriced = Vec::new();
    let classes = report
        .classes
        .into_iter()
        .map(|c| {
            let price = prices.price(&c.class);
            let cost = price.map(|p| c.bytes as f64 / GB * p);
            match cost {
                Some(x) => total += x,
                None => unpriced.push(c.class.clone()),
            }
            ClassCost {
                referenced_share: share(c.referenced_bytes, c.bytes),
                class: c.class,
                objects: c.objects,
                bytes: c.bytes,
                referenced_bytes: c.referenced_bytes,
                usd_per_gb_month: price,
                usd_per_month: cost,
            }
        })
        .collect();
    VaultUsage {
        vault: vault.to_string(),
        location: report.location,
        objects: report.objects,
        bytes: report.bytes,
        referenced_bytes: report.referenced_bytes,
        referenced_share: share(report.referenced_bytes, report.bytes),
        snapshots: report.snapshots,
        classes,
        kinds: report.kinds,
        packs: report.packs,
        usd_per_month: total,
        unpriced_classes: unpriced,
        warnings: report.warnings,
    }
}

/// Measures `vault` and prices it (see [`estimate`]). The error names the
/// vault.
pub fn measure(
    name: &str,
    vault: &Vault,
    prices: &PriceTable,
    progress: &Progress,
) -> ServerResult<VaultUsage> {
    let report = coffer_core::usage(vault, progress)
        .map_err(|e| ServerError::vault(format!("usage of vault `{name}`"), &e))?;
    Ok(estimate(name, report, prices))
}

/// Measures the configured vault `name` (opened as the daemon opens it).
pub fn measure_configured(
    config: &Config,
    name: &str,
    progress: &Progress,
) -> ServerResult<VaultUsage> {
    let vault = crate::runner::open_vault(config, name)?;
    measure(name, &vault, &config.prices, progress)
}

/// Totals over several vaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageTotal {
    /// Objects.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
    /// Bytes the snapshots reference.
    pub referenced_bytes: u64,
    /// `referenced_bytes / bytes`.
    pub referenced_share: f64,
    /// Monthly cost of the priced classes.
    pub usd_per_month: f64,
}

/// The totals of `vaults`.
pub fn total(vaults: &[VaultUsage]) -> UsageTotal {
    let mut t = UsageTotal::default();
    for v in vaults {
        t.objects += v.objects;
        t.bytes += v.bytes;
        t.referenced_bytes += v.referenced_bytes;
        t.usd_per_month += v.usd_per_month;
    }
    t.referenced_share = share(t.referenced_bytes, t.bytes);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::ClassUsage;

    #[test]
    fn each_class_is_priced_per_gb_month_and_an_unpriced_one_is_named() {
        let gib = 1u64 << 30;
        let report = UsageReport {
            location: "s3://b/p".into(),
            objects: 3,
            bytes: 12 * gib + 1,
            referenced_bytes: 6 * gib,
            classes: vec![
                ClassUsage {
                    class: "GLACIER".into(),
                    objects: 1,
                    bytes: 10 * gib,
                    referenced_bytes: 5 * gib,
                },
                ClassUsage {
                    class: "STANDARD".into(),
                    objects: 1,
                    bytes: 2 * gib,
                    referenced_bytes: gib,
                },
                ClassUsage {
                    class: "REDUCED_REDUNDANCY".into(),
                    objects: 1,
                    bytes: 1,
                    referenced_bytes: 0,
                },
            ],
            ..Default::default()
        };
        let u = estimate("cold", report, &PriceTable::default());
        let glacier = &u.classes[0];
        assert_eq!(glacier.usd_per_gb_month, Some(0.0036));
        assert!((glacier.usd_per_month.unwrap() - 0.036).abs() < 1e-12);
        assert!((glacier.referenced_share - 0.5).abs() < 1e-12);
        assert!((u.usd_per_month - (0.036 + 0.046)).abs() < 1e-12);
        assert_eq!(u.unpriced_classes, ["REDUCED_REDUNDANCY"]);
        assert_eq!(u.classes[2].usd_per_month, None);
        let t = total(&[u.clone(), u]);
        assert!((t.usd_per_month - 0.164).abs() < 1e-12);
        assert_eq!(t.bytes, 24 * gib + 2);
    }
}
