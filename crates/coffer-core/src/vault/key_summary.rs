//! [`Vault::key_summary`]: how a vault is encrypted, as read from it: its
//! format and version, the AEAD its objects are sealed with, every key slot
//! (kind, KDF parameters, key epoch) and the slots that were skipped, and
//! the current key epoch. For reports and audits; it reads the `keys/`
//! listing and decrypts nothing.

use serde::Serialize;

use crate::error::Result;
use crate::format::crypto;
use crate::format::keys::{self, SlotInfo, SlotProblem};
use crate::vault::handle::{EpochInfo, Vault};

/// How a vault is encrypted (see [`Vault::key_summary`]).
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    /// The `format` of its `config` (`coffer-vault`).
    pub format: String,
    /// Its format version.
    pub version: u32,
    /// The AEAD every sealed object uses (`XChaCha20-Poly1305`).
    pub aead: &'static str,
    /// The key epoch its key writes under.
    pub epoch: EpochInfo,
    /// Its usable key slots, oldest first.
    pub slots: Vec<SlotInfo>,
    /// The key slots that cannot be used (damaged, unknown kind, Argon2id
    /// parameters out of bounds), and why.
    pub skipped: Vec<SlotProblem>,
}

impl Vault {
    /// How this vault is encrypted: format version, AEAD, key slots and
    /// current key epoch, listed afresh from its storage.
    pub fn key_summary(&self) -> Result<KeySummary> {
        let (slots, skipped) = keys::list_slots_checked(self.backend().as_ref())?;
        Ok(KeySummary {
            format: self.config.format.clone(),
            version: self.config.version,
            aead: crypto::AEAD,
            epoch: self.epoch(),
            slots,
            skipped,
        })
    }
}
