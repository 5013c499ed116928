//! PostgreSQL sources end to end: dumps restored into new databases,
//! all databases and globals, connection failures, missing or old tools,
//! and a dump killed midway.

use super::*;

const PG_FINGERPRINT: &str = "select md5(string_agg(t::text, ',' order by id)) || ':' || \
     (select count(*) from items) || ':' || (select last_value from t_id_seq) from t";

fn pg_fill(db: &str, rows: u32) {
    psql(
        db,
        &format!(
            "create table t (id serial primary key, name text not null, data bytea, at timestamptz);
             insert into t (name, data, at)
               select 'row ' || g || ' ' || md5(g::text), decode(md5((g * 7)::text), 'hex'),
                      '2024-01-01'::timestamptz + g * interval '1 minute'
               from generate_series(1, {rows}) g;
             insert into t (name) values ('coffer-marker-row ünïcödé');
             create index t_name on t (name);
             create table items (k text primary key, v jsonb);
             insert into items select 'k' || g, jsonb_build_object('n', g) from generate_series(1, 500) g;
             create view t_view as select id, name from t where id % 2 = 0;"
        ),
    );
}

#[test]
fn issue3_postgres_dump_restores_into_new_databases_and_deduplicates() {
    let env = Env::new(Kind::Local, "pg");
    env.init();
    let src = PgDb::new("coffer_pg_src");
    pg_fill(&src.0, 100_000);
    let want = psql(&src.0, PG_FINGERPRINT);
    let url = format!("{PG}/{}", src.0);

    let first = backup_json(&env, &["--postgres", &url, "--tag", "nightly"]);
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["source"]["kind"], "postgres");
    let d = &first["source"]["details"];
    assert_eq!(d["database"], src.0.as_str());
    assert!(
        d["server_version"].as_str().unwrap().starts_with("15"),
        "{d}"
    );
    assert!(d["pg_dump"].as_str().unwrap().contains("PostgreSQL"), "{d}");
    assert!(
        d["restore_needs"].as_str().unwrap().contains("pg_restore"),
        "{d}"
    );
    assert_eq!(
        first["paths"][0],
        format!("postgres://127.0.0.1:5432/{}", src.0)
    );
    let total = first["summary"]["total_bytes"].as_u64().unwrap();
    assert!(total > 5_000_000, "dump of {total} bytes is too small");

    // An unchanged database dumps to nearly the same bytes: little is added.
    let second = backup_json(&env, &["--postgres", &url]);
    let added = second["summary"]["bytes_added"].as_u64().unwrap();
    assert!(
        added < total / 3,
        "second dump added {added} of {total} bytes: the dump does not deduplicate"
    );

    // --to-file: the custom-format dump, uncompressed (rows are readable).
    let file = env.path("dump.pgdump");
    env.ok(&["restore", &id[..8], "--to-file", file.to_str().unwrap()]);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"PGDMP"), "not a pg_dump custom archive");
    assert_eq!(bytes.len() as u64, total);
    assert!(
        bytes.windows(17).any(|w| w == b"coffer-marker-row"),
        "the dump is compressed by pg_dump"
    );

    // Restore in parallel (spooled) and streamed, into new databases.
    for jobs in ["2", "1"] {
        let new = PgDb::named(uniq("coffer_pg_dst"));
        env.ok(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--create",
            "--jobs",
            jobs,
        ]);
        assert_eq!(
            psql(&new.0, PG_FINGERPRINT),
            want,
            "restore with --jobs {jobs}"
        );
        assert_eq!(psql(&new.0, "select count(*) from t_view"), "50000");
        // --create refuses an existing database; --clean replaces it.
        let o = env.run(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--create",
        ]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
        psql(&new.0, "delete from t where id < 100");
        env.ok(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--create",
            "--clean",
        ]);
        assert_eq!(psql(&new.0, PG_FINGERPRINT), want);
        // --clean alone drops and recreates each object in place.
        psql(&new.0, "delete from t where id < 100");
        env.ok(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--clean",
        ]);
        assert_eq!(psql(&new.0, PG_FINGERPRINT), want);
    }
    // Without --create, a missing database is named.
    let missing = uniq("coffer_pg_nodb");
    let o = env.run(&[
        "restore",
        &id[..8],
        "--postgres",
        &format!("{PG}/{missing}"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&missing) && stderr(&o).contains("--create"));
    env.ok(&["check", "--read-data"]);
}

#[test]
fn issue3_postgres_all_databases_one_snapshot_each_and_globals_once() {
    let env = Env::new(Kind::Local, "pg-all");
    env.init();
    let prefix = uniq("coffer_pg_all");
    let a = PgDb::named(format!("{prefix}_a"));
    let b = PgDb::named(format!("{prefix}_b"));
    for db in [&a, &b] {
        psql("postgres", &format!("create database {}", db.0));
        psql(
            &db.0,
            &format!("create table x (v text); insert into x values ('{}')", db.0),
        );
    }
    let role = uniq("coffer_role");
    psql("postgres", &format!("create role {role} nologin"));
    let v = backup_json(
        &env,
        &[
            "--postgres",
            PG,
            "--all-databases",
            "--globals",
            "--include-database",
            &format!("{prefix}_*"),
        ],
    );
    psql("postgres", &format!("drop role {role}"));
    let list = v.as_array().expect("a list of snapshots");
    let kinds: Vec<&str> = list
        .iter()
        .map(|s| s["source"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["postgres-globals", "postgres", "postgres"], "{v}");
    let dbs: Vec<&str> = list[1..]
        .iter()
        .map(|s| s["source"]["details"]["database"].as_str().unwrap())
        .collect();
    assert_eq!(dbs, [a.0.as_str(), b.0.as_str()]);
    assert_eq!(snapshots(&env).len(), 3);
    // The globals hold the roles; restoring them recreates the dropped role.
    let g = list[0]["id"].as_str().unwrap();
    let file = env.path("globals.sql");
    env.ok(&["restore", g, "--to-file", file.to_str().unwrap()]);
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(sql.contains(&format!("CREATE ROLE {role}")), "{sql}");
    let o = env.run(&["restore", g, "--postgres", PG]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        psql(
            "postgres",
            &format!("select count(*) from pg_roles where rolname = '{role}'")
        ),
        "1"
    );
    psql("postgres", &format!("drop role {role}"));
    // Each database restores on its own.
    let new = PgDb::named(uniq("coffer_pg_one"));
    env.ok(&[
        "restore",
        list[2]["id"].as_str().unwrap(),
        "--postgres",
        &format!("{PG}/{}", new.0),
        "--create",
    ]);
    assert_eq!(psql(&new.0, "select v from x"), b.0);
    // Templates are never among the databases.
    let o = env.run(&[
        "backup",
        "--postgres",
        PG,
        "--all-databases",
        "--include-database",
        "template*",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no database"), "{}", stderr(&o));
}

#[test]
fn issue3_postgres_unreachable_wrong_credentials_and_missing_database() {
    let env = Env::new(Kind::Local, "pg-bad");
    env.init();
    let port = free_port();
    let o = env.run(&[
        "backup",
        "--postgres",
        &format!("postgres://postgres:pw-Secret-1@127.0.0.1:{port}/shop"),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[&format!("127.0.0.1:{port}"), "database shop"],
        &["pw-Secret-1"],
    );
    let o = env.run(&[
        "backup",
        "--postgres",
        "postgres://nosuchrole_coffer:pw-Secret-2@127.0.0.1:5432/postgres",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["127.0.0.1:5432", "database postgres", "nosuchrole_coffer"],
        &["pw-Secret-2"],
    );
    let missing = uniq("coffer_missing");
    let o = env.run(&["backup", "--postgres", &format!("{PG}/{missing}")]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "127.0.0.1:5432",
            &format!("database {missing}"),
            "does not exist",
        ],
        &[],
    );
    // A URL that is not one is a usage error (exit 2) that does not echo it.
    let o = env.run(&["backup", "--postgres", "mysql://u:pw-Secret-3@h/db"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("pw-Secret-3"), "{}", stderr(&o));
}

#[test]
fn issue3_postgres_missing_or_old_pg_dump_is_named() {
    let env = Env::new(Kind::Local, "pg-tools");
    env.init();
    let db = PgDb::new("coffer_pg_tools");
    let url = format!("{PG}/{}", db.0);
    let empty = env.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let o = env.run(&[
        "backup",
        "--postgres",
        &url,
        "--pg-bin-dir",
        empty.to_str().unwrap(),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "psql not found",
            empty.to_str().unwrap(),
            "postgresql-client",
        ],
        &[],
    );
    // psql is there, pg_dump is not (the variable works like the flag).
    let only_psql = env.path("only-psql");
    std::fs::create_dir_all(&only_psql).unwrap();
    std::os::unix::fs::symlink(tool("psql", "postgresql-client"), only_psql.join("psql")).unwrap();
    let o = env
        .cmd(&["backup", "--postgres", &url])
        .env("COFFER_PG_BIN_DIR", &only_psql)
        .output()
        .unwrap();
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "pg_dump not found",
            only_psql.to_str().unwrap(),
            "postgresql-client-15",
        ],
        &[],
    );
    // A pg_dump older than the server.
    make_script(
        &only_psql.join("pg_dump"),
        "echo 'pg_dump (PostgreSQL) 9.6.24'; [ \"$1\" = --version ] || exit 1",
    );
    let o = env
        .cmd(&["backup", "--postgres", &url])
        .env("COFFER_PG_BIN_DIR", &only_psql)
        .output()
        .unwrap();
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "pg_dump 9.6.24",
            "too old",
            "PostgreSQL 15",
            "127.0.0.1:5432",
            "pg_dump 15 or newer",
        ],
        &[],
    );
}

#[test]
fn issue3_postgres_dump_killed_midway_leaves_no_snapshot() {
    let db = PgDb::new("coffer_pg_kill");
    psql(
        &db.0,
        "create table big as select g as id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) as v \
         from generate_series(1, 600000) g",
    );
    let url = format!("{PG}/{}", db.0);
    kill_dump_midway("pg-kill", &["--postgres", &url], "pg_dump", &[&db.0]);
}

/// Issue 16: a backup of several databases prints one summary line for
/// each, naming the database, what came from pg_dump and the snapshot.
#[test]
fn issue16_all_databases_print_one_summary_line_each() {
    let env = Env::new(Kind::Local, "pg-lines");
    env.init();
    let prefix = uniq("coffer_pg_lines");
    let dbs = [
        PgDb::named(format!("{prefix}_a")),
        PgDb::named(format!("{prefix}_b")),
    ];
    for db in &dbs {
        psql("postgres", &format!("create database {}", db.0));
    }
    let out = env.ok(&[
        "backup",
        "--postgres",
        PG,
        "--all-databases",
        "--include-database",
        &format!("{prefix}_*"),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (l, db) in lines.iter().zip(&dbs) {
        assert!(
            l.starts_with(&format!("postgres://127.0.0.1:5432/{}: read ", db.0)),
            "{l}"
        );
        assert!(l.contains(" from pg_dump in "), "{l}");
        assert!(l.contains(" stored); snapshot "), "{l}");
    }
}
