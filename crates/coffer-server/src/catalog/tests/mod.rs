//! Tests of the catalog, one file per table or concept.

mod concurrency;
mod events;
mod fixtures;
mod formats;
mod jobs;
mod liveness;
mod notify_claims;
mod rule_state;
mod schema;
