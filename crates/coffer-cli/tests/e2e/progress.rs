//! Issue 16, the first hour of an operator: the progress line of backups
//! and restores, drawn in a real pseudo-terminal (streams included: it
//! used to stay at `0 B` for every stream source), one summary line per
//! snapshot, SIGINT during a backup, and the small output fixes (plurals,
//! the snapshots table, `ls --json` as one document, `--to-file
//! /dev/null`, directories counted alike by backup and restore).
//!
//! The progress tests feed their data slowly (a pipe written a piece at a
//! time, a command that sleeps, a FIFO read a piece at a time, an S3
//! proxy that passes responses on slowly), so that the line is drawn
//! several times whatever the machine's speed.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use unicode_width::UnicodeWidthStr;

/// What a command wrote on its terminal (standard output and error both
/// go to the pseudo-terminal), and its exit code.
struct Screen {
    code: Option<i32>,
    text: String,
}

impl Screen {
    /// The lines as drawn: split at carriage returns and newlines, with
    /// the terminal's escape sequences taken out.
    fn lines(&self) -> Vec<String> {
        self.text
            .split(['\r', '\n'])
            .map(strip_escapes)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The progress lines that contain `what`, in the order drawn, without
    /// their spinner.
    fn progress(&self, what: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains(what) && l.ends_with('s') && l.contains("/s, "))
            .map(|l| {
                l.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
                    .to_string()
            })
            .collect()
    }
}

/// `s` without ANSI escape sequences (`ESC [ … letter`, `ESC letter`).
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// Runs `cmd` with its standard output and error on a new pseudo-terminal
/// (250 columns), its standard input a pipe that `feed` writes (and then
/// closes); `during` runs meanwhile with the child's pid.
fn on_terminal(
    mut cmd: Command,
    feed: impl FnOnce(std::process::ChildStdin) + Send + 'static,
    during: impl FnOnce(u32),
) -> Screen {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 50,
        ws_col: 250,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: two out-pointers and a winsize, valid for the call.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two descriptors that we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().unwrap();
    // The parent's copies of the terminal's end go with `cmd`: once the
    // child exits, reading the master ends (EIO).
    drop(cmd);
    let mut reader = std::fs::File::from(master);
    let read = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    let stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || feed(stdin));
    during(child.id());
    let status = child.wait().unwrap();
    let _ = feeder.join();
    let text = String::from_utf8_lossy(&read.join().unwrap()).into_owned();
    Screen {
        code: status.code(),
        text,
    }
}

/// Writes `pieces` pieces of 64 KiB of noise, one every 100 ms.
fn slow_feed(pieces: u64) -> impl FnOnce(std::process::ChildStdin) + Send + 'static {
    move |mut stdin| {
        for i in 0..pieces {
            if stdin.write_all(&noise(1000 + i, 64 << 10)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The bytes of a count as the progress line prints it (`1.5 MiB`).
fn bytes_of(n: &str, unit: &str) -> u64 {
    let v: f64 = n.parse().unwrap();
    let m = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        u => panic!("unit {u}"),
    };
    (v * m) as u64
}

/// The count before `word` in `line` (`1.2 MiB read` → 1.2 MiB).
fn count_before(line: &str, word: &str) -> u64 {
    let at = line
        .find(word)
        .unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
    let before: Vec<&str> = line[..at].split_whitespace().collect();
    let n = before.len();
    bytes_of(before[n - 2].trim_start_matches('('), before[n - 1])
}

/// The progress lines show non-zero counts of `word` that grow: at least
/// two different values above zero, never going down.
fn assert_growing(lines: &[String], word: &str, screen: &Screen) {
    let counts: Vec<u64> = lines.iter().map(|l| count_before(l, word)).collect();
    let positive: Vec<u64> = counts.iter().copied().filter(|c| *c > 0).collect();
    assert!(
        positive.windows(2).any(|w| w[1] > w[0]),
        "the progress never showed growing {word:?} counts: {counts:?}\n{}",
        screen.lines().join("\n")
    );
    assert!(
        counts.windows(2).all(|w| w[1] >= w[0]),
        "{word:?} went down: {counts:?}"
    );
}

/// The lines of `screen` that are a backup's summary.
fn summaries(screen: &Screen) -> Vec<String> {
    screen
        .lines()
        .into_iter()
        .filter(|l| l.contains(" saved in ") || l.contains("dry run: nothing written"))
        .collect()
}

#[test]
fn issue16_a_stdin_backup_draws_growing_progress_and_one_summary_line() {
    let env = Env::new(Kind::Local, "progress-stdin");
    env.init();
    let mut cmd = env.cmd(&["backup", "--stdin", "--stdin-name", "slow.bin"]);
    cmd.env("TERM", "xterm");
    let screen = on_terminal(cmd, slow_feed(20), |_| {});
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    let lines = screen.progress("backing up slow.bin: ");
    assert!(lines.len() >= 2, "{}", screen.lines().join("\n"));
    for l in &lines {
        for part in ["read from standard input, ", " stored, ", "/s, "] {
            assert!(l.contains(part), "{part:?} missing in {l:?}");
        }
    }
    assert_growing(&lines, " read from standard input", &screen);
    let s = summaries(&screen);
    assert_eq!(s.len(), 1, "{}", screen.lines().join("\n"));
    assert!(
        s[0].starts_with("stdin slow.bin: read ") && s[0].contains(" MiB from standard input in "),
        "{}",
        s[0]
    );
    assert!(s[0].contains(" stored); snapshot "), "{}", s[0]);
    // Off a terminal: no progress, the same one line.
    let out = env.ok(&["backup", "--stdin", "--stdin-name", "quiet.bin"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(!out.contains("backing up"), "{out}");
}

#[test]
fn issue16_a_command_backup_draws_the_bytes_from_the_command() {
    let env = Env::new(Kind::Local, "progress-command");
    env.init();
    let mut cmd = env.cmd(&[
        "backup",
        "--command",
        "for i in $(seq 20); do head -c 65536 /dev/urandom; sleep 0.1; done",
        "--name",
        "slow.out",
    ]);
    cmd.env("TERM", "xterm");
    let screen = on_terminal(cmd, |_| {}, |_| {});
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    let lines = screen.progress("backing up command `for i");
    assert!(lines.len() >= 2, "{}", screen.lines().join("\n"));
    assert_growing(&lines, " read from the command", &screen);
    let s = summaries(&screen);
    assert_eq!(s.len(), 1, "{}", screen.lines().join("\n"));
    assert!(
        s[0].starts_with("command slow.out: read ") && s[0].contains(" MiB from the command in "),
        "{}",
        s[0]
    );
}

/// `coffer plan run` (the CronJob form) on a terminal draws each backup's
/// progress line too, then prints the job line.
#[test]
fn issue16_plan_run_draws_the_progress_of_its_backup() {
    let env = Env::new(Kind::Local, "progress-plan-run");
    env.init();
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"

[[vault]]
name = "main"
url = "{vault}"
key_file = "{key}"

[[source]]
name = "slowcmd"
kind = "command"
command = "for i in $(seq 20); do head -c 65536 /dev/urandom; sleep 0.1; done"
stream_name = "slow.out"

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["slowcmd"]
schedule = "@daily"
"#,
            state = env.path("state").display(),
            vault = env.vault,
            key = env.key.display(),
        ),
    )
    .unwrap();
    let mut cmd = env.cmd(&["plan", "run", "p/r"]);
    cmd.env("TERM", "xterm").env("COFFER_CONFIG", &config);
    let screen = on_terminal(cmd, |_| {}, |_| {});
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    let lines = screen.progress("backing up command `for i");
    assert!(lines.len() >= 2, "{}", screen.lines().join("\n"));
    assert_growing(&lines, " read from the command", &screen);
    let jobs: Vec<String> = screen
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("job ") && l.contains(" COMPLETED (p/r, source slowcmd)"))
        .collect();
    assert_eq!(jobs.len(), 1, "{}", screen.lines().join("\n"));
}

#[test]
fn issue16_a_stream_restore_draws_bytes_written_of_the_total() {
    let env = Env::new(Kind::Local, "progress-fifo");
    env.init();
    let data = noise(5, 1_500_000);
    let o = env
        .cmd(&["backup", "--stdin", "--stdin-name", "s.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&data)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // A FIFO read 32 KiB every 20 ms: the restore writes at that pace.
    let fifo = env.path("out.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (f2, g2) = (fifo.clone(), got.clone());
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(&f2).unwrap();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => g2.lock().unwrap().extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut cmd = env.cmd(&["restore", "latest", "--to-file", fifo.to_str().unwrap()]);
    cmd.env("TERM", "xterm");
    let screen = on_terminal(cmd, |_| {}, |_| {});
    reader.join().unwrap();
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    assert!(*got.lock().unwrap() == data, "the FIFO got other bytes");
    let lines = screen.progress(" written, ");
    assert!(lines.len() >= 2, "{}", screen.lines().join("\n"));
    for l in &lines {
        assert!(l.starts_with("restoring snapshot "), "{l}");
        assert!(l.contains(" of 1.4 MiB ("), "{l}");
    }
    assert_growing(&lines, " of 1.4 MiB", &screen);
    let done: Vec<String> = screen
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("restored snapshot "))
        .collect();
    assert_eq!(done.len(), 1, "{}", screen.lines().join("\n"));
    assert!(done[0].contains(": 1.4 MiB in "), "{}", done[0]);
}

/// A TCP proxy to `upstream` that passes each response on 64 KiB at a
/// time, one piece every 20 ms (about 3 MiB/s per connection); requests go
/// through as they come.
struct SlowProxy {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn slow_proxy(upstream: String) -> SlowProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if s2.load(Ordering::SeqCst) {
                return;
            }
            let Ok(client) = conn else { continue };
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let Ok(up) = TcpStream::connect(&upstream) else {
                    return;
                };
                let (mut c2, mut u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                let requests = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(Shutdown::Write);
                });
                let (mut up, mut client) = (up, client);
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match up.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if client.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = client.shutdown(Shutdown::Write);
                let _ = requests.join();
            });
        }
    });
    SlowProxy { port, stop }
}

#[test]
fn issue16_a_files_restore_draws_bytes_and_files_written() {
    let env = Env::new(Kind::S3, "progress-restore");
    env.init();
    let src = env.path("src");
    // Two packs, read 4 MiB at a time: the bytes written grow in steps.
    for i in 0..12u64 {
        write(
            &src.join(format!("d{}/f{i}", i % 2)),
            &noise(40 + i, 1_000_000),
        );
    }
    env.backup(&[&src]);
    let upstream = std::env::var("AWS_ENDPOINT_URL")
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let proxy = slow_proxy(upstream);
    let target = env.path("restored");
    let mut cmd = env.cmd(&["restore", "latest", "--target", target.to_str().unwrap()]);
    cmd.env("TERM", "xterm").env(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", proxy.port),
    );
    let screen = on_terminal(cmd, |_| {}, |_| {});
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    let lines = screen.progress(" written, ");
    assert!(lines.len() >= 2, "{}", screen.lines().join("\n"));
    for l in &lines {
        assert!(l.starts_with("restoring snapshot "), "{l}");
        assert!(l.contains(&format!("into {}: ", target.display())), "{l}");
        assert!(l.contains(" of 11.4 MiB ("), "{l}");
        assert!(l.contains(" of 12 files, "), "{l}");
    }
    assert_growing(&lines, " of 11.4 MiB", &screen);
    let done: Vec<String> = screen
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("restored snapshot "))
        .collect();
    assert_eq!(done.len(), 1, "{}", screen.lines().join("\n"));
    assert!(done[0].contains(": 12 files, "), "{}", done[0]);
    assert_same_tree(&src, &target.join(src.strip_prefix("/").unwrap()));
}

#[test]
fn issue16_sigint_during_a_backup_says_no_snapshot_was_written() {
    let env = Env::new(Kind::Local, "progress-sigint");
    env.init();
    let mut child = env
        .cmd(&["backup", "--stdin", "--stdin-name", "cut.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Some data, then a producer that is still at work.
    stdin.write_all(&noise(9, 3 << 20)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "interrupted; no snapshot written; `coffer prune` removes the partial data"
    );
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(env.json(&["snapshots"]), serde_json::json!([]));
    // What it left (if anything) passes check, and prune removes it.
    env.ok(&["prune"]);
    env.ok(&["check"]);
}

#[test]
fn issue16_sigint_during_a_restore_says_what_is_left() {
    let env = Env::new(Kind::Local, "progress-sigint-restore");
    env.init();
    let o = env
        .cmd(&["backup", "--stdin", "--stdin-name", "s.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&noise(3, 2 << 20))?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success());
    // A restore into a command that reads nothing: it waits, and is stopped.
    let child = env
        .cmd(&[
            "restore",
            "latest",
            "--restore-command",
            "exec sleep 10 >/dev/null 2>/dev/null",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("interrupted; the restore of snapshot ")
            && stderr(&o).contains(" is incomplete: the restore command read part of it"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn issue16_plurals_the_snapshots_table_and_ls_json() {
    let env = Env::new(Kind::Local, "progress-output");
    env.init();
    let src = env.path("src");
    write(&src.join("a/b/one.txt"), b"one");
    write(&src.join("two.txt"), b"two");
    let out = env.ok(&["backup", src.to_str().unwrap()]);
    // One summary line: every directory of the snapshot counted, as the
    // restore counts them.
    assert_eq!(out.lines().count(), 1, "{out}");
    let dirs = |line: &str| -> u64 {
        let at = line.find(" directories").expect("a directory count");
        line[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    let backed_up = dirs(&out);
    let target = env.path("r");
    let restored = env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_eq!(backed_up, dirs(&restored), "{out}\n{restored}");
    // src's parents and src, a, b.
    let depth = src.components().count() as u64 - 1;
    assert_eq!(backed_up, depth + 2, "{out}");
    assert!(
        out.contains("2 files (2 new, 0 changed, 0 unmodified)"),
        "{out}"
    );
    assert!(restored.contains(": 2 files, "), "{restored}");

    let list = env.ok(&["snapshots"]);
    assert!(list.ends_with("\n1 snapshot\n"), "{list}");
    let check = env.ok(&["check"]);
    assert!(check.starts_with("checked 1 snapshot, "), "{check}");

    // Columns line up by their widest value, wide characters included.
    env.ok(&[
        "backup",
        src.to_str().unwrap(),
        "--host",
        "日本語のホスト",
        "--tag",
        "ü,x",
    ]);
    env.ok(&[
        "backup",
        src.to_str().unwrap(),
        "--host",
        "a-much-longer-host-name.example",
    ]);
    let list = env.ok(&["snapshots"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 5, "{list}");
    assert_eq!(lines[4], "3 snapshots");
    // The display column where `cell` starts in `line`.
    let column = |line: &str, cell: &str| -> usize {
        let at = line
            .find(cell)
            .unwrap_or_else(|| panic!("no {cell:?} in {line:?}"));
        line[..at].width()
    };
    let rows: Vec<(&str, &str)> = lines[1..4]
        .iter()
        .map(|l| {
            let host = ["日本語のホスト", "a-much-longer-host-name.example"]
                .into_iter()
                .find(|h| l.contains(h))
                .unwrap_or_else(|| l.split_whitespace().nth(4).unwrap());
            (*l, host)
        })
        .collect();
    let host_col = column(lines[0], "host");
    let paths_col = column(lines[0], "paths");
    for (l, host) in &rows {
        assert_eq!(column(l, host), host_col, "host column:\n{list}");
        assert_eq!(
            column(l, src.to_str().unwrap()),
            paths_col,
            "paths column:\n{list}"
        );
    }
    let tagged = rows.iter().find(|(l, _)| l.contains("ü,x")).unwrap().0;
    assert_eq!(column(tagged, "ü,x"), column(lines[0], "tags"), "{list}");

    // ls --json: one document, an array of the entries.
    let o = env.run(&["--json", "ls", "latest"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let entries = v.as_array().expect("an array");
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let one = format!("{}/a/b/one.txt", src.display());
    assert!(paths.contains(&one.as_str()), "{paths:?}");
    assert_eq!(
        entries.len(),
        env.ok(&["ls", "latest"]).lines().count(),
        "{v}"
    );
}

#[test]
fn issue16_a_stream_restores_to_dev_null_but_not_over_a_file_or_through_a_symlink() {
    let env = Env::new(Kind::Local, "progress-devnull");
    env.init();
    let o = env
        .cmd(&["backup", "--stdin", "--stdin-name", "s.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"some bytes")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success());
    let out = env.ok(&["restore", "latest", "--to-file", "/dev/null"]);
    assert!(out.contains("into /dev/null: 10 B in "), "{out}");
    // An existing file is not overwritten, and a symlink (even to
    // /dev/null) is not followed.
    let file = env.path("exists.bin");
    write(&file, b"keep me");
    let link = env.path("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    for p in [&file, &link] {
        let o = env.run(&["restore", "latest", "--to-file", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{} already exists", p.display())),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::Path::new("/dev/null")
    );
}
