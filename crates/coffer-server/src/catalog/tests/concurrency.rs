//! Several writers (threads, processes) on one catalog file at once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::catalog::{
    Catalog, EventLevel, JobCounters, JobFilter, JobKind, JobOutcome, JobState, NewJob, Trigger,
    SCHEMA_VERSION,
};

#[test]
fn catalog_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
}

/// Env var that turns [`writer_child`] into a writer process.
const WRITER_ENV: &str = "COFFER_TEST_CATALOG_WRITER_DIR";
const JOBS_PER_WRITER: usize = 40;

fn write_jobs(c: &Catalog, who: &str) {
    for i in 0..JOBS_PER_WRITER {
        let id = c
            .create_job(&NewJob {
                source: Some(who.to_string()),
                ..NewJob::new(JobKind::Backup, Trigger::Schedule)
            })
            .unwrap();
        c.start_job(id).unwrap();
        c.record_event(id, EventLevel::Info, &format!("{who} {i}"))
            .unwrap();
        // A reader in the middle of the writes.
        assert!(!c
            .list_jobs(&JobFilter {
                limit: Some(5),
                ..Default::default()
            })
            .unwrap()
            .is_empty());
        c.finish_job(
            id,
            &JobOutcome::completed(JobCounters::default(), vec![format!("{who}-{i}")]),
        )
        .unwrap();
    }
}

/// Not a test: the writer process of [`concurrent_writers`], which runs
/// this test binary again with only this function selected.
#[test]
#[ignore = "helper process for concurrent_writers"]
fn writer_child() {
    let dir = std::env::var_os(WRITER_ENV).expect("run by the parent test only");
    let c = Catalog::open(Path::new(&dir)).unwrap();
    write_jobs(&c, "process");
}

#[test]
fn concurrent_writers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    // Create the schema first, so that the writers race on jobs (the
    // racing migration is covered by `concurrent_opens_migrate_once`).
    Catalog::open(&dir).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "catalog::tests::concurrency::writer_child",
            "--ignored",
        ])
        .env(WRITER_ENV, &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let threads: Vec<_> = ["thread-a", "thread-b"]
        .into_iter()
        .map(|who| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                // Each thread its own connection, as two processes would.
                let c = Catalog::open(&dir).unwrap();
                write_jobs(&c, who);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "writer process failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the writer process ran no test: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let c = Catalog::open(&dir).unwrap();
    let all = c.list_jobs(&JobFilter::default()).unwrap();
    assert_eq!(all.len(), 3 * JOBS_PER_WRITER);
    assert!(all.iter().all(|j| j.state == JobState::Completed));
    for who in ["thread-a", "thread-b", "process"] {
        let mine = c
            .list_jobs(&JobFilter {
                source: Some(who.into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(mine.len(), JOBS_PER_WRITER, "{who}");
        for j in &mine {
            assert_eq!(c.job_events(j.id).unwrap().len(), 4);
            assert_eq!(j.snapshot_ids.len(), 1);
        }
    }
    // One shared Catalog used from several threads.
    let shared = Arc::new(c);
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let c = shared.clone();
            std::thread::spawn(move || write_jobs(&c, &format!("shared-{i}")))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        shared.list_jobs(&JobFilter::default()).unwrap().len(),
        5 * JOBS_PER_WRITER
    );
}

#[test]
fn concurrent_opens_migrate_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let c = Catalog::open(&dir).unwrap();
                c.create_job(&NewJob::new(JobKind::Backup, Trigger::Cli))
                    .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = Catalog::open(&dir).unwrap();
    assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(c.list_jobs(&JobFilter::default()).unwrap().len(), 4);
}
