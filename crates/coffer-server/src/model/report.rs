//! How a compliance report is written.

use super::error::ServerError;
use serde::{Deserialize, Serialize};

/// A report's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// Plain text for a terminal or an email.
    Text,
    /// The [`Report`] as JSON.
    Json,
    /// One row per control.
    Csv,
    /// One self-contained page for an auditor.
    #[default]
    Html,
}

impl ReportFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Text => "txt",
            ReportFormat::Json => "json",
            ReportFormat::Csv => "csv",
            ReportFormat::Html => "html",
        }
    }
}

impl std::str::FromStr for ReportFormat {
    type Err = ServerError;
    fn from_str(s: &str) -> Result<Self, ServerError> {
        match s {
            "text" => Ok(ReportFormat::Text),
            "json" => Ok(ReportFormat::Json),
            "csv" => Ok(ReportFormat::Csv),
            "html" => Ok(ReportFormat::Html),
            _ => Err(ServerError::usage(format!(
                "unknown report format `{s}`: use text, json, csv or html"
            ))),
        }
    }
}
