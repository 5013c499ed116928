//! Opening the catalog: `catalog.sqlite` in the state directory, its
//! pragmas (WAL mode, so that readers never wait for the writer; a busy
//! timeout of [`BUSY_TIMEOUT`]; foreign keys), and bringing its schema up
//! to date.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;

use super::database::Catalog;
use super::error::{CatalogError, Result};
use super::liveness::Owner;

/// The name of the catalog file inside the state directory.
pub const CATALOG_FILE: &str = "catalog.sqlite";

/// How long a connection waits for another process's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

impl Catalog {
    /// Opens `catalog.sqlite` in `state_dir`, creating the directory (0700)
    /// and the database as needed, and bringing its schema up to date.
    pub fn open(state_dir: &Path) -> Result<Catalog> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(state_dir)
            .map_err(|source| CatalogError::Io {
                path: state_dir.to_path_buf(),
                source,
            })?;
        Self::open_file(&state_dir.join(CATALOG_FILE))
    }

    /// Opens the catalog of `state_dir` only if it exists
    /// ([`CatalogError::Missing`] otherwise).
    pub fn open_existing(state_dir: &Path) -> Result<Catalog> {
        let path = state_dir.join(CATALOG_FILE);
        if !path.exists() {
            return Err(CatalogError::Missing { path });
        }
        Self::open_file(&path)
    }

    /// Opens (or creates) a catalog database at `path`.
    pub fn open_file(path: &Path) -> Result<Catalog> {
        let open_err = |source| CatalogError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers (coffer jobs) never block the daemon's writes, nor the
        // reverse. The mode is stored in the file; setting it again is a no-op.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "the job catalog is not in WAL mode");
        }
        // NORMAL is durable against process crashes in WAL mode; a power
        // loss can lose the last commits, acceptable for a record.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        let mut catalog = Catalog {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            clock: Arc::new(Timestamp::now),
            owner: Owner::current(),
        };
        catalog.migrate()?;
        Ok(catalog)
    }
}
