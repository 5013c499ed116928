//! Archived PostgreSQL WAL files: one sealed object per file under `wal/`.
//!
//! WAL archiving (`archive_command`, `restore_command`) stores and fetches
//! files by their PostgreSQL name (`000000010000000000000002`,
//! `00000002.history` …), so unlike every other object a WAL object's name
//! is derived from that file name, not from its bytes:
//!
//! - **Name** = `wal/` + hex([`crate::MasterKey::seal_name`] of the file name): a
//!   deterministic encryption with a synthetic IV. A retry of the same file
//!   finds the same object, `wal-fetch` finds it from the name alone, and a
//!   listing recovers every file name without reading any object; the name
//!   reveals only the file name's length (and which objects share a name,
//!   which never happens: PostgreSQL names are unique).
//! - **Content** = seal(aad = `coffer.wal` || file name, `0x01` || one zstd
//!   frame of the file). The file name in the associated data makes an
//!   object renamed to another segment fail authentication.
//!
//! Write once: [`put`] reads an existing object first. Identical content is
//! success without a write (PostgreSQL retries after crashes); different
//! content is an error, because a different segment under an existing name
//! means two clusters archive into one vault, or the archive is damaged.
//! Two pushes of one file racing each other both write the same plaintext;
//! the storage layer makes each write atomic, so either result is whole.

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::vault::handle::Vault;

/// The payload format byte: one zstd frame.
const FORMAT_ZSTD: u8 = 1;
/// zstd level of WAL files (segments are mostly page images and zeros).
const LEVEL: i32 = 3;
/// The longest file name stored (PostgreSQL's are at most ~40 bytes).
pub const MAX_NAME: usize = 255;

/// What [`put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The file was stored (durably, when `put` returned).
    Stored {
        /// Bytes of the stored object.
        stored: u64,
    },
    /// An object with identical content already existed; nothing written.
    AlreadyArchived,
}

/// The object path of WAL file `name`.
pub fn object_path(vault: &Vault, name: &str) -> String {
    format!(
        "{}{}",
        ObjectKind::Wal.prefix(),
        hex::encode(vault.key().seal_name(name.as_bytes()))
    )
}

fn aad(name: &str) -> Vec<u8> {
    let mut a = ObjectKind::Wal.aad().to_vec();
    a.extend_from_slice(name.as_bytes());
    a
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME || name.contains('/') {
        return Err(Error::InvalidInput(format!(
            "`{name}` is not a WAL file name: give the bare name PostgreSQL passes as %f"
        )));
    }
    Ok(())
}

/// Seals the content of WAL file `name` (compressed, then encrypted).
pub fn seal(vault: &Vault, name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut body = vec![FORMAT_ZSTD];
    let z = zstd::bulk::compress(data, LEVEL)
        .map_err(|e| Error::InvalidInput(format!("compressing WAL file {name}: {e}")))?;
    body.extend_from_slice(&z);
    Ok(vault.key().seal(&aad(name), &body))
}

/// Opens a sealed WAL object; `path` names it in errors.
pub fn open(vault: &Vault, name: &str, sealed: &[u8], path: &str) -> Result<Vec<u8>> {
    let body = vault
        .key()
        .open(&aad(name), sealed)
        .ok_or_else(|| Error::damaged(path, format!("WAL file {name} fails authentication")))?;
    match body.split_first() {
        Some((&FORMAT_ZSTD, z)) => zstd::stream::decode_all(z)
            .map_err(|e| Error::damaged(path, format!("WAL file {name} does not decompress: {e}"))),
        _ => Err(Error::damaged(
            path,
            format!("WAL file {name} has an unknown payload format"),
        )),
    }
}

/// The BLAKE3 hash (hex) of a WAL file's plaintext content: what a
/// conflict names, and what `wal-push`'s spool records of a file it made
/// durable. Not a keyed hash: it never leaves the host in a vault object.
pub fn content_hash(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Stores WAL file `name` with content `data`; safe to retry (see the
/// module documentation). Returns only once the object is durable.
pub fn put(vault: &Vault, name: &str, data: &[u8]) -> Result<PutOutcome> {
    check_name(name)?;
    vault.check_current_epoch()?;
    let path = object_path(vault, name);
    if let Some(existing) = read(vault, name, &path)? {
        if existing == data {
            return Ok(PutOutcome::AlreadyArchived);
        }
        return Err(Error::AlreadyExists {
            what: format!(
                "WAL file {name} with different content (archived: {} bytes, BLAKE3 {}; \
                 given: {} bytes, BLAKE3 {}) in {}",
                existing.len(),
                content_hash(&existing),
                data.len(),
                content_hash(data),
                vault.backend().location()
            ),
            hint: ": refusing to overwrite it; is a second cluster archiving into this vault? \
                   Give each cluster its own vault"
                .into(),
        });
    }
    let sealed = seal(vault, name, data)?;
    let stored = sealed.len() as u64;
    vault
        .backend()
        .write(&path, sealed)
        .map_err(|e| vault.storage_err(e))?;
    Ok(PutOutcome::Stored { stored })
}

fn read(vault: &Vault, name: &str, path: &str) -> Result<Option<Vec<u8>>> {
    match vault.backend().read(path) {
        Ok(sealed) => open(vault, name, &sealed, path).map(Some),
        Err(e) if e.not_found => Ok(None),
        Err(e) => Err(vault.storage_err(e)),
    }
}

/// The content of WAL file `name`, or `None` when the vault lacks it.
pub fn get(vault: &Vault, name: &str) -> Result<Option<Vec<u8>>> {
    check_name(name)?;
    read(vault, name, &object_path(vault, name))
}

/// One archived WAL file, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalObject {
    /// The PostgreSQL file name.
    pub name: String,
    /// The object's path in the vault.
    pub path: String,
    /// Stored bytes.
    pub size: u64,
}

/// Every archived WAL file, sorted by name, and the paths under `wal/`
/// whose names do not decrypt (damaged, or from another vault's key).
pub fn list(vault: &Vault) -> Result<(Vec<WalObject>, Vec<String>)> {
    let listed = vault
        .backend()
        .list(ObjectKind::Wal.prefix())
        .map_err(|e| vault.storage_err(e))?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for o in listed {
        let leaf = o.path.rsplit('/').next().unwrap_or("");
        let name = hex::decode(leaf)
            .ok()
            .and_then(|b| vault.key().open_name(&b))
            .and_then(|n| String::from_utf8(n).ok());
        match name {
            Some(name) => good.push(WalObject {
                name,
                path: o.path,
                size: o.size,
            }),
            None => bad.push(o.path),
        }
    }
    good.sort_by(|a, b| a.name.cmp(&b.name));
    bad.sort();
    Ok((good, bad))
}

/// The newest archived WAL segment and when it was written, as cheaply as
/// the store allows: one listing of `wal/` (names decrypt without reading
/// any object) and one `stat` of the newest segment. Segments are ordered
/// by their position in the WAL (log and segment number), then timeline;
/// timeline history and backup history files are not segments. The time is
/// `None` when the store keeps no modification times.
pub fn newest(vault: &Vault) -> Result<Option<(WalObject, Option<jiff::Timestamp>)>> {
    let (files, _) = list(vault)?;
    let is_segment = |n: &str| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(newest) = files
        .into_iter()
        .filter(|f| is_segment(&f.name))
        .max_by(|a, b| (&a.name[8..], &a.name[..8]).cmp(&(&b.name[8..], &b.name[..8])))
    else {
        return Ok(None);
    };
    let at = vault
        .backend()
        .modified(&newest.path)
        .map_err(|e| vault.storage_err(e))?;
    Ok(Some((newest, at)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::Mem;
    use crate::{Backend, InitOptions, Secret};
    use std::sync::Arc;

    #[test]
    fn put_get_list_retry_and_conflict() {
        let mem = Arc::new(Mem::default());
        let v = Vault::init(
            mem.clone(),
            &Secret::KeyFile([3; 32]),
            &InitOptions::default(),
        )
        .unwrap();
        let seg = "000000010000000000000001";
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        assert!(matches!(
            put(&v, seg, &data).unwrap(),
            PutOutcome::Stored { .. }
        ));
        assert_eq!(put(&v, seg, &data).unwrap(), PutOutcome::AlreadyArchived);
        let e = put(&v, seg, &data[1..]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("different content"), "{msg}");
        assert!(
            msg.contains(&content_hash(&data)) && msg.contains(&content_hash(&data[1..])),
            "{msg}"
        );
        assert_eq!(get(&v, seg).unwrap().unwrap(), data);
        assert!(get(&v, "000000010000000000000002").unwrap().is_none());
        put(&v, "00000002.history", b"1\t0/3000000\tno reason\n").unwrap();
        let (l, bad) = list(&v).unwrap();
        assert!(bad.is_empty());
        let names: Vec<&str> = l.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, vec![seg, "00000002.history"]);
        // The name hides the file name; a renamed object fails to open.
        assert!(!l[0].path.contains(seg));
        let other = object_path(&v, "000000010000000000000009");
        let bytes = mem.read(&l[0].path).unwrap();
        mem.write(&other, bytes).unwrap();
        let e = get(&v, "000000010000000000000009").unwrap_err();
        assert!(e.to_string().contains("fails authentication"), "{e}");
        mem.write("wal/abcd", vec![1]).unwrap();
        assert_eq!(list(&v).unwrap().1, vec!["wal/abcd".to_string()]);
        assert!(put(&v, "a/b", b"x").is_err());
        // The newest segment by position, whatever the timeline.
        put(&v, "000000020000000000000001", b"x").unwrap();
        put(&v, "00000001000000000000000A", b"x").unwrap();
        let (n, at) = newest(&v).unwrap().unwrap();
        assert_eq!(n.name, "00000001000000000000000A");
        assert_eq!(at, None, "the test backend keeps no times");
    }
}
