//! Legal holds: `POST /vaults/{vault}/snapshots/{snapshot}/hold` and
//! `.../release` (admin only), through `Vault::hold_snapshot` and
//! `Vault::release_snapshot`.

use crate::config::Config;
use crate::http::api::respond::{actor_name, find, ok, open_vault, view_of, Answer, Call};
use crate::model::api::{HoldPlaced, HoldRequest, HoldView};
use jiff::Timestamp;

pub(super) fn hold(config: &Config, c: &Call, now: Timestamp) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    let sid = find(&v, c.param("snapshot"))?;
    let req: HoldRequest = c.request("send {\"reason\": \"why\"} (or {})")?;
    let reason = req.reason.as_deref().unwrap_or("");
    let (h, new) = v.hold_snapshot(&sid, reason, &actor_name(c), now)?;
    ok(HoldPlaced {
        hold: view_of(&h)?,
        new,
    })
}

pub(super) fn release(config: &Config, c: &Call) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    let sid = find(&v, c.param("snapshot"))?;
    let h = v.release_snapshot(&sid)?;
    ok(view_of::<HoldView>(&h)?)
}
