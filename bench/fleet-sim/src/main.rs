//! A fleet of HOSTS hosts, each writing one fleet object (a heartbeat, and
//! a backup job's outcome every hour) per simulated minute for MINUTES
//! minutes into one vault, as `coffer serve` with `[fleet] heartbeat =
//! "1m"` does; the simulated hour ends now. Then: a cold read of every
//! record (what a daemon that starts does), a warm read (its next poll,
//! from its cache), a compaction of what is older than 10 minutes, and a
//! cold read after it. Prints one `key value` line per figure.
//!
//! Usage: coffer-fleet-sim VAULT KEY_FILE HOSTS MINUTES THREADS

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use coffer_core::fleet::{
    self, CompactOptions, FleetCache, FleetRecord, Heartbeat, JobOutcome, RecordKind,
    SourceObjective,
};
use coffer_core::keys::Secret;
use coffer_core::Vault;
use jiff::{SignedDuration, Timestamp};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (url, key) = (&a[1], &a[2]);
    let hosts: usize = a[3].parse().unwrap();
    let minutes: i64 = a[4].parse().unwrap();
    let threads: usize = a[5].parse().unwrap();
    let backend = coffer_storage::open_location(url).expect("open the vault location");
    let vault = Vault::open(backend, &Secret::from_key_file(std::path::Path::new(key)).unwrap())
        .expect("open the vault");
    let vault = Arc::new(vault);
    let end = Timestamp::now();
    let start = end - SignedDuration::from_mins(minutes);
    let written = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    for m in 0..minutes {
        let at = start + SignedDuration::from_mins(m);
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let (vault, written) = (vault.clone(), written.clone());
                std::thread::spawn(move || {
                    for h in (w..hosts).step_by(threads) {
                        let host = format!("host-{h:03}");
                        let mut records = vec![FleetRecord::new(
                            &host,
                            at,
                            RecordKind::Heartbeat(Heartbeat {
                                every_secs: 60,
                                agent: "serve".into(),
                                version: "0.1.0".into(),
                                sources: vec![SourceObjective {
                                    name: format!("docs-{h:03}"),
                                    rpo_secs: Some(86_400),
                                    rto_secs: Some(3600),
                                }],
                            }),
                        )];
                        if m % 60 == (h as i64) % 60 {
                            records.push(FleetRecord::new(
                                &host,
                                at,
                                RecordKind::Job(JobOutcome {
                                    kind: "backup".into(),
                                    state: "COMPLETED".into(),
                                    vault: "main".into(),
                                    source: Some(format!("docs-{h:03}")),
                                    rule: Some("p/daily".into()),
                                    started: at - SignedDuration::from_secs(30),
                                    ended: Some(at),
                                    bytes_read: Some(1 << 20),
                                    bytes_added: Some(1 << 16),
                                    snapshot: Some("abcd1234".into()),
                                    restore_secs: None,
                                    error: None,
                                }),
                            ));
                        }
                        fleet::save(&vault, records).expect("write a fleet record");
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let write_s = t.elapsed().as_secs_f64();
    let n = written.load(Ordering::Relaxed);
    println!("objects_written {n}");
    println!("write_seconds {write_s:.2}");
    println!("writes_per_second {:.0}", n as f64 / write_s);
    let mut cache = FleetCache::default();
    let t = Instant::now();
    let v = fleet::read(&vault, &mut cache, end).expect("read");
    println!("cold_read_seconds {:.2}", t.elapsed().as_secs_f64());
    println!("cold_read_objects {} records {}", v.objects, v.records.len());
    let t = Instant::now();
    let v = fleet::read(&vault, &mut cache, end).expect("read");
    println!("warm_read_seconds {:.3} fetched {}", t.elapsed().as_secs_f64(), v.fetched);
    let t = Instant::now();
    let s = fleet::compact(
        &vault,
        &mut cache,
        &CompactOptions {
            now: end,
            older_than: SignedDuration::from_mins(10),
            keep_for: SignedDuration::from_hours(24 * 90),
            dry_run: false,
        },
    )
    .expect("compact");
    println!("compact_seconds {:.2}", t.elapsed().as_secs_f64());
    println!(
        "compacted merged {} written {} kept {} dropped {} delete_failed {}",
        s.objects_merged, s.objects_written, s.records_kept, s.records_dropped, s.delete_failed
    );
    let t = Instant::now();
    let v = fleet::read(&vault, &mut FleetCache::default(), end).expect("read");
    println!("cold_read_after_compaction_seconds {:.2}", t.elapsed().as_secs_f64());
    println!("objects_after_compaction {} records {}", v.objects, v.records.len());
}
