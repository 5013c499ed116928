//! `coffer wal-push` and `coffer wal-fetch`: PostgreSQL's archive_command and
//! restore_command. The batching, the spools and the lag rule are
//! coffer-sources' (`coffer_sources::wal`); this file resolves the options
//! (flag, else the `--source`'s `wal_*` fields, else the default), prints,
//! and records WAL_ARCHIVE_LAG as an event when a state directory is known.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use coffer_server::config::WalConfig;
use coffer_server::events::{EventName, NewEvent};
use coffer_sources::wal::{self, FetchOptions, PushOptions, PushReport};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::error::UsageError;
use crate::sources::usage;

/// `coffer wal-push`.
#[derive(clap::Args)]
pub struct WalPushArgs {
    /// The WAL file (PostgreSQL's %p)
    path: PathBuf,
    /// Files pushed at once [default: the source's wal_parallel, else 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: Option<u16>,
    /// Files pushed per call, the requested one and the next ready ones (archive_status/*.ready); 1 pushes only the requested one [default: the source's wal_max_batch, else 32]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_batch: Option<u16>,
    /// Ready files beyond which the archive lags: WAL_ARCHIVE_LAG is raised and the call exits 1 after pushing its batch (WAL is never dropped) [default: the source's wal_max_queue, else no limit]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_queue: Option<u32>,
    /// Spool directory; markers of files pushed ahead go in DIR/push [default: the source's wal_spool, else coffer-spool in the WAL file's directory (pg_wal)]
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Take the defaults above from this [[source]] (kind postgres-base) of the configuration
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    /// Where WAL_ARCHIVE_LAG is recorded as an event [default: the configuration's state_dir when --config or --source is given; else none]
    #[arg(long, env = "COFFER_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// `coffer wal-fetch`.
#[derive(clap::Args)]
pub struct WalFetchArgs {
    /// The WAL file's name (PostgreSQL's %f)
    name: String,
    /// Where to write it (PostgreSQL's %p)
    dest: PathBuf,
    /// Segments fetched at once [default: the source's wal_parallel, else 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: Option<u16>,
    /// Segments fetched ahead into the spool; 0 fetches only the requested one, without a spool [default: the source's wal_prefetch, else 8]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=1000))]
    prefetch: Option<u16>,
    /// Spool directory; prefetched segments (sealed, as in the vault) go in DIR/fetch [default: the source's wal_spool, else coffer-spool in the destination's directory (pg_wal)]
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Take the defaults above from this [[source]] (kind postgres-base) of the configuration
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
}

/// The `wal_*` fields of `--source NAME`, or none.
fn source_wal(g: &GlobalArgs, source: Option<&str>) -> Result<WalConfig> {
    let Some(name) = source else {
        return Ok(WalConfig::default());
    };
    let config = crate::context::load_config(g)?;
    let Some(s) = config.source(name) else {
        let known: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        bail!(UsageError(format!(
            "--source {name}: the configuration has no such source (sources: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    if s.kind != coffer_server::config::SourceKind::PostgresBase {
        bail!(UsageError(format!(
            "--source {name}: a source of kind {} has no WAL archiving; name a postgres-base source",
            s.kind.name()
        )));
    }
    Ok(s.wal.clone())
}

/// `coffer wal-push PATH`: archives the file (and the next ready ones);
/// exits 0 only once it is durable, and 1 also when the queue lags.
pub fn wal_push(g: &GlobalArgs, a: WalPushArgs) -> Result<u8> {
    keep_freed_memory();
    let c = source_wal(g, a.source.as_deref())?;
    let opts = PushOptions {
        parallel: a
            .parallel
            .map(usize::from)
            .or(c.parallel)
            .unwrap_or(wal::DEFAULT_PUSH_PARALLEL),
        max_batch: a
            .max_batch
            .map(usize::from)
            .or(c.max_batch)
            .unwrap_or(wal::DEFAULT_MAX_BATCH),
        max_queue: a.max_queue.map(|n| n as usize).or(c.max_queue),
        spool: a.spool.clone().or(c.spool),
    };
    let what = || format!("archiving WAL file {} failed", a.path.display());
    // A file an earlier batch made durable: no key to open.
    let t = crate::context::target(g);
    let backend = crate::context::backend(&t)?;
    let r = match wal::pushed_before(&a.path, &opts, backend.as_ref())
        .map_err(usage)
        .with_context(what)?
    {
        Some(r) => r,
        None => {
            let vault = crate::context::open(g)?;
            wal::push_batch(&vault, &a.path, &opts)
                .map_err(usage)
                .with_context(what)?
        }
    };
    print_push(g, &r);
    if r.lag {
        lag(g, &a, &r, &t.location);
        return Ok(1);
    }
    Ok(0)
}

fn print_push(g: &GlobalArgs, r: &PushReport) {
    for f in &r.failed {
        eprintln!("warning: WAL file {}: {}", f.name, f.error);
    }
    if g.json {
        println!("{}", serde_json::to_value(r).unwrap_or_default());
        return;
    }
    if g.quiet {
        return;
    }
    let name = &r.wal_file;
    if r.from_spool {
        println!(
            "WAL file {name} was already archived, by an earlier batch, with identical content"
        );
    } else if r.already_archived {
        println!("WAL file {name} was already archived with identical content");
    } else {
        println!(
            "archived WAL file {name} ({} stored)",
            crate::output::human(r.stored_bytes)
        );
    }
    if !r.batch.is_empty() {
        let stored: u64 = r.batch.iter().map(|f| f.stored_bytes).sum();
        println!(
            "archived {} ahead ({} stored): {}",
            crate::output::count(r.batch.len() as u64, "more WAL file"),
            crate::output::human(stored),
            r.batch
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// WAL_ARCHIVE_LAG: one stderr line (PostgreSQL's log has it), and an
/// event when a state directory is known.
fn lag(g: &GlobalArgs, a: &WalPushArgs, r: &PushReport, location: &str) {
    let max = r.max_queue.unwrap_or(0);
    let message = format!(
        "WAL_ARCHIVE_LAG: {} ready to archive in {}, more than max_queue {max}: the archive of vault {location} lags behind the server; \
         nothing was dropped ({} and {} more are durable), this call exits 1 so that PostgreSQL logs it, and its retry returns at once; \
         raise --parallel/--max-batch, check the store's throughput, or raise --max-queue",
        crate::output::count(r.ready as u64, "WAL file"),
        wal::push_spool(&a.path, None)
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        r.wal_file,
        r.batch.len()
    );
    eprintln!("{message}");
    let configured = a.state_dir.is_some() || g.config.is_some() || a.source.is_some();
    if !configured {
        return;
    }
    let record = || -> Result<()> {
        let catalog = crate::context::state(g, a.state_dir.clone())?.open_catalog()?;
        let mut e = NewEvent::new(EventName::WalArchiveLag, message.clone());
        e.source = a.source.clone();
        e.vault = Some(location.to_string());
        e.details = Some(json!({
            "ready": r.ready,
            "max_queue": r.max_queue,
            "wal_file": r.wal_file,
            "pushed_ahead": r.batch.len(),
        }));
        catalog.emit(&e)?;
        Ok(())
    };
    if let Err(e) = record() {
        eprintln!("warning: WAL_ARCHIVE_LAG was not recorded as an event: {e:#}");
    }
}

/// `coffer wal-fetch NAME DEST`: exit 1 and nothing written when the vault lacks it.
pub fn wal_fetch(g: &GlobalArgs, a: WalFetchArgs) -> Result<u8> {
    let c = source_wal(g, a.source.as_deref())?;
    let opts = FetchOptions {
        parallel: a
            .parallel
            .map(usize::from)
            .or(c.parallel)
            .unwrap_or(wal::DEFAULT_FETCH_PARALLEL),
        prefetch: a
            .prefetch
            .map(usize::from)
            .or(c.prefetch)
            .unwrap_or(wal::DEFAULT_PREFETCH),
        spool: a.spool.clone().or(c.spool),
    };
    let (name, dest) = (&a.name, &a.dest);
    let vault = crate::context::open(g)?;
    let r = wal::fetch_prefetching(&vault, name, dest, &opts)
        .map_err(usage)
        .with_context(|| format!("fetching WAL file {name} to {}", dest.display()))?;
    for d in &r.discarded {
        eprintln!(
            "note: spooled WAL file {d} did not authenticate; it was discarded and fetched from the vault again"
        );
    }
    if r.missing {
        // PostgreSQL asks for files past the end of the archive at the end
        // of every recovery: one quiet line, exit 1.
        if g.json {
            println!("{}", json!({"wal_file": name, "missing": true}));
        }
        eprintln!(
            "WAL file {name} is not in vault {}",
            vault.backend().location()
        );
        return Ok(1);
    }
    if g.json {
        let mut v = serde_json::to_value(&r).unwrap_or_default();
        v["written_to"] = json!(dest);
        println!("{v}");
    } else if !g.quiet {
        println!(
            "fetched WAL file {name} to {} ({}{}){}",
            dest.display(),
            crate::output::human(r.bytes),
            if r.from_spool { ", from the spool" } else { "" },
            if r.prefetched.is_empty() {
                String::new()
            } else {
                format!(
                    "; prefetched {}",
                    crate::output::count(r.prefetched.len() as u64, "more segment")
                )
            }
        );
    }
    Ok(0)
}

/// A batch of `wal-push` reads, compresses and seals one 16 MiB segment
/// after the other on each thread. glibc hands buffers that large out as
/// fresh mappings and gives them back on free, so every segment paid for
/// about 40 MB of new zeroed pages (a third of the push's CPU time was the
/// kernel's). Keeping freed memory in the heap (a higher mmap threshold,
/// no trimming, a pad on growth) lets the next segment reuse it: on 23 real
/// segments, 50,000 page faults instead of 220,000 and 0.15 s of system
/// time instead of 0.54 s. A no-op where the allocator is not glibc's.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any thread of this process starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
