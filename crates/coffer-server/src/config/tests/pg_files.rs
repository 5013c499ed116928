//! Issue 18: `postgres-base` sources with `method = "files"` (base backups
//! by files from the daemon's plans), their fields, a rule's
//! `pg_backup_type`, and every refusal at its position.

use super::errors;
use crate::config::{Config, RuleConfig};
use coffer_sources::postgres::backup::{BackupType, FilesBackup};
use coffer_sources::spec::SourceSpec;
use std::path::{Path, PathBuf};

/// A vault, a files source `etc`, a base backup by files `pg` (with
/// `extra` appended to it) and a plan with a daily full and a 4-hourly
/// incremental rule of `pg`.
fn text(extra: &str) -> String {
    format!(
        r#"[[vault]]
name = "main"
url = "/srv/main"
key_file = "main.key"

[[source]]
name = "etc"
kind = "files"
paths = ["/etc"]

[[source]]
name = "pg"
kind = "postgres-base"
url = "postgres://postgres@db:5432/"
password_env = "PGPW"
method = "files"
{extra}

[[plan]]
name = "pg"
[[plan.rule]]
name = "full"
vault = "main"
sources = ["pg"]
schedule = "0 1 * * *"
pg_backup_type = "full"
[[plan.rule]]
name = "incr"
vault = "main"
sources = ["pg"]
schedule = "0 */4 * * *"
pg_backup_type = "incr"
"#
    )
}

fn files_of(spec: &SourceSpec) -> &FilesBackup {
    match spec {
        SourceSpec::PostgresBase { files: Some(f), .. } => f,
        other => panic!("not a base backup by files: {other:?}"),
    }
}

fn rule<'c>(c: &'c Config, id: &str) -> &'c RuleConfig {
    c.rules().find(|r| r.id() == id).unwrap()
}

/// The 1-based line of `needle`'s first occurrence in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn has(e: &[String], at: &str, what: &str) -> bool {
    e.iter().any(|l| l.starts_with(at) && l.contains(what))
}

#[test]
fn issue18_files_method_fields_and_the_rules_types() {
    let t = text(
        "pgdata = \"data\"\nbackup_type = \"diff\"\nchecksum = true\narchive_timeout = \"90s\"\nstandby = \"postgres://postgres@replica:5432/\"",
    );
    let c = Config::parse(&t, Path::new("/etc/coffer/t.toml")).unwrap_or_else(|e| panic!("{e}"));
    let pg = c.source("pg").unwrap();
    assert!(pg.by_files());
    let spec = pg.to_spec();
    let f = files_of(&spec);
    assert_eq!(
        f,
        &FilesBackup {
            pgdata: Some(PathBuf::from("/etc/coffer/data")),
            backup_type: BackupType::Diff,
            checksum: true,
            archive_timeout: Some(90),
            standby: Some("postgres://postgres@replica:5432/".into()),
        }
    );
    // Each rule's pg_backup_type overrides the source's type for its jobs.
    let full = rule(&c, "pg/full");
    let incr = rule(&c, "pg/incr");
    assert_eq!(full.pg_backup_type, Some(BackupType::Full));
    assert_eq!(incr.pg_backup_type, Some(BackupType::Incr));
    assert_eq!(files_of(&pg.spec_for(full)).backup_type, BackupType::Full);
    let for_incr = pg.spec_for(incr);
    assert_eq!(files_of(&for_incr).backup_type, BackupType::Incr);
    assert_eq!(
        files_of(&for_incr).standby,
        f.standby,
        "only the type moves"
    );
    // A source of another kind is the same spec whatever the rule.
    let etc = c.source("etc").unwrap();
    assert_eq!(etc.spec_for(incr), etc.to_spec());
    assert!(!etc.by_files());
}

#[test]
fn issue18_defaults_stream_and_files() {
    // No method: streamed with pg_basebackup, as before.
    let t = text("").replace("method = \"files\"\n", "");
    let t = t
        .replace("pg_backup_type = \"full\"\n", "")
        .replace("pg_backup_type = \"incr\"\n", "");
    let c = Config::parse(&t, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
    let pg = c.source("pg").unwrap();
    assert!(matches!(
        pg.to_spec(),
        SourceSpec::PostgresBase { files: None, .. }
    ));
    assert!(!pg.by_files());
    let c = Config::parse(
        &t.replace("password_env", "method = \"stream\"\npassword_env"),
        Path::new("t.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.source("pg").unwrap().by_files());
    // method = "files" alone: a full of the server's data directory.
    let c = Config::parse(&text(""), Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        files_of(&c.source("pg").unwrap().to_spec()),
        &FilesBackup::default()
    );
}

#[test]
fn issue18_files_fields_without_method_files_are_refused_where_they_are() {
    let t = text("pgdata = \"/var/lib/postgresql/15/main\"\nchecksum = true\narchive_timeout = \"5m\"\nstandby = \"postgres://r@replica/\"\nbackup_type = \"incr\"")
        .replace("method = \"files\"", "method = \"stream\"");
    let e = errors(&t);
    for field in [
        "pgdata",
        "checksum",
        "archive_timeout",
        "standby",
        "backup_type",
    ] {
        let at = format!("t.toml:{}:", line_of(&t, &format!("{field} = ")));
        assert!(
            has(
                &e,
                &at,
                &format!("{field} applies to a base backup by files only: add method = \"files\"")
            ),
            "{field}: {e:?}"
        );
    }
    // ... and the rules' pg_backup_type, which then selects no such source.
    let at = format!("t.toml:{}:", line_of(&t, "pg_backup_type = \"full\""));
    assert!(
        has(
            &e,
            &at,
            "rule `pg/full`: pg_backup_type applies to base backups by files, but the rule selects `pg` (postgres-base, method = \"stream\"), none of kind postgres-base with method = \"files\""
        ),
        "{e:?}"
    );
}

#[test]
fn issue18_bad_values_are_refused_where_they_are() {
    let t = text("backup_type = \"weekly\"\narchive_timeout = \"soon\"\nstandby = \"postgres://r:secret@replica/\"")
        .replace("method = \"files\"", "method = \"file\"");
    let e = errors(&t);
    let at = |n: &str| format!("t.toml:{}:", line_of(&t, n));
    assert!(
        has(
            &e,
            &at("method = "),
            "method `file` is unknown: write \"stream\""
        ),
        "{e:?}"
    );
    // An unknown method: the other fields are not judged against it.
    assert!(!e.iter().any(|l| l.contains("weekly")), "{e:?}");

    let t = text("backup_type = \"weekly\"\narchive_timeout = \"soon\"\nstandby = \"postgres://r:secret@replica/\"");
    let e = errors(&t);
    let at = |n: &str| format!("t.toml:{}:", line_of(&t, n));
    assert!(
        has(
            &e,
            &at("backup_type = "),
            "backup_type `weekly` is not a backup type"
        ),
        "{e:?}"
    );
    assert!(
        has(&e, &at("archive_timeout = "), "bad archive_timeout `soon`"),
        "{e:?}"
    );
    assert!(
        has(&e, &at("standby = "), "the standby url carries a password"),
        "{e:?}"
    );
    assert!(
        !e.iter().any(|l| l.contains("secret")),
        "the password is never echoed: {e:?}"
    );

    let t = text("standby = \"mysql://r@replica/\"");
    let e = errors(&t);
    assert!(
        has(
            &e,
            &format!("t.toml:{}:", line_of(&t, "standby = ")),
            "starting with postgres://"
        ),
        "{e:?}"
    );

    let t = text("").replace("pg_backup_type = \"incr\"", "pg_backup_type = \"hourly\"");
    let e = errors(&t);
    assert!(
        has(
            &e,
            &format!("t.toml:{}:", line_of(&t, "hourly")),
            "rule `pg/incr`: pg_backup_type `hourly` is not a backup type"
        ),
        "{e:?}"
    );
}

#[test]
fn issue18_pg_fields_on_other_kinds_and_rules_of_other_sources_are_refused() {
    let t = text("").replace(
        "paths = [\"/etc\"]",
        "paths = [\"/etc\"]\nmethod = \"files\"\nchecksum = true",
    );
    let e = errors(&t);
    let at = |n: &str| format!("t.toml:{}:", line_of(&t, n));
    assert!(
        has(
            &e,
            &at("method = \"files\""),
            "`method` does not apply to a source of kind files"
        ),
        "{e:?}"
    );
    assert!(
        has(
            &e,
            &at("checksum = true"),
            "`checksum` does not apply to a source of kind files"
        ),
        "{e:?}"
    );

    let t = text("").replace(
        "sources = [\"pg\"]\nschedule = \"0 */4 * * *\"",
        "sources = [\"etc\"]\nschedule = \"0 */4 * * *\"",
    );
    let e = errors(&t);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        has(
            &e,
            &format!("t.toml:{}:", line_of(&t, "pg_backup_type = \"incr\"")),
            "rule `pg/incr`: pg_backup_type applies to base backups by files, but the rule selects `etc` (files)"
        ),
        "{e:?}"
    );
}

#[test]
fn issue18_unreadable_pgdata_is_a_warning() {
    let t = text("pgdata = \"/nonexistent/coffer-pgdata\"");
    let checked = Config::check_text(&t, Path::new("t.toml"));
    assert!(checked.config.is_ok(), "{:?}", checked.config.err());
    assert!(
        checked.warnings.iter().any(|w| w
            .to_string()
            .contains("pgdata /nonexistent/coffer-pgdata cannot be read here")),
        "{:?}",
        checked.warnings
    );
}
