//! The vaults: `GET /vaults` (the configured vaults) and
//! `POST /vaults/{vault}/verify` (a verify job, answered `202`).

use crate::catalog::Trigger;
use crate::config::Config;
use crate::http::api::respond::{accepted, Answer, ApiError, Call};
use crate::http::api::route::PREFIX;
use crate::http::state::AppState;
use crate::model::api::{JobStarted, VaultView, VerifyRequest};
use coffer_core::Cancel;
use jiff::Timestamp;

pub(super) fn vaults(config: &Config) -> Vec<VaultView> {
    config
        .vaults
        .iter()
        .map(|v| VaultView {
            name: v.name.clone(),
            url: v.url.clone(),
            tier: format!("{:?}", v.tier).to_lowercase(),
            storage_class: v.storage_class.clone(),
        })
        .collect()
}

pub(super) fn verify(s: &AppState, c: &Call, now: Timestamp) -> Answer {
    let name = c.param("vault").to_string();
    if s.config.vault(&name).is_none() {
        return Err(ApiError::not_found(format!(
            "no vault `{name}` in {}",
            s.config.path.display()
        )));
    }
    let req: VerifyRequest =
        c.request("send {\"read_data\": true} or {\"read_data_subset\": \"5%\"}, or {}")?;
    let data = match req.read_data_subset.as_deref() {
        Some(sub) => crate::model::VerifyData::parse_subset(sub)
            .map_err(|m| ApiError::bad(format!("read_data_subset {m}")))?,
        None if req.read_data == Some(true) => crate::model::VerifyData::All,
        None => crate::model::VerifyData::Structure,
    };
    let id = s
        .catalog
        .create_job(&crate::verify::new_job(&name, None, Trigger::Api))
        .map_err(ApiError::internal)?;
    let (config, catalog) = (s.config.clone(), s.catalog.clone());
    std::thread::spawn(move || {
        let vault = crate::runner::open_vault(&config, &name);
        crate::verify::run_job(&catalog, id, &name, vault, data, &Cancel::default(), now);
    });
    accepted(JobStarted {
        job_id: id.0,
        job: format!("{PREFIX}/jobs/{}", id.0),
    })
}
