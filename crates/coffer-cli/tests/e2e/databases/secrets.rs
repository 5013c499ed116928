//! Issue 14 (secrets): a database password comes from a file or the
//! environment, never from argv, and neither it nor a secret URL parameter
//! (`sslpassword`) shows in any message. The local PostgreSQL trusts user
//! postgres, so it accepts and ignores the password: what is tested is that
//! the tools run with it handed over their way and that nothing prints it.

use super::*;

const PASSWORD: &str = "Tru5t-ignored pw";
const KEY_PASS: &str = "K3yPhrase";

#[test]
fn issue14_postgres_password_file_and_sslpassword_never_shown() {
    let env = Env::new(Kind::Local, "pgsecrets");
    env.init();
    let src = PgDb::new("coffer_pg_secret");
    psql(
        &src.0,
        "create table t (x int); insert into t values (1), (2), (3)",
    );
    let pw = env.path("db.password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let pwf = pw.to_str().unwrap();
    // sslmode=disable: libpq reads sslpassword (from coffer's private
    // service file) and has no use for it; the dump must still work.
    let url = format!("{PG}/{}?sslmode=disable&sslpassword={KEY_PASS}", src.0);
    let o = env.run(&[
        "backup",
        "--json",
        "--postgres",
        &url,
        "--db-password-file",
        pwf,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!out.contains(PASSWORD) && !out.contains(KEY_PASS), "{out}");
    let listed = env.ok(&["snapshots", "--json"]);
    assert!(
        !listed.contains(PASSWORD) && !listed.contains(KEY_PASS),
        "{listed}"
    );
    // Restore with the password from the environment instead.
    let dst = PgDb::named(uniq("coffer_pg_secret_dst"));
    let o = env
        .cmd(&[
            "restore",
            "latest",
            "--postgres",
            &format!("{PG}/{}?sslpassword={KEY_PASS}&sslmode=disable", dst.0),
            "--create",
        ])
        .env("COFFER_DB_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!out.contains(PASSWORD) && !out.contains(KEY_PASS), "{out}");
    assert_eq!(psql(&dst.0, "select sum(x) from t"), "6");
    // A failing backup names the database, never the secrets.
    let other = Env::new(Kind::Local, "pgsecrets-fail");
    other.init();
    let missing = format!("{PG}/coffer_no_such_db?sslmode=disable&sslpassword={KEY_PASS}");
    let o = other.run(&["backup", "--postgres", &missing, "--db-password-file", pwf]);
    assert_failed_cleanly(&other, &o, &["coffer_no_such_db"], &[PASSWORD, KEY_PASS]);
    // A password in the URL and a password file: which one? A usage error.
    let twice = format!("postgres://postgres:inline@127.0.0.1:5432/{}", src.0);
    let o = other.run(&["backup", "--postgres", &twice, "--db-password-file", pwf]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("give it once"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("inline") && !stderr(&o).contains(PASSWORD));
}
