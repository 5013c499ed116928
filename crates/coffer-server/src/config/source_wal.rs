//! The WAL archiving fields of a `postgres-base` source ([`WalConfig`]):
//! what `coffer wal-push --source NAME` and `coffer wal-fetch --source NAME`
//! run with when no flag says otherwise.

use std::path::PathBuf;

use super::validate::{Validator, S};

/// The `wal_*` fields as read, lent by the source's raw form.
pub(super) struct WalFields<'a> {
    pub(super) parallel: &'a Option<S<i64>>,
    pub(super) max_batch: &'a Option<S<i64>>,
    pub(super) max_queue: &'a Option<S<i64>>,
    pub(super) prefetch: &'a Option<S<i64>>,
    pub(super) spool: &'a Option<S<PathBuf>>,
}

/// WAL archiving options of a PostgreSQL base backup source; `None` leaves
/// the command's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalConfig {
    /// `wal_parallel`: files pushed or fetched at once (1..=64).
    pub parallel: Option<usize>,
    /// `wal_max_batch`: files one `wal-push` pushes, the requested one
    /// included (1..=1000).
    pub max_batch: Option<usize>,
    /// `wal_max_queue`: ready files beyond which `wal-push` raises
    /// WAL_ARCHIVE_LAG and fails (never drops WAL).
    pub max_queue: Option<usize>,
    /// `wal_prefetch`: segments `wal-fetch` fetches ahead (0..=1000; 0: no
    /// spool).
    pub prefetch: Option<usize>,
    /// `wal_spool`: the spool directory (`push/` and `fetch/` in it).
    pub spool: Option<PathBuf>,
}

impl Validator<'_> {
    pub(super) fn source_wal(&mut self, name: &str, is_base: bool, s: WalFields<'_>) -> WalConfig {
        let mut c = WalConfig::default();
        let ints = [
            ("wal_parallel", s.parallel, &mut c.parallel, 1, 64),
            ("wal_max_batch", s.max_batch, &mut c.max_batch, 1, 1000),
            ("wal_max_queue", s.max_queue, &mut c.max_queue, 1, 1 << 24),
            ("wal_prefetch", s.prefetch, &mut c.prefetch, 0, 1000),
        ];
        let mut present = Vec::new();
        for (field, v, out, min, max) in ints {
            let Some(v) = v else { continue };
            present.push((field, v.span()));
            match usize::try_from(*v.get_ref()) {
                Ok(n) if (min..=max).contains(&n) => *out = Some(n),
                _ => self.at(
                    v,
                    format!("source `{name}`: {field} must be between {min} and {max}"),
                ),
            }
        }
        if let Some(p) = s.spool {
            present.push(("wal_spool", p.span()));
            c.spool = Some(self.path(p.get_ref()));
        }
        if !is_base {
            for (field, span) in present {
                self.error(
                    Some(span),
                    format!(
                        "source `{name}`: {field} applies to sources of kind postgres-base only (WAL archiving)"
                    ),
                );
            }
        }
        c
    }
}
