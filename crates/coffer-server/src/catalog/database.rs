//! The [`Catalog`] value: its database file and one SQLite connection
//! (calls are serialised on it, so one value can be shared by threads), its
//! clock and owning process, and the transactions every table's methods
//! run in: every write is one `BEGIN IMMEDIATE` transaction (it takes the
//! write lock up front, so two writers queue instead of failing on a lock
//! upgrade); reads run one implicit snapshot per statement.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use rusqlite::{Connection, TransactionBehavior};

use super::error::{CatalogError, Result};
use super::liveness::Owner;

pub(super) type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The job catalog. See the [module documentation](crate::catalog).
pub struct Catalog {
    pub(super) path: PathBuf,
    pub(super) conn: Mutex<Connection>,
    pub(super) clock: Clock,
    pub(super) owner: Owner,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

/// An error inside a transaction: SQLite's (named by the operation later)
/// or already a catalog error.
pub(super) enum TxError {
    Sql(rusqlite::Error),
    Catalog(CatalogError),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<CatalogError> for TxError {
    fn from(e: CatalogError) -> Self {
        TxError::Catalog(e)
    }
}

pub(super) type TxResult<T> = std::result::Result<T, TxError>;

impl Catalog {
    /// Uses `clock` instead of the system clock for every time the catalog
    /// records (creation, start, finish, events): for a daemon driven by a
    /// simulated clock in tests, and for tests of time filters.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at most an open transaction,
        // which rusqlite rolled back when it unwound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn map_err(&self, op: &'static str, e: TxError) -> CatalogError {
        match e {
            TxError::Catalog(c) => c,
            TxError::Sql(source) => CatalogError::Sqlite {
                path: self.path.clone(),
                op,
                source,
            },
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; rolls back on error.
    pub(super) fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> TxResult<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> TxResult<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        };
        run(&mut conn).map_err(|e| self.map_err(op, e))
    }

    /// Runs a read (one implicit snapshot per statement; WAL readers do
    /// not wait for writers).
    pub(super) fn read<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> TxResult<T>,
    ) -> Result<T> {
        let conn = self.lock();
        f(&conn).map_err(|e| self.map_err(op, e))
    }

    pub(super) fn now(&self) -> Timestamp {
        (self.clock)()
    }
}
