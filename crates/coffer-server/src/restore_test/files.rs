//! Restore test of a files snapshot: restored into a scratch directory,
//! every name compared as bytes and every file re-read and its chunks
//! re-hashed against the snapshot, and `sample_live` random files compared
//! with the live source (information only; SKIPPED when none of them can
//! be read on this host).

use super::context::Ctx;
use super::failure::failed;
use super::validate::Run;
use crate::model::ServerResult;
use coffer_core::human_count;
use coffer_sources::files;
use coffer_sources::restore::Destination;
use std::time::Instant;

pub(super) fn test_files(c: &Ctx<'_>, t: &mut Run) -> ServerResult<()> {
    let scratch = c.scratch_dir()?;
    let target = scratch.path().join("restore");
    let start = Instant::now();
    let stats = c
        .restore(
            Destination::Directory {
                target: target.clone(),
                includes: Default::default(),
                subpath: None,
            },
            &t.cancel,
        )
        .map(|o| o.files.unwrap_or_default())
        .map_err(|e| {
            failed(format!(
                "restoring snapshot {} into {}: {e}",
                c.id.short(),
                target.display()
            ))
        })?;
    t.restored(
        start,
        format!(
            "{}, {}, {}",
            human_count(stats.files, "file"),
            human_count(stats.dirs, "directory"),
            coffer_core::human_bytes(stats.bytes)
        ),
    );
    let start = Instant::now();
    let v = files::verify_restored(c.vault, c.index, c.snap, &target, Some(&t.cancel))
        .map_err(|e| failed(format!("comparing the restored files: {e}")))?;
    let detail = if v.mismatch_count == 0 {
        format!(
            "{} ({}), {} and {} match the snapshot",
            human_count(v.files, "file"),
            coffer_core::human_bytes(v.bytes),
            human_count(v.dirs, "directory"),
            human_count(v.symlinks, "symlink")
        )
    } else {
        format!(
            "{} of {} entries differ from the snapshot: {}",
            v.mismatch_count,
            v.files + v.dirs + v.symlinks,
            list_mismatches(&v)
        )
    };
    t.check("compare files", v.mismatch_count == 0, detail);
    if let Some(n) = c.test.sample_live.filter(|n| *n > 0) {
        let l = files::compare_live_sample(c.vault, c.index, c.snap, n as usize)
            .map_err(|e| failed(format!("sampling live files: {e}")))?;
        let name = format!("sample {n} live files");
        if l.files == 0 && l.mismatch_count == 0 {
            t.skip(name, "not run: the snapshot holds no regular files");
        } else if l.files == 0 {
            // Not one sampled file is there: the source lives on another
            // host (or is gone), so nothing was compared.
            t.skip(
                name,
                format!(
                    "not run: none of the {} sampled files can be read on this host: {}",
                    l.mismatch_count,
                    list_mismatches(&l)
                ),
            );
        } else if l.mismatch_count == 0 {
            t.check(
                name,
                true,
                format!("{} live files match the snapshot", l.files),
            );
        } else {
            let detail = format!(
                "{} of the sampled live files changed since the snapshot (information): {}",
                l.mismatch_count,
                list_mismatches(&l)
            );
            t.check(name, true, detail);
        }
    }
    t.validated(start);
    scratch
        .close()
        .map_err(|e| failed(format!("removing the scratch directory: {e}")))
}

fn list_mismatches(v: &files::VerifyStats) -> String {
    v.mismatches
        .iter()
        .take(5)
        .map(|m| format!("{}: {}", m.path, m.problem))
        .collect::<Vec<_>>()
        .join("; ")
}
