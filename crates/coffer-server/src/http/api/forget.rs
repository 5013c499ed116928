//! `POST /vaults/{vault}/forget`: forget named snapshots, through the
//! same plan and execute as `coffer forget` (a dry run shows the plan; a
//! vault lock or a legal hold refuses what it protects).

use crate::config::Config;
use crate::http::api::respond::{find, ok, open_vault, view_of, Answer, ApiError, Call};
use crate::model::api::{ForgetAnswer, ForgetRequest};
use coffer_core::SnapshotFilter;
use jiff::Timestamp;

pub(super) fn forget(config: &Config, c: &Call, now: Timestamp, dry_run: bool) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    const HINT: &str =
        "give the snapshots to forget: {\"snapshots\": [\"ID\", …], \"dry_run\": true}";
    let req: ForgetRequest = c.request(HINT)?;
    let names = req.snapshots;
    if names.is_empty() {
        return Err(ApiError::bad(HINT));
    }
    let mut ids = Vec::new();
    for n in &names {
        ids.push(find(&v, n)?);
    }
    let opts = coffer_core::ForgetOptions {
        policy: Default::default(),
        filter: SnapshotFilter::default(),
        ids,
        group_by: Default::default(),
        bypass_governance: req.bypass_governance == Some(true),
        now,
        time_zone: jiff::tz::TimeZone::UTC,
    };
    let plan = coffer_core::plan_forget(&v, &opts)?;
    let stats = if dry_run {
        None
    } else {
        Some(coffer_core::execute_forget(&v, &plan)?)
    };
    let refusals = plan.all_refusals(stats.as_ref());
    ok(ForgetAnswer {
        dry_run,
        plan: view_of(&plan)?,
        stats: stats.as_ref().map(view_of).transpose()?,
        refusals,
    })
}
