//! Plans and their rules: `GET /rules` (with each rule's next run) and
//! `POST /rules/{plan}/{rule}/run` (runs the rule now in the background
//! through [`crate::rule_run::run_rule_now`], answered `202`).

use crate::catalog::Trigger;
use crate::config::Config;
use crate::http::api::respond::{accepted, Answer, ApiError, Call};
use crate::http::api::route::PREFIX;
use crate::http::state::AppState;
use crate::model::api::{PlanView, RuleRunRequest, RuleStarted, RuleView};
use coffer_core::Cancel;
use jiff::Timestamp;

pub(super) fn rules(config: &Config, now: Timestamp) -> Vec<PlanView> {
    config
        .plans
        .iter()
        .map(|p| PlanView {
            name: p.name.clone(),
            rules: p
                .rules
                .iter()
                .map(|r| RuleView {
                    id: format!("{}/{}", r.plan, r.name),
                    name: r.name.clone(),
                    vault: r.vault.clone(),
                    sources: r.sources.clone(),
                    // As written in the configuration (Display), not the
                    // parsed form's Debug.
                    schedule: r.schedule.to_string(),
                    next_run: r
                        .schedule
                        .next_after(now, &r.timezone)
                        .map(|t| t.to_string()),
                })
                .collect(),
        })
        .collect()
}

pub(super) fn rule_run(s: &AppState, c: &Call) -> Answer {
    let id = format!("{}/{}", c.param("plan"), c.param("rule"));
    let Some(rule) = s.config.rule(&id) else {
        return Err(ApiError::not_found(format!(
            "no rule `{id}` in {} (GET {PREFIX}/rules lists them)",
            s.config.path.display()
        )));
    };
    let req: RuleRunRequest = c.request("send {\"source\": \"NAME\"} for one source, or {}")?;
    let only = req.source;
    if let Some(src) = &only {
        if !rule.sources.contains(src) {
            return Err(ApiError::bad(format!(
                "rule {id} does not back up source `{src}` (it backs up: {})",
                rule.sources.join(", ")
            )));
        }
    }
    let (config, catalog) = (s.config.clone(), s.catalog.clone());
    let rid = id.clone();
    std::thread::spawn(move || {
        let r = crate::rule_run::run_rule_now(
            &config,
            catalog,
            &rid,
            crate::rule_run::RunNow {
                only_source: only.as_deref(),
                cancel: &Cancel::default(),
                now: None,
                trigger: Trigger::Api,
                watch: None,
            },
        );
        if let Err(e) = r {
            tracing::error!("rule {rid} started through the API: {e}");
        }
    });
    accepted(RuleStarted {
        rule: id,
        status: "started".into(),
        jobs: format!(
            "{PREFIX}/jobs?kind=backup&plan={}&rule={}",
            c.param("plan"),
            c.param("rule")
        ),
    })
}
