//! Unit tests of the wire forms and of retention comparison.

use coffer_core::{LockMode, ObjectRetention};
use jiff::Timestamp;

use super::encoding::{encode, s3_time};
use super::retention::covers;
use super::xml::xml_tag;

#[test]
fn encodes_keys_and_times() {
    assert_eq!(encode("a b/c~d", true), "a%20b/c~d");
    assert_eq!(encode("a/b", false), "a%2Fb");
    let t: Timestamp = "2026-05-01T10:20:30.5Z".parse().unwrap();
    assert_eq!(s3_time(t), "2026-05-01T10:20:30Z");
    assert_eq!(
        xml_tag("<A><Code>NoSuchKey</Code></A>", "Code").as_deref(),
        Some("NoSuchKey")
    );
    let g = ObjectRetention {
        mode: LockMode::Governance,
        until: t,
    };
    let c = ObjectRetention {
        mode: LockMode::Compliance,
        until: t,
    };
    assert!(covers(&c, &g));
    assert!(!covers(&g, &c));
}
