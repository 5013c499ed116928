//! Issue 16, help: the global options under their own heading, each
//! command showing only the options that act on it (the vault options
//! where a vault is opened), examples in every command's long help, the
//! vault options still taken before the verb (PostgreSQL's
//! archive_command), and `coffer diff` explaining its markers and listing
//! only what changed.

use crate::common::*;

fn help(env: &Env, path: &[&str]) -> String {
    let mut args = path.to_vec();
    args.push("--help");
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(0), "coffer {args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The subcommands `help` lists ("Commands:" section), but `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// Every command and subcommand, by path, from the help itself.
fn all_commands(env: &Env, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    let args: Vec<&str> = path.iter().map(String::as_str).collect();
    for sub in subcommands(&help(env, &args)) {
        let mut p = path.clone();
        p.push(sub);
        out.push(p.clone());
        all_commands(env, p, out);
    }
}

/// Whether `help` lists option `flag` among its options.
fn lists(help: &str, flag: &str) -> bool {
    help.lines().map(str::trim_start).any(|l| {
        l.strip_prefix(flag)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    })
}

#[test]
fn issue16_help_shows_each_command_its_own_options_and_examples() {
    let env = Env::new(Kind::Local, "help");
    let top = help(&env, &[]);
    assert!(top.contains("\nGlobal options:\n"), "{top}");
    assert!(lists(&top, "--json") && lists(&top, "-q, --quiet"), "{top}");
    assert!(!lists(&top, "--vault") && !lists(&top, "--config"), "{top}");

    for c in ["serve", "token", "jobs", "config"] {
        let h = help(&env, &[c]);
        for flag in ["--vault", "--key-file", "--password-file"] {
            assert!(!h.contains(flag), "coffer {c} --help mentions {flag}:\n{h}");
        }
        assert!(lists(&h, "--config"), "coffer {c} --help:\n{h}");
        assert!(h.contains("\nGlobal options:\n"), "coffer {c} --help:\n{h}");
    }
    let backup = help(&env, &["backup"]);
    assert!(backup.contains("\nVault options:\n"), "{backup}");
    for flag in ["--vault", "--key-file", "--password-file"] {
        assert!(
            lists(&backup, flag),
            "coffer backup --help lacks {flag}:\n{backup}"
        );
    }
    // A group hands its vault options to its subcommands.
    assert!(lists(&help(&env, &["key", "add"]), "--vault"));
    // Where no configuration is read, no --config.
    assert!(!lists(&help(&env, &["snapshots"]), "--config"));

    let mut cmds = Vec::new();
    all_commands(&env, Vec::new(), &mut cmds);
    assert!(cmds.len() > 40, "{cmds:?}");
    for path in &cmds {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let long = help(&env, &args);
        assert!(
            long.contains("\nExamples:\n  "),
            "coffer {args:?} --help:\n{long}"
        );
        let mut short = args.clone();
        short.push("-h");
        let short = String::from_utf8(env.run(&short).stdout).unwrap();
        assert!(!short.contains("Examples:"), "coffer {args:?} -h:\n{short}");
    }
    // The manual page has a page for each of them, with its examples.
    let man = String::from_utf8(env.run(&["man"]).stdout).unwrap();
    for path in &cmds {
        let title = format!(".TH coffer-{} ", path.join("-"));
        let page = man
            .split(".TH ")
            .find(|p| title.strip_prefix(".TH ").is_some_and(|t| p.starts_with(t)))
            .unwrap_or_else(|| panic!("the manual page lacks {title:?}"));
        assert!(page.contains("Examples:"), "{page}");
    }
}

#[test]
fn issue16_vault_options_before_the_verb_still_work() {
    let env = Env::new(Kind::Local, "help-before-verb");
    // Another vault than the environment's, given only on the command line.
    let (other, key) = (env.path("other"), env.path("other.key"));
    let (other, key) = (other.to_str().unwrap(), key.to_str().unwrap());
    env.ok(&["--vault", other, "--key-file", key, "init"]);
    let data = env.path("data");
    write(&data.join("f"), b"one");
    env.ok(&[
        "--vault",
        other,
        "--key-file",
        key,
        "backup",
        data.to_str().unwrap(),
    ]);
    let listed = |args: &[&str]| -> usize {
        let o = env
            .cmd(args)
            .arg("--json")
            .env_remove("COFFER_VAULT")
            .env_remove("COFFER_KEY_FILE")
            .output()
            .unwrap();
        assert!(o.status.success(), "coffer {args:?}: {}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        listed(&["--vault", other, "--key-file", key, "snapshots"]),
        1
    );
    // Before and after the verb mixed, and the command's own wins.
    assert_eq!(
        listed(&[
            "--vault",
            "/nonexistent",
            "snapshots",
            "--vault",
            other,
            "--key-file",
            key
        ]),
        1
    );
    assert_eq!(
        listed(&["--key-file", key, "snapshots", "--vault", other]),
        1
    );
    // The flag before the verb wins over the environment.
    env.init();
    let o = env
        .cmd(&["--vault", other, "--key-file", key, "snapshots", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let snaps: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 1, "{snaps}");
    // The environment alone (the env's own, empty vault).
    let snaps = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 0, "{snaps}");
    // An option of another command is refused after the verb.
    let o = env.run(&["serve", "--vault", other]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn issue16_diff_explains_its_markers_and_lists_only_what_changed() {
    let env = Env::new(Kind::Local, "help-diff");
    let h = help(&env, &["diff"]);
    for marker in [
        "+  added",
        "-  removed",
        "M  modified",
        "T  type changed",
        "U  metadata only",
    ] {
        assert!(
            h.contains(marker),
            "coffer diff --help lacks `{marker}`:\n{h}"
        );
    }

    env.init();
    let src = env.path("src");
    let deep = src.join("a/b/c");
    write(&deep.join("f"), b"first");
    write(&deep.join("g"), b"unchanged");
    write(&src.join("top"), b"unchanged");
    let first = env.backup(&[&src]);
    // As an editor saves: a new file renamed over the old one, which moves
    // the mtime of a/b/c; and something new beside src, which moves the
    // mtime of the directory above it (in the snapshot as src's parent).
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&deep.join("f.new"), b"second");
    std::fs::rename(deep.join("f.new"), deep.join("f")).unwrap();
    write(&env.path("beside"), b"x");
    let second = env.backup(&[&src]);

    let d = env.json(&["diff", &first, &second]);
    let changes = d["changes"].as_array().unwrap();
    let f = deep.join("f");
    assert_eq!(
        changes,
        &vec![serde_json::json!({"change": "M", "path": f.to_str().unwrap()})],
        "{d}"
    );
    let text = env.ok(&["diff", &first, &second]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], format!("M  {}", f.display()), "{text}");
    assert!(lines[1].starts_with("1 change from "), "{text}");
}
