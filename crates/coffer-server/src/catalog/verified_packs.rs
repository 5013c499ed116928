//! The `verified_packs` table: when each pack's data was last read and
//! found sound, for `verify --read-data-subset` coverage.

use jiff::Timestamp;
use rusqlite::params;

use super::database::Catalog;
use super::error::Result;
use super::time_format::{format_time, DbTime};

impl Catalog {
    /// Records that the data of `packs` of `vault` was read and found
    /// sound at `at`.
    pub fn set_packs_verified(&self, vault: &str, packs: &[String], at: Timestamp) -> Result<()> {
        let at = format_time(at);
        self.write("recording verified packs", |tx| {
            let mut st = tx.prepare(
                "INSERT INTO verified_packs (vault, pack, verified_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (vault, pack) DO UPDATE SET verified_at = excluded.verified_at",
            )?;
            for p in packs {
                st.execute(params![vault, p, at])?;
            }
            Ok(())
        })
    }

    /// When each pack of `vault` was last verified, as `(pack, time)`.
    pub fn packs_verified(&self, vault: &str) -> Result<Vec<(String, Timestamp)>> {
        self.read("reading verified packs", |c| {
            let mut st =
                c.prepare("SELECT pack, verified_at FROM verified_packs WHERE vault = ?1")?;
            let rows = st.query_map([vault], |r| Ok((r.get(0)?, r.get::<_, DbTime>(1)?.0)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
