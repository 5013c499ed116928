//! The plaintext `config` object ([`VaultConfig`]): what is needed before a
//! key is known. Also the format version, the options of an init, and the
//! prefixes whose objects tell a vault that lost its `config` from an empty
//! location.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::format::keys::KdfParams;

/// The vault format version this build writes and reads (it reads every
/// earlier one too). Version 2 added key epochs (sealed scheme 2, keyrings
/// under `epochs/`, slots that name their epoch); a version-1 vault becomes
/// version 2 at its first key rotation.
pub const FORMAT_VERSION: u32 = 2;

/// Content-defined chunking parameters (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkerParams {
    /// Smallest chunk.
    pub min: u32,
    /// Average chunk.
    pub avg: u32,
    /// Largest chunk.
    pub max: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min: 512 * 1024,
            avg: 1024 * 1024,
            // Four times the average, as casync does: a cut is forced only in
            // data without cut points (long runs of a repeating pattern), and
            // one chunk must be in memory whole per thread to be sealed.
            max: 4 * 1024 * 1024,
        }
    }
}

/// The plaintext `config` object: what is needed before a key is known.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Always `coffer-vault`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Random vault id (hex); binds key slots to this vault.
    pub id: String,
    /// When the vault was made (RFC 3339).
    pub created: String,
    /// Chunker parameters (the chunker's gear table is keyed by the master key).
    pub chunker: ChunkerParams,
}

/// Options of [`Vault::init`](crate::Vault::init).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Chunker parameters; default 512 KiB / 1 MiB / 4 MiB.
    pub chunker: ChunkerParams,
    /// Argon2id parameters for a password slot.
    pub kdf: Option<KdfParams>,
    /// Label of the first key slot.
    pub label: String,
}
pub(super) const CONFIG: &str = "config";

/// The prefixes of the objects that hold a vault's data, cheapest to list
/// first (packs, the many, last). `keys/` is not among them: an init that is
/// interrupted between its key slot and `config` leaves an orphan slot and
/// nothing else, and a new init over it loses nothing.
pub(super) const DATA_PREFIXES: &[&str] = &[
    "snapshots/",
    "index/",
    "locks/",
    "holds/",
    "sessions/",
    "prune/",
    crate::ops::copy::COPYMAP_PREFIX,
    "wal/",
    "epochs/",
    "packs/",
];

/// The error for a location whose `config` is gone while `found` (a vault
/// object) is still there: what is missing, and how to get it back.
pub(super) fn config_lost(location: &str, found: &str) -> Error {
    Error::Damaged {
        object: format!("{location}/{CONFIG}"),
        detail: format!(
            "the vault's `config` object is missing, but the location still holds vault objects ({found} …), \
             so coffer will neither open it nor create a new vault over it (a new vault would have another id and \
             key, and could read none of the old snapshots). Put `config` back from a backup or an earlier version \
             of this location (S3 versioning, a file system snapshot, an rsync or `aws s3 sync` copy of it), or \
             write it again if you know the vault's id (docs/format.md, \"Objects a vault cannot live without\"), or \
             restore from a copy of the vault made with `coffer copy`; to start afresh, choose an empty location"
        ),
    }
}
