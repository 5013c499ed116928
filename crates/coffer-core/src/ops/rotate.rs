//! Key rotation: a new key epoch, and the revocation of every slot that is
//! not carried over.
//!
//! `rotate` runs, in this order, each step safe to stop after:
//!
//! 1. checks: the key is of the newest epoch, no writer session is live
//!    (a backup that began before the rotation would go on sealing under the
//!    old epoch), and each secret to keep opens a slot of this vault;
//! 2. writes the new epoch's keyring (nothing opens it yet: stopping here
//!    leaves an unused keyring and changes nothing);
//! 3. for a version-1 vault, rewrites `config` as version 2;
//! 4. writes one slot of the new epoch per secret kept (from here on, those
//!    secrets open the new epoch; older slots still open the old one, whose
//!    key may read but no longer write);
//! 5. deletes every slot of an older epoch: the revocation.
//!
//! Rerunning after a stop at any step finishes the job (it starts yet
//! another epoch, which is harmless).

use serde::Serialize;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::keys::{self, epoch, Secret, SlotInfo, SlotKind};
use crate::vault::handle::Vault;

/// What to rotate with.
pub struct RotateOptions<'a> {
    /// The secret that opened the vault: its slot is carried over.
    pub opener: &'a Secret,
    /// Secrets of other slots to carry over (each must open a slot of the
    /// vault's current epoch). Every other slot is revoked.
    pub keep: &'a [Secret],
}

/// A slot of the new epoch, made for a kept secret.
#[derive(Debug, Clone, Serialize)]
pub struct CarriedSlot {
    /// The new slot.
    pub id: Id,
    /// The slot of the old epoch it replaces (deleted).
    pub replaces: Id,
    /// Password or key file.
    pub kind: SlotKind,
    /// The label, carried over.
    pub label: String,
}

/// A slot the rotation revoked.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedSlot {
    /// The slot (deleted).
    pub id: Id,
    /// Password or key file.
    pub kind: SlotKind,
    /// Its label.
    pub label: String,
    /// Who added it.
    pub hostname: String,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RotateStats {
    /// The new epoch's generation.
    pub generation: u32,
    /// Its keyring object (`epochs/<id>`).
    pub keyring: Id,
    /// Whether `config` was rewritten from version 1 to 2.
    pub upgraded_format: bool,
    /// Slots of the new epoch.
    pub carried: Vec<CarriedSlot>,
    /// Slots of older epochs that were deleted and not carried over.
    pub revoked: Vec<RevokedSlot>,
    /// Slots skipped as damaged, left in place (`coffer key remove` them):
    /// at most they wrap an old epoch's secret.
    pub damaged: Vec<String>,
}

/// Starts a new key epoch: see the module documentation.
pub fn rotate(vault: &Vault, opts: &RotateOptions<'_>) -> Result<RotateStats> {
    vault.check_current_epoch()?;
    let backend = vault.backend().as_ref();
    let vault_id = &vault.config().id;
    let now = jiff::Timestamp::now();
    let live: Vec<String> = crate::format::session::list(vault)?
        .0
        .into_iter()
        .filter(|(_, s)| s.is_live(now))
        .map(|(_, s)| s.describe())
        .collect();
    if !live.is_empty() {
        return Err(Error::InvalidInput(format!(
            "vault {}: key rotation refused while writers run ({}): they would go on writing under \
             the old key epoch. Run it when they have finished (a killed writer's session counts as \
             running for {} minutes after its last refresh)",
            backend.location(),
            live.join("; "),
            crate::format::session::SESSION_LIVE.as_secs() / 60
        )));
    }
    // Which slot each kept secret opens: all of this vault's current key.
    let (slots, problems) = keys::list_slots_checked(backend)?;
    let find = |id: Id| slots.iter().find(|s| s.id == id).cloned();
    let mut kept: Vec<(&Secret, SlotInfo)> = Vec::new();
    let opener_slot = find(vault.slot()).ok_or_else(|| {
        Error::not_found(format!(
            "key slot {} that opened the vault (removed meanwhile?)",
            vault.slot().short()
        ))
    })?;
    kept.push((opts.opener, opener_slot));
    for (i, secret) in opts.keep.iter().enumerate() {
        let opened = keys::open(backend, vault_id, secret).map_err(|e| match e {
            Error::WrongKey { .. } => Error::InvalidInput(format!(
                "the {} secret to keep (number {}) opens no key slot of vault {}: nothing was changed",
                secret.kind().name(),
                i + 1,
                backend.location()
            )),
            e => e,
        })?;
        if opened.key.generation() != vault.key().generation() {
            return Err(Error::InvalidInput(format!(
                "the secret to keep number {} opens key slot {} of an older key epoch: nothing was changed",
                i + 1,
                opened.slot.short()
            )));
        }
        if kept.iter().any(|(_, s)| s.id == opened.slot) {
            continue;
        }
        let info = find(opened.slot)
            .ok_or_else(|| Error::not_found(format!("key slot {}", opened.slot.short())))?;
        kept.push((secret, info));
    }
    let generation = slots
        .iter()
        .map(|s| s.slot.epoch)
        .max()
        .unwrap_or(0)
        .max(vault.key().generation())
        + 1;
    let (new_key, keyring) = epoch::write(
        backend,
        vault_id,
        vault.key(),
        epoch::next(vault.key(), generation),
    )?;
    let upgraded_format = vault.upgrade_format()?;
    let mut carried = Vec::new();
    for (secret, old) in &kept {
        // The old slot's Argon2id parameters, unless weaker than a new
        // slot may have.
        let kdf = old.slot.kdf.filter(|k| k.check_new().is_ok());
        let id = keys::add_slot(backend, vault_id, &new_key, secret, &old.slot.label, kdf)?;
        carried.push(CarriedSlot {
            id,
            replaces: old.id,
            kind: old.slot.kind,
            label: old.slot.label.clone(),
        });
    }
    // Another rotation at the same time made slots of this generation
    // under another keyring: stop before deleting anything, so both stay
    // usable, and say so.
    let (now_slots, _) = keys::list_slots_checked(backend)?;
    let ours = keyring.to_hex();
    if let Some(other) = now_slots
        .iter()
        .find(|s| s.slot.epoch >= generation && s.slot.keyring.as_deref() != Some(ours.as_str()))
    {
        return Err(Error::InvalidInput(format!(
            "vault {}: another key rotation ran at the same time (key slot {} is of epoch {}): \
             no slot was revoked; check `coffer key list` and run the rotation again",
            backend.location(),
            other.id.short(),
            other.slot.epoch
        )));
    }
    let mut revoked = Vec::new();
    for s in now_slots.iter().filter(|s| s.slot.epoch < generation) {
        backend
            .delete(&ObjectKind::Key.path(&s.id))
            .map_err(|e| vault.storage_err(e))?;
        if !kept.iter().any(|(_, k)| k.id == s.id) {
            revoked.push(RevokedSlot {
                id: s.id,
                kind: s.slot.kind,
                label: s.slot.label.clone(),
                hostname: s.slot.hostname.clone(),
            });
        }
    }
    Ok(RotateStats {
        generation,
        keyring,
        upgraded_format,
        carried,
        revoked,
        damaged: problems.into_iter().map(|p| p.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::format::keys::KdfParams;
    use crate::test_backend::Mem;
    use std::sync::Arc;

    const QUICK: KdfParams = KdfParams {
        m_kib: keys::kdf_bounds::MIN_NEW_M_KIB,
        t: 5,
        p: 1,
    };

    fn quick_vault(b: &Arc<Mem>) -> (Vault, Secret) {
        let admin = Secret::KeyFile([1; 32]);
        let v = Vault::init(b.clone(), &admin, &Default::default()).unwrap();
        (v, admin)
    }

    #[test]
    fn rotation_revokes_what_is_not_kept_and_new_data_is_out_of_its_reach() {
        let b = Arc::new(Mem::default());
        let (v, admin) = quick_vault(&b);
        let host = Secret::KeyFile([2; 32]);
        let leaver = Secret::Password("leaver".into());
        v.add_key(&host, "host", None).unwrap();
        v.add_key(&leaver, "leaver", Some(QUICK)).unwrap();
        let before = v.save_object(ObjectKind::Lock, b"before").unwrap();
        // The leaver keeps a copy of their slot, and of the vault key.
        let leaver_slots: Vec<(String, Vec<u8>)> = b
            .list("keys/")
            .unwrap()
            .into_iter()
            .map(|o| (o.path.clone(), b.read(&o.path).unwrap()))
            .collect();
        let stolen = Vault::open(b.clone(), &leaver).unwrap();
        let stats = rotate(
            &v,
            &RotateOptions {
                opener: &admin,
                keep: std::slice::from_ref(&host),
            },
        )
        .unwrap();
        assert_eq!(stats.generation, 1);
        assert_eq!(stats.carried.len(), 2);
        assert_eq!(stats.revoked.len(), 1);
        assert_eq!(stats.revoked[0].label, "leaver");
        assert_eq!(b.list("keys/").unwrap().len(), 2);
        // The leaver's secret opens nothing now.
        assert!(Vault::open(b.clone(), &leaver).is_err());
        // The kept secrets open the new epoch and read both epochs.
        let v1 = Vault::open(b.clone(), &host).unwrap();
        assert_eq!(v1.epoch().generation, 1);
        let after = v1.save_object(ObjectKind::Lock, b"after").unwrap();
        let admin1 = Vault::open(b.clone(), &admin).unwrap();
        assert_eq!(
            admin1.load_object(ObjectKind::Lock, &before).unwrap(),
            b"before"
        );
        assert_eq!(
            admin1.load_object(ObjectKind::Lock, &after).unwrap(),
            b"after"
        );
        // The leaver's key kept from before reads old data, not new.
        assert!(stolen.load_object(ObjectKind::Lock, &before).is_ok());
        assert!(stolen.load_object(ObjectKind::Lock, &after).is_err());
        // Nor does their slot put back (an old version on a versioned
        // bucket): it opens the old epoch, which reads but never writes.
        for (path, body) in &leaver_slots {
            b.write(path, body.clone()).unwrap();
        }
        let back = Vault::open(b.clone(), &leaver).unwrap();
        assert!(back.load_object(ObjectKind::Lock, &after).is_err());
        let e = back
            .save_object(ObjectKind::Lock, b"x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("rotated to epoch 1"), "{e}");
        assert!(back.add_key(&Secret::KeyFile([9; 32]), "", None).is_err());
        // The vault is version 2 now, and a second rotation goes on.
        assert_eq!(Vault::read_config(b.as_ref()).unwrap().version, 2);
        let s2 = rotate(
            &admin1,
            &RotateOptions {
                opener: &admin,
                keep: &[],
            },
        )
        .unwrap();
        assert_eq!(s2.generation, 2);
        let admin2 = Vault::open(b.clone(), &admin).unwrap();
        assert_eq!(
            admin2.load_object(ObjectKind::Lock, &before).unwrap(),
            b"before"
        );
        assert_eq!(
            admin2.load_object(ObjectKind::Lock, &after).unwrap(),
            b"after"
        );
        assert!(Vault::open(b.clone(), &host).is_err(), "host was not kept");
    }

    #[test]
    fn a_secret_to_keep_that_opens_nothing_changes_nothing() {
        let b = Arc::new(Mem::default());
        let (v, admin) = quick_vault(&b);
        let before: Vec<String> = b.list("").unwrap().into_iter().map(|o| o.path).collect();
        let e = rotate(
            &v,
            &RotateOptions {
                opener: &admin,
                keep: &[Secret::KeyFile([5; 32])],
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("opens no key slot") && e.contains("nothing was changed"),
            "{e}"
        );
        let after: Vec<String> = b.list("").unwrap().into_iter().map(|o| o.path).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn a_live_writer_session_holds_the_rotation_back() {
        let b = Arc::new(Mem::default());
        let (v, admin) = quick_vault(&b);
        let g = crate::SessionGuard::start(&v, crate::SessionKind::Backup).unwrap();
        let e = rotate(
            &v,
            &RotateOptions {
                opener: &admin,
                keep: &[],
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("while writers run"), "{e}");
        drop(g);
        rotate(
            &v,
            &RotateOptions {
                opener: &admin,
                keep: &[],
            },
        )
        .unwrap();
    }
}
