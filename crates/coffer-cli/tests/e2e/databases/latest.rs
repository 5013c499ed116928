//! Issue 16: `restore latest` into a database means that database's newest
//! snapshot (coffer-sources' `select` rule): by the URL, or refused with
//! the candidates when the vault holds several databases and the target is
//! none of them; `--path NAME` and `--tag source:NAME` choose. Database,
//! command and stdin snapshots are tagged `source:NAME`. A Redis backup
//! says why it waits for the server.

use super::*;

/// A PostgreSQL database holding one row: its own name.
fn pg_named(prefix: &str) -> PgDb {
    let db = PgDb::new(prefix);
    psql(
        &db.0,
        &format!("create table x (v text); insert into x values ('{}')", db.0),
    );
    db
}

fn tags(s: &serde_json::Value) -> Vec<String> {
    s["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// `coffer restore latest ARGS --json`: the id of the snapshot restored.
fn restored(env: &Env, args: &[&str]) -> String {
    let mut a = vec!["restore", "latest"];
    a.extend_from_slice(args);
    env.json(&a)["snapshot"].as_str().unwrap().to_string()
}

#[test]
fn issue16_restore_latest_picks_the_database_of_the_url_and_refuses_when_ambiguous() {
    let env = Env::new(Kind::Local, "latest-pg");
    env.init();
    let prefix = uniq("coffer_latest");
    let a = pg_named(&format!("{prefix}_a"));
    let b = pg_named(&format!("{prefix}_b"));
    let url = |db: &str| format!("{PG}/{db}");
    let sa = backup_json(&env, &["--postgres", &url(&a.0)]);
    let sb = backup_json(&env, &["--postgres", &url(&b.0), "--tag", "nightly"]);
    let (ia, ib) = (sa["id"].as_str().unwrap(), sb["id"].as_str().unwrap());
    // Named by source as the daemon names them; the path is the URL
    // without the user.
    let listed = snapshots(&env);
    let find = |id: &str| listed.iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(tags(&find(ia)), [format!("source:{}", a.0)]);
    assert_eq!(
        tags(&find(ib)),
        ["nightly".to_string(), format!("source:{}", b.0)]
    );
    assert_eq!(
        find(ia)["paths"][0],
        format!("postgres://127.0.0.1:5432/{}", a.0)
    );

    // Into database a itself: a's snapshot, although b's is newer.
    psql(&a.0, "update x set v = 'changed'");
    assert_eq!(restored(&env, &["--postgres", &url(&a.0), "--clean"]), ia);
    assert_eq!(psql(&a.0, "select v from x"), a.0);
    // localhost is 127.0.0.1.
    let local = format!("postgres://postgres@localhost:5432/{}", b.0);
    assert_eq!(restored(&env, &["--postgres", &local, "--clean"]), ib);

    // Into a copy, with two databases to copy from: refused (usage, exit
    // 2), listing both, saying how to choose, showing no password.
    let copy = PgDb::named(uniq("coffer_latest_copy"));
    let with_pw = format!(
        "postgres://postgres:Pw-Never-Shown@127.0.0.1:5432/{}",
        copy.0
    );
    let o = env.run(&["restore", "latest", "--postgres", &with_pw, "--create"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for want in [
        "ambiguous",
        &copy.0,
        &ia[..8],
        &ib[..8],
        &format!("postgres://127.0.0.1:5432/{}", a.0),
        &format!("source:{}", b.0),
        "--path NAME",
        "--tag source:NAME",
    ] {
        assert!(err.contains(want), "{want:?} missing: {err}");
    }
    assert!(!err.contains("Pw-Never-Shown"), "{err}");
    let exists = format!(
        "select count(*) from pg_database where datname = '{}'",
        copy.0
    );
    assert_eq!(
        psql("postgres", &exists),
        "0",
        "a refused restore made the database"
    );

    // --path NAME, the URL with its user, or --tag source:NAME chooses.
    assert_eq!(
        restored(
            &env,
            &["--path", &a.0, "--postgres", &url(&copy.0), "--create"]
        ),
        ia
    );
    assert_eq!(psql(&copy.0, "select v from x"), a.0);
    let copy2 = PgDb::named(uniq("coffer_latest_copy"));
    let b_url = format!("postgres://postgres@127.0.0.1:5432/{}", b.0);
    assert_eq!(
        restored(
            &env,
            &["--path", &b_url, "--postgres", &url(&copy2.0), "--create"]
        ),
        ib
    );
    assert_eq!(psql(&copy2.0, "select v from x"), b.0);
    let tag = format!("source:{}", a.0);
    assert_eq!(
        restored(
            &env,
            &["--tag", &tag, "--postgres", &url(&copy2.0), "--clean"]
        ),
        ia
    );
    // `coffer snapshots --path NAME` lists that database's snapshots.
    let by_name = env.json(&["snapshots", "--path", &b.0]);
    assert_eq!(by_name.as_array().unwrap().len(), 1, "{by_name}");
    // An explicit id is never second-guessed.
    assert_eq!(restored_id(&env, ib, &url(&copy2.0)), ib);
    assert_eq!(psql(&copy2.0, "select v from x"), b.0);

    // --all-databases: one snapshot a database, each tagged with its name;
    // `latest` into a is the newest of a.
    let all = backup_json(
        &env,
        &[
            "--postgres",
            PG,
            "--all-databases",
            "--include-database",
            &format!("{prefix}_*"),
        ],
    );
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    let mut names: Vec<Vec<String>> = all.iter().map(tags).collect();
    names.sort();
    assert_eq!(
        names,
        [[format!("source:{}", a.0)], [format!("source:{}", b.0)]]
    );
    let new_a = all
        .iter()
        .find(|s| s["source"]["details"]["database"] == a.0.as_str())
        .unwrap();
    assert_eq!(
        restored(&env, &["--postgres", &url(&a.0), "--clean"]),
        new_a["id"].as_str().unwrap()
    );
    // --source-name names every snapshot of the backup.
    let named = backup_json(&env, &["--postgres", &url(&a.0), "--source-name", "shop"]);
    assert_eq!(tags(&named), ["source:shop"]);
    let o = env.run(&["backup", "--postgres", &url(&a.0), "--source-name", "a,b"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    env.ok(&["check"]);
}

/// `coffer restore ID --postgres URL --clean --json`: the id restored.
fn restored_id(env: &Env, id: &str, url: &str) -> String {
    env.json(&["restore", &id[..8], "--postgres", url, "--clean"])["snapshot"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn issue16_restore_latest_into_mysql_picks_by_database() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new(Kind::Local, "latest-my");
    env.init();
    let a = MyDb::new("coffer_latest_my_a");
    let b = MyDb::new("coffer_latest_my_b");
    for db in [&a, &b] {
        mysql_q(&format!(
            "create table {0}.x (v varchar(100)); insert into {0}.x values ('{0}')",
            db.0
        ));
    }
    let sa = backup_json(&env, &["--mysql", &format!("{MY}/{}", a.0)]);
    backup_json(&env, &["--mysql", &format!("{MY}/{}", b.0)]);
    assert_eq!(tags(&sa), [format!("source:{}", a.0)]);
    mysql_q(&format!("update {}.x set v = 'changed'", a.0));
    let got = restored(
        &env,
        &["--mysql", &format!("{MY}/{}", a.0), "--create", "--clean"],
    );
    assert_eq!(got, sa["id"].as_str().unwrap());
    assert_eq!(mysql_q(&format!("select v from {}.x", a.0)), a.0);
    let copy = MyDb(uniq("coffer_latest_my_copy"));
    let o = env.run(&[
        "restore",
        "latest",
        "--mysql",
        &format!("{MY}/{}", copy.0),
        "--create",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&a.0) && stderr(&o).contains(&b.0),
        "{}",
        stderr(&o)
    );
}

#[test]
fn issue16_stdin_and_command_snapshots_are_named() {
    let env = Env::new(Kind::Local, "latest-names");
    env.init();
    let mut c = env.cmd(&["backup", "--stdin", "--json"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"hello").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(tags(&v), ["source:stdin"]);
    let v = backup_json(&env, &["--command", "echo hi", "--name", "hi.txt"]);
    assert_eq!(tags(&v), ["source:hi.txt"]);
}

#[test]
fn issue16_redis_backup_says_why_it_waits_and_latest_picks_by_path() {
    tool("redis-server", "redis-server");
    let env = Env::new(Kind::Local, "latest-redis");
    env.init();
    // The machine's Redis, as it is configured (this test changes nothing
    // there): the note names the setting and its value when it delays.
    let config = redis_text(6379, &["CONFIG", "GET", "repl-diskless-sync*"]);
    let cfg: Vec<&str> = config.lines().collect();
    let get = |k: &str| {
        cfg.chunks(2)
            .find(|p| p[0] == k)
            .map(|p| p[1].to_string())
            .unwrap_or_default()
    };
    let delay: u64 = get("repl-diskless-sync-delay").parse().unwrap_or(0);
    let waits = get("repl-diskless-sync") == "yes"
        && delay > 0
        && get("repl-diskless-sync-max-replicas") != "1";
    let o = env.run(&["backup", "--redis", REDIS, "--json"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(tags(&v), ["source:redis"]);
    let d = &v["source"]["details"];
    if waits {
        let want = format!("repl-diskless-sync-delay {delay}");
        assert!(
            err.contains("note: Redis at 127.0.0.1:6379") && err.contains(&want),
            "{err}"
        );
        assert!(
            err.contains("CONFIG SET repl-diskless-sync-delay 0"),
            "{err}"
        );
        assert_eq!(d["transfer_start"], format!("after {want}"), "{d}");
    } else {
        assert!(!err.contains("note:"), "{err}");
    }
    // --quiet: no note.
    let o = env.run(&["backup", "--redis", REDIS, "--quiet"]);
    assert!(
        o.status.success() && !stderr(&o).contains("note:"),
        "{}",
        stderr(&o)
    );

    // A scratch server without the delay: no note, and it starts at once.
    let dir = env.path("scratch");
    std::fs::create_dir_all(&dir).unwrap();
    let scratch = super::redis::start_redis(&dir);
    redis_text(scratch.1, &["CONFIG", "SET", "repl-diskless-sync", "yes"]);
    redis_text(
        scratch.1,
        &["CONFIG", "SET", "repl-diskless-sync-delay", "0"],
    );
    let scratch_url = format!("redis://127.0.0.1:{}", scratch.1);
    let o = env.run(&["backup", "--redis", &scratch_url, "--json"]);
    assert!(
        o.status.success() && !stderr(&o).contains("note:"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["source"]["details"]["transfer_start"], "at once");
    assert_eq!(v["source"]["details"]["transfer"], "diskless");

    // A user that may not read the configuration: the wait, if long, is
    // named afterwards with its likely reason.
    let user = uniq("coffer-noconfig");
    redis_text(
        scratch.1,
        &[
            "ACL",
            "SETUSER",
            &user,
            "on",
            ">pw-Secret-9",
            "~*",
            "&*",
            "+@all",
            "-config",
        ],
    );
    redis_text(
        scratch.1,
        &["CONFIG", "SET", "repl-diskless-sync-delay", "3"],
    );
    let o = env.run(&[
        "backup",
        "--redis",
        &format!("redis://{user}:pw-Secret-9@127.0.0.1:{}", scratch.1),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("to start sending the RDB") && err.contains("repl-diskless-sync-delay"),
        "{err}"
    );
    assert!(!err.contains("pw-Secret-9"), "{err}");

    // Two Redis servers in the vault: `latest --redis-dir` asks which;
    // --path with the server's URL chooses.
    let out = env.path("r1");
    let o = env.run(&["restore", "latest", "--redis-dir", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("redis://127.0.0.1:6379") && stderr(&o).contains(&scratch_url),
        "{}",
        stderr(&o)
    );
    env.ok(&[
        "restore",
        "latest",
        "--path",
        REDIS,
        "--redis-dir",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("dump.rdb").is_file());
    drop(scratch);
}
