//! The HTTP API's own view types: the JSON each route of
//! `http::api::ROUTES` takes and returns, as Rust types that derive
//! `serde` and [`utoipa::ToSchema`], so docs/openapi.json is generated from
//! the same types the handlers serialize.
//!
//! Where a route answers with a catalog record (a job, an event) it uses the
//! [`crate::catalog`] type itself, which derives its schema in place; what
//! comes from coffer-core or from other parts of the server (a snapshot, a
//! forget plan, a source's health, the report) has a view here that mirrors
//! its JSON field for field, and the handler converts.
//!
//! One file per resource area: `meta` (the error body, the document
//! itself), `me` (who the caller is), `fleet` (every host of the fleet), `vaults`, `sources`, `rules`, `jobs`, `snapshots`, `restore`,
//! `report`, `forget`, `holds`.

mod fleet;
mod forget;
mod holds;
mod jobs;
mod me;
mod meta;
mod report;
mod restore;
mod rules;
mod snapshots;
mod sources;
mod vaults;

pub use fleet::{FleetHost, FleetSource, FleetStatus};
pub use forget::{
    ForgetAnswer, ForgetItemView, ForgetPlanView, ForgetRequest, ForgetStatsView, LockModeView,
    LockPolicyView, ProtectionView, RefusalView, RetentionPolicyView, VaultLockView,
};
pub use holds::{HoldPlaced, HoldRequest, HoldView};
pub use jobs::{EventsQuery, JobWithEvents, JobsQuery, RestoreTestsQuery};
pub use me::{OperationAccess, WhoAmI};
pub use meta::{ErrorBody, OpenApiDocument};
pub use report::{
    ControlStatusView, ControlView, JobCountView, ReportQuery, ReportSummary, ReportView,
    SourceStatusView,
};
pub use restore::{RestoreRequest, RestoreStarted, RestoreTestStarted};
pub use rules::{PlanView, RuleRunRequest, RuleStarted, RuleView};
pub use snapshots::{
    BackupSummaryView, FileEntry, FilesQuery, OriginView, SnapshotFiles, SnapshotView,
    SourceInfoView,
};
pub use sources::{HealthStatus, SourceHealthView, SourceView};
pub use vaults::{JobStarted, VaultView, VerifyRequest};
