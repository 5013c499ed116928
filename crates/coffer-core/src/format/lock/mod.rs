//! Vault lock (AWS Backup Vault Lock semantics) and legal holds.
//!
//! Both live in the vault itself, so every client that opens it honours
//! them, whichever host or front end it runs on.
//!
//! **Vault lock.** Sealed JSON [`LockRecord`]s under `locks/<id>` (the id is
//! the keyed hash of the stored bytes, as for snapshots). Records are
//! write-once: setting, changing or removing the lock writes a new record,
//! and nothing deletes old ones. The lock in force is found by replaying the
//! records oldest first (by `created`, then id): each record replaces the
//! lock (or, with `removes`, ends it), except that a record written when a
//! compliance lock was no longer changeable is ignored and reported. So
//! "the newest record wins" as long as it was allowed when it was written.
//!
//! - Governance mode ([`LockPolicy::changeable_for_days`] absent): the lock
//!   can be changed or removed at any time; forget keeps snapshots younger
//!   than `min_retention_days` unless it is asked to bypass governance.
//! - Compliance mode (`changeable_for_days = D`, D ≥ 3): until `created + D
//!   days` the lock can still be changed or removed; after that nobody can,
//!   and no option removes a snapshot younger than its retention.
//!
//! **Legal holds.** One sealed JSON [`HoldRecord`] per held snapshot under
//! `holds/<name>`, where the name is the keyed BLAKE3 (object name key) of
//! `coffer.hold` followed by the snapshot id: stable, so a hold can be
//! found and released from the snapshot id alone, and revealing nothing.
//! Holding a held snapshot again writes nothing; releasing deletes the
//! object. A held snapshot is never forgotten, whatever the lock or options.
//!
//! These rules are enforced by coffer, that is by every client holding the
//! vault's key. They do not stop someone who deletes objects from the
//! storage directly: against that, use the storage's own immutability.
//!
//! **Store-enforced locks (S3 Object Lock).** A lock record says whether
//! the store enforces the lock too ([`LockRecord::store_enforced`]; the CLI
//! sets it only after probing the bucket). When it does, opening the vault
//! tells the backend to write every object with S3 Object Lock retention
//! ([`Vault::apply_store_lock`](crate::Vault::apply_store_lock)): the lock's mode, retained until the write
//! plus `min_retention_days` plus [`RETENTION_SLACK_DAYS`]. Objects that a
//! snapshot needs for longer (a later snapshot deduplicating against old
//! packs, a snapshot's `retain_until`, a raised minimum) get their
//! retention extended ([`Vault::plan_store_retention`](crate::Vault::plan_store_retention),
//! [`Vault::extend_store_retention`](crate::Vault::extend_store_retention)): before each snapshot is saved for the
//! objects that snapshot needs, and over the whole vault when the lock is
//! set and by `coffer vault extend-retention`.
//!
//! Files: `vault_lock.rs` (lock policies, records and their replay),
//! `legal_hold.rs` (holds), `store_retention.rs` (S3 Object Lock retention
//! for a store-enforced lock).

pub(crate) mod legal_hold;
pub(crate) mod store_retention;
#[cfg(test)]
mod tests;
pub(crate) mod vault_lock;

pub use legal_hold::HoldRecord;
pub use store_retention::{RetentionPlan, RETENTION_SLACK_DAYS};
pub use vault_lock::{
    snapshot_protections, LockMode, LockPolicy, LockRecord, LockState, VaultLock,
    MIN_CHANGEABLE_DAYS,
};
