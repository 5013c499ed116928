//! coffer-testing: the harness that the tests of more than one coffer
//! crate share.
//!
//! It is a **dev-dependency only**: no shipped crate depends on it, and it
//! is never published. It holds
//!
//! - [`vaults`]: vaults on a fresh in-memory backend or in a temporary
//!   directory, all with one fixed key ([`KEY`]), and the check that a
//!   vault is sound;
//! - [`backends`]: coffer-storage's [`MemoryBackend`] and [`FaultyBackend`]
//!   re-exported, and [`CrashBackend`], which fails every write and delete
//!   from a chosen one on, as if the process died there;
//! - [`data`]: deterministic data ([`noise`]) and files ([`write`]);
//! - [`snapshots`]: snapshot records with no data, for tests of what
//!   reads only their metadata;
//! - [`trees`]: directory trees to back up ([`rich_tree`], [`small_tree`])
//!   and comparisons of a restored tree with its source.
//!
//! coffer-core and coffer-storage cannot use it in their unit tests (they
//! would see two different copies of their own crate); their integration
//! tests under `tests/` can.

#![deny(missing_docs)]

pub mod backends;
pub mod data;
pub mod snapshots;
pub mod trees;
pub mod vaults;

pub use backends::{copy_of, object_paths, CrashBackend, Fault, FaultyBackend, MemoryBackend};
pub use data::{noise, write};
pub use snapshots::snapshot;
pub use trees::{assert_same_contents, assert_same_tree, is_root, rich_tree, small_tree};
pub use vaults::{
    assert_sound, local_vault, local_vault_at, memory_vault, memory_vault_with, new_memory_vault,
    LocalVault, KEY,
};
