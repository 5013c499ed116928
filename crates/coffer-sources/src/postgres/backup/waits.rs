//! What a backup by files waits for: a standby to replay the start and
//! write a restartpoint, the WAL up to the end to be in the vault, and the
//! next whole second before the copy begins.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::logical::{Postgres, MAINTENANCE_DB};
use super::super::segment::{format_lsn, parse_lsn};
use crate::error::{SourceError, SourceResult};
use crate::Progress;

/// Waits until the standby `sb` replayed the primary's checkpoint at or
/// after `start_lsn` (the backup's start), then has it write a
/// restartpoint and checks that the restartpoint's redo position is at or
/// after the start: only then do its files hold every change before it.
pub(super) fn wait_for_standby(
    primary: &Postgres,
    sb: &Postgres,
    start_lsn: u64,
    timeout: Duration,
    progress: &Progress,
) -> SourceResult<()> {
    let sat = sb.url().host_port();
    let ckpt = primary.query(
        MAINTENANCE_DB,
        "select checkpoint_lsn from pg_control_checkpoint()",
    )?;
    let ckpt = parse_lsn(ckpt.trim()).ok_or_else(|| SourceError::Protocol {
        target: primary.url().host_port(),
        detail: format!("unexpected checkpoint_lsn {ckpt:?}"),
    })?;
    let began = std::time::Instant::now();
    let mut said = false;
    loop {
        let r = sb.query(
            MAINTENANCE_DB,
            "select coalesce(pg_last_wal_replay_lsn()::text, '')",
        )?;
        if parse_lsn(r.trim()).is_some_and(|l| l > ckpt) {
            break;
        }
        if began.elapsed() > timeout {
            return Err(SourceError::Mismatch(format!(
                "the standby {sat} did not replay the backup's start checkpoint {} within {} s                  (it is at {}): check its replication, or back up from the primary",
                format_lsn(ckpt),
                timeout.as_secs(),
                r.trim()
            )));
        }
        if !said && began.elapsed() > Duration::from_secs(2) {
            progress.notices.say(&format!(
                "waiting for the standby {sat} to replay the backup's start checkpoint {}",
                format_lsn(ckpt)
            ));
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    sb.query(MAINTENANCE_DB, "checkpoint")?;
    let redo = sb.query(
        MAINTENANCE_DB,
        "select redo_lsn from pg_control_checkpoint()",
    )?;
    match parse_lsn(redo.trim()) {
        Some(r) if r >= start_lsn => Ok(()),
        _ => Err(SourceError::Mismatch(format!(
            "the standby {sat} wrote no restartpoint at or after the backup's start {} (its redo              position is {}): run the backup again, or back up from the primary",
            format_lsn(start_lsn),
            redo.trim()
        ))),
    }
}

/// Waits until every WAL file of `names` is in the vault (looking every
/// 100 ms, at most `timeout`); the error names the first one missing.
pub(super) fn wait_archived(
    vault: &coffer_core::Vault,
    names: &[&str],
    timeout: Duration,
    progress: &Progress,
) -> SourceResult<()> {
    let began = std::time::Instant::now();
    let mut said = false;
    for name in names {
        let path = coffer_core::wal::object_path(vault, name);
        loop {
            let there = vault
                .backend()
                .exists(&path)
                .map_err(|e| SourceError::Vault(vault.storage_err(e)))?;
            if there {
                break;
            }
            if began.elapsed() > timeout {
                return Err(SourceError::Mismatch(format!("WAL file {name}")));
            }
            if !said && began.elapsed() > Duration::from_secs(5) {
                progress.notices.say(&format!(
                    "waiting for the server to archive {name}, the WAL up to the backup's end"
                ));
                said = true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Waits until the next whole second has begun and returns it (Unix
/// time): every change after this instant has an mtime of this second or
/// later. The wait runs 20 ms past the second's start, because file times
/// come from the kernel's coarse clock, which may lag the system clock by a
/// tick. Waiting (rather than counting the second before the start as
/// recent) keeps what the start checkpoint wrote out of the next
/// incremental's rereads.
pub(super) fn next_second() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let next = now.as_secs() + 1;
    std::thread::sleep((Duration::from_secs(next) + Duration::from_millis(20)).saturating_sub(now));
    next as i64
}
