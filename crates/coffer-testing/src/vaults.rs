//! Vaults for tests, all opened with one fixed key, and the check that a
//! vault is sound.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_core::{check, Backend, CheckOptions, InitOptions, ReadData, Secret, Vault};

use crate::backends::MemoryBackend;

/// The key of the vaults made here: a key file's secret, so that opening
/// costs no Argon2 work.
pub const KEY: Secret = Secret::KeyFile([3; 32]);

/// A vault on a fresh in-memory backend, with [`KEY`] and default options.
pub fn memory_vault() -> Vault {
    memory_vault_with(Arc::new(MemoryBackend::new()))
}

/// A new vault on `backend` (an in-memory one, or a wrapper of one), with
/// [`KEY`] and default options.
pub fn memory_vault_with(backend: Arc<dyn Backend>) -> Vault {
    Vault::init(backend, &KEY, &InitOptions::default()).unwrap()
}

/// A vault on a fresh in-memory backend, and that backend (to list,
/// tamper with or copy its objects).
pub fn new_memory_vault() -> (Arc<MemoryBackend>, Vault) {
    let mem = Arc::new(MemoryBackend::new());
    (mem.clone(), memory_vault_with(mem))
}

/// A vault in a local directory (`vault/` in a temporary directory that
/// lives as long as this value), opened with [`KEY`].
pub struct LocalVault {
    /// The temporary directory; removed when dropped.
    pub dir: tempfile::TempDir,
    /// The vault, at [`LocalVault::location`].
    pub vault: Vault,
}

impl LocalVault {
    /// The vault's directory.
    pub fn location(&self) -> PathBuf {
        self.dir.path().join("vault")
    }
}

/// A new vault in a temporary directory.
pub fn local_vault() -> LocalVault {
    let dir = tempfile::tempdir().unwrap();
    let vault = local_vault_at(&dir.path().join("vault"), &KEY);
    LocalVault { dir, vault }
}

/// A new vault in directory `path` (created), opened with `secret`.
pub fn local_vault_at(path: &Path, secret: &Secret) -> Vault {
    let backend = coffer_storage::open_location(path.to_str().unwrap()).unwrap();
    Vault::init(backend, secret, &InitOptions::default()).unwrap()
}

/// Asserts that `check`, reading every byte, finds no problem.
pub fn assert_sound(vault: &Vault) {
    let report = check(
        vault,
        &CheckOptions {
            read_data: ReadData::All,
        },
    )
    .unwrap();
    assert!(report.ok(), "check: {:?}", report.problems);
}
