//! Scheduled reports: [`run_scheduled`] runs one `[[report]]` of the
//! configuration, and writes it into its directory or its vault
//! ([`Written`] says where); [`ReportError`] says why it could not.

use crate::model::ServerError;
use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, ReportTarget};
use crate::report::build::build;
use crate::report::document::Report;

/// Why a report could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// No `[[report]]` of that name.
    #[error("no [[report]] named `{name}` in {config} (reports: {known})")]
    UnknownReport {
        /// The name asked for.
        name: String,
        /// The configuration file.
        config: PathBuf,
        /// The names there are.
        known: String,
    },
    /// Writing the report file failed.
    #[error("cannot write report `{name}` to {path}: {source}")]
    Write {
        /// The report.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the report into a vault failed.
    #[error("cannot write report `{name}` into vault `{vault}`: {message}")]
    Vault {
        /// The report.
        name: String,
        /// The vault.
        vault: String,
        /// Why.
        message: String,
    },
}

/// Where a scheduled report went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    /// A file.
    File(PathBuf),
    /// A snapshot in a vault.
    Snapshot {
        /// The vault.
        vault: String,
        /// The snapshot id.
        id: String,
    },
}

/// Runs `[[report]]` `name` at `now`: builds the report for the period of
/// its `since`, renders it and writes it into its directory (a new file
/// `report-NAME-TIME.EXT`, written then renamed into place) or its vault (a
/// snapshot of the stream `report-NAME.EXT`, tagged `report` and
/// `report:NAME`). Returns where it went and the report.
pub fn run_scheduled(
    config: &Config,
    catalog: &Catalog,
    name: &str,
    now: Timestamp,
) -> Result<(Written, Report), ReportError> {
    let rc = config
        .reports
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ReportError::UnknownReport {
            name: name.to_string(),
            config: config.path.clone(),
            known: if config.reports.is_empty() {
                "none".into()
            } else {
                config
                    .reports
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
    let open = |v: &str| crate::runner::open_vault(config, v);
    let report = build(config, catalog, now, now - rc.since, &open)?;
    let body = report.render(rc.format);
    let file = format!("report-{}.{}", rc.name, rc.format.extension());
    let written = match &rc.target {
        ReportTarget::Dir(dir) => {
            let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
            let path = dir.join(format!(
                "report-{}-{stamp}.{}",
                rc.name,
                rc.format.extension()
            ));
            let tmp = dir.join(format!(".{file}.tmp"));
            let io = |source| ReportError::Write {
                name: rc.name.clone(),
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::write(&tmp, body.as_bytes()).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Written::File(path)
        }
        ReportTarget::Vault(vname) => {
            let verr = |e: ServerError| ReportError::Vault {
                name: rc.name.clone(),
                vault: vname.clone(),
                message: e.message,
            };
            let vault = open(vname).map_err(verr)?;
            let meta = coffer_sources::SnapshotMeta {
                host: None,
                tags: vec!["report".into(), format!("report:{}", rc.name)],
                ..Default::default()
            };
            let mut details = BTreeMap::new();
            details.insert("report".to_string(), rc.name.clone());
            details.insert("format".to_string(), rc.format.extension().to_string());
            details.insert("generated_at".to_string(), format!("{now:.0}"));
            let r = coffer_sources::run_backup(
                &vault,
                &coffer_core::BackupOptions::default(),
                &meta,
                |a, _| {
                    coffer_sources::stream::save_stream(
                        a,
                        body.as_bytes(),
                        &file,
                        "report",
                        details,
                    )
                },
            )
            .map_err(|e: coffer_core::Error| verr(ServerError::from(e)))?;
            Written::Snapshot {
                vault: vname.clone(),
                id: r.id.map(|i| i.to_hex()).unwrap_or_default(),
            }
        }
    };
    Ok((written, report))
}
