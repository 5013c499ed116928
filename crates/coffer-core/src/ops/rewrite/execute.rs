//! Executing a rewrite plan: [`execute_rewrite`] writes the new trees and
//! snapshots in a backup's commit order, then forgets the originals
//! through [`crate::forget::execute_forget`] (which checks holds and the
//! lock once more, right before each delete).

use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

use crate::clock::{check_store_clock, Skew};
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::format::session::{SessionGuard, SessionKind};
use crate::ops::archiver::{Archiver, BackupOptions};
use crate::ops::forget::execute_forget;
use crate::ops::rewrite::plan::{RewriteAction, RewritePlan, Walk};
use crate::vault::handle::Vault;

/// One snapshot replaced.
#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    /// The original.
    pub original: Id,
    /// The snapshot that replaces it.
    pub new: Id,
    /// Regular files left out.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether the original was forgotten (false only when a hold or lock
    /// placed after the plan was made kept it: see
    /// [`RewriteStats::refused`]).
    pub forgotten: bool,
}

/// What [`execute_rewrite`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RewriteStats {
    /// The snapshots replaced, in the plan's order.
    pub rewritten: Vec<Rewritten>,
    /// Snapshots left alone because nothing in them matched.
    pub unchanged: usize,
    /// Stream snapshots left alone.
    pub skipped: usize,
    /// Why something was not done: the plan's refusals (then nothing was
    /// written), or originals the re-check at forget time kept.
    pub refused: Vec<String>,
}

/// Executes `plan`: nothing at all when it has a refusal (the refusals are
/// returned in [`RewriteStats::refused`]). Otherwise, as a backup does: a
/// writer session, the index, the rewritten trees through an [`Archiver`]
/// with `opts` (its `dry_run` is ignored: a dry run does not execute),
/// every pack and index object durable, the new snapshots, the session
/// ended; then the originals are forgotten. Each snapshot loses exactly
/// the paths the plan lists. Refused as a whole when the plan's "now" is
/// ahead of the store's clock ([`crate::clock`]).
pub fn execute_rewrite(
    vault: &Vault,
    plan: &RewritePlan,
    opts: &BackupOptions,
) -> Result<RewriteStats> {
    let mut stats = RewriteStats {
        unchanged: count(plan, RewriteAction::Unchanged),
        skipped: count(plan, RewriteAction::Skipped),
        refused: plan.refusals(),
        ..Default::default()
    };
    let todo: Vec<_> = plan.to_rewrite().collect();
    let forget = match &plan.forget {
        Some(f) if stats.refused.is_empty() && !todo.is_empty() => f,
        _ => return Ok(stats),
    };
    // Forget's ages are judged at the plan's "now": on a store with a clock
    // of its own, that must not be ahead of the store's. Checked before
    // anything is written.
    check_store_clock(vault, plan.now, Skew::Ahead, "rewrite snapshots")?;
    let session = SessionGuard::start(vault, SessionKind::Backup)?;
    let index = vault.load_index()?;
    let archiver = Archiver::new(
        vault,
        &index,
        BackupOptions {
            dry_run: false,
            ..opts.clone()
        },
    );
    let mut snapshots = Vec::with_capacity(todo.len());
    for item in &todo {
        let gone: HashSet<&Path> = item.removed.iter().map(|r| r.raw.as_path()).collect();
        let exclude = |p: &Path| gone.contains(p);
        let walk = Walk {
            vault,
            index: &index,
            exclude: &exclude,
        };
        let mut removed = Vec::new();
        let root = walk.rewrite(
            &item.snapshot.tree,
            Path::new("/"),
            &mut removed,
            &mut |t| archiver.save_tree(t),
        )?;
        let root = match root {
            Some(r) if removed == item.removed => r,
            // Snapshots and trees are immutable: only a plan made for
            // another vault can get here.
            _ => {
                return Err(Error::InvalidInput(format!(
                    "the rewrite plan does not match snapshot {} of vault {}: plan again",
                    item.id.short(),
                    vault.backend().location()
                )))
            }
        };
        let mut s = item.snapshot.clone();
        s.tree = root;
        s.program_version = crate::VERSION.to_string();
        s.rewritten_from = Some(item.id);
        s.summary.total_bytes = s.summary.total_bytes.saturating_sub(item.bytes);
        snapshots.push((item, s));
    }
    vault.forget_cached_trees();
    archiver.finish()?;
    session.check_fresh()?;
    for (item, s) in snapshots {
        let new = vault.save_snapshot(&s)?;
        stats.rewritten.push(Rewritten {
            original: item.id,
            new,
            files: item.files,
            bytes: item.bytes,
            forgotten: false,
        });
    }
    drop(session);
    let f = execute_forget(vault, forget)?;
    for r in &mut stats.rewritten {
        r.forgotten = f.removed.contains(&r.original);
    }
    for refused in f.refused {
        let new = stats
            .rewritten
            .iter()
            .find(|r| r.original == refused.id)
            .map(|r| r.new.short())
            .unwrap_or_default();
        stats.refused.push(format!(
            "snapshot {} was rewritten as {new}, but the original was kept (a hold or lock placed meanwhile): {}; \
             forget it once that is over, or forget {new}",
            refused.id.short(),
            refused.message
        ));
    }
    Ok(stats)
}

fn count(plan: &RewritePlan, action: RewriteAction) -> usize {
    plan.items.iter().filter(|i| i.action == action).count()
}
