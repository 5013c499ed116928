//! Issue 16, install: shell completions and the manual page are generated
//! from the same clap definition the parser uses, so they name every
//! command the program has.

use crate::common::*;

/// The program's commands, from `coffer --help` ("Commands:" section).
fn commands(env: &Env) -> Vec<String> {
    let help = String::from_utf8(env.run(&["--help"]).stdout).unwrap();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn issue16_completions_and_man_page_cover_every_command() {
    let env = Env::new(Kind::Local, "install");
    let cmds = commands(&env);
    assert!(cmds.len() > 20, "{cmds:?}");
    let out = |args: &[&str]| {
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };

    // bash: a script bash accepts, completing every command.
    let bash = out(&["completions", "bash"]);
    let file = env.path("coffer.bash");
    std::fs::write(&file, &bash).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
    for c in &cmds {
        assert!(bash.contains(c.as_str()), "bash completion lacks `{c}`");
    }
    assert!(out(&["completions", "zsh"]).starts_with("#compdef coffer"));
    let fish = out(&["completions", "fish"]);
    assert!(
        fish.contains("complete -c coffer"),
        "{}",
        &fish[..200.min(fish.len())]
    );

    // The manual page: coffer's, then one per command.
    let man = out(&["man"]);
    assert!(
        man.contains(".TH coffer 1"),
        "{}",
        &man[..200.min(man.len())]
    );
    for c in &cmds {
        assert!(
            man.contains(&format!(".TH coffer-{c} ")),
            "the manual page lacks a page for `{c}`"
        );
    }

    // Bad input: an unknown shell is a usage error naming the choices.
    let o = env.run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bash"), "{}", stderr(&o));
}
