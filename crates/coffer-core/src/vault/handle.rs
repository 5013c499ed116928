//! The [`Vault`] handle: storage plus the master key. Creating a vault
//! (refused where one exists or lost its `config`), opening one with a
//! secret, reading the plaintext `config`, and the key and key epoch the
//! handle writes under.

use serde::Serialize;
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::format::crypto::MasterKey;
use crate::format::id::Id;
use crate::format::keys::{self, KdfParams, Secret};
use crate::vault::config::{
    config_lost, InitOptions, VaultConfig, CONFIG, DATA_PREFIXES, FORMAT_VERSION,
};
use crate::vault::pack_cache::PackCache;

/// An open vault: storage plus the master key.
#[derive(Clone)]
pub struct Vault {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) key: MasterKey,
    pub(super) config: VaultConfig,
    slot: Id,
    /// Key slots skipped when the vault was opened (damaged, or with
    /// Argon2id parameters out of bounds), for front ends to warn about.
    skipped_slots: Arc<Vec<keys::SlotProblem>>,
    /// The newest key epoch any slot had when the vault was opened; above
    /// the key's own when the key is of an older epoch, which must not write.
    newest_generation: u32,
    pub(super) tree_packs: Arc<PackCache>,
}

/// A vault's current key epoch, as its key knows it.
#[derive(Debug, Clone, Serialize)]
pub struct EpochInfo {
    /// 0 until the first rotation, one more for each.
    pub generation: u32,
    /// When the epoch began (RFC 3339): the rotation's time, or for epoch 0
    /// the vault's creation.
    pub created: String,
}

impl Vault {
    /// Whether `backend` holds a vault (its `config` exists).
    pub fn exists(backend: &dyn Backend) -> Result<bool> {
        backend.exists(CONFIG).map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })
    }

    /// The first vault data object found at `backend` (one under
    /// [`DATA_PREFIXES`] with a vault object's name), if any.
    fn first_data_object(backend: &dyn Backend) -> Result<Option<String>> {
        for prefix in DATA_PREFIXES {
            let listed = backend.list(prefix).map_err(|source| Error::Storage {
                location: backend.location(),
                source,
            })?;
            // Only names a vault writes (hex) count, so a directory that
            // merely has, say, an `index/` folder of its own is no vault.
            let found = listed.into_iter().find(|o| {
                let name = o.path.rsplit('/').next().unwrap_or("");
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit())
            });
            if let Some(o) = found {
                return Ok(Some(o.path));
            }
        }
        Ok(None)
    }

    /// Checks that `backend` may be initialized: it holds no `config` and no
    /// vault data objects (a vault whose `config` was lost is never
    /// initialized again, see [`Vault::init`]). Front ends call this before
    /// they prepare anything (a new key file) for an init.
    pub fn check_can_init(backend: &dyn Backend) -> Result<()> {
        if Self::exists(backend)? {
            return Err(Error::AlreadyExists {
                what: format!("a vault at {}", backend.location()),
                hint: ": init refuses to touch it; use it as it is or choose another location"
                    .into(),
            });
        }
        match Self::first_data_object(backend)? {
            Some(found) => Err(config_lost(&backend.location(), &found)),
            None => Ok(()),
        }
    }

    /// Creates a vault with one key slot for `secret`. Refuses if one exists,
    /// and refuses a location that holds vault objects without a `config`
    /// (one that lost it): the one check every front end's init goes
    /// through.
    pub fn init(backend: Arc<dyn Backend>, secret: &Secret, opts: &InitOptions) -> Result<Vault> {
        Self::check_can_init(backend.as_ref())?;
        let config = VaultConfig {
            format: "coffer-vault".into(),
            version: FORMAT_VERSION,
            id: hex::encode(crate::format::crypto::random_bytes::<16>()),
            created: jiff::Timestamp::now().to_string(),
            chunker: opts.chunker,
        };
        let key = MasterKey::generate();
        // The slot first: a vault whose config exists always has a key.
        let slot = keys::add_slot(
            backend.as_ref(),
            &config.id,
            &key,
            secret,
            &opts.label,
            opts.kdf,
        )?;
        let body = serde_json::to_vec_pretty(&config).expect("serializable");
        backend
            .write(CONFIG, body)
            .map_err(|source| Error::Storage {
                location: backend.location(),
                source,
            })?;
        Ok(Vault {
            backend,
            key,
            config,
            slot,
            skipped_slots: Arc::default(),
            newest_generation: 0,
            tree_packs: Arc::default(),
        })
    }

    /// Opens an existing vault with `secret`.
    pub fn open(backend: Arc<dyn Backend>, secret: &Secret) -> Result<Vault> {
        let config = Self::read_config(backend.as_ref())?;
        let opened = keys::open(backend.as_ref(), &config.id, secret)?;
        for p in &opened.skipped {
            tracing::warn!("vault {}: {p}", backend.location());
        }
        let vault = Vault {
            backend,
            key: opened.key,
            config,
            slot: opened.slot,
            skipped_slots: Arc::new(opened.skipped),
            newest_generation: opened.newest_generation,
            tree_packs: Arc::default(),
        };
        // An unreadable lock makes writes fail with the reason; reads go on.
        let _ = vault.apply_store_lock();
        Ok(vault)
    }

    /// Reads the plaintext config.
    pub fn read_config(backend: &dyn Backend) -> Result<VaultConfig> {
        let body = match backend.read(CONFIG) {
            Ok(b) => b,
            Err(source) if source.not_found => {
                return Err(Self::missing(backend)?);
            }
            Err(source) => {
                return Err(Error::Storage {
                    location: backend.location(),
                    source,
                })
            }
        };
        let config: VaultConfig = serde_json::from_slice(&body)
            .map_err(|e| Error::damaged(CONFIG, format!("does not parse: {e}")))?;
        if config.format != "coffer-vault" {
            return Err(Error::damaged(CONFIG, "not a coffer vault config"));
        }
        let c = config.chunker;
        let sane = |v: u32, lo: u32, hi: u32| (lo..=hi).contains(&v);
        if !(sane(c.min, 64, 1 << 26)
            && sane(c.avg, 256, 1 << 28)
            && sane(c.max, 1024, 1 << 28)
            && c.min <= c.avg
            && c.avg <= c.max)
        {
            return Err(Error::damaged(
                CONFIG,
                "chunker parameters are out of range",
            ));
        }
        if config.version > FORMAT_VERSION {
            return Err(Error::InvalidInput(format!(
                "vault at {} has format version {}; this coffer reads up to {FORMAT_VERSION}: upgrade coffer",
                backend.location(),
                config.version
            )));
        }
        Ok(config)
    }

    /// The error for a location without `config`: "no vault here" when it
    /// is empty, or (it holds vault objects) that the vault lost its
    /// `config` and how to get it back. Fails only if listing fails.
    pub fn missing(backend: &dyn Backend) -> Result<Error> {
        Ok(match Self::first_data_object(backend)? {
            Some(found) => config_lost(&backend.location(), &found),
            None => Error::NotFound {
                what: format!("vault at {}", backend.location()),
                hint: ": create it with `coffer init` or check --vault".into(),
            },
        })
    }

    /// The storage.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The master key.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The config.
    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The key slot that opened the vault.
    pub fn slot(&self) -> Id {
        self.slot
    }

    /// The key slots skipped when the vault was opened: damaged ones, and
    /// ones whose Argon2id parameters are out of bounds. The vault opened
    /// with another slot; front ends show these as warnings.
    pub fn skipped_slots(&self) -> &[keys::SlotProblem] {
        &self.skipped_slots
    }

    /// The key epoch this vault's key writes under.
    pub fn epoch(&self) -> EpochInfo {
        let e = self.key.current();
        EpochInfo {
            generation: e.generation,
            created: if e.generation == 0 {
                self.config.created.clone()
            } else {
                e.created.clone()
            },
        }
    }

    /// Fails when this vault was opened by a key slot of an older key epoch
    /// than its newest slots (a rotation stopped before it removed the old
    /// slots, or a revoked slot was put back): such a key may read what it
    /// can, but never writes, so nothing new is sealed under a revoked
    /// epoch. Every writer checks this before it writes.
    pub fn check_current_epoch(&self) -> Result<()> {
        let ours = self.key.generation();
        if self.newest_generation <= ours {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "vault {}: key slot {} is of key epoch {ours}, but the vault was rotated to epoch {}: \
             a key of an older epoch may read what was written under it but never writes. Open the \
             vault with a key of the current epoch (`coffer key list` marks the epoch of each slot)",
            self.backend.location(),
            self.slot.short(),
            self.newest_generation
        )))
    }

    /// Rewrites `config` with [`FORMAT_VERSION`] when it is older; returns
    /// whether it did. The one rewrite of an object the format allows: a
    /// version-1 vault's `config` at its first key rotation, after the new
    /// keyring is stored and before any slot or data of the new epoch, so
    /// that a coffer that reads only version 1 refuses the vault instead of
    /// misreading it.
    pub(crate) fn upgrade_format(&self) -> Result<bool> {
        if self.config.version >= FORMAT_VERSION {
            return Ok(false);
        }
        let mut config = self.config.clone();
        config.version = FORMAT_VERSION;
        let body = serde_json::to_vec_pretty(&config).expect("serializable");
        self.backend
            .write(CONFIG, body)
            .map_err(|e| self.storage_err(e))?;
        Ok(true)
    }

    /// Adds a key slot for `secret`, of the current key epoch (an older
    /// epoch's key adds none: it would unlock a revoked epoch).
    pub fn add_key(&self, secret: &Secret, label: &str, kdf: Option<KdfParams>) -> Result<Id> {
        self.check_current_epoch()?;
        keys::add_slot(
            self.backend.as_ref(),
            &self.config.id,
            &self.key,
            secret,
            label,
            kdf,
        )
    }
}
