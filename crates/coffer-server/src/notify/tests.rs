//! Unit tests of the sinks and their delivery.

use super::*;
use crate::config::NotifyFilter;
use crate::events::{EventFilter, EventName, NewEvent, Severity};

fn sink(command: &str, retries: u32) -> NotifyConfig {
    NotifyConfig {
        name: "cmd".into(),
        filter: NotifyFilter::Level(Severity::Warning),
        target: NotifyTarget::Command {
            command: command.into(),
        },
        retries,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn command_sink_gets_the_event_and_the_cursor_moves() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
    catalog
        .emit(&NewEvent::new(
            EventName::RpoViolated,
            "before the sink existed",
        ))
        .unwrap();
    let out = dir.path().join("out");
    let s = sink(&format!("cat >> {}", out.display()), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(NotifyStats::default());
    let d = Dispatcher::start(
        std::slice::from_ref(&s),
        catalog.clone(),
        stop.clone(),
        stats.clone(),
        Arc::new(|_| {}),
    )
    .unwrap();
    catalog
        .emit(&NewEvent::new(EventName::SizeAnomaly, "grew tenfold"))
        .unwrap();
    catalog
        .emit(&NewEvent::new(
            EventName::BackupJobCompleted,
            "info: filtered",
        ))
        .unwrap();
    let last = catalog
        .emit(&NewEvent::new(EventName::RpoViolated, "too old"))
        .unwrap();
    let t0 = Instant::now();
    while catalog.kv_get(&cursor_key("cmd")).unwrap() != Some(last.to_string()) {
        assert!(t0.elapsed() < Duration::from_secs(10), "cursor never moved");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    d.join();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The event from before the sink existed too (issue 19: a new sink
    // starts at its history window, not at the newest event).
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["message"], "before the sink existed");
    assert_eq!(lines[1]["name"], "SIZE_ANOMALY");
    assert_eq!(lines[2]["message"], "too old");
    assert_eq!(stats.snapshot()["cmd"].sent, 3);
}

#[test]
fn issue19_deliver_pending_sends_each_event_once_whoever_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
    let out = dir.path().join("out");
    let s = sink(&format!("cat >> {}", out.display()), 0);
    let lines = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
    };
    for i in 0..3 {
        catalog
            .emit(&NewEvent::new(EventName::RpoViolated, format!("e{i}")))
            .unwrap();
    }
    // 150 events the filter passes over: more than one batch.
    for _ in 0..150 {
        catalog
            .emit(&NewEvent::new(EventName::BackupJobCompleted, "info"))
            .unwrap();
    }
    let last = catalog
        .emit(&NewEvent::new(EventName::SizeAnomaly, "last"))
        .unwrap();
    let r = deliver_pending(
        std::slice::from_ref(&s),
        &catalog,
        Duration::from_secs(60),
        Arc::new(|_| {}),
    );
    assert!(r["cmd"].finished, "{r:?}");
    assert_eq!(r["cmd"].counts.sent, 4);
    assert_eq!(lines(), 4);
    assert_eq!(
        catalog.kv_get(&cursor_key("cmd")).unwrap(),
        Some(last.to_string())
    );
    // A second command, then a daemon: nothing again.
    let r = deliver_pending(
        std::slice::from_ref(&s),
        &catalog,
        Duration::from_secs(60),
        Arc::new(|_| {}),
    );
    assert_eq!(r["cmd"].counts.sent, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let d = Dispatcher::start(
        std::slice::from_ref(&s),
        catalog.clone(),
        stop.clone(),
        Arc::new(NotifyStats::default()),
        Arc::new(|_| {}),
    )
    .unwrap();
    std::thread::sleep(POLL_INTERVAL * 3);
    stop.store(true, Ordering::SeqCst);
    d.join();
    assert_eq!(lines(), 4);
}

#[test]
fn issue19_a_command_stops_delivering_at_its_budget_and_leaves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
    catalog
        .emit(&NewEvent::new(EventName::RpoViolated, "x"))
        .unwrap();
    let mut s = sink("exit 1", 100);
    s.backoff = Duration::from_secs(60);
    let t0 = Instant::now();
    let r = deliver_pending(
        std::slice::from_ref(&s),
        &catalog,
        Duration::from_millis(300),
        Arc::new(|_| {}),
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(!r["cmd"].finished, "{r:?}");
    // Released: the next deliverer sends it at once.
    assert_eq!(catalog.unsettled_events("cmd", 0, 10).unwrap().len(), 1);
    assert_eq!(
        catalog
            .claim_notification("cmd", 1, "other", Duration::from_secs(60))
            .unwrap(),
        Claim::Claimed
    );
}

#[test]
fn delivery_lease_covers_every_attempt() {
    let mut s = sink("true", 3);
    s.timeout = Duration::from_secs(10);
    s.backoff = Duration::from_secs(2);
    // 4 attempts of 10 s, waits of 2 + 4 + 8 s, and a minute.
    assert_eq!(delivery_lease(&s), Duration::from_secs(40 + 14 + 60));
}

#[test]
fn failing_sink_retries_then_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
    let ev_id = catalog
        .emit(&NewEvent::new(EventName::RpoViolated, "x"))
        .unwrap();
    let ev = catalog
        .events(&EventFilter::default())
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(ev.id, ev_id);
    let s = sink("echo broken >&2; exit 3", 2);
    let stats = NotifyStats::default();
    let lines = Mutex::new(Vec::new());
    let r = deliver(&s, &ev, &AtomicBool::new(false), &stats, &|l: &str| {
        lines.lock().unwrap().push(l.to_string())
    });
    let Delivery::GaveUp(why) = r else { panic!() };
    assert!(
        why.contains("exit status: 3") && why.contains("broken"),
        "{why}"
    );
    assert_eq!(stats.snapshot()["cmd"].retries, 2);
    assert_eq!(lines.lock().unwrap().len(), 2);
}

#[test]
fn command_timeout() {
    let mut s = sink("sleep 5", 0);
    s.timeout = Duration::from_millis(100);
    let ev = Event {
        id: 1,
        at: jiff::Timestamp::UNIX_EPOCH,
        name: EventName::VerifyFailed,
        severity: Severity::Error,
        job_id: None,
        plan: None,
        rule: None,
        source: None,
        vault: Some("main".into()),
        message: "damage".into(),
        details: None,
    };
    let e = send(&s, &ev).unwrap_err();
    assert!(e.message.contains("did not finish within"), "{e}");
    assert_eq!(summary(&ev), "VERIFY_FAILED (error) [vault main]: damage");
}
