//! The web dashboard (embedded assets at `/` and `/ui/`): now in
//! [`crate::http::dashboard`]; this path keeps `crate::dashboard::…` working.

pub use crate::http::dashboard::*;
