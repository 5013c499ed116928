//! `[[report]]` entries: compliance reports written on a schedule, into a
//! directory or a vault (see `crate::report`).

use super::validate::{Validator, S};
use super::vault::VaultConfig;
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use serde::Deserialize;
use std::path::PathBuf;

/// Where a scheduled report is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    /// A directory: one file per run (`report-NAME-TIME.EXT`).
    Dir(PathBuf),
    /// A vault: a snapshot of the stream `report-NAME.EXT`.
    Vault(String),
}

/// `[[report]]`: a compliance report written on a schedule.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// Its name (unique).
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule is read in.
    pub timezone: TimeZone,
    /// Its format.
    pub format: crate::model::ReportFormat,
    /// The period reported on, back from the run's time (default 24h).
    pub since: SignedDuration,
    /// Where it goes.
    pub target: ReportTarget,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    name: S<String>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    format: Option<S<crate::model::ReportFormat>>,
    since: Option<S<String>>,
    to_dir: Option<S<PathBuf>>,
    to_vault: Option<S<String>>,
}

impl Validator<'_> {
    pub(super) fn reports(
        &mut self,
        raw: &[RawReport],
        vaults: &[VaultConfig],
    ) -> Vec<ReportConfig> {
        self.duplicates("report", raw.iter().map(|r| &r.name));
        let mut out = Vec::new();
        for r in raw {
            self.name("report", &r.name);
            let name = r.name.get_ref().clone();
            let schedule = match Schedule::parse(r.schedule.get_ref()) {
                Ok(s) => s,
                Err(e) => {
                    self.at(
                        &r.schedule,
                        format!(
                            "report `{name}`: bad schedule `{}`: {}",
                            r.schedule.get_ref(),
                            e.message
                        ),
                    );
                    continue;
                }
            };
            let timezone = match &r.timezone {
                None => TimeZone::UTC,
                Some(z) => match TimeZone::get(z.get_ref()) {
                    Ok(tz) => tz,
                    Err(e) => {
                        self.at(z, format!("report `{name}`: unknown time zone `{}` ({e}); use an IANA name such as \"Europe/Berlin\" or \"UTC\"", z.get_ref()));
                        TimeZone::UTC
                    }
                },
            };
            let since = self.duration("since", &r.since, SignedDuration::from_hours(24));
            let target = match (&r.to_dir, &r.to_vault) {
                (Some(d), None) => ReportTarget::Dir(self.path(d.get_ref())),
                (None, Some(v)) => {
                    if !vaults.iter().any(|x| &x.name == v.get_ref()) {
                        let known: Vec<&str> = vaults.iter().map(|v| v.name.as_str()).collect();
                        self.at(v, format!(
                            "report `{name}`: to_vault `{}` is not a vault of this file (vaults: {})",
                            v.get_ref(),
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        ));
                    }
                    ReportTarget::Vault(v.get_ref().clone())
                }
                (Some(_), Some(v)) => {
                    self.at(
                        v,
                        format!("report `{name}`: give only one of to_dir and to_vault"),
                    );
                    continue;
                }
                (None, None) => {
                    self.at(&r.name, format!("report `{name}` goes nowhere: set to_dir = \"DIR\" or to_vault = \"VAULT\""));
                    continue;
                }
            };
            out.push(ReportConfig {
                name,
                schedule,
                timezone,
                format: r.format.as_ref().map(|f| *f.get_ref()).unwrap_or_default(),
                since,
                target,
            });
        }
        out
    }
}
