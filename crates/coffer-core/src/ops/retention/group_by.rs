//! Retention groups: which snapshot fields ([`GroupBy`]) put snapshots in
//! one group, within which the policy's counts run.

use serde::{Deserialize, Serialize};

use crate::format::snapshot::Snapshot;

/// Which snapshot fields form a retention group, as restic's `--group-by`.
/// Counts run separately in each group, so one policy applied to a whole
/// vault keeps N of each source rather than N in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBy {
    /// The host name.
    pub host: bool,
    /// The source kind (`files`, `postgres`, …).
    pub kind: bool,
    /// The backed-up paths (as a set).
    pub paths: bool,
    /// The tags (as a set).
    pub tags: bool,
}

impl Default for GroupBy {
    /// Host, source kind and paths: each source separately.
    fn default() -> Self {
        GroupBy {
            host: true,
            kind: true,
            paths: true,
            tags: false,
        }
    }
}

impl GroupBy {
    /// One group for everything.
    pub const NONE: GroupBy = GroupBy {
        host: false,
        kind: false,
        paths: false,
        tags: false,
    };

    /// The group key of a snapshot, e.g. `host=web1 kind=files
    /// paths=/etc,/home`; empty when grouping by nothing. Paths and tags are
    /// sorted, so their order in the snapshot does not matter.
    pub fn key(&self, s: &Snapshot) -> String {
        let mut parts = Vec::new();
        if self.host {
            parts.push(format!("host={}", s.hostname));
        }
        if self.kind {
            parts.push(format!("kind={}", s.source.kind));
        }
        if self.paths {
            let mut p = s.paths.clone();
            p.sort();
            parts.push(format!("paths={}", p.join(",")));
        }
        if self.tags {
            let mut t = s.tags.clone();
            t.sort();
            parts.push(format!("tags={}", t.join(",")));
        }
        parts.join(" ")
    }
}

impl std::str::FromStr for GroupBy {
    type Err = String;

    /// A comma-separated list of `host`, `kind`, `paths`, `tags`; an empty
    /// string groups nothing (one policy over all snapshots).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut g = GroupBy::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "kind" => g.kind = true,
                "paths" | "path" => g.paths = true,
                "tags" | "tag" => g.tags = true,
                other => {
                    return Err(format!(
                        "unknown group-by field `{other}`: give a comma-separated list of host, kind, paths, tags (or an empty string for one group)"
                    ))
                }
            }
        }
        Ok(g)
    }
}
