//! MariaDB/MySQL sources end to end: a dump restored into a new database,
//! connection failures, missing or old dump tools, and a dump killed
//! midway.

use super::*;

const MY_FINGERPRINT: &str = "set session group_concat_max_len = 1000000000; \
     select md5(group_concat(concat_ws('|', id, name, hex(data), price, at) order by id separator ',')), count(*) from {db}.t";

fn my_fill(db: &str) {
    mysql_q(&format!(
        "create table {db}.t (id int primary key auto_increment, name varchar(200) character set utf8mb4, \
           data blob, price decimal(10,2), at datetime);
         insert into {db}.t (name, data, price, at)
           select concat('row ', seq, ' ', md5(seq)), unhex(md5(seq * 7)), seq / 100, '2024-01-01' + interval seq minute
           from {db}.seq_1_to_20000;
         insert into {db}.t (name, data) values ('ünïcödé 🦀', x'00ff0a0d27225c');
         create view {db}.v as select id from {db}.t where id % 2 = 0;"
    ));
}

#[test]
fn issue3_mysql_dump_restores_into_a_new_database() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new(Kind::Local, "my");
    env.init();
    let src = MyDb::new("coffer_my_src");
    my_fill(&src.0);
    let want = mysql_q(&MY_FINGERPRINT.replace("{db}", &src.0));
    let v = backup_json(&env, &["--mysql", &format!("{MY}/{}", src.0)]);
    assert_eq!(v["source"]["kind"], "mysql");
    let d = &v["source"]["details"];
    assert_eq!(d["database"], src.0.as_str());
    assert!(
        d["server_version"].as_str().unwrap().contains("MariaDB"),
        "{d}"
    );
    assert!(d["dump_tool"].as_str().unwrap().contains("Distrib"), "{d}");
    assert!(
        d["restore_needs"].as_str().unwrap().contains("10.11"),
        "{d}"
    );
    let id = v["id"].as_str().unwrap();
    let dst = MyDb(uniq("coffer_my_dst"));
    env.ok(&[
        "restore",
        id,
        "--mysql",
        &format!("{MY}/{}", dst.0),
        "--create",
    ]);
    assert_eq!(mysql_q(&MY_FINGERPRINT.replace("{db}", &dst.0)), want);
    assert_eq!(
        mysql_q(&format!("select count(*) from {}.v", dst.0)),
        mysql_q(&format!("select count(*) from {}.v", src.0))
    );
    // The restore did not touch the source's name: it restores under any name.
    let o = env.run(&[
        "restore",
        id,
        "--mysql",
        &format!("{MY}/{}", dst.0),
        "--create",
    ]);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    env.ok(&[
        "restore",
        id,
        "--mysql",
        &format!("{MY}/{}", dst.0),
        "--create",
        "--clean",
    ]);
    assert_eq!(mysql_q(&MY_FINGERPRINT.replace("{db}", &dst.0)), want);

    // All databases in one consistent dump.
    let all = backup_json(&env, &["--mysql", MY]);
    assert_eq!(all["source"]["details"]["scope"], "all-databases");
    let all_id = all["id"].as_str().unwrap();
    let file = env.path("all.sql");
    env.ok(&["restore", all_id, "--to-file", file.to_str().unwrap()]);
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(sql.contains(&format!(
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{}`",
        src.0
    )));
    let o = env.run(&["restore", all_id, "--mysql", &format!("{MY}/{}", dst.0)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("all databases"), "{}", stderr(&o));
    // (Replaying it would rewrite every database of this shared server, so
    // the test stops at the dump's content.)
    env.ok(&["check", "--read-data"]);
}

#[test]
fn issue3_mysql_unreachable_wrong_password_and_missing_database() {
    let env = Env::new(Kind::Local, "my-bad");
    env.init();
    let port = free_port();
    let o = env.run(&[
        "backup",
        "--mysql",
        &format!("mysql://root:pw-Secret-4@127.0.0.1:{port}/shop"),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[&format!("127.0.0.1:{port}"), "database shop"],
        &["pw-Secret-4"],
    );
    let o = env.run(&[
        "backup",
        "--mysql",
        "mysql://root:pw-Secret-5@127.0.0.1:3306/mysql",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["127.0.0.1:3306", "database mysql", "Access denied"],
        &["pw-Secret-5"],
    );
    let missing = uniq("coffer_missing");
    let o = env.run(&["backup", "--mysql", &format!("{MY}/{missing}")]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "127.0.0.1:3306",
            &format!("database {missing}"),
            "Unknown database",
        ],
        &[],
    );
}

#[test]
fn issue3_mysql_missing_or_old_dump_tool_is_named() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new(Kind::Local, "my-tools");
    env.init();
    let db = MyDb::new("coffer_my_tools");
    let url = format!("{MY}/{}", db.0);
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(tool("mariadb", "mariadb-client"), bin.join("mariadb")).unwrap();
    let o = env.run(&[
        "backup",
        "--mysql",
        &url,
        "--mysql-bin-dir",
        bin.to_str().unwrap(),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "mariadb-dump or mysqldump not found",
            bin.to_str().unwrap(),
            "mariadb-client",
        ],
        &[],
    );
    make_script(
        &bin.join("mariadb-dump"),
        "echo 'mariadb-dump  Ver 10.19 Distrib 10.3.39-MariaDB, for debian-linux-gnu (x86_64)'; \
         [ \"$1\" = --version ] || exit 1",
    );
    let o = env.run(&[
        "backup",
        "--mysql",
        &url,
        "--mysql-bin-dir",
        bin.to_str().unwrap(),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "mariadb-dump 10.3",
            "too old",
            "127.0.0.1:3306",
            "MariaDB 10.11 or newer",
        ],
        &[],
    );
}

#[test]
fn issue3_mysql_dump_killed_midway_leaves_no_snapshot() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let db = MyDb::new("coffer_my_kill");
    mysql_q(&format!(
        "create table {0}.big (id int primary key, v varchar(100)) \
         select seq as id, concat(md5(seq), md5(seq * 7), md5(seq * 13)) as v from {0}.seq_1_to_600000",
        db.0
    ));
    let url = format!("{MY}/{}", db.0);
    kill_dump_midway("my-kill", &["--mysql", &url], "mariadb-dump", &[&db.0]);
}
