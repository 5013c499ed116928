//! The `kv` table: small values such as the event consumers' cursors.

use rusqlite::OptionalExtension;

use super::database::Catalog;
use super::error::Result;

impl Catalog {
    /// A value of the key-value table (consumers' cursors and small state).
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.read("reading a key", |c| {
            Ok(
                c.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Sets a value of the key-value table.
    pub fn kv_set(&self, key: &str, value: &str) -> Result<()> {
        self.write("writing a key", |tx| {
            tx.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
    }
}
