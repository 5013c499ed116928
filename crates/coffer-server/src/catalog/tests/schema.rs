//! Opening the catalog: migrations, pragmas, refusals.

use super::fixtures::ts;
use crate::catalog::{Catalog, CatalogError, JobKind, NewJob, Trigger, SCHEMA_VERSION};

#[test]
fn migration_from_an_empty_file_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("catalog.sqlite");
    std::fs::write(&path, b"").unwrap();
    let c = Catalog::open_file(&path).unwrap();
    assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
    let id = c
        .create_job(&NewJob::new(JobKind::Verify, Trigger::Cli))
        .unwrap();
    c.set_last_scheduled("p", "r", ts("2026-03-01T02:00:00Z"))
        .unwrap();
    let mode: String = c
        .lock()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = c
        .lock()
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    drop(c);
    // Reopening keeps the data and migrates nothing.
    let c = Catalog::open(tmp.path()).unwrap();
    assert_eq!(c.get_job(id).unwrap().kind, JobKind::Verify);
    assert_eq!(
        c.last_scheduled("p", "r").unwrap(),
        Some(ts("2026-03-01T02:00:00Z"))
    );
}

#[test]
fn a_newer_schema_or_another_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Catalog::open(tmp.path()).unwrap();
    c.lock()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    let e = Catalog::open(tmp.path()).unwrap_err();
    assert!(
        matches!(e, CatalogError::NewerSchema { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{e}"
    );
    assert!(e.to_string().contains("catalog.sqlite"), "{e}");

    let other = tmp.path().join("not-a-db");
    std::fs::write(&other, vec![b'x'; 4096]).unwrap();
    let e = Catalog::open_file(&other).unwrap_err();
    assert!(matches!(e, CatalogError::Open { .. }), "{e}");
    assert!(e.to_string().contains("not-a-db"), "{e}");

    let e = Catalog::open_existing(&tmp.path().join("nothing")).unwrap_err();
    assert!(matches!(e, CatalogError::Missing { .. }), "{e}");
    assert!(!tmp.path().join("nothing").exists());
}
