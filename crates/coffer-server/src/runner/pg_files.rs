//! What a backup job says of a base backup by files (issue 18): the type
//! that was done, the type requested when it differs, the parent read
//! against and the fallback (an incremental with no parent is a full), as
//! the job's details (`pg_backup`) and events. The fallback is a warning
//! event: the job completed, but read the whole cluster.

use crate::catalog::EventLevel;
use coffer_sources::BackupResult;

/// What a job's "backing up" event adds for a base backup by files:
/// `, by files, incr requested` (empty for any other spec).
pub(super) fn requested(spec: &coffer_sources::spec::SourceSpec) -> String {
    match spec {
        coffer_sources::spec::SourceSpec::PostgresBase { files: Some(f), .. } => format!(
            ", by files, {} requested{}",
            f.backup_type.as_str(),
            if f.checksum { ", checksum" } else { "" }
        ),
        _ => String::new(),
    }
}

/// The snapshot details copied into the job's details, as named there.
const KEYS: [&str; 3] = ["backup_type", "backup_type_requested", "fallback"];

/// The events and the `pg_backup` details of the base backups by files
/// among `done` (none: nothing to say).
pub(super) fn report(
    done: &[BackupResult],
) -> (Vec<(EventLevel, String)>, Option<serde_json::Value>) {
    let mut events = Vec::new();
    let mut details = Vec::new();
    for d in done {
        let s = &d.snapshot;
        let det = &s.source.details;
        if det.get("layout").map(String::as_str)
            != Some(coffer_sources::postgres::backup::LAYOUT_FILES)
        {
            continue;
        }
        let Some(done_type) = det.get("backup_type") else {
            continue;
        };
        let mut m = serde_json::Map::new();
        for k in KEYS {
            if let Some(v) = det.get(k) {
                m.insert(k.into(), v.clone().into());
            }
        }
        let parent = s.parent.map(|p| p.to_hex());
        m.insert("parent".into(), parent.clone().into());
        if let Some(id) = d.id {
            m.insert("snapshot".into(), id.to_hex().into());
        }
        details.push(serde_json::Value::Object(m));
        let of = match &parent {
            Some(p) => format!(" against parent {}", &p[..p.len().min(8)]),
            None => String::new(),
        };
        events.push((
            EventLevel::Info,
            format!("base backup by files: {done_type} backup{of}"),
        ));
        if let Some(why) = det.get("fallback") {
            let requested = det
                .get("backup_type_requested")
                .map(String::as_str)
                .unwrap_or("another type");
            events.push((
                EventLevel::Warning,
                format!("{requested} backup requested, {done_type} taken: {why}"),
            ));
        }
    }
    let details = match details.len() {
        0 => None,
        1 => details.pop(),
        _ => Some(serde_json::Value::Array(details)),
    };
    (events, details)
}
