//! Tests of init and open: a location that lost its `config`, an
//! interrupted init, an empty location.

use super::config::CONFIG;
use super::*;
use crate::backend::{Backend, ObjectKind};
use crate::format::keys::Secret;
use crate::test_backend::Mem;
use std::sync::Arc;

fn secret() -> Secret {
    Secret::KeyFile([7; 32])
}

#[test]
fn a_location_that_lost_its_config_is_never_initialized_again() {
    let b: Arc<dyn Backend> = Arc::new(Mem::default());
    let v = Vault::init(b.clone(), &secret(), &InitOptions::default()).unwrap();
    v.save_object(ObjectKind::Snapshot, b"{}").unwrap();
    b.delete(CONFIG).unwrap();
    let keys_before = b.list("keys/").unwrap().len();
    for e in [
        Vault::init(b.clone(), &secret(), &InitOptions::default())
            .err()
            .unwrap(),
        Vault::open(b.clone(), &secret()).err().unwrap(),
        Vault::check_can_init(b.as_ref()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), crate::ErrorKind::Damaged, "{e}");
        let m = e.to_string();
        assert!(
            m.contains("`config` object is missing") && m.contains("snapshots/"),
            "{m}"
        );
    }
    assert!(!Vault::exists(b.as_ref()).unwrap());
    assert_eq!(b.list("keys/").unwrap().len(), keys_before);
}

#[test]
fn an_interrupted_init_or_an_empty_location_can_be_initialized() {
    let b: Arc<dyn Backend> = Arc::new(Mem::default());
    let e = Vault::open(b.clone(), &secret()).err().unwrap();
    assert_eq!(e.kind(), crate::ErrorKind::NotFound, "{e}");
    // An init that stopped after its key slot left only that slot.
    let v = Vault::init(b.clone(), &secret(), &InitOptions::default()).unwrap();
    b.delete(CONFIG).unwrap();
    drop(v);
    Vault::init(b.clone(), &secret(), &InitOptions::default()).unwrap();
    Vault::open(b.clone(), &secret()).unwrap();
    // Files a vault does not name its objects like are no vault.
    let c: Arc<dyn Backend> = Arc::new(Mem::default());
    c.write("index/index.html", b"<html>".to_vec()).unwrap();
    Vault::init(c, &secret(), &InitOptions::default()).unwrap();
}
