//! Prometheus metrics of `coffer serve` (`GET /metrics`).
//!
//! Every exported metric is listed once, in [`METRICS`]: its name as it
//! appears in the exposition (counters with their `_total`), its type, its
//! labels and its help text. The Grafana dashboard and the alert rules in
//! `deploy/` may only name metrics of this list (a test checks).
//!
//! Values are read from the catalog at scrape time ([`render`], to be
//! called on a blocking thread): the catalog is the record of jobs, verify
//! and restore-test results and the health checks' [`SourceHealth`]. Only
//! vault storage use is not: listing a bucket on every scrape would be too
//! slow, so a [`StorageMonitor`] thread measures each vault after jobs end
//! and every `[server] storage_refresh`, and scrapes read its cache.

use crate::catalog::{Catalog, CatalogError, Job, JobFilter, JobKind, JobState};
use crate::config::Config;
use crate::events::EventName;
use crate::records::{RestoreTestDetails, SourceHealth, Validation};
use jiff::Timestamp;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// A metric's Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A value that goes up and down.
    Gauge,
    /// A count that only grows (named `…_total`).
    Counter,
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// Its sample name.
    pub name: &'static str,
    /// Its type.
    pub kind: MetricType,
    /// Its labels.
    pub labels: &'static [&'static str],
    /// What it measures.
    pub help: &'static str,
}

const G: MetricType = MetricType::Gauge;
const C: MetricType = MetricType::Counter;
const RULE: &[&str] = &["source", "vault", "plan", "rule"];

macro_rules! m {
    ($name:literal, $kind:expr, $labels:expr, $help:literal) => {
        MetricDef {
            name: $name,
            kind: $kind,
            labels: $labels,
            help: $help,
        }
    };
}

/// Every metric `coffer serve` exports.
pub const METRICS: &[MetricDef] = &[
    m!("coffer_up", G, &[], "1 while the coffer daemon runs."),
    m!("coffer_build_info", G, &["version"], "The coffer version (value 1)."),
    m!("coffer_daemon_start_time_seconds", G, &[], "When the daemon started (Unix time)."),
    m!("backup_last_success_timestamp_seconds", G, RULE, "When the newest COMPLETED or PARTIAL backup of a source by a rule finished (Unix time)."),
    m!("backup_last_job_success", G, RULE, "1 if the newest finished backup job of a source by a rule succeeded (COMPLETED or PARTIAL), 0 if it FAILED."),
    m!("backup_duration_seconds", G, RULE, "How long the newest finished backup job of a source by a rule ran."),
    m!("backup_size_bytes", G, &["source", "vault", "plan", "rule", "kind"], "Size of the newest successful backup: kind=logical is the size of its snapshot(s) (what a restore writes), kind=stored the bytes the vault stored for new data (compressed, encrypted)."),
    m!("backup_verification_status", G, &["vault"], "1 if the newest verification of the vault passed, 0 if it failed; absent if never verified."),
    m!("backup_verification_last_timestamp_seconds", G, &["vault"], "When the newest verification of the vault finished (Unix time)."),
    m!("backup_verification_coverage_ratio", G, &["vault"], "Share (0-1) of the vault's packs whose data was read and verified within the coverage window, as of the newest verification."),
    m!("coffer_prune_last_end_timestamp_seconds", G, &["vault"], "When the newest prune of the vault (not a dry run) ended (Unix time)."),
    m!("coffer_prune_last_state", G, &["vault", "state"], "1 for the final state (COMPLETED, PARTIAL, ABORTED, FAILED, EXPIRED) of the newest prune of the vault."),
    m!("coffer_prune_last_duration_seconds", G, &["vault"], "How long the newest prune of the vault ran."),
    m!("coffer_prune_last_freed_bytes", G, &["vault"], "Bytes the newest prune of the vault freed (deleted minus written by repacking)."),
    m!("coffer_prune_last_packs", G, &["vault", "action"], "Packs the newest prune of the vault deleted (action=deleted), repacked (repacked), left for a later run by max_repack_percent (deferred) or by the storage class's minimum storage duration (min_storage)."),
    m!("backup_storage_usage_bytes", G, &["vault"], "Sum of the sizes of the vault's objects, as last measured."),
    m!("coffer_storage_objects", G, &["vault"], "Objects in the vault, as last measured."),
    m!("coffer_storage_capacity_bytes", G, &["vault"], "Space the vault may use: its configured capacity, or the size of a local vault's file system."),
    m!("coffer_storage_free_bytes", G, &["vault"], "Space left: capacity minus usage, or a local vault's free file system space."),
    m!("coffer_storage_last_refresh_timestamp_seconds", G, &["vault"], "When the vault's storage was last measured successfully (Unix time)."),
    m!("coffer_storage_refresh_success", G, &["vault"], "1 if the last listing of the vault succeeded, 0 if it failed."),
    m!("coffer_snapshots", G, &["vault"], "Snapshots in the vault, as last measured."),
    m!("coffer_jobs_total", C, &["kind", "state"], "Finished jobs recorded in the catalog, by kind and final state."),
    m!("coffer_jobs_active", G, &["kind", "state"], "Jobs not yet finished (CREATED, PENDING, RUNNING), by kind and state."),
    m!("coffer_events_total", C, &["name", "severity"], "Events recorded in the catalog, by name."),
    m!("coffer_restore_test_status", G, &["source", "test"], "1 if the newest restore test of the source was SUCCESSFUL, 0 if it FAILED or TIMED_OUT (a SKIPPED one, with no snapshot to test yet, is passed over)."),
    m!("coffer_restore_test_last_timestamp_seconds", G, &["source", "test"], "When the newest restore test of the source finished (Unix time)."),
    m!("coffer_restore_test_last_restore_seconds", G, &["source"], "The last measured restore time of the source (restore tests), in seconds."),
    m!("coffer_rpo_target_seconds", G, &["source"], "The source's recovery point objective (rpo), in seconds."),
    m!("coffer_rpo_compliant", G, &["source"], "1 if the source's newest recovery point is younger than its RPO, 0 if not (health check)."),
    m!("coffer_recovery_point_timestamp_seconds", G, &["source"], "The newest good recovery point of the source (snapshot, or archived WAL), Unix time (health check)."),
    m!("coffer_rto_target_seconds", G, &["source"], "The source's recovery time objective (rto), in seconds."),
    m!("coffer_rto_compliant", G, &["source"], "1 if the last measured restore of the source was faster than its RTO, 0 if not (updated as soon as a restore test ends)."),
    m!("coffer_wal_archive_lag_seconds", G, &["source"], "Seconds since the newest archived WAL segment of a PostgreSQL source (health check)."),
    m!("coffer_wal_max_lag_seconds", G, &["source"], "The most WAL archive lag a postgres-base source allows: its max_wal_lag, else [anomaly] max_wal_lag (what the CofferWalArchiveLag alert compares to)."),
    m!("coffer_notifications_sent_total", C, &["sink"], "Notifications delivered, by sink."),
    m!("coffer_notifications_failed_total", C, &["sink"], "Notifications given up on after every retry, by sink."),
    m!("coffer_notification_retries_total", C, &["sink"], "Retried notification attempts, by sink."),
    m!("coffer_copy_lag_seconds", G, &["source", "plan", "rule", "destination"], "How far the newest copy in a rule's copy_to vault is behind the newest snapshot in the rule's vault, in seconds (health check, from the catalog's backup and copy jobs)."),
    m!("coffer_copy_max_lag_seconds", G, &["source", "plan", "rule", "destination"], "The copy_to entry's max_lag (default 1h), what the CofferCopyLag alert compares to."),
    m!("coffer_fleet_host_last_seen_timestamp_seconds", G, &["host"], "When the host's newest fleet record was written (Unix time), as the vaults' fleet records tell."),
    m!("coffer_fleet_host_silent", G, &["host"], "1 if the host has written no fleet record for longer than [fleet] silent_after, 0 if it reports."),
    m!("coffer_fleet_recovery_point_timestamp_seconds", G, &["host", "source"], "When the newest good backup of the host's source ended (Unix time), from the fleet records."),
    m!("coffer_fleet_rpo_compliant", G, &["host", "source"], "1 if the host's source has a good backup within its RPO, 0 if not (fleet records; absent without an RPO)."),
    m!("coffer_fleet_rto_compliant", G, &["host", "source"], "1 if the host's source's newest restore test passed within its RTO, 0 if not (fleet records)."),
];

/// The names of [`METRICS`].
pub fn metric_names() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.name).collect()
}

// ---------------------------------------------------------------------------
// Vault storage, measured in the background.

/// One vault's storage, as last measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VaultUsage {
    /// Sum of object sizes.
    pub bytes: u64,
    /// Objects.
    pub objects: u64,
    /// Snapshot objects.
    pub snapshots: u64,
    /// Capacity (configured, or a local file system's size).
    pub capacity: Option<u64>,
    /// Free space (capacity minus usage, or a local file system's free space).
    pub free: Option<u64>,
    /// When it was last measured successfully.
    pub measured_at: Option<Timestamp>,
    /// Whether the last measurement succeeded.
    pub ok: bool,
}

/// The storage measurements of every vault, shared by the monitor and the
/// scrapes.
#[derive(Debug, Default)]
pub struct StorageStats {
    vaults: Mutex<BTreeMap<String, VaultUsage>>,
}

impl StorageStats {
    /// The last measurement of each vault measured yet.
    pub fn snapshot(&self) -> BTreeMap<String, VaultUsage> {
        self.vaults.lock().expect("storage stats lock").clone()
    }
}

/// Measures every vault of a configuration: after each [`trigger`](Self::trigger)
/// and every `interval`.
pub struct StorageMonitor {
    stats: Arc<StorageStats>,
    tx: mpsc::Sender<()>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl StorageMonitor {
    /// Starts the monitor thread; it measures at once, then on triggers and
    /// every `interval`, until `stop` is set.
    pub fn start(
        config: &Config,
        interval: Duration,
        stop: Arc<AtomicBool>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> StorageMonitor {
        let stats = Arc::new(StorageStats::default());
        let (tx, rx) = mpsc::channel::<()>();
        let vaults = config.vaults.clone();
        let s2 = stats.clone();
        let handle = std::thread::Builder::new()
            .name("coffer-storage-monitor".into())
            .spawn(move || {
                let mut errors_told: HashMap<String, bool> = HashMap::new();
                while !stop.load(Ordering::SeqCst) {
                    for v in &vaults {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let old = s2.snapshot().get(&v.name).cloned().unwrap_or_default();
                        let u = match measure(v) {
                            Ok(u) => {
                                errors_told.remove(&v.name);
                                u
                            }
                            Err(e) => {
                                // Tell once per failure streak, not every refresh.
                                if errors_told.insert(v.name.clone(), true).is_none() {
                                    log(&format!(
                                        "cannot measure the storage of vault `{}`: {e}",
                                        v.name
                                    ));
                                }
                                VaultUsage { ok: false, ..old }
                            }
                        };
                        s2.vaults
                            .lock()
                            .expect("storage stats lock")
                            .insert(v.name.clone(), u);
                    }
                    // Wait for a trigger, the interval, or a stop (seen
                    // within a second).
                    let deadline = std::time::Instant::now() + interval;
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let left = deadline.saturating_duration_since(std::time::Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        match rx.recv_timeout(left.min(Duration::from_secs(1))) {
                            Ok(()) => {
                                while rx.try_recv().is_ok() {}
                                break;
                            }
                            Err(mpsc::RecvTimeoutError::Timeout) => {}
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                }
            })
            .expect("spawn the storage monitor thread");
        StorageMonitor {
            stats,
            tx,
            handle: Some(handle),
        }
    }

    /// The measurements (for [`render`]).
    pub fn stats(&self) -> Arc<StorageStats> {
        self.stats.clone()
    }

    /// Asks for a new measurement soon (a job ended).
    pub fn trigger(&self) {
        let _ = self.tx.send(());
    }

    /// Waits for the thread to end (after `stop` was set).
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Lists one vault.
fn measure(v: &crate::config::VaultConfig) -> crate::model::ServerResult<VaultUsage> {
    let backend = coffer_storage::open_location(&v.storage_url())?;
    let objects = backend
        .list("")
        .map_err(|source| coffer_core::Error::Storage {
            location: backend.location(),
            source,
        })?;
    let bytes: u64 = objects.iter().map(|o| o.size).sum();
    let snapshots = objects
        .iter()
        .filter(|o| {
            o.path
                .starts_with(coffer_core::ObjectKind::Snapshot.prefix())
        })
        .count() as u64;
    let (capacity, free) = match v.capacity {
        Some(c) => (Some(c), Some(c.saturating_sub(bytes))),
        None if !v.url.contains("://") => match fs_space(std::path::Path::new(&v.url)) {
            Some((total, avail)) => (Some(total), Some(avail)),
            None => (None, None),
        },
        None => (None, None),
    };
    Ok(VaultUsage {
        bytes,
        objects: objects.len() as u64,
        snapshots,
        capacity,
        free,
        measured_at: Some(Timestamp::now()),
        ok: true,
    })
}

/// A file system's size and the space available to unprivileged users.
// The statvfs field types differ between platforms (u32 or u64).
#[allow(clippy::useless_conversion)]
fn fs_space(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid
    // NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    let frsize = u64::from(st.f_frsize);
    Some((
        u64::from(st.f_blocks).saturating_mul(frsize),
        u64::from(st.f_bavail).saturating_mul(frsize),
    ))
}

// ---------------------------------------------------------------------------
// Rendering.

/// What a scrape reads besides the catalog.
pub struct MetricsSources<'a> {
    /// The configuration (rules, sources, vaults, RPO/RTO).
    pub config: &'a Config,
    /// The catalog.
    pub catalog: &'a Catalog,
    /// Vault storage measurements.
    pub storage: &'a StorageStats,
    /// Notification counters.
    pub notify: &'a crate::notify::NotifyStats,
    /// When the daemon started.
    pub started_at: Timestamp,
}

type Labels = Vec<(String, String)>;

/// Collects samples by metric name, then encodes them.
struct Out {
    gauges: HashMap<&'static str, Family<Labels, Gauge<f64, AtomicU64>>>,
    counters: HashMap<&'static str, Family<Labels, Counter<u64>>>,
}

impl Out {
    fn new() -> Out {
        let mut out = Out {
            gauges: HashMap::new(),
            counters: HashMap::new(),
        };
        for m in METRICS {
            match m.kind {
                MetricType::Gauge => {
                    out.gauges.insert(m.name, Family::default());
                }
                MetricType::Counter => {
                    out.counters.insert(m.name, Family::default());
                }
            }
        }
        out
    }

    fn labels(name: &str, values: &[&str]) -> Labels {
        let def = METRICS
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("metric {name} is not in METRICS"));
        assert_eq!(def.labels.len(), values.len(), "labels of {name}");
        def.labels
            .iter()
            .zip(values)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(&self, name: &str, labels: &[&str], v: f64) {
        self.gauges
            .get(name)
            .unwrap_or_else(|| panic!("gauge {name} is not in METRICS"))
            .get_or_create(&Self::labels(name, labels))
            .set(v);
    }

    fn count(&self, name: &str, labels: &[&str], v: u64) {
        self.counters
            .get(name)
            .unwrap_or_else(|| panic!("counter {name} is not in METRICS"))
            .get_or_create(&Self::labels(name, labels))
            .inc_by(v);
    }

    fn encode(self) -> String {
        let mut reg = Registry::default();
        let mut gauges = self.gauges;
        let mut counters = self.counters;
        for m in METRICS {
            match m.kind {
                MetricType::Gauge => {
                    let family = gauges.remove(m.name).expect("registered");
                    if m.labels.is_empty() {
                        // Without labels: `coffer_up 1`, not `coffer_up{} 1`.
                        let g = Gauge::<f64, AtomicU64>::default();
                        g.set(family.get_or_create(&Vec::new()).get());
                        reg.register(m.name, m.help, g)
                    } else {
                        reg.register(m.name, m.help, family)
                    }
                }
                MetricType::Counter => reg.register(
                    m.name
                        .strip_suffix("_total")
                        .expect("counters end in _total"),
                    m.help,
                    counters.remove(m.name).expect("registered"),
                ),
            }
        }
        let mut s = String::new();
        encode(&mut s, &reg).expect("encoding into a String cannot fail");
        s
    }
}

fn unix(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

fn one(catalog: &Catalog, f: JobFilter) -> Result<Option<Job>, CatalogError> {
    Ok(catalog
        .list_jobs(&JobFilter {
            limit: Some(1),
            ..f
        })?
        .into_iter()
        .next())
}

/// The metrics text (OpenMetrics, which Prometheus reads). Reads the
/// catalog: call it on a blocking thread.
pub fn render(src: &MetricsSources<'_>) -> Result<String, CatalogError> {
    let out = Out::new();
    let (config, catalog) = (src.config, src.catalog);
    out.set("coffer_up", &[], 1.0);
    out.set("coffer_build_info", &[env!("CARGO_PKG_VERSION")], 1.0);
    out.set(
        "coffer_daemon_start_time_seconds",
        &[],
        unix(src.started_at),
    );

    // Backups, per rule and source.
    for r in config.rules() {
        for s in &r.sources {
            let filter = JobFilter {
                kinds: vec![JobKind::Backup],
                plan: Some(r.plan.clone()),
                rule: Some(r.name.clone()),
                source: Some(s.clone()),
                ..JobFilter::default()
            };
            let l = [s.as_str(), &r.vault, &r.plan, &r.name];
            let ok = one(
                catalog,
                JobFilter {
                    states: vec![JobState::Completed, JobState::Partial],
                    ..filter.clone()
                },
            )?;
            if let Some(j) = &ok {
                if let Some(t) = j.finished_at {
                    out.set("backup_last_success_timestamp_seconds", &l, unix(t));
                }
                let sized = |kind: &str, v: u64| {
                    out.set(
                        "backup_size_bytes",
                        &[s.as_str(), &r.vault, &r.plan, &r.name, kind],
                        v as f64,
                    )
                };
                // The snapshot's size as recorded by the runner; older
                // jobs only have the bytes read.
                let logical = j
                    .details
                    .as_ref()
                    .and_then(|d| d.get("total_bytes"))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(j.counters.bytes_read);
                sized("logical", logical);
                sized("stored", j.counters.bytes_stored);
            }
            let last = one(
                catalog,
                JobFilter {
                    states: vec![
                        JobState::Completed,
                        JobState::Partial,
                        JobState::Failed,
                        JobState::Aborted,
                    ],
                    ..filter.clone()
                },
            )?;
            if let Some(j) = &last {
                if let (Some(a), Some(b)) = (j.started_at, j.finished_at) {
                    out.set(
                        "backup_duration_seconds",
                        &l,
                        b.duration_since(a).as_secs_f64(),
                    );
                }
            }
            let decided = one(
                catalog,
                JobFilter {
                    states: vec![JobState::Completed, JobState::Partial, JobState::Failed],
                    ..filter
                },
            )?;
            if let Some(j) = decided {
                let v = if j.state == JobState::Failed {
                    0.0
                } else {
                    1.0
                };
                out.set("backup_last_job_success", &l, v);
            }
        }
    }

    // Verification, per vault.
    for v in &config.vaults {
        // The status reports and `coffer verify` read too.
        if let Some(st) = crate::verify::last_status(catalog, &v.name)? {
            let l = [v.name.as_str()];
            let passed = if st.passed() { 1.0 } else { 0.0 };
            out.set("backup_verification_status", &l, passed);
            if let Some(t) = st.job.finished_at {
                out.set("backup_verification_last_timestamp_seconds", &l, unix(t));
            }
            if let Some(d) = &st.details {
                out.set(
                    "backup_verification_coverage_ratio",
                    &l,
                    (d.coverage_percent / 100.0).clamp(0.0, 1.0),
                );
            }
        }
    }

    // Prune, per vault: the newest run that was not a dry run.
    for v in &config.vaults {
        let Some(j) = crate::prune::last_run(catalog, &v.name)? else {
            continue;
        };
        let name = v.name.as_str();
        out.set("coffer_prune_last_state", &[name, j.state.as_str()], 1.0);
        if let Some(t) = j.finished_at {
            out.set("coffer_prune_last_end_timestamp_seconds", &[name], unix(t));
        }
        if let (Some(a), Some(b)) = (j.started_at, j.finished_at) {
            let secs = b.duration_since(a).as_secs_f64();
            out.set("coffer_prune_last_duration_seconds", &[name], secs);
        }
        let field = |k: &str| j.details.as_ref().and_then(|d| d.get(k)?.as_u64());
        if let Some(b) = field("bytes_freed") {
            out.set("coffer_prune_last_freed_bytes", &[name], b as f64);
        }
        let cold = j
            .details
            .as_ref()
            .and_then(|d| d.get("min_storage_skipped")?.get("packs")?.as_u64());
        for (action, n) in [
            ("deleted", field("packs_deleted")),
            ("repacked", field("packs_repacked")),
            ("deferred", field("packs_repack_deferred")),
            ("min_storage", cold.or(field("packs_deleted").map(|_| 0))),
        ] {
            if let Some(n) = n {
                out.set("coffer_prune_last_packs", &[name, action], n as f64);
            }
        }
    }

    // Storage, per vault.
    for (name, u) in src.storage.snapshot() {
        let l = [name.as_str()];
        out.set(
            "coffer_storage_refresh_success",
            &l,
            f64::from(u8::from(u.ok)),
        );
        if let Some(t) = u.measured_at {
            out.set("coffer_storage_last_refresh_timestamp_seconds", &l, unix(t));
            out.set("backup_storage_usage_bytes", &l, u.bytes as f64);
            out.set("coffer_storage_objects", &l, u.objects as f64);
            out.set("coffer_snapshots", &l, u.snapshots as f64);
        }
        if let Some(c) = u.capacity {
            out.set("coffer_storage_capacity_bytes", &l, c as f64);
        }
        if let Some(f) = u.free {
            out.set("coffer_storage_free_bytes", &l, f as f64);
        }
    }

    // Sources: restore tests, RPO, RTO, WAL.
    for s in &config.sources {
        let name = s.name.as_str();
        let tests = catalog.list_jobs(&JobFilter {
            kinds: vec![JobKind::RestoreTest],
            source: Some(s.name.clone()),
            // A SKIPPED test (no snapshot yet) is no result.
            states: JobState::VERDICT.to_vec(),
            limit: Some(50),
            ..JobFilter::default()
        })?;
        let mut seen_tests = Vec::new();
        let mut last_restore = None;
        // Newest first.
        let mut tests = tests;
        tests.sort_by_key(|j| std::cmp::Reverse(j.id.0));
        for j in &tests {
            let d = RestoreTestDetails::of(j);
            let test = d.as_ref().map(|d| d.test.clone()).unwrap_or_default();
            if last_restore.is_none() {
                last_restore = d.as_ref().and_then(|d| d.restore_seconds);
            }
            if seen_tests.contains(&test) {
                continue;
            }
            let ok = match &d {
                Some(d) => d.validation == Validation::Successful,
                None => matches!(j.state, JobState::Completed | JobState::Partial),
            };
            out.set(
                "coffer_restore_test_status",
                &[name, &test],
                f64::from(u8::from(ok)),
            );
            if let Some(t) = j.finished_at {
                out.set(
                    "coffer_restore_test_last_timestamp_seconds",
                    &[name, &test],
                    unix(t),
                );
            }
            seen_tests.push(test);
        }
        let health = SourceHealth::load(catalog, name)?;
        let last_restore = last_restore.or(health.as_ref().and_then(|h| h.last_restore_seconds));
        if let Some(r) = last_restore {
            out.set("coffer_restore_test_last_restore_seconds", &[name], r);
        }
        let rpo = s
            .rpo
            .map(|d| d.as_secs_f64())
            .or(health.as_ref().and_then(|h| h.rpo_seconds));
        if let Some(r) = rpo {
            out.set("coffer_rpo_target_seconds", &[name], r);
        }
        let rto = s
            .rto
            .map(|d| d.as_secs_f64())
            .or(health.as_ref().and_then(|h| h.rto_seconds));
        if let Some(r) = rto {
            out.set("coffer_rto_target_seconds", &[name], r);
        }
        if s.kind == crate::config::SourceKind::PostgresBase {
            let max = s.max_wal_lag.unwrap_or(config.anomaly.max_wal_lag);
            out.set(
                "coffer_wal_max_lag_seconds",
                &[name],
                max.as_secs_f64().max(0.0),
            );
        }
        if let Some(h) = &health {
            if let Some(ok) = h.rpo_ok {
                out.set("coffer_rpo_compliant", &[name], f64::from(u8::from(ok)));
            }
            if let Some(t) = h.newest_good_at {
                out.set("coffer_recovery_point_timestamp_seconds", &[name], unix(t));
            }
            if let Some(ok) = h.rto_ok {
                out.set("coffer_rto_compliant", &[name], f64::from(u8::from(ok)));
            }
            if let Some(l) = h.wal_lag_seconds {
                out.set("coffer_wal_archive_lag_seconds", &[name], l);
            }
        }
    }

    // Jobs and events.
    // Every kind and final state, and every event name, from zero: so that
    // `increase()` sees the first failure or anomaly too.
    let jobs = catalog.job_counts()?;
    for kind in JobKind::ALL {
        for state in JobState::ALL {
            let n = jobs
                .iter()
                .find(|(k, s, _)| k == kind && s == state)
                .map_or(0, |x| x.2);
            let l = [kind.as_str(), state.as_str()];
            if state.is_final() {
                out.count("coffer_jobs_total", &l, n);
            } else {
                out.set("coffer_jobs_active", &l, n as f64);
            }
        }
    }
    let events = catalog.event_counts()?;
    for name in EventName::ALL {
        let n = events.iter().find(|(e, _)| e == name).map_or(0, |x| x.1);
        out.count(
            "coffer_events_total",
            &[name.as_str(), name.severity().as_str()],
            n,
        );
    }
    // Notifications: every configured sink, zero until it sends.
    let counts = src.notify.snapshot();
    for n in &config.notify {
        let c = counts.get(&n.name).copied().unwrap_or_default();
        let l = [n.name.as_str()];
        out.count("coffer_notifications_sent_total", &l, c.sent);
        out.count("coffer_notifications_failed_total", &l, c.failed);
        out.count("coffer_notification_retries_total", &l, c.retries);
    }
    // Copy lag, per rule, source and copy target, as the health check
    // last evaluated it (once a minute).
    for l in crate::health::stored_copy_lags(catalog)? {
        let labels = [
            l.source.as_str(),
            l.plan.as_str(),
            l.rule.as_str(),
            l.destination.as_str(),
        ];
        out.set("coffer_copy_lag_seconds", &labels, l.lag_seconds);
        out.set("coffer_copy_max_lag_seconds", &labels, l.max_lag_seconds);
    }
    // The fleet, as the fleet thread last read it from the vaults.
    let fleet = crate::fleet::view::stored(catalog)?;
    for h in &fleet.hosts {
        let l = [h.host.as_str()];
        out.set(
            "coffer_fleet_host_last_seen_timestamp_seconds",
            &l,
            unix(h.last_seen),
        );
        out.set(
            "coffer_fleet_host_silent",
            &l,
            f64::from(u8::from(h.silent)),
        );
        for s in &h.sources {
            let l = [h.host.as_str(), s.source.as_str()];
            if let Some(t) = s.newest_good_at {
                out.set("coffer_fleet_recovery_point_timestamp_seconds", &l, unix(t));
            }
            if let Some(ok) = s.rpo_ok {
                out.set("coffer_fleet_rpo_compliant", &l, f64::from(u8::from(ok)));
            }
            if let Some(ok) = s.rto_ok {
                out.set("coffer_fleet_rto_compliant", &l, f64::from(u8::from(ok)));
            }
        }
    }
    Ok(out.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_conventions() {
        let mut names = metric_names();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a metric is listed twice");
        for m in METRICS {
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == MetricType::Counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
            assert!(m.help.ends_with('.'), "{}", m.name);
        }
    }

    #[test]
    fn renders_from_an_empty_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::parse(
            "[[vault]]\nname = \"v\"\nurl = \"/nonexistent\"\nkey_file = \"k\"\n",
            &dir.path().join("c.toml"),
        )
        .unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let text = render(&MetricsSources {
            config: &cfg,
            catalog: &catalog,
            storage: &StorageStats::default(),
            notify: &crate::notify::NotifyStats::default(),
            started_at: Timestamp::UNIX_EPOCH,
        })
        .unwrap();
        assert!(text.contains("\ncoffer_up 1.0\n"), "{text}");
        assert!(text.contains("# TYPE coffer_jobs counter"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Every metric has its HELP line, even without samples.
        for m in METRICS {
            let family = m.name.strip_suffix("_total").unwrap_or(m.name);
            assert!(text.contains(&format!("# HELP {family} ")), "{}", m.name);
        }
    }

    #[test]
    fn issue19_each_wal_source_exports_its_max_wal_lag() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::parse(
            r#"
[[vault]]
name = "v"
url = "/nonexistent"
key_file = "k"
[[source]]
name = "pg"
kind = "postgres-base"
url = "postgres://localhost/"
max_wal_lag = "15m"
[[source]]
name = "pg2"
kind = "postgres-base"
url = "postgres://localhost/"
[[source]]
name = "files"
kind = "files"
paths = ["/srv"]
[anomaly]
max_wal_lag = "2h"
"#,
            &dir.path().join("c.toml"),
        )
        .unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let text = render(&MetricsSources {
            config: &cfg,
            catalog: &catalog,
            storage: &StorageStats::default(),
            notify: &crate::notify::NotifyStats::default(),
            started_at: Timestamp::UNIX_EPOCH,
        })
        .unwrap();
        assert!(
            text.contains("coffer_wal_max_lag_seconds{source=\"pg\"} 900.0"),
            "{text}"
        );
        assert!(
            text.contains("coffer_wal_max_lag_seconds{source=\"pg2\"} 7200.0"),
            "{text}"
        );
        assert!(
            !text.contains("coffer_wal_max_lag_seconds{source=\"files\"}"),
            "{text}"
        );
    }
}
