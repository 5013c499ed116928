//! `POST /vaults/{vault}/snapshots/{snapshot}/restore`: a files snapshot
//! restored, as a `restore` job, into a new directory under the state
//! directory's `restores/` (the client names no server path). A snapshot
//! of a vault in an archive storage class is thawed first: the job is
//! PENDING until its data packs read (see [`crate::thaw`]).

use crate::catalog::Trigger;
use crate::http::api::respond::{accepted, open_vault, Answer, ApiError, Call};
use crate::http::api::route::PREFIX;
use crate::http::state::AppState;
use crate::model::api::{RestoreRequest, RestoreStarted};
use coffer_core::SnapshotFilter;
use coffer_sources::select::Wanted;
use jiff::Timestamp;
use serde_json::json;

/// Restores a files snapshot (optionally `subpath` and `include` globs of
/// the body) into a new directory under the state directory's `restores/`,
/// as a `restore` job: the client names no server path, so the API can
/// write nowhere else. Streams (database dumps) are restored with the CLI.
pub(super) fn restore(s: &AppState, c: &Call, now: Timestamp) -> Answer {
    let vault = c.param("vault").to_string();
    let v = open_vault(&s.config, &vault)?;
    // `latest`: the newest files snapshot, if the vault holds one tree's
    // (else refused with the candidates; coffer-sources' one rule).
    let wanted = Wanted::kinds(&["files"], "the API's restore (files only)")
        .advising("name the snapshot by its id (GET /vaults/{vault}/snapshots lists them)");
    let (id, snap) = coffer_sources::select::find(
        &v,
        c.param("snapshot"),
        &SnapshotFilter::default(),
        Some(&wanted),
    )
    .map_err(|e| ApiError::from(crate::model::ServerError::from(e)))?;
    if snap.source.kind != "files" {
        return Err(ApiError::bad(format!(
            "snapshot {} holds a {} stream: restore it with `coffer restore {} --to-file|--postgres|...`",
            id.short(),
            snap.source.kind,
            id.short()
        )));
    }
    let req: RestoreRequest =
        c.request("include: give a list of globs (strings); subpath: a path of the snapshot")?;
    let includes = req.include.unwrap_or_default();
    let includes = coffer_sources::filter::Patterns::new(&includes, "include")
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let subpath = req.subpath;
    let target = s.config.state_dir.join("restores").join(format!(
        "{vault}-{}-{}",
        id.short(),
        now.strftime("%Y%m%dT%H%M%SZ")
    ));
    let mut job = crate::catalog::NewJob::new(crate::catalog::JobKind::Restore, Trigger::Api);
    job.vault = Some(vault.clone());
    job.source = crate::runner::tagged_source(&snap.tags).map(str::to_string);
    let job_id = s.catalog.create_job(&job).map_err(ApiError::internal)?;
    let catalog = s.catalog.clone();
    let t2 = target.clone();
    let vc = s.config.vault(&vault).cloned();
    std::thread::spawn(move || {
        // The one restore of every front end: names are validated as trees
        // decode, and a hostile snapshot fails the job naming its path. A
        // snapshot of a cold vault first waits as PENDING while it thaws.
        let run = || -> crate::model::ServerResult<coffer_sources::files::RestoreStats> {
            let index = v.load_index()?;
            if let Some(vc) = &vc {
                let r = crate::thaw::Restoring {
                    vault: &v,
                    index: &index,
                    id: &id,
                    snap: &snap,
                };
                crate::thaw::thaw_for_job(&catalog, job_id, vc, &r, None)?;
            }
            catalog
                .start_job(job_id)
                .map_err(|e| crate::model::ServerError::internal(e.to_string()))?;
            let destination = coffer_sources::restore::Destination::Directory {
                target: t2.clone(),
                includes,
                subpath,
            };
            let context = destination.context(&id);
            let req = coffer_sources::restore::RestoreRequest {
                vault: &v,
                index: &index,
                id,
                snapshot: &snap,
                destination,
                cancel: None,
            };
            coffer_sources::restore::restore(req, &Default::default())
                .map(|o| o.files.unwrap_or_default())
                .map_err(|e| crate::model::ServerError::from(e).context(context))
        };
        let o = match run() {
            Ok(st) => crate::catalog::JobOutcome {
                details: Some(json!({
                    "snapshot": id.to_string(),
                    "target": t2,
                    "files": st.files,
                    "bytes": st.bytes,
                    "warnings": st.warnings,
                })),
                counters: crate::catalog::JobCounters {
                    bytes_read: st.bytes,
                    warnings: st.warnings.len() as u64,
                    ..Default::default()
                },
                ..crate::catalog::JobOutcome::new(crate::catalog::JobState::Completed)
            },
            Err(e) => crate::catalog::JobOutcome::failed(e.message),
        };
        let _ = catalog.finish_job(job_id, &o);
    });
    accepted(RestoreStarted {
        job_id: job_id.0,
        job: format!("{PREFIX}/jobs/{}", job_id.0),
        target,
    })
}
