//! Fleet records: small sealed objects under `fleet/` that record what each
//! host did (a job's outcome) and that it is alive (a heartbeat), so that
//! any reader holding the vault's key sees the whole fleet that writes into
//! the vault — a daemon, a one-minute CronJob and a plain `coffer backup`
//! alike — without a database of its own.
//!
//! Stored form: `fleet/<id>`, a sealed JSON [`FleetObject`] (aad
//! `coffer.fleet`), named like every object by the keyed hash of its stored
//! bytes, written once. One object holds one or more [`FleetRecord`]s: a
//! writer stores one record per object; compaction
//! ([`crate::ops::fleet::compact`]) merges old objects into fewer, larger
//! ones and then deletes the originals.
//!
//! Invariants:
//! - Records are never needed to restore: the snapshots stay the truth of
//!   what can be restored; records are evidence of what happened.
//! - Every record carries a random id; readers drop duplicates by it, so a
//!   compaction that was interrupted between writing the merged object and
//!   deleting the originals (or two compactions at once) never counts a
//!   record twice.
//! - Everything read is hostile until validated: an object that fails
//!   authentication is damaged (forged or corrupt) and reported; a record
//!   that authenticates but breaks the bounds below ([`FleetRecord::validate`])
//!   is rejected and reported; neither stops the rest from being read.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::vault::handle::Vault;

/// The version of [`FleetObject`]s this code writes; readers accept it and
/// refuse newer ones (as damaged, naming the version).
pub const FLEET_FORMAT_VERSION: u32 = 1;

/// The largest fleet object a reader opens (a compacted object of about
/// 40,000 records); a larger one is reported as damaged unread.
pub const MAX_FLEET_OBJECT_BYTES: u64 = 16 << 20;

/// The longest name (host, source, rule, vault, kind) a record may carry.
pub const MAX_NAME_LEN: usize = 253;

/// The longest error message a record may carry; longer ones are cut when
/// written.
pub const MAX_ERROR_LEN: usize = 4096;

/// How far ahead of the reader's clock a record's time may be before it is
/// rejected (a writer's clock that is wrong by more, or a forged time).
pub const MAX_FUTURE_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// One stored fleet object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetObject {
    /// Format version ([`FLEET_FORMAT_VERSION`]).
    pub version: u32,
    /// The records it holds.
    pub records: Vec<FleetRecord>,
}

/// One thing a host recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// Random id (32 hex digits); duplicates are dropped by it.
    pub id: String,
    /// The host that wrote it (its configured or system host name).
    pub host: String,
    /// When it was written, on the writer's clock.
    #[serde(with = "ts")]
    pub at: Timestamp,
    /// What it records.
    #[serde(flatten)]
    pub what: RecordKind,
}

/// A heartbeat or a job outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordKind {
    /// The host is alive and promises the next heartbeat within `every_secs`.
    Heartbeat(Heartbeat),
    /// A job ended (or started, for a long job).
    Job(JobOutcome),
}

/// A host's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The longest the host means to go without a record (seconds): a
    /// reader that sees nothing newer for longer calls the host silent.
    pub every_secs: u64,
    /// What wrote it: `serve`, `plan run`, `backup`.
    pub agent: String,
    /// The coffer version of the writer.
    pub version: String,
    /// The sources the host protects, with their objectives.
    #[serde(default)]
    pub sources: Vec<SourceObjective>,
}

/// A source a host protects and the objectives its config sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceObjective {
    /// The source's configured name.
    pub name: String,
    /// Its recovery point objective (seconds), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_secs: Option<u64>,
    /// Its recovery time objective (seconds), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_secs: Option<u64>,
}

/// A job's outcome, as the writer's catalog records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// `backup`, `copy`, `verify`, `restore_test`, `prune`, `forget`, ….
    pub kind: String,
    /// The job's state (`COMPLETED`, `FAILED`, …).
    pub state: String,
    /// The vault the job worked on (its configured name or location).
    pub vault: String,
    /// The source, for a job of one source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The rule (`plan/rule`) that ran it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// When it started.
    #[serde(with = "ts")]
    pub started: Timestamp,
    /// When it ended.
    #[serde(with = "opt_ts", default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    /// Bytes read from the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_read: Option<u64>,
    /// Bytes added to the vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_added: Option<u64>,
    /// The snapshot it wrote or tested (short id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// A restore test's measured restore time (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_secs: Option<f64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FleetRecord {
    /// A new record with a fresh random id.
    pub fn new(host: &str, at: Timestamp, what: RecordKind) -> FleetRecord {
        let mut what = what;
        if let RecordKind::Job(j) = &mut what {
            if let Some(e) = &mut j.error {
                cut(e, MAX_ERROR_LEN);
            }
        }
        FleetRecord {
            id: Id::random().to_hex()[..32].to_string(),
            host: host.to_string(),
            at,
            what,
        }
    }

    /// Checks the bounds a record must keep; `Err` says which it breaks.
    /// `now` is the reader's clock (a record from further ahead than
    /// [`MAX_FUTURE_SKEW`] is refused).
    pub fn validate(&self, now: Timestamp) -> std::result::Result<(), String> {
        if self.id.len() != 32 || !self.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("its id is not 32 hex digits".into());
        }
        name("host", &self.host)?;
        if self.at > now + MAX_FUTURE_SKEW {
            return Err(format!("its time {} is more than a day ahead", self.at));
        }
        match &self.what {
            RecordKind::Heartbeat(h) => {
                name("agent", &h.agent)?;
                name("version", &h.version)?;
                if h.every_secs == 0 || h.every_secs > 366 * 86_400 {
                    return Err(format!(
                        "heartbeat interval {} s is out of range",
                        h.every_secs
                    ));
                }
                if h.sources.len() > 10_000 {
                    return Err("it lists more than 10000 sources".into());
                }
                for s in &h.sources {
                    name("source", &s.name)?;
                }
            }
            RecordKind::Job(j) => {
                name("kind", &j.kind)?;
                if j.state.is_empty()
                    || j.state.len() > 32
                    || !j.state.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                {
                    return Err(format!("job state {:?} is not a state", j.state));
                }
                name("vault", &j.vault)?;
                for (what, v) in [
                    ("source", &j.source),
                    ("rule", &j.rule),
                    ("snapshot", &j.snapshot),
                ] {
                    if let Some(v) = v {
                        name(what, v)?;
                    }
                }
                if let Some(e) = &j.error {
                    if e.len() > MAX_ERROR_LEN {
                        return Err("its error message is too long".into());
                    }
                }
                if j.ended.is_some_and(|e| e < j.started) {
                    return Err("it ended before it started".into());
                }
                if j.restore_secs.is_some_and(|s| !s.is_finite() || s < 0.0) {
                    return Err("its restore time is not a duration".into());
                }
            }
        }
        Ok(())
    }

    /// The job outcome, if it is one.
    pub fn job(&self) -> Option<&JobOutcome> {
        match &self.what {
            RecordKind::Job(j) => Some(j),
            RecordKind::Heartbeat(_) => None,
        }
    }

    /// The heartbeat, if it is one.
    pub fn heartbeat(&self) -> Option<&Heartbeat> {
        match &self.what {
            RecordKind::Heartbeat(h) => Some(h),
            RecordKind::Job(_) => None,
        }
    }
}

/// A name field: non-empty, at most [`MAX_NAME_LEN`] bytes, no control
/// characters (so it can be printed and used as a metric label as is).
fn name(what: &str, v: &str) -> std::result::Result<(), String> {
    if v.is_empty() || v.len() > MAX_NAME_LEN || v.chars().any(char::is_control) {
        return Err(format!(
            "its {what} is empty, longer than {MAX_NAME_LEN} bytes or holds control characters"
        ));
    }
    Ok(())
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Stores records as one fleet object; returns its name.
pub fn save(vault: &Vault, records: Vec<FleetRecord>) -> Result<Id> {
    let obj = FleetObject {
        version: FLEET_FORMAT_VERSION,
        records,
    };
    vault.save_object(
        ObjectKind::Fleet,
        &serde_json::to_vec(&obj).expect("serializable"),
    )
}

/// Loads one fleet object. An object that fails authentication, does not
/// parse or is of a newer version is [`Error::Damaged`].
pub fn load(vault: &Vault, id: &Id, size: u64) -> Result<FleetObject> {
    let path = ObjectKind::Fleet.path(id);
    if size > MAX_FLEET_OBJECT_BYTES {
        return Err(Error::damaged(
            path,
            format!("is {size} bytes, more than a fleet object may be ({MAX_FLEET_OBJECT_BYTES}); not read"),
        ));
    }
    let body = vault.load_object(ObjectKind::Fleet, id)?;
    let obj: FleetObject = serde_json::from_slice(&body).map_err(|e| {
        Error::damaged(
            path.clone(),
            format!("does not parse as a fleet object: {e}"),
        )
    })?;
    if obj.version > FLEET_FORMAT_VERSION {
        return Err(Error::damaged(
            path,
            format!(
                "is fleet format version {}, newer than this coffer reads ({FLEET_FORMAT_VERSION}): upgrade coffer",
                obj.version
            ),
        ));
    }
    Ok(obj)
}

mod ts {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod opt_ts {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| s.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
