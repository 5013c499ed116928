//! coffer's end-to-end tests: the real `coffer` binary against real
//! servers (a local directory and Garage for vaults, PostgreSQL, MariaDB,
//! Redis, moto, Chromium), one module per area, in one test binary so the
//! program is linked once. `bash scripts/test.sh` starts what they need.

mod common;

mod api;
mod aws_identity;
mod basebackup_dedup;
mod cluster;
mod config;
mod config_check;
mod copy;
mod daemon;
mod dashboard;
mod databases;
mod deploy;
mod fault_proxy;
mod faults;
mod fleet;
mod format_compat;
mod help;
mod install;
mod jobs;
mod metrics;
mod notify;
mod object_lock;
mod pg_backup;
mod pg_timeline;
mod pitr;
mod progress;
mod proof;
mod prune;
mod prune_limits;
mod report;
mod restore_test;
mod restore_test_skips;
mod retention;
mod rewrite;
mod storage_errors;
mod thaw;
mod tier_chain;
mod tiers;
mod vault_e2e;
mod vault_usage;
mod verify;
mod wal_async;
mod wal_prune;
