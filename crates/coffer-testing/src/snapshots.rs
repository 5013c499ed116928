//! Snapshot values for tests of what reads snapshots' metadata (WAL
//! retention, reports): no data behind them.

use coffer_core::{Id, Snapshot, SourceInfo};

/// A snapshot taken at `time` (RFC 3339) of a source of `kind` with
/// `details`, of one path `base.tar` on host `h` by user `u`, with an
/// empty tree id: what a base backup's record looks like to the code that
/// only reads its metadata.
pub fn snapshot(time: &str, kind: &str, details: &[(&str, &str)]) -> Snapshot {
    Snapshot {
        version: 1,
        time: time.into(),
        tree: Id::default(),
        paths: vec!["base.tar".into()],
        hostname: "h".into(),
        username: "u".into(),
        tags: vec![],
        parent: None,
        source: SourceInfo {
            kind: kind.into(),
            details: details
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        program_version: "test".into(),
        summary: Default::default(),
        retain_until: None,
        origin: None,
        rewritten_from: None,
    }
}
