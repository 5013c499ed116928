//! The `method` of a `postgres-base` source and the fields of a base backup
//! by files (issue 18): `method = "stream"` (the default) streams the
//! cluster through `pg_basebackup`; `method = "files"` reads the data
//! directory between `pg_backup_start` and `pg_backup_stop`, as
//! `coffer pg backup` does ([`FilesBackup`]), with `pgdata`, `backup_type`,
//! `checksum`, `archive_timeout` and `standby`. A rule's `pg_backup_type`
//! overrides the source's `backup_type` for that rule's jobs
//! (`SourceConfig::spec_for` in `source_rule`, the one place where that
//! happens; kept apart so that this module needs neither sources nor
//! rules).

use std::path::PathBuf;

use coffer_sources::postgres::backup::{BackupType, FilesBackup};

use super::secret::url_has_password;
use super::validate::{Validator, S};

/// `method = "files"`.
pub const METHOD_FILES: &str = "files";
/// `method = "stream"` (the default).
pub const METHOD_STREAM: &str = "stream";

/// The fields of a base backup by files as read, lent by the source's raw
/// form.
pub(super) struct FilesFields<'a> {
    pub(super) method: &'a Option<S<String>>,
    pub(super) pgdata: &'a Option<S<PathBuf>>,
    pub(super) backup_type: &'a Option<S<String>>,
    pub(super) checksum: &'a Option<S<bool>>,
    pub(super) archive_timeout: &'a Option<S<String>>,
    pub(super) standby: &'a Option<S<String>>,
}

/// Parses `full`, `incr` or `diff` at `v`, reporting anything else with
/// `owner` (`source `pg``, `rule `p/r``) and `field`.
pub(super) fn backup_type(
    val: &mut Validator<'_>,
    owner: &str,
    field: &str,
    v: &S<String>,
) -> Option<BackupType> {
    let t = BackupType::parse(v.get_ref());
    if t.is_none() {
        val.at(
            v,
            format!(
                "{owner}: {field} `{}` is not a backup type: write \"full\", \"incr\" (changed since the newest backup) or \"diff\" (changed since the newest full)",
                v.get_ref()
            ),
        );
    }
    t
}

impl Validator<'_> {
    /// The `files` part of a `postgres-base` source's spec: `None` for
    /// `method = "stream"` (other kinds' fields are refused where the
    /// kind's fields are checked). Files-only fields without
    /// `method = "files"` are refused at their position.
    pub(super) fn source_files(&mut self, name: &str, f: FilesFields<'_>) -> Option<FilesBackup> {
        let owner = format!("source `{name}`");
        let by_files = match f.method {
            None => false,
            Some(m) if m.get_ref() == METHOD_FILES => true,
            Some(m) if m.get_ref() == METHOD_STREAM => false,
            Some(m) => {
                self.at(
                    m,
                    format!(
                        "{owner}: method `{}` is unknown: write \"stream\" (pg_basebackup over a connection) or \"files\" (the data directory read between pg_backup_start and pg_backup_stop, on the database host)",
                        m.get_ref()
                    ),
                );
                return None;
            }
        };
        if !by_files {
            let present = [
                ("pgdata", f.pgdata.as_ref().map(|v| v.span())),
                ("backup_type", f.backup_type.as_ref().map(|v| v.span())),
                ("checksum", f.checksum.as_ref().map(|v| v.span())),
                (
                    "archive_timeout",
                    f.archive_timeout.as_ref().map(|v| v.span()),
                ),
                ("standby", f.standby.as_ref().map(|v| v.span())),
            ];
            for (field, span) in present {
                if let Some(span) = span {
                    self.error(
                        Some(span),
                        format!(
                            "{owner}: {field} applies to a base backup by files only: add method = \"files\" to the source (the default, \"stream\", runs pg_basebackup)"
                        ),
                    );
                }
            }
            return None;
        }
        let pgdata = f.pgdata.as_ref().map(|p| {
            let path = self.path(p.get_ref());
            if let Err(e) = std::fs::read_dir(&path) {
                self.warn(
                    p,
                    format!(
                        "{owner}: pgdata {} cannot be read here: {e}; the backup fails at run time unless the daemon runs on the database host as a user that can read the data directory",
                        path.display()
                    ),
                );
            }
            path
        });
        let backup_type = f
            .backup_type
            .as_ref()
            .and_then(|t| backup_type(self, &owner, "backup_type", t))
            .unwrap_or_default();
        let archive_timeout = self
            .opt_duration("archive_timeout", f.archive_timeout)
            .map(|d| d.unsigned_abs().as_secs_f64().ceil() as u64);
        let standby = f.standby.as_ref().map(|u| {
            let text = u.get_ref();
            let scheme = text.split_once("://").map(|(s, _)| s);
            if !scheme.is_some_and(|s| s == "postgres" || s == "postgresql") {
                self.at(
                    u,
                    format!("{owner}: the standby of a postgres-base source is a URL starting with postgres://"),
                );
            } else if url_has_password(text) {
                // Never echo the URL: it holds the password.
                self.at(
                    u,
                    format!(
                        "{owner}: the standby url carries a password; remove it: the source's password_env or password_file is used for the standby too (a standby has the primary's roles)"
                    ),
                );
            }
            text.clone()
        });
        Some(FilesBackup {
            pgdata,
            backup_type,
            checksum: f.checksum.as_ref().is_some_and(|c| *c.get_ref()),
            archive_timeout,
            standby,
        })
    }
}
