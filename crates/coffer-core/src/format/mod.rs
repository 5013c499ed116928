//! What a vault stores and how: one module per kind of object or encoding.
//!
//! Every module here defines a stored form (its layout, its name, how it is
//! sealed) and the code that writes and reads exactly that form; none of
//! them decides which objects to write or delete (that is [`crate::ops`]'s
//! work). The full format, with its version, is in `docs/format.md`.
//!
//! - [`id`]: 32-byte ids, keyed BLAKE3 of content or stored bytes.
//! - [`crypto`]: the master key, sealing (XChaCha20-Poly1305, random
//!   192-bit nonces) and keyed hashing.
//! - [`keys`]: key slots under `keys/` and keyrings of key epochs.
//! - [`chunker`]: content-defined chunking with the vault's parameters.
//! - [`pack`]: sealed blobs and the packs that hold them.
//! - [`index`]: which pack holds which blob.
//! - [`tree`]: directory listings, validated when decoded.
//! - [`snapshot`]: one JSON object per point-in-time copy of a source.
//! - [`wal`]: archived PostgreSQL WAL files under `wal/`.
//! - [`lock`]: vault lock records and legal holds.
//! - [`fleet`]: job outcomes and heartbeats of the hosts writing into the
//!   vault, under `fleet/`.
//! - [`session`]: writer sessions, by which backups tell prune they run.
//! - [`staging`]: packs staged in a local vault's `.tmp/`, named after
//!   their writer.

pub mod chunker;
pub mod crypto;
pub mod fleet;
pub mod id;
pub mod index;
pub mod keys;
pub mod lock;
pub mod pack;
pub mod session;
pub mod snapshot;
pub mod staging;
pub mod tree;
pub mod wal;
