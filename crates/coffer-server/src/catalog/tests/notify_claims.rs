//! Notification claims and cursors (issue 19): two deliverers never both
//! claim one event, the cursor moves over settled events only, a lost
//! claim is taken over once its lease runs out, and a new sink starts at
//! the events of its history window.

use super::fixtures::{catalog, ts};
use crate::catalog::{notify_cursor_key, Catalog, Claim, EventName, NewEvent};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(3600);

fn emit(c: &Catalog, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            c.emit(&NewEvent::new(EventName::RpoViolated, format!("e{i}")))
                .unwrap()
        })
        .collect()
}

#[test]
fn issue19_one_claim_per_event_and_the_cursor_moves_over_settled_ones() {
    let (_t, c) = catalog();
    let ids = emit(&c, 3);
    assert_eq!(c.notify_cursor("hook", LONG).unwrap(), 0);
    assert_eq!(c.unsettled_events("hook", 0, 10).unwrap().len(), 3);

    assert_eq!(
        c.claim_notification("hook", ids[0], "a", LONG).unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        c.claim_notification("hook", ids[0], "b", LONG).unwrap(),
        Claim::Taken { owner: "a".into() }
    );
    // b goes on with the next events while a sends the first.
    assert_eq!(
        c.claim_notification("hook", ids[1], "b", LONG).unwrap(),
        Claim::Claimed
    );
    // b settles the 2nd and passes over the 3rd: the cursor stays before
    // the 1st, which a has not settled.
    assert_eq!(
        c.settle_notifications("hook", &[ids[1], ids[2]], "b")
            .unwrap(),
        0
    );
    let left: Vec<i64> = c
        .unsettled_events("hook", 0, 10)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec![ids[0]]);
    assert_eq!(
        c.claim_notification("hook", ids[1], "a", LONG).unwrap(),
        Claim::Settled
    );
    // a settles the 1st: the cursor moves over all three.
    assert_eq!(
        c.settle_notifications("hook", &[ids[0]], "a").unwrap(),
        ids[2]
    );
    assert_eq!(
        c.kv_get(&notify_cursor_key("hook")).unwrap(),
        Some(ids[2].to_string())
    );
    assert!(c.unsettled_events("hook", 0, 10).unwrap().is_empty());
    assert_eq!(
        c.claim_notification("hook", ids[0], "b", LONG).unwrap(),
        Claim::Settled
    );
    // Another sink has its own cursor and claims.
    assert_eq!(c.notify_cursor("mail", LONG).unwrap(), 0);
    assert_eq!(
        c.claim_notification("mail", ids[0], "b", LONG).unwrap(),
        Claim::Claimed
    );
}

#[test]
fn issue19_a_lost_claim_is_taken_over_after_its_lease_and_a_released_one_at_once() {
    let (_t, c) = catalog();
    let ids = emit(&c, 2);
    c.notify_cursor("hook", LONG).unwrap();
    // A claim whose lease has run out (its owner was killed).
    assert_eq!(
        c.claim_notification("hook", ids[0], "dead", Duration::ZERO)
            .unwrap(),
        Claim::Claimed
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        c.claim_notification("hook", ids[0], "b", LONG).unwrap(),
        Claim::Claimed
    );
    // A released claim (its owner was stopped between attempts).
    c.claim_notification("hook", ids[1], "a", LONG).unwrap();
    c.release_notification("hook", ids[1], "a").unwrap();
    assert_eq!(
        c.claim_notification("hook", ids[1], "b", LONG).unwrap(),
        Claim::Claimed
    );
}

#[test]
fn issue19_a_new_sink_starts_at_its_history_window() {
    let tmp = tempfile::tempdir().unwrap();
    let now = std::sync::Arc::new(std::sync::Mutex::new(ts("2026-03-01T00:00:00Z")));
    let n2 = now.clone();
    let c = Catalog::open(tmp.path())
        .unwrap()
        .with_clock(move || *n2.lock().unwrap());
    let old = emit(&c, 2);
    *now.lock().unwrap() = ts("2026-03-03T00:00:00Z");
    let recent = emit(&c, 1);
    *now.lock().unwrap() = ts("2026-03-03T01:00:00Z");
    // A day back: the two-day-old events are not sent, the recent one is.
    assert_eq!(
        c.notify_cursor("hook", Duration::from_secs(24 * 3600))
            .unwrap(),
        old[1]
    );
    let left: Vec<i64> = c
        .unsettled_events("hook", 0, 10)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, recent);
    // An existing cursor is kept.
    c.settle_notifications("hook", &recent, "a").unwrap();
    assert_eq!(c.notify_cursor("hook", LONG).unwrap(), recent[0]);
}
