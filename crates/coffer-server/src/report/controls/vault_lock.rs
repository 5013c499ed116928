//! The `vault-lock` control: every vault in use has a lock, in the
//! configuration or stored in the vault. A stored lock on S3 must be
//! enforced by the store (Object Lock), not by coffer only.

use crate::model::ServerResult;
use std::collections::BTreeMap;

use coffer_core::Vault;
use coffer_storage::Location;

use super::evidence::unprefixed;
use crate::config::Config;
use crate::report::control::Control;

/// `vault-lock`: every vault in use is locked.
pub(in crate::report) fn vault_lock(
    config: &Config,
    used: &[String],
    opened: &BTreeMap<String, ServerResult<Vault>>,
) -> Control {
    let mut c = Control::new(
        "vault-lock",
        "Every vault is locked (manual deletion of snapshots disabled)".into(),
    );
    for name in used {
        let configured = config.vault(name).and_then(|v| v.lock.clone());
        let stored = match &opened[name] {
            Ok(v) => v.lock_state().map_err(|e| e.to_string()),
            Err(e) => Err(e.message.clone()),
        };
        match (&stored, &configured) {
            (Ok(st), _) if st.lock.is_some() => {
                let lock = st.lock.as_ref().expect("checked");
                let on_s3 = config
                    .vault(name)
                    .is_some_and(|v| matches!(Location::parse(&v.url), Ok(Location::S3(_))));
                if lock.store_enforced {
                    c.ok(format!(
                        "vault `{name}`: {}, enforced by the store (S3 Object Lock) and by coffer",
                        lock.describe()
                    ))
                } else if on_s3 {
                    c.fail(format!(
                        "vault `{name}`: {}, but enforced by coffer only: the S3 bucket accepts \
                         deletes (use a bucket with versioning and Object Lock, check it with \
                         `coffer vault probe`, then run `coffer vault lock` again)",
                        lock.describe()
                    ))
                } else {
                    c.ok(format!(
                        "vault `{name}`: {}, enforced by coffer (a local directory cannot enforce \
                         object lock)",
                        lock.describe()
                    ))
                }
            }
            (_, Some(l)) => c.ok(format!(
                "vault `{name}`: {:?} lock in the configuration (min {}, max {} days){}",
                l.mode(),
                l.min_retention_days,
                l.max_retention_days,
                match &stored {
                    Ok(_) => String::from("; not yet stored in the vault"),
                    Err(e) => format!(
                        "; the vault's lock records could not be read: {}",
                        unprefixed(name, e)
                    ),
                }
            )),
            (Ok(_), None) => c.fail(format!(
                "vault `{name}`: no lock (set [vault.lock] or run `coffer vault lock`)"
            )),
            (Err(e), None) => c.fail(format!(
                "vault `{name}`: no lock in the configuration, and the vault cannot be read: {}",
                unprefixed(name, e)
            )),
        }
    }
    c.judged()
}
