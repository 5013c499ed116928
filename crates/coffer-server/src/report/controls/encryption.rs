//! The controls on a vault's encryption and keys: `encryption` (every vault
//! opens as a coffer vault, always encrypted: the evidence is what was read
//! from it, its format version, AEAD, key slots by kind with their KDF
//! parameters and its key epoch; a password slot weaker than a new one may
//! be fails) and `key-age` (every key slot of every vault, and its key
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

/// `encryption`: every vault in use opens, and says how it is encrypted,
/// as read from it ([`Vault::key_summary`]): format version, AEAD, key
/// slots by kind with their KDF, the current key epoch. A vault that does
/// not open, or a password slot weaker than a new one may be, fails.
pub(in crate::report) fn encryption(
    used: &[String],
    opened: &BTreeMap<String, ServerResult<Vault>>,
) -> Control {
    let mut c = Control::new(
        "encryption",
        "Every snapshot is encrypted (authenticated encryption of every object)".into(),
    );
    for name in used {
        let vault = match &opened[name] {
            Ok(v) => v,
            Err(e) => {
                c.fail(format!(
                    "vault `{name}`: cannot be opened to show its encryption: {}",
                    unprefixed(name, &e.message)
                ));
                continue;
            }
        };
        match vault.key_summary() {
            Ok(k) => {
                c.ok(describe(name, &k));
                for s in &k.slots {
                    if let Some(p) = s.slot.argon2_params() {
                        if let Err(e) = p.check_new() {
                            c.fail(format!(
                                "vault `{name}`: password key slot {}: {e}: add a stronger one \
                                 (coffer key add) and remove this one (coffer key remove)",
                                s.id.short()
                            ));
                        }
                    }
                }
            }
            Err(e) => c.fail(format!(
                "vault `{name}`: opens, but its key slots cannot be listed: {e}"
            )),
        }
    }
    c.judged()
}

/// One vault's evidence line: `vault `v`: coffer-vault format version 2,
/// objects sealed with XChaCha20-Poly1305, key epoch 0; 2 key slots: …`.
fn describe(name: &str, k: &coffer_core::KeySummary) -> String {
    use coffer_core::keys::SlotKind;
    let mut kinds = Vec::new();
    for kind in [SlotKind::KeyFile, SlotKind::Password] {
        let slots: Vec<_> = k.slots.iter().filter(|s| s.slot.kind == kind).collect();
        if slots.is_empty() {
            continue;
        }
        // Argon2id parameters, each set once with how many slots use it.
        let mut argon: BTreeMap<(u32, u32, u32), usize> = BTreeMap::new();
        for p in slots.iter().filter_map(|s| s.slot.argon2_params()) {
            *argon.entry((p.m_kib, p.t, p.p)).or_default() += 1;
        }
        let params: String = argon
            .iter()
            .map(|((m, t, p), n)| format!(", {n}× m_kib={m} t={t} p={p}"))
            .collect();
        kinds.push(format!(
            "{} {} ({}{params})",
            slots.len(),
            kind.name(),
            kind.kdf_name()
        ));
    }
    let older = k
        .slots
        .iter()
        .filter(|s| s.slot.epoch < k.epoch.generation)
        .count();
    let mut line = format!(
        "vault `{name}`: {} format version {}, objects sealed with {} (random nonces), \
         key epoch {}; {}: {}",
        k.format,
        k.version,
        k.aead,
        k.epoch.generation,
        coffer_core::human_count(k.slots.len() as u64, "key slot"),
        kinds.join(", ")
    );
    if older > 0 {
        line.push_str(&format!("; {older} of an older key epoch"));
    }
    if !k.skipped.is_empty() {
        line.push_str(&format!("; {} unusable, skipped", k.skipped.len()));
    }
    line
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
