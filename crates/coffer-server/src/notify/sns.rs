//! The SNS sink (`kind = "sns"`): each event is published to the topic,
//! signed with the credentials of every other AWS request
//! ([`coffer_storage::AwsCredentials::from_env`]: static keys, web
//! identity, profiles, container credentials, instance metadata; one
//! cache for the process, refreshed before expiry).
//!
//! The message is the event as JSON (as `coffer events --json` prints it);
//! the subject is its one-line summary; the string attributes `event`,
//! `severity` (and `source`, `vault`, `plan`, `rule` when the event names
//! them) are what subscription filter policies match on.

use std::time::Duration;

use coffer_storage::{AwsCredentials, SnsClient, SnsMessage};

use crate::config::SnsConfig;
use crate::events::Event;

/// The message of `ev`, whose one-line summary is `summary` and whose
/// JSON is `json` (the dispatcher's, as every sink sends them).
pub(super) fn message(ev: &Event, summary: &str, json: String) -> SnsMessage {
    let mut attributes = vec![
        ("event".to_string(), ev.name.as_str().to_string()),
        ("severity".to_string(), ev.severity.to_string()),
    ];
    for (k, v) in [
        ("source", &ev.source),
        ("vault", &ev.vault),
        ("plan", &ev.plan),
        ("rule", &ev.rule),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            attributes.push((k.to_string(), v.clone()));
        }
    }
    SnsMessage {
        subject: SnsMessage::subject_of(&format!("coffer: {summary}")),
        message: json,
        attributes,
    }
}

/// Publishes `msg` to the sink's topic, once; the error says why, naming
/// the topic and the endpoint.
pub(super) fn publish(s: &SnsConfig, msg: &SnsMessage, timeout: Duration) -> Result<(), String> {
    let creds = AwsCredentials::from_env();
    let client = SnsClient::new(&creds, &s.region, s.endpoint.as_deref(), timeout)
        .map_err(|e| format!("SNS topic {}: {e}", s.topic_arn))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start an HTTP client: {e}"))?;
    rt.block_on(client.publish(&s.topic_arn, msg))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventName, Severity};

    #[test]
    fn message_carries_the_event_name_and_severity() {
        let ev = Event {
            id: 7,
            at: jiff::Timestamp::UNIX_EPOCH,
            name: EventName::BackupJobFailed,
            severity: Severity::Error,
            job_id: None,
            plan: None,
            rule: None,
            source: Some("db".into()),
            vault: None,
            message: "pg_dump exited with 1\nsecond line".into(),
            details: None,
        };
        let m = message(
            &ev,
            "BACKUP_JOB_FAILED (error) [source db]: pg_dump exited with 1\nsecond line",
            "{\"name\":\"BACKUP_JOB_FAILED\"}".into(),
        );
        assert_eq!(
            m.attributes,
            vec![
                ("event".to_string(), "BACKUP_JOB_FAILED".to_string()),
                ("severity".to_string(), "error".to_string()),
                ("source".to_string(), "db".to_string()),
            ]
        );
        assert!(
            m.subject.starts_with("coffer: BACKUP_JOB_FAILED (error)"),
            "{}",
            m.subject
        );
        assert!(!m.subject.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert_eq!(v["name"], "BACKUP_JOB_FAILED");
    }
}
