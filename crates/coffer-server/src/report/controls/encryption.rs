//! The controls on a vault's encryption and keys: `encryption` (every vault
//! opens as a coffer vault, always encrypted: the evidence is its cipher and
//! format version) and `key-age` (every key slot of every vault, and its key
//! epoch, began within `[compliance] key_rotation`, default 90 days; a slot
//! whose `created` does not parse (age unknown) or that is damaged fails).

use crate::model::ServerResult;
use std::collections::BTreeMap;

use coffer_core::Vault;
use jiff::Timestamp;

use super::evidence::unprefixed;
use crate::config::Config;
use crate::report::control::Control;
use crate::report::duration::human;

/// `encryption`: every vault in use opens, and says how it is encrypted.
pub(in crate::report) fn encryption(
    used: &[String],
    opened: &BTreeMap<String, ServerResult<Vault>>,
) -> Control {
    let mut c = Control::new(
        "encryption",
        "Every snapshot is encrypted (authenticated encryption of every object)".into(),
    );
    for name in used {
        match &opened[name] {
            Ok(v) => {
                let vc = v.config();
                c.ok(format!(
                    "vault `{name}`: {} format version {}, every object sealed with XChaCha20-Poly1305 \
                     (random nonces), object names keyed hashes, key epoch {} wrapped per key slot",
                    vc.format,
                    vc.version,
                    v.epoch().generation
                ));
            }
            Err(e) => c.fail(format!(
                "vault `{name}`: cannot be opened to show its encryption: {}",
                unprefixed(name, &e.message)
            )),
        }
    }
    c.judged()
}

/// `key-age`: every key slot and the key epoch of every vault in use
/// began within the rotation period.
pub(in crate::report) fn key_age(
    config: &Config,
    now: Timestamp,
    used: &[String],
    opened: &BTreeMap<String, ServerResult<Vault>>,
) -> Control {
    let cc = &config.compliance;
    let mut c = Control::new(
        "key-age",
        format!(
            "Every key slot was added within the rotation period of {}",
            human(cc.key_rotation)
        ),
    );
    for name in used {
        let vault = match &opened[name] {
            Ok(v) => v,
            Err(e) => {
                c.fail(format!(
                    "vault `{name}`: cannot be opened to list its key slots: {}",
                    unprefixed(name, &e.message)
                ));
                continue;
            }
        };
        let (slots, damaged) = match coffer_core::keys::list_slots_checked(vault.backend().as_ref())
        {
            Ok(l) => l,
            Err(e) => {
                c.fail(format!("vault `{name}`: cannot list its key slots: {e}"));
                continue;
            }
        };
        for s in &slots {
            let slot = format!(
                "vault `{name}`: key slot {} ({:?})",
                s.id.short(),
                s.slot.label
            );
            match coffer_core::keys::slot_age(&s.slot, now) {
                Some(age) if age > cc.key_rotation => c.fail(format!(
                    "{slot} was added {} ago ({}), more than the rotation period: rotate the key (coffer key rotate), or add a new slot and remove this one (coffer key add, coffer key remove)",
                    human(age),
                    s.slot.created
                )),
                Some(age) => c.ok(format!("{slot} was added {} ago", human(age))),
                None => c.fail(format!(
                    "{slot}: age unknown (its created time {:?} does not parse): replace it with a new slot",
                    s.slot.created
                )),
            }
        }
        for d in &damaged {
            c.fail(format!("vault `{name}`: {d}: its age cannot be judged"));
        }
        // The key epoch ages too: new slots of an old epoch wrap an old key.
        let epoch = vault.epoch();
        let what = format!("vault `{name}`: key epoch {}", epoch.generation);
        match epoch.created.parse::<jiff::Timestamp>() {
            Ok(t) => {
                let age = now.duration_since(t).max(jiff::SignedDuration::ZERO);
                if age > cc.key_rotation {
                    c.fail(format!(
                        "{what} began {} ago ({}), more than the rotation period: start a new one (coffer key rotate)",
                        human(age),
                        epoch.created
                    ))
                } else {
                    c.ok(format!("{what} began {} ago", human(age)))
                }
            }
            Err(_) => c.fail(format!(
                "{what}: age unknown (its start {:?} does not parse): start a new one (coffer key rotate)",
                epoch.created
            )),
        }
    }
    c.judged()
}
