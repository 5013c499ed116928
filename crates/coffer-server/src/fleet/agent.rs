//! The daemon's fleet thread: every `[fleet] heartbeat` (and soon after a
//! job ends) it writes this host's new job outcomes and a heartbeat
//! ([`super::flush`]), reads every vault's records into the fleet status
//! ([`super::view::read`]), raises HOST_SILENT and fleet RPO_VIOLATED once
//! per episode, and compacts records older than `[fleet] compact_after`.
//! It runs beside the scheduler so that a slow or unreachable store never
//! delays a job.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_core::fleet::{CompactOptions, FleetCache};

use crate::config::Config;
use crate::runner::Runner;
use crate::schedule::Clock;

/// A running fleet thread; [`FleetAgent::stop`] ends it.
pub struct FleetAgent {
    stop: Arc<AtomicBool>,
    wake: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl FleetAgent {
    /// Starts the thread (none when `[fleet] enabled = false`). It opens
    /// vaults through the daemon's `runner`, which keeps each one open.
    pub fn start(
        runner: Arc<Runner>,
        clock: Arc<dyn Clock>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> FleetAgent {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(AtomicBool::new(true));
        let (s2, w2) = (stop.clone(), wake.clone());
        let handle = runner.config().fleet.enabled.then(|| {
            std::thread::Builder::new()
                .name("fleet".into())
                .spawn(move || run(&runner, &*clock, &*log, &s2, &w2))
                .expect("spawn the fleet thread")
        });
        FleetAgent { stop, wake, handle }
    }

    /// Asks for a flush soon (a job ended).
    pub fn job_ended(&self) {
        self.wake.store(true, Ordering::SeqCst);
    }

    /// Stops the thread after a last flush.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(
    runner: &Runner,
    clock: &dyn Clock,
    log: &(dyn Fn(&str) + Send + Sync),
    stop: &AtomicBool,
    wake: &AtomicBool,
) {
    let (config, catalog) = (runner.config(), runner.catalog());
    let open = |name: &str| runner.vault(name);
    let every = Duration::try_from(config.fleet.heartbeat).unwrap_or(Duration::from_secs(300));
    let mut caches: BTreeMap<String, FleetCache> = BTreeMap::new();
    let mut failing: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<Instant> = None;
    let mut compacted: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let due = last.is_none_or(|t| t.elapsed() >= every);
        if due || stopping || wake.swap(false, Ordering::SeqCst) {
            let now = clock.now();
            let report = super::flush(config, catalog, "serve", now, &open);
            // Say a vault's failure once, and when it recovers.
            for (v, e) in &report.failed {
                if failing.get(v) != Some(e) {
                    log(&format!("fleet records could not be written to vault `{v}` (kept for the next try): {e}"));
                }
            }
            for v in report.written.keys() {
                if failing.contains_key(v) {
                    log(&format!("fleet records are written to vault `{v}` again"));
                }
            }
            failing = report.failed;
            if stopping {
                return;
            }
            if due {
                last = Some(Instant::now());
                let status = super::view::read(config, &mut caches, now, &open);
                if let Err(e) = super::view::episodes(config, catalog, &status, now) {
                    log(&format!("fleet status could not be stored: {e}"));
                }
                if compacted
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(3600).min(every * 12))
                {
                    compacted = Some(Instant::now());
                    compact(config, &mut caches, now, &open, log);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn compact(
    config: &Config,
    caches: &mut BTreeMap<String, FleetCache>,
    now: jiff::Timestamp,
    open: super::OpenVault<'_>,
    log: &(dyn Fn(&str) + Send + Sync),
) {
    let opts = CompactOptions {
        now,
        older_than: config.fleet.compact_after,
        keep_for: config.fleet.keep_records,
        dry_run: false,
    };
    for vc in &config.vaults {
        let cache = caches.entry(vc.name.clone()).or_default();
        let r = open(&vc.name)
            .map_err(|e| e.to_string())
            .and_then(|v| coffer_core::fleet::compact(&v, cache, &opts).map_err(|e| e.to_string()));
        match r {
            Ok(s) if s.objects_merged > 0 => log(&format!(
                "fleet records of vault `{}` compacted: {} objects into {}, {} records kept, {} dropped{}",
                vc.name,
                s.objects_merged,
                s.objects_written,
                s.records_kept,
                s.records_dropped,
                if s.delete_failed > 0 { format!(", {} originals not deletable yet", s.delete_failed) } else { String::new() }
            )),
            Ok(_) => {}
            Err(e) => log(&format!("fleet records of vault `{}` could not be compacted: {e}", vc.name)),
        }
    }
}
