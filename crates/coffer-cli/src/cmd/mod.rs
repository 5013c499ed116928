//! The commands, one file per verb (or per group of subcommands): each
//! holds its flags and turns them into calls to the libraries and output.
//! `coffer vault lock` is in `vault_lock.rs`, `coffer snapshot hold` in
//! `hold.rs`, `coffer wal-push` and `wal-fetch` in `wal.rs`.

pub mod backup;
pub mod check;
pub mod completions;
pub mod config;
pub mod copy;
pub mod diff;
pub mod events;
pub mod forget;
pub mod hold;
pub mod init;
pub mod jobs;
pub mod key;
pub mod ls;
pub mod pg;
pub mod plan;
pub mod prune;
pub mod report;
pub mod restore;
pub mod restore_test;
pub mod rewrite;
pub mod serve;
pub mod snapshots;
pub mod status;
pub mod thaw;
pub mod token;
pub mod vault_lock;
pub mod vault_usage;
pub mod verify;
pub mod wal;
