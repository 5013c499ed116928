//! Legal holds: one sealed JSON [`HoldRecord`] per held snapshot under
//! `holds/<name>`, where the name is the keyed BLAKE3 (object name key) of
//! `coffer.hold` followed by the snapshot id: stable, so a hold can be found
//! and released from the snapshot id alone, and revealing nothing. Holding a
//! held snapshot again writes nothing; releasing deletes the object. A held
//! snapshot is never forgotten, whatever the lock or options.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::vault::handle::Vault;

/// A legal hold (`holds/<name>`, sealed JSON). Readers ignore unknown
/// fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    /// Record format version (1).
    pub version: u32,
    /// The held snapshot.
    pub snapshot: Id,
    /// Why (free text, may be empty).
    #[serde(default)]
    pub reason: String,
    /// Who placed it (`user@host`).
    #[serde(default)]
    pub who: String,
    /// When (RFC 3339).
    pub created: String,
}

impl Vault {
    /// The path of the hold object of snapshot `snapshot`: the keyed hash of
    /// `coffer.hold` and the id. (Ordinary object names hash sealed bytes,
    /// which start with the scheme byte 1, never with `c`, so the two kinds
    /// of names cannot collide.)
    pub fn hold_path(&self, snapshot: &Id) -> String {
        let mut input = ObjectKind::Hold.aad().to_vec();
        input.extend_from_slice(&snapshot.0);
        ObjectKind::Hold.path(&self.key().object_name(&input))
    }

    /// Reads one hold object and checks that it belongs at `path`.
    fn read_hold(&self, path: &str) -> Result<Option<HoldRecord>> {
        let sealed = match self.backend().read(path) {
            Ok(b) => b,
            Err(e) if e.not_found => return Ok(None),
            Err(e) => return Err(self.storage_err(e)),
        };
        let body = self
            .key()
            .open(ObjectKind::Hold.aad(), &sealed)
            .ok_or_else(|| Error::damaged(path, "fails authentication"))?;
        let rec: HoldRecord = serde_json::from_slice(&body)
            .map_err(|e| Error::damaged(path, format!("does not parse: {e}")))?;
        if self.hold_path(&rec.snapshot) != path {
            return Err(Error::damaged(
                path,
                format!(
                    "holds snapshot {} but is not stored under that snapshot's hold name",
                    rec.snapshot.short()
                ),
            ));
        }
        Ok(Some(rec))
    }

    /// The hold on `snapshot`, if any.
    pub fn hold_of(&self, snapshot: &Id) -> Result<Option<HoldRecord>> {
        self.read_hold(&self.hold_path(snapshot))
    }

    /// Every legal hold, oldest first.
    pub fn holds(&self) -> Result<Vec<HoldRecord>> {
        let mut out = Vec::new();
        let listed = self
            .backend()
            .list(ObjectKind::Hold.prefix())
            .map_err(|e| self.storage_err(e))?;
        for o in listed {
            if ObjectKind::Hold.id_of(&o.path).is_none() {
                continue;
            }
            if let Some(r) = self.read_hold(&o.path)? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.snapshot.cmp(&b.snapshot)));
        Ok(out)
    }

    /// Places a legal hold on snapshot `snapshot` (which must exist).
    /// Returns the hold and whether it is new: holding a held snapshot
    /// writes nothing and returns the existing hold, so the object under a
    /// hold name is written once. (Two clients holding the same snapshot at
    /// the same instant may both write; each write is atomic and either
    /// record is a valid hold.)
    pub fn hold_snapshot(
        &self,
        snapshot: &Id,
        reason: &str,
        who: &str,
        now: Timestamp,
    ) -> Result<(HoldRecord, bool)> {
        self.load_snapshot(snapshot)?;
        if let Some(h) = self.hold_of(snapshot)? {
            return Ok((h, false));
        }
        let rec = HoldRecord {
            version: 1,
            snapshot: *snapshot,
            reason: reason.to_string(),
            who: who.to_string(),
            created: now.to_string(),
        };
        let sealed = self.key().seal(
            ObjectKind::Hold.aad(),
            &serde_json::to_vec(&rec).expect("serializable"),
        );
        self.backend()
            .write(&self.hold_path(snapshot), sealed)
            .map_err(|e| self.storage_err(e))?;
        Ok((rec, true))
    }

    /// Releases the legal hold on `snapshot`; returns the hold released.
    pub fn release_snapshot(&self, snapshot: &Id) -> Result<HoldRecord> {
        let path = self.hold_path(snapshot);
        let rec = self.read_hold(&path)?.ok_or_else(|| Error::NotFound {
            what: format!("a legal hold on snapshot {}", snapshot.short()),
            hint: format!(
                " in {}: list holds with `coffer snapshot holds`",
                self.backend().location()
            ),
        })?;
        self.backend()
            .delete(&path)
            .map_err(|e| self.storage_err(e))?;
        Ok(rec)
    }
}
