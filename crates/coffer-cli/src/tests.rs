//! Unit tests of the command line's definition: its consistency, where the
//! vault options and `--config` go, and every command's examples.

use clap::Command;

use crate::cli::{
    command, parse_from, CONFIG_COMMANDS, CONFIG_SUBCOMMANDS, OTHER_COMMANDS, VAULT_COMMANDS,
};

#[test]
fn cli_definition_is_consistent() {
    command().debug_assert();
}

/// Every command and subcommand (not clap's `help`), by path.
fn paths(cmd: &Command, path: &str, out: &mut Vec<String>) {
    out.push(path.to_string());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let p = format!("{path} {}", sub.get_name());
        paths(sub, p.trim(), out);
    }
}

fn all_paths() -> Vec<String> {
    let mut out = Vec::new();
    paths(&command(), "", &mut out);
    out
}

/// The `--help` (long) of the command at `path`.
fn long_help(path: &str) -> String {
    let mut args = vec!["coffer"];
    args.extend(path.split_whitespace());
    args.push("--help");
    match command().try_get_matches_from(args) {
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.render().to_string(),
        other => panic!("coffer {path} --help: {other:?}"),
    }
}

#[test]
fn every_command_decides_whether_it_takes_the_vault_options_and_config() {
    for sub in command().get_subcommands() {
        let name = sub.get_name();
        let lists = [VAULT_COMMANDS, CONFIG_COMMANDS, OTHER_COMMANDS]
            .iter()
            .filter(|l| l.contains(&name))
            .count();
        let other = OTHER_COMMANDS.contains(&name);
        assert!(
            lists >= 1 && (!other || lists == 1),
            "`coffer {name}`: add it to VAULT_COMMANDS and/or CONFIG_COMMANDS in cli.rs, or to OTHER_COMMANDS"
        );
    }
    for name in [VAULT_COMMANDS, CONFIG_COMMANDS, OTHER_COMMANDS].concat() {
        assert!(
            command().find_subcommand(name).is_some(),
            "cli.rs lists `coffer {name}`, which does not exist"
        );
    }
}

/// Whether `help` lists option `flag` (as an option, not in a text).
fn lists(help: &str, flag: &str) -> bool {
    help.lines().map(str::trim_start).any(|l| {
        l.strip_prefix(flag)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    })
}

#[test]
fn options_show_only_where_they_act() {
    for path in all_paths() {
        let help = long_help(&path);
        let top = path.split(' ').next().unwrap();
        let vault = VAULT_COMMANDS.contains(&top);
        let config = CONFIG_COMMANDS.contains(&top) || CONFIG_SUBCOMMANDS.contains(&path.as_str());
        for flag in ["--vault", "--key-file", "--password-file"] {
            assert_eq!(
                lists(&help, flag),
                vault,
                "coffer {path} --help and {flag}:\n{help}"
            );
        }
        assert_eq!(
            lists(&help, "--config"),
            config,
            "coffer {path} --help:\n{help}"
        );
        assert_eq!(
            help.contains("\nVault options:\n"),
            vault,
            "coffer {path} --help:\n{help}"
        );
        assert!(
            help.contains("\nGlobal options:\n"),
            "coffer {path} --help:\n{help}"
        );
        assert!(lists(&help, "--json"), "coffer {path} --help:\n{help}");
    }
}

#[test]
fn every_command_has_examples_in_its_long_help_only() {
    let paths = all_paths();
    for path in &paths {
        let help = long_help(path);
        assert!(
            help.contains("Examples:\n  "),
            "coffer {path} --help:\n{help}"
        );
        let mut args = vec!["coffer"];
        args.extend(path.split_whitespace());
        args.push("-h");
        let short = command()
            .try_get_matches_from(args)
            .unwrap_err()
            .render()
            .to_string();
        assert!(!short.contains("Examples:"), "coffer {path} -h:\n{short}");
    }
    for (path, _) in crate::help::EXAMPLES {
        assert!(
            paths.contains(&path.to_string()),
            "examples of `coffer {path}`, which does not exist"
        );
    }
}

/// The words of a shell line, split at unquoted `|`, `>`, `<`, `;` and
/// `&&` into commands (quotes removed; no variables).
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let (mut cmds, mut words, mut word) = (Vec::new(), Vec::new(), None::<String>);
    let mut chars = line.chars().peekable();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, ' ') => words.extend(word.take()),
            (None, '|' | '>' | '<' | ';' | '&') => {
                words.extend(word.take());
                cmds.push(std::mem::take(&mut words));
                // A redirection's target is not a command.
                if matches!(c, '>' | '<') {
                    while chars.peek() == Some(&' ') {
                        chars.next();
                    }
                    while chars
                        .peek()
                        .is_some_and(|c| !matches!(c, ' ' | '|' | ';' | '&'))
                    {
                        chars.next();
                    }
                }
            }
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unclosed quote in {line:?}");
    words.extend(word);
    cmds.push(words);
    cmds
}

/// The coffer command lines of an example line: commands whose first word
/// (after `NAME=value` ones) is `coffer`, and a quoted `coffer …` word (a
/// postgresql.conf line).
fn coffer_lines(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for words in shell_commands(line) {
        if let Some(w) = words.iter().find(|w| w.starts_with("coffer ")) {
            out.extend(coffer_lines(w));
            continue;
        }
        let words: Vec<String> = words.into_iter().skip_while(|w| w.contains('=')).collect();
        if words.first().map(String::as_str) == Some("coffer") {
            out.push(words);
        }
    }
    out
}

#[test]
fn every_example_parses_as_the_command_it_stands_under() {
    for (path, text) in crate::help::EXAMPLES {
        let mut n = 0;
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            for words in coffer_lines(line) {
                n += 1;
                let m = command()
                    .try_get_matches_from(&words)
                    .unwrap_or_else(|e| panic!("example of `coffer {path}`: {line}\n{e}"));
                let mut got = Vec::new();
                let mut at = &m;
                while let Some((name, sub)) = at.subcommand() {
                    got.push(name);
                    at = sub;
                }
                let got = got.join(" ");
                assert!(
                    got.starts_with(path),
                    "example of `coffer {path}` runs `coffer {got}`: {line}"
                );
                <crate::cli::Cli as clap::FromArgMatches>::from_arg_matches(&m)
                    .unwrap_or_else(|e| panic!("example of `coffer {path}`: {line}\n{e}"));
            }
        }
        assert!(n > 0, "`coffer {path}` has no example command");
    }
}

#[test]
fn shell_lines_split_as_the_shell_would() {
    assert_eq!(
        shell_commands("pg_dump -Fc x | coffer backup --stdin > out 'a b'"),
        vec![
            vec!["pg_dump", "-Fc", "x"],
            vec!["coffer", "backup", "--stdin"],
            vec!["a b"]
        ]
    );
    assert_eq!(
        coffer_lines("archive_command = 'coffer --vault V wal-push %p'"),
        vec![vec!["coffer", "--vault", "V", "wal-push", "%p"]]
    );
}

fn vault_of(args: &[&str]) -> Option<String> {
    let mut line = vec!["coffer"];
    line.extend(args);
    parse_from(line)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .1
        .vault
}

#[test]
fn vault_options_before_the_verb_count_and_the_command_s_own_win() {
    assert_eq!(
        vault_of(&["--vault", "a", "snapshots"]).as_deref(),
        Some("a")
    );
    assert_eq!(
        vault_of(&["snapshots", "--vault", "b"]).as_deref(),
        Some("b")
    );
    assert_eq!(
        vault_of(&["--vault", "a", "snapshots", "--vault", "b"]).as_deref(),
        Some("b")
    );
    // A group's vault options, before or after its subcommand.
    assert_eq!(
        vault_of(&["key", "--vault", "c", "list"]).as_deref(),
        Some("c")
    );
    assert_eq!(
        vault_of(&["key", "list", "--vault", "d"]).as_deref(),
        Some("d")
    );
    assert_eq!(
        vault_of(&["--vault", "a", "key", "add", "--vault", "e", "--label", "x"]).as_deref(),
        Some("e")
    );
    let (_, g) = parse_from([
        "coffer",
        "--vault",
        "v",
        "--key-file",
        "k",
        "--password-file",
        "p",
        "--config",
        "c",
        "wal-push",
        "x",
    ])
    .unwrap();
    assert_eq!(g.vault.as_deref(), Some("v"));
    assert_eq!(g.key_file.as_deref(), Some(std::path::Path::new("k")));
    assert_eq!(g.password_file.as_deref(), Some(std::path::Path::new("p")));
    assert_eq!(g.config.as_deref(), Some(std::path::Path::new("c")));
    // A positional vault is the command's, not --vault.
    let (_, g) =
        parse_from(["coffer", "vault", "lock-status", "s3://b/p", "--vault", "w"]).unwrap();
    assert_eq!(g.vault.as_deref(), Some("w"));
}

#[test]
fn global_options_go_anywhere() {
    let (_, g) = parse_from(["coffer", "--json", "serve"]).unwrap();
    assert!(g.json);
    let (_, g) = parse_from(["coffer", "key", "list", "--quiet"]).unwrap();
    assert!(g.quiet);
}

#[test]
fn options_of_other_commands_are_refused_after_the_verb() {
    for args in [
        &["coffer", "serve", "--vault", "v"][..],
        &["coffer", "token", "list", "--key-file", "k"][..],
        &["coffer", "ls", "latest", "--config", "c"][..],
    ] {
        assert!(parse_from(args).is_err(), "{args:?}");
    }
}
