//! Issue 19, cloud identities and the SNS sink, on a moto server of this
//! module's own (scripts/moto.sh with its own state dir: these tests turn
//! moto's authentication on, which must not disturb the other moto tests).
//!
//! How the tests know the temporary credentials are the ones used:
//!
//! - S3 data (OpenDAL): the commands reach moto through a recording proxy,
//!   which sees one `AssumeRoleWithWebIdentity` per command and every S3
//!   request signed with one `ASIA…` key (moto's STS keys) and a session
//!   token; the environment holds no key at all.
//! - Object Lock calls (`coffer vault probe`, S3Client) and SNS: moto's
//!   authentication is on (`/moto-api/reset-auth` lets exactly one request
//!   through unchecked: the command's STS call, which moto would refuse
//!   unsigned); every later request must be signed with a key moto issued
//!   and match its signature, and a key it never issued is refused
//!   (checked too). (moto's signature check rejects OpenDAL's ListObjectsV2
//!   query, so the data path is proved by the proxy instead.)

use crate::common::*;
use base64::Engine;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// moto's authentication switch is global to its server: one test at a time.
static MOTO_AUTH: Mutex<()> = Mutex::new(());

const ROLE: &str = "arn:aws:iam::123456789012:role/coffer-backup";

/// This module's moto (started when it is not running): its endpoint.
fn moto() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/moto.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg("start")
        .env("COFFER_MOTO_DIR", "/tmp/coffer-moto-aws-identity")
        .env_remove("COFFER_MOTO_PORT")
        .output()
        .expect("bash runs scripts/moto.sh");
    assert!(
        o.status.success(),
        "these tests need moto (scripts/moto.sh start; moto[server] from pip): {}",
        stderr(&o)
    );
    let envfile = String::from_utf8(o.stdout).unwrap();
    let text = std::fs::read_to_string(envfile.trim()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("export COFFER_TEST_MOTO_ENDPOINT="))
        .expect("moto.sh's env file names the endpoint")
        .trim()
        .to_string()
}

/// Sets how many more requests moto lets through unchecked (`inf`: all).
fn moto_auth(endpoint: &str, unchecked: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /moto-api/reset-auth HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{unchecked}",
        unchecked.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "reset-auth: {out}");
}

/// Runs a boto3 script against moto with the setup key; its standard
/// output as JSON.
fn boto(endpoint: &str, script: &str, args: &[&str]) -> Value {
    let prelude = "import sys, json, boto3\n\
        kw = dict(endpoint_url=sys.argv[1], aws_access_key_id='test', \
        aws_secret_access_key='test', region_name='us-east-1')\n";
    let o = Command::new("python3")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .arg(endpoint)
        .args(args)
        .output()
        .expect("python3 (which runs moto) is on PATH");
    assert!(o.status.success(), "boto3 script failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The role (allowed everything on S3 and SNS), a bucket with object
/// lock, a topic and a queue subscribed to it: `{topic, queue}`.
fn setup(endpoint: &str, bucket: &str, name: &str) -> Value {
    let script = r#"
iam = boto3.client('iam', **kw)
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example"},
  "Action": "sts:AssumeRoleWithWebIdentity"}]}
try:
    iam.create_role(RoleName='coffer-backup', AssumeRolePolicyDocument=json.dumps(trust))
except iam.exceptions.EntityAlreadyExistsException:
    pass
allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["s3:*", "sns:*"], "Resource": "*"}]}
iam.put_role_policy(RoleName='coffer-backup', PolicyName='coffer', PolicyDocument=json.dumps(allow))
boto3.client('s3', **kw).create_bucket(Bucket=sys.argv[2], ObjectLockEnabledForBucket=True)
sns = boto3.client('sns', **kw)
topic = sns.create_topic(Name=sys.argv[3])['TopicArn']
sqs = boto3.client('sqs', **kw)
q = sqs.create_queue(QueueName=sys.argv[3])['QueueUrl']
qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
sns.subscribe(TopicArn=topic, Protocol='sqs', Endpoint=qarn)
print(json.dumps({"topic": topic, "queue": q}))
"#;
    boto(endpoint, script, &[bucket, name])
}

/// The SNS envelopes waiting in `queue`.
fn received(endpoint: &str, queue: &str) -> Vec<Value> {
    let script = r#"
sqs = boto3.client('sqs', **kw)
r = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10, WaitTimeSeconds=1)
print(json.dumps([json.loads(m['Body']) for m in r.get('Messages', [])]))
"#;
    boto(endpoint, script, &[queue]).as_array().unwrap().clone()
}

/// A JWT-shaped web identity token expiring at `exp` (moto does not check
/// its signature; coffer reads its `exp`).
fn token(exp: i64) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b(r#"{"alg":"RS256","kid":"test"}"#),
        b(&format!(
            r#"{{"iss":"https://oidc.example","sub":"system:serviceaccount:backup:coffer","aud":"sts.amazonaws.com","exp":{exp}}}"#
        )),
        b("not-a-real-signature-but-a-secret-all-the-same")
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A command with no AWS key at all: the web identity of `token_file`,
/// STS at `sts`, no home (no profile).
fn identity_cmd(env: &Env, args: &[&str], token_file: &Path, sts: &str) -> Command {
    let mut c = env.cmd(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    c.env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ROLE_ARN", ROLE)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)
        .env("AWS_ENDPOINT_URL_STS", sts)
        .env("AWS_REGION", "us-east-1")
        .env_remove("COFFER_S3_ENDPOINT");
    c
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A TCP proxy to `upstream` that keeps what clients send, for
/// [`Recorder::take`].
struct Recorder {
    port: u16,
    sent: Arc<Mutex<Vec<u8>>>,
}

fn recorder(upstream: &str) -> Recorder {
    let up = upstream.trim_start_matches("http://").to_string();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s2 = sent.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let Ok(mut u) = TcpStream::connect(&up) else {
                continue;
            };
            let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(Shutdown::Both);
            });
            let s3 = s2.clone();
            std::thread::spawn(move || {
                let mut b = [0u8; 65536];
                loop {
                    let n = match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    s3.lock().unwrap().extend_from_slice(&b[..n]);
                    if u.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
                let _ = u.shutdown(Shutdown::Write);
            });
        }
    });
    Recorder { port, sent }
}

impl Recorder {
    /// What was sent since the last call: (STS calls, access key id of
    /// each signed request, signed requests with a session token).
    fn take(&self) -> (usize, Vec<String>, usize) {
        let bytes = std::mem::take(&mut *self.sent.lock().unwrap());
        let text = String::from_utf8_lossy(&bytes);
        let sts = text.matches("Action=AssumeRoleWithWebIdentity").count();
        let mut keys = Vec::new();
        let mut tokens = 0;
        for line in text.split("\r\n") {
            let l = line.to_ascii_lowercase();
            if l.starts_with("authorization: aws4-hmac-sha256 credential=") {
                let k = &line["authorization: AWS4-HMAC-SHA256 Credential=".len()..];
                keys.push(k.split('/').next().unwrap_or_default().to_string());
            }
            if l.starts_with("x-amz-security-token:") {
                tokens += 1;
            }
        }
        (sts, keys, tokens)
    }
}

#[test]
fn issue19_web_identity_signs_data_object_lock_and_sns_from_one_sts_call() {
    let _one = MOTO_AUTH.lock().unwrap_or_else(|e| e.into_inner());
    let ep = moto();
    moto_auth(&ep, "inf");
    let bucket = format!("coffer-wi-{:08x}", rand::random::<u32>());
    let names = setup(
        &ep,
        &bucket,
        &format!("coffer-{:08x}", rand::random::<u32>()),
    );
    let topic = names["topic"].as_str().unwrap().to_string();
    let queue = names["queue"].as_str().unwrap().to_string();
    let proxy = recorder(&ep);
    let via = format!("http://127.0.0.1:{}", proxy.port);

    let mut env = Env::new(Kind::Local, "aws-identity");
    env.vault = format!("s3://{bucket}/vault?endpoint={via}&region=us-east-1");
    env.kind = Kind::S3;
    let direct = format!("s3://{bucket}/vault?endpoint={ep}&region=us-east-1");
    let tok_file: PathBuf = env.path("token");
    let fresh = token(now() + 3600);
    std::fs::write(&tok_file, &fresh).unwrap();
    let mut outputs = Vec::new();

    // The S3 data path (OpenDAL), through the proxy: one STS call per
    // command, every request signed with its one temporary key.
    write(&env.path("data/a.txt"), b"alpha\n");
    let data = env.path("data");
    let data = data.to_str().unwrap();
    for args in [
        vec!["init"],
        vec!["backup", data, "--json"],
        vec!["snapshots", "--json"],
    ] {
        let o = identity_cmd(&env, &args, &tok_file, &via).output().unwrap();
        outputs.push(stderr(&o));
        let out = ok(o, &format!("coffer {args:?}"));
        if args[0] == "snapshots" {
            let list: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
        }
        std::thread::sleep(Duration::from_millis(300));
        let (sts, keys, tokens) = proxy.take();
        assert_eq!(sts, 1, "coffer {args:?}: STS calls");
        assert!(keys.len() >= 2, "coffer {args:?}: {keys:?}");
        assert!(
            keys.iter().all(|k| k.starts_with("ASIA") && *k == keys[0]),
            "{keys:?}"
        );
        assert_eq!(
            tokens,
            keys.len(),
            "every request carries the session token"
        );
    }

    // The S3Client path (bucket versioning, object lock configuration, a
    // retention write and read back), moto checking every request but the
    // STS call.
    let mut c = identity_cmd(&env, &["vault", "probe", "--json"], &tok_file, &ep);
    c.env("COFFER_VAULT", &direct);
    moto_auth(&ep, "1");
    let o = c.output().unwrap();
    outputs.push(stderr(&o));
    let p: Value = serde_json::from_str(&ok(o, "coffer vault probe")).unwrap();
    assert_eq!(p["enforced"], true, "{p}");

    // moto does check: a key it never issued is refused.
    moto_auth(&ep, "0");
    let o = env
        .cmd(&["vault", "probe"])
        .env("COFFER_VAULT", &direct)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stderr(&o));
    moto_auth(&ep, "inf");

    // A token that expired: refused before STS is asked, naming the role
    // and the file; once the file holds a fresh one again, it works.
    let expired = token(now() - 60);
    std::fs::write(&tok_file, &expired).unwrap();
    let o = identity_cmd(&env, &["snapshots"], &tok_file, &via)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(ROLE), "the role is not named:\n{err}");
    assert!(
        err.contains(&tok_file.display().to_string()),
        "the token file is not named:\n{err}"
    );
    assert!(err.contains("expired at"), "{err}");
    assert_eq!(proxy.take().0, 0, "STS was asked with an expired token");
    outputs.push(err);
    std::fs::write(&tok_file, &fresh).unwrap();
    let o = identity_cmd(&env, &["snapshots"], &tok_file, &via)
        .output()
        .unwrap();
    outputs.push(stderr(&o));
    ok(o, "coffer snapshots with the token renewed");

    // The daemon: backups (to a local vault), each completion published
    // to SNS; moto checks every request but the STS call.
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "local-vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[plan]]
name = "p"

[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs"]
schedule = "@every 2s"

[[notify]]
name = "sns"
kind = "sns"
topic_arn = "{topic}"
endpoint = "{ep}"
events = ["BACKUP_JOB_COMPLETED"]
retries = 0
"#
        ),
    )
    .unwrap();
    let mut init = env.cmd(&["init"]);
    init.env("COFFER_VAULT", env.path("local-vault"));
    ok(init.output().unwrap(), "coffer init (local)");
    moto_auth(&ep, "1");
    let daemon = identity_cmd(&env, &["serve"], &tok_file, &ep)
        .env("COFFER_CONFIG", &config)
        .env_remove("COFFER_STATE_DIR")
        .current_dir(env.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The test reads nothing from moto until the daemon has stopped.
    let state = env.path("state");
    wait_until("a completed backup", 60, || {
        let mut c = env.cmd(&[]);
        c.env("COFFER_STATE_DIR", &state);
        list_jobs(c, Some("backup"))
            .iter()
            .any(|j| j["state"] == "COMPLETED")
    });
    // The sink polls twice a second.
    std::thread::sleep(Duration::from_secs(3));
    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
    moto_auth(&ep, "inf");
    let got = received(&ep, &queue);
    assert!(!got.is_empty(), "no SNS message reached the queue:\n{log}");
    let m = &got[0];
    assert_eq!(m["TopicArn"], topic.as_str(), "{m:#}");
    assert!(
        m["Subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("coffer: BACKUP_JOB_COMPLETED"),
        "{m:#}"
    );
    assert_eq!(
        m["MessageAttributes"]["event"]["Value"], "BACKUP_JOB_COMPLETED",
        "{m:#}"
    );
    assert_eq!(m["MessageAttributes"]["severity"]["Value"], "info", "{m:#}");
    let ev: Value = serde_json::from_str(m["Message"].as_str().unwrap()).unwrap();
    assert_eq!(ev["name"], "BACKUP_JOB_COMPLETED", "{ev:#}");
    assert!(!log.contains("gave up"), "{log}");
    outputs.push(log);

    // The token never shows.
    for out in &outputs {
        assert!(!out.contains(&fresh) && !out.contains(&expired), "{out}");
        assert!(!out.contains("bm90LWEtcmVhbC1zaWduYXR1cmU"), "{out}");
    }
}

#[test]
fn issue19_unreadable_web_identity_token_fails_naming_the_role_and_the_file() {
    // No server is reached: the token is read before STS is asked.
    let mut env = Env::new(Kind::Local, "aws-identity-missing");
    let port = free_port();
    env.vault = format!("s3://b/v?endpoint=http://127.0.0.1:{port}&region=us-east-1");
    env.kind = Kind::S3;
    let missing = env.path("no/such/token");
    let o = identity_cmd(
        &env,
        &["snapshots"],
        &missing,
        &format!("http://127.0.0.1:{port}"),
    )
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("web identity for role {ROLE}")),
        "{err}"
    );
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("cannot read the token file"), "{err}");
    assert!(
        err.contains(&env.vault.split('?').next().unwrap().to_string()),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");

    // An STS endpoint that is no URL: said, naming the variable.
    let o = identity_cmd(&env, &["snapshots"], &missing, "sts-somewhere")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("AWS_ENDPOINT_URL_STS=`sts-somewhere`"),
        "{err}"
    );
}

#[test]
fn issue19_sns_publish_refused_is_retried_then_given_up_and_jobs_go_on() {
    let _one = MOTO_AUTH.lock().unwrap_or_else(|e| e.into_inner());
    let ep = moto();
    moto_auth(&ep, "inf");
    let env = Env::new(Kind::Local, "aws-sns-refused");
    env.init();
    write(&env.path("data/a.txt"), b"alpha\n");
    let config = env.path("coffer.toml");
    let secret = "sns-secret-that-must-never-be-printed";
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[plan]]
name = "p"

[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs"]
schedule = "@every 2s"

[[notify]]
name = "nosuchtopic"
kind = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:coffer-no-such-topic"
endpoint = "{ep}"
level = "all"
retries = 2
backoff = "50ms"
"#
        ),
    )
    .unwrap();
    let check = env
        .cmd(&["config", "check"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    let daemon = serve_cmd(&env, &config)
        .current_dir(env.dir.path())
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .spawn()
        .unwrap();
    let state = env.path("state");
    wait_until("two completed backups", 60, || {
        let mut c = env.cmd(&[]);
        c.env("COFFER_STATE_DIR", &state);
        list_jobs(c, Some("backup"))
            .iter()
            .filter(|j| j["state"] == "COMPLETED")
            .count()
            >= 2
    });
    std::thread::sleep(Duration::from_secs(1));
    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("notify `nosuchtopic`: sending event"),
        "no retry logged:\n{log}"
    );
    assert!(log.contains("retry 1/2"), "{log}");
    assert!(
        log.contains("notify `nosuchtopic`: gave up on event"),
        "{log}"
    );
    assert!(
        log.contains("SNS Publish to arn:aws:sns:us-east-1:123456789012:coffer-no-such-topic"),
        "{log}"
    );
    assert!(log.contains("NotFound"), "{log}");
    assert!(!log.contains(secret), "{log}");

    // A topic ARN that is none: refused at its line.
    std::fs::write(
        &config,
        "[[notify]]\nname = \"bad\"\nkind = \"sns\"\ntopic_arn = \"coffer-alerts\"\n",
    )
    .unwrap();
    let check = env
        .cmd(&["config", "check"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    let err = stderr(&check);
    assert_eq!(check.status.code(), Some(2), "{err}");
    assert!(err.contains(":4:"), "no line:column:\n{err}");
    assert!(err.contains("is not an SNS topic ARN"), "{err}");
}
