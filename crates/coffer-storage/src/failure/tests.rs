//! The translation of storage errors: S3 answers, source chains (built
//! by hand and got from a real refused connection), OpenDAL's errors, and
//! the messages they give.

use std::io;
use std::time::Duration;

use coffer_core::StorageErrorKind;

use super::*;
use crate::url::{Location, S3Location};

fn loc(url: &str) -> S3Location {
    match Location::parse(url).unwrap() {
        Location::S3(l) => l,
        Location::Local(_) => panic!("{url} is not s3"),
    }
}

fn place(endpoint: &str) -> S3Place {
    S3Place::new(&loc(&format!("s3://bkt/pre/fix?endpoint={endpoint}"))).unwrap()
}

#[test]
fn places_name_the_endpoint_with_its_port_and_no_password() {
    let p = place("http://127.0.0.1:1");
    assert_eq!(p.addr, "127.0.0.1:1");
    assert_eq!(p.location, "s3://bkt/pre/fix");
    assert_eq!(p.object("packs/ab"), "s3://bkt/pre/fix/packs/ab");
    assert_eq!(place("https://s3.example.net").addr, "s3.example.net:443");
    assert_eq!(place("http://[::1]:9000/").addr, "[::1]:9000");
    assert_eq!(place("http://u:secret@h.example").addr, "h.example:80");
    assert!(S3Place::new(&loc("s3://b/p?endpoint=ftp://x")).is_err());
    // Without an endpoint (whatever this environment's AWS_ENDPOINT_URL),
    // AWS's; without a timeout, the default.
    let mut l = loc("s3://b/p?region=eu-west-1");
    l.endpoint = None;
    l.connect_timeout = None;
    let aws = S3Place::new(&l).unwrap();
    assert_eq!(aws.addr, "s3.eu-west-1.amazonaws.com:443");
    assert_eq!(aws.connect_timeout, Duration::from_secs(10));
}

#[test]
fn s3_answers_give_their_cause() {
    let c = |s, code, m| of_response(s, code, m);
    assert_eq!(c(Some(404), "NoSuchBucket", ""), Cause::NoBucket);
    assert_eq!(c(Some(404), "NoSuchKey", ""), Cause::NotFound);
    assert_eq!(c(Some(404), "", ""), Cause::NotFound);
    assert!(matches!(
        c(Some(403), "SignatureDoesNotMatch", ""),
        Cause::BadCredentials { why } if why.contains("signature")
    ));
    assert!(matches!(
        c(Some(403), "InvalidAccessKeyId", ""),
        Cause::BadCredentials { why } if why.contains("access key")
    ));
    // Garage says it in the message.
    assert!(matches!(
        c(Some(403), "AccessDenied", "Forbidden: Invalid signature"),
        Cause::BadCredentials { .. }
    ));
    assert!(matches!(
        c(Some(403), "AccessDenied", "Forbidden: No such key: GK0000"),
        Cause::BadCredentials { .. }
    ));
    assert_eq!(
        c(
            Some(403),
            "AccessDenied",
            "Forbidden: Operation is not allowed for this key."
        ),
        Cause::AccessDenied {
            code: "AccessDenied".into()
        }
    );
    assert_eq!(
        c(Some(403), "", ""),
        Cause::AccessDenied { code: "".into() }
    );
    assert_eq!(
        c(Some(503), "SlowDown", ""),
        Cause::Busy {
            what: "HTTP 503 SlowDown".into()
        }
    );
    assert_eq!(
        c(Some(500), "", ""),
        Cause::Busy {
            what: "HTTP 500".into()
        }
    );
    assert!(
        matches!(c(Some(400), "InvalidArgument", "bad"), Cause::Other { what } if what.contains("HTTP 400 InvalidArgument: bad"))
    );
}

#[test]
fn only_what_may_pass_is_retried() {
    for c in [
        Cause::Refused,
        Cause::UnknownHost,
        Cause::ConnectTimeout,
        Cause::Timeout,
        Cause::Busy { what: "x".into() },
    ] {
        assert!(c.retryable(), "{c:?}");
    }
    for c in [
        Cause::NoCredentials,
        Cause::BadCredentials { why: "x".into() },
        Cause::AccessDenied { code: "".into() },
        Cause::NoBucket,
        Cause::NotFound,
        Cause::Other { what: "x".into() },
    ] {
        assert!(!c.retryable(), "{c:?}");
    }
}

#[test]
fn causes_have_the_vault_layers_kinds() {
    assert_eq!(Cause::NoCredentials.kind(), StorageErrorKind::Credentials);
    assert_eq!(Cause::NoBucket.kind(), StorageErrorKind::BucketNotFound);
    assert_eq!(Cause::Refused.kind(), StorageErrorKind::Unreachable);
    assert_eq!(Cause::ConnectTimeout.kind(), StorageErrorKind::Timeout);
    assert_eq!(
        Cause::AccessDenied { code: "".into() }.kind(),
        StorageErrorKind::AccessDenied
    );
    assert!(StorageErrorKind::Credentials.is_config());
    assert!(!StorageErrorKind::Unreachable.is_config());
}

#[test]
fn source_chains_show_the_network_failure() {
    let wrap = |e: io::Error| {
        opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request").set_source(e)
    };
    let refused = wrap(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "Connection refused",
    ));
    assert_eq!(of_chain(&refused), Some(Cause::Refused));
    let reset = wrap(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
    assert_eq!(
        of_chain(&reset),
        Some(Cause::Network {
            what: "connection reset".into()
        })
    );
    let dns = wrap(io::Error::other(
        "failed to lookup address information: Name or service not known",
    ));
    assert_eq!(of_chain(&dns), Some(Cause::UnknownHost));
    let none = opendal::Error::new(opendal::ErrorKind::Unexpected, "something");
    assert_eq!(of_chain(&none), None);
    let creds = opendal::Error::new(opendal::ErrorKind::Unexpected, "signing http request")
        .set_source(reqsign_core::Error::credential_invalid(
            "failed to load signing credential",
        ));
    assert_eq!(of_chain(&creds), Some(Cause::NoCredentials));
    // An identity that failed (web identity): its own message, as a
    // credentials error.
    let why = "web identity for role arn:aws:iam::1:role/r (token file /t): the token expired";
    let identity = opendal::Error::new(opendal::ErrorKind::Unexpected, "signing http request")
        .set_source(
            reqsign_core::Error::credential_invalid(why)
                .with_source(crate::aws::IdentityError(why.into())),
        );
    let c = of_chain(&identity).unwrap();
    assert_eq!(c, Cause::Identity { why: why.into() });
    assert_eq!(c.kind(), StorageErrorKind::Credentials);
    assert!(!c.retryable());
}

#[test]
fn a_real_refused_connection_is_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(
            reqwest::Client::new()
                .get(format!("http://127.0.0.1:{port}/"))
                .send(),
        )
        .unwrap_err();
    assert_eq!(of_chain(&e), Some(Cause::Refused), "{e:?}");
}

#[test]
fn opendal_s3_errors_are_read_from_their_body_and_kind() {
    let p = place("http://127.0.0.1:3900");
    let body = |kind, code: &str, msg: &str| {
        opendal::Error::new(
            kind,
            format!("S3Error {{ code: \"{code}\", message: \"{msg}\", resource: \"/bkt\", request_id: \"\" }}"),
        )
    };
    let f = Failure::of_opendal(
        &body(
            opendal::ErrorKind::ConfigInvalid,
            "NoSuchBucket",
            "Bucket not found: bkt",
        ),
        Some(&p),
    );
    assert_eq!(f.cause, Cause::NoBucket);
    let f = Failure::of_opendal(
        &body(
            opendal::ErrorKind::PermissionDenied,
            "AccessDenied",
            "Forbidden: Operation is not allowed for this key.",
        ),
        Some(&p),
    );
    assert_eq!(
        f.cause,
        Cause::AccessDenied {
            code: "AccessDenied".into()
        }
    );
    // A HEAD's 403: no body.
    let f = Failure::of_opendal(
        &opendal::Error::new(opendal::ErrorKind::PermissionDenied, ""),
        Some(&p),
    );
    assert_eq!(f.cause, Cause::AccessDenied { code: "".into() });
    let f = Failure::of_opendal(
        &opendal::Error::new(opendal::ErrorKind::NotFound, ""),
        Some(&p),
    );
    assert_eq!(f.cause, Cause::NotFound);
    let f = Failure::of_opendal(
        &opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            "read data from http response",
        )
        .set_temporary(),
        Some(&p),
    );
    assert_eq!(
        f.cause,
        Cause::Network {
            what: "read data from http response".into()
        }
    );
    assert!(f.cause.retryable());
    let f = Failure::of_opendal(
        &body(opendal::ErrorKind::Unexpected, "InternalError", "try again").set_temporary(),
        Some(&p),
    );
    assert_eq!(
        f.cause,
        Cause::Busy {
            what: "InternalError".into()
        }
    );
}

#[test]
fn messages_name_the_endpoint_and_the_fix_not_the_library() {
    let p = place("http://127.0.0.1:1");
    let at = Request::op(Some(&p), "write", "packs/ab/cd");
    let e = Failure::of_opendal(
        &opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request")
            .with_operation("reqwest::send")
            .set_source(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "Connection refused",
            )),
        Some(&p),
    )
    .into_storage("write", "packs/ab/cd", &at);
    let m = e.to_string();
    assert!(
        m.starts_with("write packs/ab/cd: connection refused at 127.0.0.1:1"),
        "{m}"
    );
    assert!(m.contains("check the endpoint URL"), "{m}");
    assert!(!m.contains("reqwest") && !m.contains("Unexpected"), "{m}");
    assert!(e.retryable);
    assert_eq!(e.kind, StorageErrorKind::Unreachable);

    let m = Cause::AccessDenied {
        code: "AccessDenied".into(),
    }
    .message(&at);
    assert!(
        m.starts_with("access denied to PUT s3://bkt/pre/fix/packs/ab/cd"),
        "{m}"
    );
    assert!(m.contains("s3:PutObject on bucket bkt"), "{m}");
    let m = Cause::NoCredentials.message(&at);
    assert!(
        m.starts_with("no S3 credentials: set AWS_ACCESS_KEY_ID"),
        "{m}"
    );
    let m = Cause::NoBucket.message(&at);
    assert!(m.starts_with("bucket bkt not found at 127.0.0.1:1"), "{m}");
    let m = Cause::ConnectTimeout.message(&at);
    assert!(m.contains("within 10s"), "{m}");
    assert!(m.contains("COFFER_CONNECT_TIMEOUT"), "{m}");
}

#[test]
fn local_errors_say_what_the_system_said() {
    let e = opendal::Error::new(opendal::ErrorKind::PermissionDenied, "permission denied")
        .with_operation("write")
        .with_context("path", "/v/packs")
        .set_source(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "Permission denied (os error 13)",
        ));
    let f = Failure::of_opendal(&e, None);
    assert_eq!(
        f.cause,
        Cause::Other {
            what: "permission denied: Permission denied (os error 13)".into()
        }
    );
    assert!(f.raw.contains("/v/packs"));
}

#[test]
fn a_get_of_an_archived_object_says_it_must_be_thawed_and_how() {
    let p = S3Place::new(&loc(
        "s3://bkt/pre/fix?endpoint=http://127.0.0.1:1&storage_class=GLACIER",
    ))
    .unwrap();
    let path = "packs/ab/abcdef";
    let at = Request::op(Some(&p), "read", path);
    // OpenDAL keeps the S3 error body as its message; a 403 is
    // PermissionDenied.
    let e = opendal::Error::new(
        opendal::ErrorKind::PermissionDenied,
        "S3Error { code: \"InvalidObjectState\", message: \"The operation is not valid for the \
         object's storage class\", resource: \"\", request_id: \"\" }",
    )
    .with_operation("read");
    let f = Failure::of_opendal(&e, Some(&p));
    assert_eq!(f.cause, Cause::Archived);
    assert!(!f.cause.retryable());
    let e = f.into_storage("read", path, &at);
    assert_eq!(e.kind, StorageErrorKind::Archived);
    assert!(!e.kind.is_config() && !e.retryable && !e.not_found);
    assert!(
        e.message.starts_with(
            "pack packs/ab/abcdef of vault s3://bkt/pre/fix is in storage class GLACIER and \
             must be restored (thawed) before it can be read: restore it with S3 RestoreObject"
        ),
        "{e}"
    );
    assert!(
        e.message.contains(
            "`aws s3api restore-object --bucket bkt --key pre/fix/packs/ab/abcdef \
             --restore-request Days=7`"
        ),
        "{e}"
    );
    assert!(!e.message.contains("S3Error"), "{e}");

    // A vault whose class is not an archive class (a lifecycle rule moved
    // the object) says so in general words.
    let p = place("http://127.0.0.1:1");
    let m = Cause::Archived.message(&Request::op(Some(&p), "read", "index/ab"));
    assert!(
        m.starts_with(
            "object index/ab of vault s3://bkt/pre/fix is in an archive storage class \
             (GLACIER or DEEP_ARCHIVE)"
        ),
        "{m}"
    );
}

#[test]
fn archive_classes_and_thawed_copies_are_told_apart() {
    for c in ["GLACIER", "DEEP_ARCHIVE", "glacier"] {
        assert!(is_archive_class(c), "{c}");
    }
    for c in ["STANDARD", "STANDARD_IA", "GLACIER_IR", "ONEZONE_IA"] {
        assert!(!is_archive_class(c), "{c}");
    }
    assert!(!thawed(None));
    assert!(!thawed(Some("ongoing-request=\"true\"")));
    assert!(thawed(Some(
        "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
    )));
}

#[test]
fn the_check_before_a_restore_names_the_packs_and_the_fix() {
    let p = S3Place::new(&loc("s3://b/p?storage_class=DEEP_ARCHIVE")).unwrap();
    let one = not_thawed(&p, &["packs/ab/ab1".to_string()], 3);
    assert_eq!(one.kind, StorageErrorKind::Archived);
    assert_eq!(one.op, coffer_core::THAW_CHECK);
    assert_eq!(one.path, "packs/ab/ab1");
    assert!(
        one.message.starts_with(
            "1 of the 3 data packs needed is in storage class DEEP_ARCHIVE and must be restored \
             (thawed) before it can be read (packs/ab/ab1): restore it with S3 RestoreObject"
        ),
        "{}",
        one.message
    );
    let frozen: Vec<String> = (0..5).map(|i| format!("packs/0{i}/0{i}")).collect();
    let many = not_thawed(&p, &frozen, 5);
    assert!(
        many.message.starts_with(
            "5 of the 5 data packs needed are in storage class DEEP_ARCHIVE and must be restored \
             (thawed) before they can be read (packs/00/00, packs/01/01, packs/02/02 and 2 more): \
             restore them with S3 RestoreObject (for example `aws s3api restore-object --bucket b \
             --key p/packs/00/00 --restore-request Days=7`, for each), wait until the restores \
             complete"
        ),
        "{}",
        many.message
    );
    let two = not_thawed(&p, &frozen[..2], 5);
    assert!(
        two.message.contains("(packs/00/00 and packs/01/01)"),
        "{}",
        two.message
    );
}
