//! The rules' last scheduled times.

use super::fixtures::{catalog, ts};

#[test]
fn rule_state_keeps_the_last_scheduled_time() {
    let (_tmp, c) = catalog();
    assert_eq!(c.last_scheduled("daily", "nightly").unwrap(), None);
    c.set_last_scheduled("daily", "nightly", ts("2026-03-01T02:00:00Z"))
        .unwrap();
    c.set_last_scheduled("daily", "nightly", ts("2026-03-02T02:00:00Z"))
        .unwrap();
    c.set_last_scheduled("daily", "hourly", ts("2026-03-02T03:00:00Z"))
        .unwrap();
    assert_eq!(
        c.last_scheduled("daily", "nightly").unwrap(),
        Some(ts("2026-03-02T02:00:00Z"))
    );
    assert_eq!(
        c.rule_states().unwrap(),
        [
            (
                "daily".to_string(),
                "hourly".to_string(),
                ts("2026-03-02T03:00:00Z")
            ),
            (
                "daily".to_string(),
                "nightly".to_string(),
                ts("2026-03-02T02:00:00Z")
            ),
        ]
    );
}
