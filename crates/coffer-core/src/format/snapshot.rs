//! Snapshots: one JSON object per point-in-time copy of a source.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::format::id::Id;

/// What kind of source made a snapshot and what restoring it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `files`, `stdin`, later `postgres`, `mysql`, `redis`, `command`.
    pub kind: String,
    /// Kind-specific details (server version, command, stream name …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// What a backup did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// Files read because they are new.
    pub files_new: u64,
    /// Files read because they changed.
    pub files_changed: u64,
    /// Files taken from the parent snapshot without reading.
    pub files_unmodified: u64,
    /// Directories in the snapshot, those above the backed-up paths
    /// included, as a full restore makes (and counts) them. (Earlier
    /// builds left those above the paths out; it is a count for people,
    /// nothing reads it back.)
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
    /// Entries skipped with a warning (unreadable files …).
    pub warnings: u64,
    /// Start of the backup (RFC 3339).
    pub started: String,
    /// End of the backup (RFC 3339).
    pub finished: String,
}

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Snapshot format version (1).
    pub version: u32,
    /// When the backup started (RFC 3339).
    pub time: String,
    /// The root tree.
    pub tree: Id,
    /// The paths that were backed up (absolute) or the stream's name.
    pub paths: Vec<String>,
    /// Host the backup ran on (or `--host`).
    pub hostname: String,
    /// User that ran it.
    pub username: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The snapshot whose metadata this backup used to skip unchanged files.
    #[serde(default)]
    pub parent: Option<Id>,
    /// Which source made it.
    pub source: SourceInfo,
    /// coffer version that wrote it.
    pub program_version: String,
    /// What the backup did.
    #[serde(default)]
    pub summary: BackupSummary,
    /// Until when (RFC 3339) this snapshot must be kept, set by the rule
    /// that made it. Forget keeps it until then: absolutely under a
    /// compliance lock, otherwise unless governance is bypassed. Absent in
    /// snapshots written before this field existed, which is format
    /// compatible (readers ignore unknown fields and default missing ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    /// Where this snapshot was copied from, when `coffer copy` wrote it.
    /// Absent in snapshots written by a backup (older readers ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The snapshot this one replaced, when `coffer rewrite` wrote it (the
    /// original is forgotten right after). Absent in snapshots written by a
    /// backup or a copy; older readers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_from: Option<Id>,
}

/// The snapshot a copy was made from: its vault's `config.id` and its id
/// there. Copying skips a snapshot whose origin the destination already
/// holds, which makes a copy idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The source vault's `config.id` (32 hex digits).
    pub vault: String,
    /// The snapshot's id in the source vault.
    pub snapshot: Id,
}

impl Snapshot {
    /// The snapshot time as a timestamp (epoch if unparsable).
    pub fn timestamp(&self) -> jiff::Timestamp {
        self.time.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// `retain_until` as a timestamp. A value that does not parse counts as
    /// "forever" (`Timestamp::MAX`): when in doubt, keep.
    pub fn retain_until_timestamp(&self) -> Option<jiff::Timestamp> {
        self.retain_until
            .as_ref()
            .map(|s| s.parse().unwrap_or(jiff::Timestamp::MAX))
    }
}

/// Selects snapshots by host, tag and path. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Any of these hosts.
    pub hosts: Vec<String>,
    /// Each entry is a comma-separated set of tags that must all be present;
    /// any entry may match.
    pub tags: Vec<String>,
    /// Each of these must be a path of the snapshot, as
    /// [`Snapshot::has_path`] matches one.
    pub paths: Vec<String>,
}

impl Snapshot {
    /// Whether `path` names one of this snapshot's paths: one of
    /// [`Snapshot::paths`] exactly; for a database snapshot (one whose
    /// source recorded a `database` detail) that database's name
    /// (`nc_shop`); or, for a path that is a URL, one of the paths without
    /// the URL's user, password and query (`postgres://app:pw@db:5432/shop`
    /// names `postgres://db:5432/shop`, the path a dump records).
    pub fn has_path(&self, path: &str) -> bool {
        if self.paths.iter().any(|p| p == path) {
            return true;
        }
        if self
            .source
            .details
            .get("database")
            .is_some_and(|d| !d.is_empty() && d == path)
        {
            return true;
        }
        match url_without_credentials(path) {
            Some(bare) => self.paths.contains(&bare),
            None => false,
        }
    }
}

/// `scheme://host…` without its `user[:password]@` and its `?query`;
/// `None` for a string that is not of that shape.
fn url_without_credentials(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(format!("{scheme}://{host}{}", tail.trim_end_matches('/')))
}

impl SnapshotFilter {
    /// Whether `s` passes the filter.
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.hostname))
            && (self.tags.is_empty()
                || self.tags.iter().any(|set| {
                    set.split(',')
                        .all(|t| s.tags.iter().any(|st| st == t.trim()))
                }))
            && self.paths.iter().all(|p| s.has_path(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(paths: &[&str], database: Option<&str>) -> Snapshot {
        let mut details = BTreeMap::new();
        if let Some(d) = database {
            details.insert("database".to_string(), d.to_string());
        }
        Snapshot {
            version: 1,
            time: "2026-01-01T00:00:00Z".into(),
            tree: Id::default(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            hostname: "h".into(),
            username: "u".into(),
            tags: vec![],
            parent: None,
            source: SourceInfo {
                kind: "postgres".into(),
                details,
            },
            program_version: "0".into(),
            summary: BackupSummary::default(),
            retain_until: None,
            origin: None,
            rewritten_from: None,
        }
    }

    #[test]
    fn issue16_a_path_names_a_database_by_name_or_by_url_without_credentials() {
        let s = snap(&["postgres://127.0.0.1:5432/nc_shop"], Some("nc_shop"));
        for p in [
            "postgres://127.0.0.1:5432/nc_shop",
            "nc_shop",
            "postgres://postgres@127.0.0.1:5432/nc_shop",
            "postgres://postgres:S3cret@127.0.0.1:5432/nc_shop?sslmode=disable",
            "postgres://127.0.0.1:5432/nc_shop/",
        ] {
            assert!(s.has_path(p), "{p}");
        }
        for p in [
            "nc",
            "shop",
            "postgres://127.0.0.1:5432/nc_shop_copy",
            "postgres://127.0.0.1:5433/nc_shop",
            "mysql://127.0.0.1:5432/nc_shop",
        ] {
            assert!(!s.has_path(p), "{p}");
        }
        // An all-databases dump records an empty database: no name matches it.
        let all = snap(&["mysql://127.0.0.1:3306"], Some(""));
        assert!(!all.has_path(""));
        assert!(all.has_path("mysql://root@127.0.0.1:3306"));
        let f = SnapshotFilter {
            paths: vec!["nc_shop".into()],
            ..Default::default()
        };
        assert!(f.matches(&s) && !f.matches(&all));
    }
}
