//! Rewrite: replace file-tree snapshots by copies without the paths a
//! predicate excludes, so that data which must be erased (a GDPR erasure
//! request, a secret backed up by mistake) leaves the vault at the next
//! prune. The same idea as restic's `rewrite --forget`.
//!
//! Split into [`plan_rewrite`] (reads only: what would go, per snapshot,
//! and whether a hold or lock refuses it) and [`execute_rewrite`] (writes),
//! so `--dry-run`, a future HTTP preview and the real run share one
//! decision.
//!
//! The path predicate is the caller's: the CLI passes the matcher of
//! `coffer backup --exclude` (coffer-sources' `Patterns`), so the core does
//! not depend on the sources crate and the pattern syntax is the backup's.
//! It is asked about every entry's absolute path as a restore would make it
//! (`/home/alice/secret.txt`); an excluded directory goes with everything
//! below it.
//!
//! Rules:
//! - Only `files` snapshots: a stream (a database dump, `--stdin`, a
//!   command's output) is one file whose bytes cannot lose a path, so one
//!   named is refused ([`crate::Error::InvalidInput`]) and, when every
//!   snapshot of a filter is rewritten, skipped (said so in the plan).
//! - A snapshot where nothing matches is left alone (said so).
//! - A snapshot whose every entry would go is refused: forget it instead.
//! - A rewritten snapshot keeps the original's `time`, `hostname`,
//!   `username`, `paths`, `tags`, `source`, `parent`, `retain_until` and
//!   `origin`, and records the original in `rewritten_from`. Its summary is
//!   the original's with `total_bytes` less the bytes removed.
//! - The original is then forgotten through [`crate::forget`]'s own path
//!   (plan by id, execute with its re-check), so a legal hold, a vault lock
//!   or `retain_until` that keeps the original refuses the rewrite with the
//!   reason and the date it ends. The plan asks forget first: if any
//!   original would be refused, nothing at all is written.
//!
//! Execution follows a backup's commit order ([`crate::backup`]): a writer
//! session, the index, the new trees (only the directories on the way to
//! an excluded entry change; every other subtree keeps its id), the packs
//! and index objects durable, the new snapshots, and only then the
//! originals forgotten. A kill at any instant leaves the originals, or both
//! (the next rewrite or a forget finishes), never neither.
//!
//! Files: `plan.rs` (options, per-snapshot plan, the tree walk),
//! `execute.rs` (writing and forgetting).

pub(crate) mod execute;
pub(crate) mod plan;
#[cfg(test)]
mod tests;

pub use execute::{execute_rewrite, RewriteStats, Rewritten};
pub use plan::{
    plan_rewrite, RemovedPath, RewriteAction, RewriteItem, RewriteOptions, RewritePlan,
};
