//! Comparing object lock retentions: which mode wins when one is extended,
//! and whether a retention already covers the one wanted.

use coffer_core::{LockMode, ObjectRetention};

/// The mode a retention keeps when extended: COMPLIANCE stays COMPLIANCE.
pub(crate) fn stronger(a: LockMode, b: LockMode) -> LockMode {
    if a == LockMode::Compliance || b == LockMode::Compliance {
        LockMode::Compliance
    } else {
        LockMode::Governance
    }
}

/// Whether `have` satisfies `want`.
pub(crate) fn covers(have: &ObjectRetention, want: &ObjectRetention) -> bool {
    have.until >= want.until && stronger(have.mode, want.mode) == have.mode
}
