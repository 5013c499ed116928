//! [`SnsClient`]: SNS `Publish`, signed by [`AwsSigner`] like every S3
//! request (SigV4, service `sns`, the payload's SHA-256 signed).

use std::time::Duration;

use super::{AwsCredentials, AwsSigner, IdentityError};
use crate::s3lock::{encode, xml_tag};

/// One SNS message: its subject, body and string attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnsMessage {
    /// Subject (email subscribers see it; at most 100 ASCII characters,
    /// no line breaks: [`SnsMessage::subject_of`] makes one).
    pub subject: String,
    /// The message.
    pub message: String,
    /// String message attributes (`event`, `severity`): what subscription
    /// filter policies match on.
    pub attributes: Vec<(String, String)>,
}

impl SnsMessage {
    /// `text` as SNS takes a subject: printable ASCII, one line, at most
    /// 100 characters (cut with `…` made `...`).
    pub fn subject_of(text: &str) -> String {
        let clean: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        if clean.len() <= 100 {
            clean
        } else {
            format!("{}...", &clean[..97])
        }
    }
}

/// Why a publish failed. The message names the topic and the endpoint,
/// never a key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SNS Publish to {topic} at {endpoint}: {what}")]
pub struct SnsError {
    /// The topic ARN.
    pub topic: String,
    /// `host:port`.
    pub endpoint: String,
    /// What went wrong (`HTTP 404 NotFound: Topic does not exist`).
    pub what: String,
    /// SNS's error code, when it answered with one.
    pub code: Option<String>,
}

/// Publishes to SNS topics at one endpoint, in one region.
#[derive(Debug, Clone)]
pub struct SnsClient {
    http: reqwest::Client,
    signer: AwsSigner,
    endpoint: String,
    authority: String,
}

impl SnsClient {
    /// A client for `endpoint` (`https://sns.REGION.amazonaws.com` when
    /// `None`) in `region`, signing with `creds`; one request may take
    /// `timeout`.
    pub fn new(
        creds: &AwsCredentials,
        region: &str,
        endpoint: Option<&str>,
        timeout: Duration,
    ) -> Result<SnsClient, String> {
        let endpoint = endpoint
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| default_endpoint(region));
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| "the SNS endpoint is not a URL".to_string())?;
        let authority = uri
            .authority()
            .map(|a| {
                a.as_str()
                    .rsplit('@')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .ok_or_else(|| "the SNS endpoint has no host".to_string())?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(0)
            .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(SnsClient {
            http,
            signer: AwsSigner::new(creds, "sns", region),
            endpoint,
            authority,
        })
    }

    /// Publishes `msg` to `topic`; returns SNS's message id.
    pub async fn publish(&self, topic: &str, msg: &SnsMessage) -> Result<String, SnsError> {
        let err = |what: String, code: Option<String>| SnsError {
            topic: topic.to_string(),
            endpoint: self.authority.clone(),
            what,
            code,
        };
        let body = publish_body(topic, msg);
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("{}/", self.endpoint))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body.clone().into_bytes())
            .map_err(|e| err(format!("cannot build the request: {e}"), None))?;
        let (mut parts, b) = req.into_parts();
        self.signer
            .sign(&mut parts, Some(body.as_bytes()))
            .await
            .map_err(|e| err(signing_message(&e), None))?;
        let req = reqwest::Request::try_from(http::Request::from_parts(parts, b)).map_err(|e| {
            err(
                format!("cannot build the request: {}", e.without_url()),
                None,
            )
        })?;
        let resp = self.http.execute(req).await.map_err(|e| {
            let e = e.without_url();
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m = format!("{m}: {s}");
                src = s.source();
            }
            err(m, None)
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| err(format!("reading the answer: {}", e.without_url()), None))?;
        if status.is_success() {
            return Ok(xml_tag(&text, "MessageId").unwrap_or_default());
        }
        let code = xml_tag(&text, "Code");
        let message = xml_tag(&text, "Message").unwrap_or_default();
        let mut what = format!("HTTP {}", status.as_u16());
        if let Some(c) = &code {
            what = format!("{what} {c}");
        }
        if !message.is_empty() {
            what = format!("{what}: {}", message.chars().take(300).collect::<String>());
        }
        Err(err(what, code))
    }
}

/// `https://sns.REGION.amazonaws.com` (`.com.cn` in China).
pub fn default_endpoint(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://sns.{region}.amazonaws.com.cn")
    } else {
        format!("https://sns.{region}.amazonaws.com")
    }
}

fn signing_message(e: &reqsign_core::Error) -> String {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(i) = s.downcast_ref::<IdentityError>() {
            return i.0.clone();
        }
        src = s.source();
    }
    if e.to_string().contains("failed to load") {
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in coffer's environment, \
         or give it an identity (AWS_PROFILE, AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, container \
         credentials or an EC2 instance role)"
            .into()
    } else {
        format!("cannot sign the request: {e}")
    }
}

/// The form body of `Publish`.
fn publish_body(topic: &str, msg: &SnsMessage) -> String {
    let mut pairs: Vec<(String, &str)> = vec![
        ("Action".into(), "Publish"),
        ("Version".into(), "2010-03-31"),
        ("TopicArn".into(), topic),
        ("Message".into(), &msg.message),
    ];
    if !msg.subject.is_empty() {
        pairs.push(("Subject".into(), &msg.subject));
    }
    for (i, (k, v)) in msg.attributes.iter().enumerate() {
        let n = i + 1;
        pairs.push((format!("MessageAttributes.entry.{n}.Name"), k));
        pairs.push((
            format!("MessageAttributes.entry.{n}.Value.DataType"),
            "String",
        ));
        pairs.push((format!("MessageAttributes.entry.{n}.Value.StringValue"), v));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_body_and_subject() {
        let m = SnsMessage {
            subject: "a b".into(),
            message: "{\"x\":1}".into(),
            attributes: vec![("event".into(), "BACKUP_JOB_FAILED".into())],
        };
        let b = publish_body("arn:aws:sns:us-east-1:123456789012:t", &m);
        assert_eq!(
            b,
            "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At\
             &Message=%7B%22x%22%3A1%7D&Subject=a%20b&MessageAttributes.entry.1.Name=event\
             &MessageAttributes.entry.1.Value.DataType=String\
             &MessageAttributes.entry.1.Value.StringValue=BACKUP_JOB_FAILED"
        );
        assert_eq!(SnsMessage::subject_of("x\ny é"), "x y  ");
        let long = SnsMessage::subject_of(&"a".repeat(200));
        assert_eq!(long.len(), 100);
        assert!(long.ends_with("..."));
        assert_eq!(
            default_endpoint("eu-west-1"),
            "https://sns.eu-west-1.amazonaws.com"
        );
    }
}
