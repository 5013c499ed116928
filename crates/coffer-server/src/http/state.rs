//! [`AppState`]: what every handler of the daemon's HTTP server can read
//! (the configuration, the catalog, storage and notification counters).
//! It sits below the listener, the API and the dashboard, so none of them
//! needs the daemon that builds it.

use crate::catalog::Catalog;
use crate::config::Config;
use crate::metrics::StorageStats;
use crate::notify::NotifyStats;
use jiff::Timestamp;
use std::sync::Arc;

/// What every handler can read.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the daemon runs.
    pub config: Arc<Config>,
    /// The catalog (read it in `spawn_blocking`).
    pub catalog: Arc<Catalog>,
    /// Vault storage measurements.
    pub storage: Arc<StorageStats>,
    /// Notification counters.
    pub notify: Arc<NotifyStats>,
    /// When the daemon started.
    pub started_at: Timestamp,
}
