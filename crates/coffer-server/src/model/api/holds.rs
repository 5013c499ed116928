//! Legal holds: `POST /vaults/{vault}/snapshots/{snapshot}/hold`
//! ([`HoldRequest`], answered with [`HoldPlaced`]) and `.../release`
//! (answered with the released [`HoldView`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST .../hold` (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HoldRequest {
    /// Why (free text).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A legal hold (the JSON of `coffer_core::HoldRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    /// Record format version.
    pub version: u32,
    /// The held snapshot's id.
    pub snapshot: String,
    /// Why (may be empty).
    pub reason: String,
    /// Who placed it.
    pub who: String,
    /// When (RFC 3339).
    pub created: String,
}

/// A hold placed: the hold, and whether this request placed it (`false`:
/// the snapshot was held already, and nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HoldPlaced {
    /// The hold.
    #[serde(flatten)]
    pub hold: HoldView,
    /// Whether this request placed it.
    pub new: bool,
}
