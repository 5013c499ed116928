//! Restores: `POST /vaults/{vault}/snapshots/{snapshot}/restore`
//! ([`RestoreRequest`], answered with [`RestoreStarted`]) and `POST
//! /restore-tests/{name}/run` (answered with [`RestoreTestStarted`]).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use utoipa::ToSchema;

/// The body of a restore (optional: without one, the whole snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreRequest {
    /// Restore only below this path of the snapshot.
    #[serde(default)]
    pub subpath: Option<String>,
    /// Restore only entries matching these globs.
    #[serde(default)]
    pub include: Option<Vec<String>>,
}

/// A restore job started in the background (`202`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreStarted {
    /// The job's id.
    pub job_id: i64,
    /// Where to follow it (`/api/v1/jobs/ID`).
    pub job: String,
    /// The new directory it restores into, under the state directory's
    /// `restores/`.
    #[schema(value_type = String)]
    pub target: PathBuf,
}

/// A restore test started in the background (`202`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreTestStarted {
    /// The restore test's name.
    pub restore_test: String,
    /// Always `started`.
    pub status: String,
    /// Where to follow its results (`/api/v1/restore-tests`).
    pub jobs: String,
}
