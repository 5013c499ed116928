//! Unit tests of restore tests: scratch names and reading query output.

use super::scratch::scratch_name;
use super::validate::first_value;

#[test]
fn scratch_names_are_unmistakable() {
    let a = scratch_name("Nightly-DB.check");
    assert!(a.starts_with("coffer_rt_nightly_db_check_"), "{a}");
    assert!(a.len() <= 63);
    assert_ne!(a, scratch_name("Nightly-DB.check"));
    let long = scratch_name(&"x".repeat(200));
    assert!(long.len() <= 63, "{long}");
    assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
}

#[test]
fn first_values() {
    assert_eq!(first_value("3|a\n4|b\n", '|').as_deref(), Some("3"));
    assert_eq!(first_value("7\tx\n", '\t').as_deref(), Some("7"));
    assert_eq!(first_value("", '|'), None);
}
