//! Snapshots: `GET /vaults/{vault}/snapshots` (a list of
//! [`SnapshotView`], the JSON of `coffer_core::Snapshot` with its id,
//! whether a legal hold keeps it and the configured source that made it) and `GET
//! /vaults/{vault}/snapshots/{snapshot}/files` ([`FilesQuery`], answered
//! with [`SnapshotFiles`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// What kind of source made a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceInfoView {
    /// `files`, `stdin`, `postgres`, `mysql`, `redis`, `command`, …
    pub kind: String,
    /// Kind-specific details (server version, command, stream name …);
    /// absent when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// What the backup that made a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupSummaryView {
    /// Files read because they are new.
    pub files_new: u64,
    /// Files read because they changed.
    pub files_changed: u64,
    /// Files taken from the parent snapshot without reading.
    pub files_unmodified: u64,
    /// Directories.
    pub dirs: u64,
    /// Other entries (symlinks, devices, FIFOs).
    pub others: u64,
    /// Bytes of content covered by the snapshot.
    pub total_bytes: u64,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// New blobs stored.
    pub blobs_added: u64,
    /// Plaintext bytes of new blobs.
    pub bytes_added: u64,
    /// Stored bytes of new blobs (after compression and encryption).
    pub bytes_stored: u64,
    /// Entries skipped with a warning.
    pub warnings: u64,
    /// Start of the backup (RFC 3339).
    pub started: String,
    /// End of the backup (RFC 3339).
    pub finished: String,
}

/// The snapshot a copy was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OriginView {
    /// The source vault's id (32 hex digits).
    pub vault: String,
    /// The snapshot's id there (hex).
    pub snapshot: String,
}

/// A snapshot of a vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotView {
    /// Its id (64 hex digits).
    pub id: String,
    /// Its short id (what the CLI shows).
    pub short_id: String,
    /// Whether a legal hold keeps it.
    pub held: bool,
    /// The configured source that made it (from its `source:NAME` tag);
    /// absent for a snapshot no rule made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Snapshot format version.
    pub version: u32,
    /// When the backup started (RFC 3339).
    pub time: String,
    /// The root tree's id.
    pub tree: String,
    /// The paths that were backed up, or the stream's name.
    pub paths: Vec<String>,
    /// The host the backup ran on.
    pub hostname: String,
    /// The user that ran it.
    pub username: String,
    /// Its tags (`source:NAME`, `plan:NAME`, …).
    pub tags: Vec<String>,
    /// The snapshot whose metadata the backup used to skip unchanged files.
    pub parent: Option<String>,
    /// Which source made it.
    pub source: SourceInfoView,
    /// The coffer version that wrote it.
    pub program_version: String,
    /// What the backup did.
    pub summary: BackupSummaryView,
    /// Until when (RFC 3339) it must be kept; absent when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    /// Where it was copied from; absent for a snapshot a backup wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginView>,
    /// The snapshot it replaced (64 hex digits), when `coffer rewrite`
    /// wrote it; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_from: Option<String>,
}

/// The query of `GET /vaults/{vault}/snapshots/{snapshot}/files`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// The directory inside the snapshot (default `/`).
    pub path: Option<String>,
}

/// One entry of a snapshot's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileEntry {
    /// Its name.
    pub name: String,
    /// Its path in the snapshot.
    pub path: String,
    /// `file`, `dir`, `symlink`, `fifo`, `chardevice`, `blockdevice`, `socket`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its mode, in octal.
    pub mode: String,
    /// Its owner's name, when recorded.
    pub user: Option<String>,
    /// Its group's name, when recorded.
    pub group: Option<String>,
    /// Its modification time (RFC 3339), when representable.
    #[schema(format = DateTime)]
    pub mtime: Option<String>,
}

/// One directory of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotFiles {
    /// The snapshot's id.
    pub snapshot: String,
    /// The directory (`/` for the root).
    pub path: String,
    /// Its entries.
    pub entries: Vec<FileEntry>,
}
