//! The fleet as the vaults' records tell it ([`read`]): every host, when it
//! was last heard of, and each of its sources against its RPO and RTO; and
//! the events of hosts that went silent or sources past their RPO
//! ([`episodes`]), once per episode.

use std::collections::BTreeMap;

use coffer_core::fleet::{FleetCache, FleetRecord};
use jiff::Timestamp;

use crate::catalog::{Catalog, CatalogError, EventName, NewEvent};
use crate::config::Config;
pub use crate::model::api::{FleetHost, FleetSource, FleetStatus};

/// The catalog key the daemon keeps the latest [`FleetStatus`] under (for
/// `/metrics`).
pub const STATUS_KEY: &str = "fleet/status";

/// Reads every configured vault's fleet records (through `caches`, one
/// per vault, which keep the objects already read; each vault opened
/// through `open`) into one status at
/// `now`. A vault that cannot be read is listed in `unreadable`; the
/// others still count.
pub fn read(
    config: &Config,
    caches: &mut BTreeMap<String, FleetCache>,
    now: Timestamp,
    open: super::OpenVault<'_>,
) -> FleetStatus {
    let mut st = FleetStatus {
        read_at: Some(now),
        ..FleetStatus::default()
    };
    let mut records: BTreeMap<String, FleetRecord> = BTreeMap::new();
    for vc in &config.vaults {
        let cache = caches.entry(vc.name.clone()).or_default();
        let view = open(&vc.name)
            .map_err(|e| e.to_string())
            .and_then(|v| coffer_core::fleet::read(&v, cache, now).map_err(|e| e.to_string()));
        match view {
            Ok(view) => {
                st.objects += view.objects;
                st.damaged.extend(
                    view.damaged
                        .iter()
                        .map(|e| format!("vault `{}`: {e}", vc.name)),
                );
                st.rejected.extend(
                    view.rejected
                        .iter()
                        .map(|e| format!("vault `{}`: {e}", vc.name)),
                );
                for r in view.records {
                    records.insert(r.id.clone(), r);
                }
            }
            Err(e) => {
                st.unreadable.insert(vc.name.clone(), e);
            }
        }
    }
    let mut by_host: BTreeMap<String, Vec<FleetRecord>> = BTreeMap::new();
    for r in records.into_values() {
        by_host.entry(r.host.clone()).or_default().push(r);
    }
    for (host, mut rs) in by_host {
        rs.sort_by_key(|r| r.at);
        st.hosts.push(host_status(config, host, &rs, now));
    }
    st
}

fn host_status(config: &Config, host: String, rs: &[FleetRecord], now: Timestamp) -> FleetHost {
    let last_seen = rs.last().map(|r| r.at).expect("a host has a record");
    let beat = rs.iter().rev().find_map(|r| r.heartbeat());
    let mut sources: BTreeMap<String, FleetSource> = BTreeMap::new();
    let blank = |name: &str| FleetSource {
        source: name.to_string(),
        rpo_secs: None,
        rto_secs: None,
        newest_good_at: None,
        rpo_ok: None,
        last_backup_state: None,
        last_restore_secs: None,
        rto_ok: None,
    };
    if let Some(b) = beat {
        for s in &b.sources {
            let e = sources
                .entry(s.name.clone())
                .or_insert_with(|| blank(&s.name));
            e.rpo_secs = s.rpo_secs;
            e.rto_secs = s.rto_secs;
        }
    }
    let mut failed_jobs = 0;
    for r in rs {
        let Some(j) = r.job() else { continue };
        if j.state == "FAILED" {
            failed_jobs += 1;
        }
        let Some(src) = &j.source else { continue };
        let e = sources.entry(src.clone()).or_insert_with(|| blank(src));
        match j.kind.as_str() {
            "backup" => {
                e.last_backup_state = Some(j.state.clone());
                if matches!(j.state.as_str(), "COMPLETED" | "PARTIAL") {
                    let at = j.ended.unwrap_or(r.at);
                    e.newest_good_at = Some(e.newest_good_at.map_or(at, |t| t.max(at)));
                }
            }
            "restore_test" => {
                let passed = j.state == "COMPLETED";
                e.last_restore_secs = if passed { j.restore_secs } else { None };
                e.rto_ok = e
                    .rto_secs
                    .map(|rto| passed && j.restore_secs.is_some_and(|s| s <= rto as f64));
            }
            _ => {}
        }
    }
    // No good backup yet is a violation only once the RPO has passed since
    // the host's first record (as the local health check counts from the
    // first backup job): a host that has just joined is not yet late.
    let first_seen = rs.first().map(|r| r.at).expect("a host has a record");
    for s in sources.values_mut() {
        s.rpo_ok = s.rpo_secs.and_then(|rpo| {
            let within = |t: Timestamp| now.duration_since(t).as_secs() <= rpo as i64;
            match s.newest_good_at {
                Some(t) => Some(within(t)),
                None if within(first_seen) => None,
                None => Some(false),
            }
        });
    }
    FleetHost {
        silent: now.duration_since(last_seen) > config.fleet.silent_after,
        host,
        last_seen,
        agent: beat.map(|b| b.agent.clone()),
        version: beat.map(|b| b.version.clone()),
        sources: sources.into_values().collect(),
        failed_jobs,
    }
}

/// Stores `status` for `/metrics` and raises, once per episode, HOST_SILENT
/// for a host that went silent and RPO_VIOLATED for another host's source
/// past its RPO (this host's own sources are judged by the local health
/// check, from the catalog).
pub fn episodes(
    config: &Config,
    catalog: &Catalog,
    status: &FleetStatus,
    now: Timestamp,
) -> Result<(), CatalogError> {
    catalog.kv_set(
        STATUS_KEY,
        &serde_json::to_string(status).expect("serializable"),
    )?;
    for h in &status.hosts {
        let key = format!("episode/fleet-silent/{}", h.host);
        if crate::health::episode(catalog, &key, Some(h.silent), now)? {
            let mut e = NewEvent::new(
                EventName::HostSilent,
                format!(
                    "host `{}` has written no fleet record for {} (last at {:.0}), longer than [fleet] silent_after; check its daemon or CronJob",
                    h.host,
                    crate::health::human_secs(now.duration_since(h.last_seen).as_secs_f64()),
                    h.last_seen
                ),
            );
            e.details =
                Some(serde_json::json!({"host": h.host, "last_seen": h.last_seen.to_string()}));
            catalog.emit(&e)?;
        }
        if h.host == config.fleet.host {
            continue;
        }
        for s in &h.sources {
            let key = format!("episode/fleet-rpo/{}/{}", h.host, s.source);
            if crate::health::episode(catalog, &key, s.rpo_ok.map(|ok| !ok), now)? {
                let age = s
                    .newest_good_at
                    .map(|t| crate::health::human_secs(now.duration_since(t).as_secs_f64()));
                let mut e = NewEvent::new(
                    EventName::RpoViolated,
                    format!(
                        "host `{}`, source `{}`: {}, beyond its RPO of {} (from the fleet records)",
                        h.host,
                        s.source,
                        age.map_or("no good backup recorded".to_string(), |a| format!(
                            "the newest good backup is {a} old"
                        )),
                        crate::health::human_secs(s.rpo_secs.unwrap_or_default() as f64)
                    ),
                );
                e.source = Some(s.source.clone());
                e.details = Some(
                    serde_json::json!({"host": h.host, "rpo_seconds": s.rpo_secs, "newest_good_at": s.newest_good_at.map(|t| t.to_string())}),
                );
                catalog.emit(&e)?;
            }
        }
    }
    Ok(())
}

/// The status the daemon's fleet thread last stored ([`episodes`]); an
/// empty one (no `read_at`) before its first read.
pub fn stored(catalog: &Catalog) -> Result<FleetStatus, CatalogError> {
    Ok(catalog
        .kv_get(STATUS_KEY)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}
