//! `coffer thaw SNAPSHOT`: asks the store to restore (thaw) the data packs
//! a snapshot of a cold vault (storage class GLACIER or DEEP_ARCHIVE)
//! needs, and with `--wait` waits until they read. `coffer restore` does
//! the same before it restores (unless `--no-thaw`). Both call
//! [`coffer_core::thaw_snapshot`]; this only turns flags into options and
//! prints. Running it again requests nothing twice: packs already thawing
//! or thawed are only looked at.

use anyhow::{Context, Result};
use clap::Args;
use coffer_core::{
    thaw::default_poll, thaw_snapshot, Cancel, Id, Index, Snapshot, ThawOptions, ThawReport,
    ThawTier, Vault,
};
use coffer_sources::select;
use std::io::IsTerminal;
use std::time::Duration;

use crate::args::{FilterArgs, GlobalArgs};
use crate::context;
use crate::sources::usage;

/// `coffer thaw`'s arguments.
#[derive(Args)]
pub struct ThawArgs {
    /// Snapshot id prefix or `latest`
    pub snapshot: String,
    /// Wait until every data pack the snapshot needs is thawed (progress on standard error)
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub thaw: ThawFlags,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// How to thaw: shared by `coffer thaw` and `coffer restore`.
#[derive(Args, Clone, Debug, Default)]
pub struct ThawFlags {
    /// For a vault in an archive storage class: the thaw tier, Expedited (minutes; GLACIER only),
    /// Standard (hours; the default) or Bulk (cheapest; up to 48 hours on DEEP_ARCHIVE)
    #[arg(long, value_name = "TIER", value_parser = parse_tier)]
    pub tier: Option<ThawTier>,
    /// For a vault in an archive storage class: days the thawed copies stay readable (default 7)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=coffer_core::thaw::MAX_THAW_DAYS as i64))]
    pub days: Option<u32>,
    /// While waiting for a thaw: how often to look (e.g. 30s, 10m; default by tier: 30s, 10m, 30m)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub poll_interval: Option<Duration>,
}

fn parse_tier(s: &str) -> Result<ThawTier, String> {
    ThawTier::parse(s)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("`{s}` is not a duration such as 30s or 10m: {e}"))?;
    Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{s}`: the interval must be longer than zero"))
}

impl ThawFlags {
    /// The options these flags give.
    pub fn options(&self, wait: bool, cancel: Option<Cancel>) -> ThawOptions {
        let tier = self.tier.unwrap_or_default();
        ThawOptions {
            tier,
            days: self.days.unwrap_or(coffer_core::thaw::DEFAULT_THAW_DAYS),
            wait,
            poll: self.poll_interval.unwrap_or_else(|| default_poll(tier)),
            cancel,
        }
    }
}

/// Runs `coffer thaw`.
pub fn run(g: &GlobalArgs, a: ThawArgs) -> Result<u8> {
    let vault = context::open(g)?;
    let (id, snap) = select::find(&vault, &a.snapshot, &a.filter.filter(), None).map_err(usage)?;
    let index = vault.load_index()?;
    let r = thaw(g, &vault, &index, &id, &snap, &a.thaw, a.wait)?;
    if g.json {
        let mut v = serde_json::to_value(&r)?;
        v["complete"] = r.complete().into();
        println!("{v}");
    } else if !g.quiet {
        println!("{}", summary(&r, &id));
    }
    Ok(0)
}

/// Thaws what snapshot `id` needs (waiting with `wait`), printing each look
/// on standard error when standard output is a terminal and neither --json
/// nor --quiet is given; a signal ends the wait and the process (the thaws
/// requested go on).
pub fn thaw(
    g: &GlobalArgs,
    vault: &Vault,
    index: &Index,
    id: &Id,
    snap: &Snapshot,
    flags: &ThawFlags,
    wait: bool,
) -> Result<ThawReport> {
    let guard = crate::signal::exit_on_interrupt(format!(
        "interrupted; the thaws requested for snapshot {} go on: run `coffer thaw {} --wait` (or the restore) again to continue",
        id.short(),
        id.short()
    ));
    // The signal ends the process (above); nothing to cancel in between.
    let opts = flags.options(wait, None);
    // Progress as the other long commands draw it: on a terminal only.
    let show = !g.json && !g.quiet && std::io::stdout().is_terminal();
    let mut looks = 0u32;
    let r = thaw_snapshot(vault, index, id, snap, &opts, &mut |r| {
        looks += 1;
        if show && r.class.is_some() && (looks == 1 || wait) {
            crate::progress::say(&progress_line(r, id));
        }
    });
    guard.done();
    r.with_context(|| format!("thawing snapshot {}", id.short()))
}

/// `thawing snapshot 1a2b3c4d (GLACIER, Standard): 3 of 10 data packs ready, 7 thawing, 12m waited`.
fn progress_line(r: &ThawReport, id: &Id) -> String {
    format!(
        "thawing snapshot {} ({}, {}): {} of {} ready, {} thawing{}",
        id.short(),
        r.class.as_deref().unwrap_or(""),
        r.tier,
        r.ready,
        coffer_core::human_count(r.packs as u64, "data pack"),
        r.thawing,
        if r.waited_seconds > 0 {
            format!(
                ", waited {}",
                crate::output::duration(jiff::SignedDuration::from_secs(r.waited_seconds as i64))
            )
        } else {
            String::new()
        }
    )
}

/// The line `coffer thaw` ends with.
pub fn summary(r: &ThawReport, id: &Id) -> String {
    let Some(class) = &r.class else {
        return format!(
            "vault {} has no archive storage class: snapshot {} reads at once, nothing to thaw",
            r.vault,
            id.short()
        );
    };
    let head = format!(
        "snapshot {} of vault {} ({class}): {} needed; {} requested now, {} already thawing (not requested again)",
        id.short(),
        r.vault,
        coffer_core::human_count(r.packs as u64, "data pack"),
        r.requested,
        r.already_thawing,
    );
    if r.complete() {
        let until = r
            .expires
            .map(|t| format!(" until {}", t.strftime("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        format!(
            "{head}; all thawed{until}: `coffer restore {}` can run now",
            id.short()
        )
    } else {
        format!(
            "{head}; {} of {} ready, {} thawing ({} tier): run `coffer thaw {} --wait` to wait, or `coffer restore {}`, which waits",
            r.ready,
            r.packs,
            r.thawing,
            r.tier,
            id.short(),
            id.short()
        )
    }
}
