//! A source's health at an instant ([`source_health`]), stored
//! ([`refresh`]), and the evaluation of every source ([`evaluate`]) that
//! stores it and emits the events of violations that began since the last
//! one.

use super::anomaly::wal_episode;
use super::duration::secs;
use super::rpo::{newest_good_at, rpo_episode, rpo_ok};
use super::rto::last_restore;
use super::wal::{wal_newest, WalProbe};
use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, SourceConfig};
use crate::records::SourceHealth;
use jiff::{SignedDuration, Timestamp};

/// How often the daemon evaluates health.
pub const INTERVAL: SignedDuration = SignedDuration::from_secs(60);

/// Computes `source`'s health at `now` from the catalog (and `probe` for
/// archived WAL). Stores and emits nothing.
pub fn source_health(
    config: &Config,
    catalog: &Catalog,
    source: &SourceConfig,
    now: Timestamp,
    probe: WalProbe,
) -> Result<SourceHealth, CatalogError> {
    let name = &source.name;
    let newest_good_at = newest_good_at(catalog, name)?;
    let wal_newest_at = wal_newest(config, source, probe);
    let wal_lag_seconds = wal_newest_at.map(|t| secs(now.duration_since(t)).max(0.0));
    let rpo_ok = rpo_ok(catalog, source, newest_good_at, wal_newest_at, now)?;
    let (last_restore_seconds, rto_ok) = last_restore(catalog, source)?;
    Ok(SourceHealth {
        source: name.clone(),
        evaluated_at: now,
        newest_good_at,
        rpo_seconds: source.rpo.map(secs),
        rpo_ok,
        wal_newest_at,
        wal_lag_seconds,
        last_restore_seconds,
        rto_seconds: source.rto.map(secs),
        rto_ok,
    })
}

/// Computes `source`'s health at `now` ([`source_health`]) and stores it
/// for metrics, the API and the dashboard; emits nothing (the events of
/// violations, once per episode, are [`evaluate`]'s). A restore test calls
/// it for its source as soon as it ends, so the RTO is current at once;
/// [`evaluate`] calls it for every source.
pub fn refresh(
    config: &Config,
    catalog: &Catalog,
    source: &SourceConfig,
    now: Timestamp,
    probe: WalProbe,
) -> Result<SourceHealth, CatalogError> {
    let h = source_health(config, catalog, source, now, probe)?;
    h.store(catalog)?;
    Ok(h)
}

/// Evaluates every configured source at `now`: stores each [`SourceHealth`]
/// in the catalog and emits `RPO_VIOLATED` and `WAL_ARCHIVE_LAG` once per
/// episode, and `COPY_LAG` once per episode for each copy target behind
/// its `max_lag`. Returns the health of each source, in file order.
pub fn evaluate(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    probe: WalProbe,
) -> Result<Vec<SourceHealth>, CatalogError> {
    let mut out = Vec::new();
    for source in &config.sources {
        let h = refresh(config, catalog, source, now, probe)?;
        rpo_episode(catalog, source, &h, now)?;
        wal_episode(config, catalog, source, &h, now)?;
        out.push(h);
    }
    let lags = super::copy_lag::copy_lags(config, catalog, now)?;
    super::copy_lag::copy_lag_episodes(catalog, &lags, now)?;
    Ok(out)
}
