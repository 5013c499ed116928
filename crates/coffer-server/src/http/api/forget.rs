//! `POST /vaults/{vault}/forget`: forget named snapshots, through the
//! same plan and execute as `coffer forget` (a dry run shows the plan; a
//! vault lock or a legal hold refuses what it protects).

use crate::config::Config;
use crate::http::api::respond::{
    core_error, find, ok, open_vault, view_of, Answer, ApiError, Call,
};
use crate::model::api::ForgetAnswer;
use coffer_core::SnapshotFilter;
use jiff::Timestamp;
use serde_json::{json, Value};

pub(super) fn forget(config: &Config, c: &Call, now: Timestamp, dry_run: bool) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    let names: Vec<String> = match c.body.get("snapshots") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        return Err(ApiError::bad(
            "give the snapshots to forget: {\"snapshots\": [\"ID\", …], \"dry_run\": true}",
        ));
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
        bypass_governance: c.body.get("bypass_governance") == Some(&json!(true)),
        now,
        time_zone: jiff::tz::TimeZone::UTC,
    };
    let plan = coffer_core::plan_forget(&v, &opts).map_err(core_error)?;
    let stats = if dry_run {
        None
    } else {
        Some(coffer_core::execute_forget(&v, &plan).map_err(core_error)?)
    };
    let mut refusals = plan.refusals();
    if let Some(s) = &stats {
        refusals.extend(s.refused.iter().map(|r| r.message.clone()));
    }
    ok(ForgetAnswer {
        dry_run,
        plan: view_of(&plan)?,
        stats: stats.as_ref().map(view_of).transpose()?,
        refusals,
    })
}
