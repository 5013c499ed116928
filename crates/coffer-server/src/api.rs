//! The HTTP API under `/api/v1`: now in [`crate::http::api`] (one route
//! table, roles, audit); this path keeps `crate::api::…` working.

pub use crate::http::api::*;
