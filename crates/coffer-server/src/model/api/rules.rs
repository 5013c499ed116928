//! Plans and their rules: `GET /rules` ([`PlanView`], [`RuleView`]) and
//! `POST /rules/{plan}/{rule}/run` ([`RuleRunRequest`], answered with
//! [`RuleStarted`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A rule of a plan, with its next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    /// `PLAN/RULE`.
    pub id: String,
    /// The rule's name.
    pub name: String,
    /// The vault it backs up into.
    pub vault: String,
    /// The sources it selects.
    pub sources: Vec<String>,
    /// Its schedule, as written in the configuration.
    pub schedule: String,
    /// When it runs next (RFC 3339), if ever.
    #[schema(format = DateTime)]
    pub next_run: Option<String>,
}

/// A plan and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    /// The plan's name.
    pub name: String,
    /// Its rules.
    pub rules: Vec<RuleView>,
}

/// The body of `POST /rules/{plan}/{rule}/run` (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleRunRequest {
    /// Only this source of the rule (default: every source it selects).
    #[serde(default)]
    pub source: Option<String>,
}

/// A rule started in the background (`202`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleStarted {
    /// `PLAN/RULE`.
    pub rule: String,
    /// Always `started`.
    pub status: String,
    /// Where to follow its backup jobs (`/api/v1/jobs?kind=backup&…`).
    pub jobs: String,
}
