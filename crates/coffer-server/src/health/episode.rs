//! Episodes: a violation raises one event when it begins, not one per
//! evaluation. The open episode is kept in the catalog's key-value table
//! under a key of its own; it closes when the source is back within its
//! objective, and the next violation is a new episode with a new event.

use crate::catalog::{Catalog, CatalogError};
use jiff::Timestamp;

/// Opens or closes an episode kept under `key`: returns true when `violated`
/// begins a new one (the caller emits its event).
pub(crate) fn episode(
    catalog: &Catalog,
    key: &str,
    violated: Option<bool>,
    now: Timestamp,
) -> Result<bool, CatalogError> {
    let open = catalog.kv_get(key)?.is_some_and(|v| v.starts_with("open"));
    match violated {
        Some(true) if !open => {
            catalog.kv_set(key, &format!("open since {now}"))?;
            Ok(true)
        }
        Some(false) if open => {
            catalog.kv_set(key, &format!("closed at {now}"))?;
            Ok(false)
        }
        _ => Ok(false),
    }
}
