//! The one connection a backup by files holds from `pg_backup_start` to
//! `pg_backup_stop`.
//!
//! PostgreSQL's non-exclusive low-level backup belongs to the session that
//! started it: when that session ends before `pg_backup_stop`, the server
//! aborts the backup ("aborting backup due to backend exiting before
//! pg_backup_stop was called"). The session is a `psql` child reading SQL
//! from a pipe, so it honours every libpq setting of the URL (TLS, service
//! files) as the rest of coffer's PostgreSQL code does, and it ends with
//! coffer: dropping a [`Session`] kills psql, and if coffer itself is
//! killed, psql reads the end of its input and exits. Either way the server
//! aborts the backup; no snapshot is written, because the snapshot is
//! written only after a successful stop.
//!
//! Each statement is followed by `\echo` of a marker; its answer is the
//! lines before the marker. Answers are read on a thread, so that a stop
//! waiting for WAL archiving can time out.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::logical::{Postgres, MAINTENANCE_DB};
use crate::error::{SourceError, SourceResult};

/// `application_name` of the backup's session (what `pg_stat_activity` shows).
pub const APPLICATION_NAME: &str = "coffer pg backup";

/// A psql session (see the module documentation).
pub(crate) struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    marker: String,
    what: String,
    secret: Option<String>,
}

impl Session {
    /// Opens a session to the server of `pg` (its maintenance database).
    pub(crate) fn open(pg: &Postgres) -> SourceResult<Session> {
        let psql = pg.psql().to_path_buf();
        let mut c = pg.command(&psql);
        c.args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(pg.conninfo_as(MAINTENANCE_DB, APPLICATION_NAME))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("psql session on {}", pg.url().location(None));
        let mut child = c
            .spawn()
            .map_err(|e| SourceError::io(format!("starting {}", psql.display()), e))?;
        let stdout = child.stdout.take().expect("piped");
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap();
                if s.len() < 64 << 10 {
                    s.extend_from_slice(&buf[..n]);
                }
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let marker = format!("__coffer_end_{:016x}__", rand::random::<u64>());
        Ok(Session {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            marker,
            what,
            secret: pg.secret().map(str::to_string),
        })
    }

    /// Runs `sql` (one statement, no trailing `;`) and returns its output
    /// lines (unaligned, tuples only, columns split on `|`). `timeout`:
    /// how long to wait for the answer (`None`: as long as it takes).
    pub(crate) fn query(
        &mut self,
        sql: &str,
        timeout: Option<Duration>,
    ) -> SourceResult<Vec<String>> {
        let text = format!("{sql};\n\\echo {}\n", self.marker);
        let sent = match self.stdin.as_mut() {
            Some(w) => w.write_all(text.as_bytes()).and_then(|_| w.flush()),
            None => Err(std::io::Error::other("the session is closed")),
        };
        if sent.is_err() {
            return Err(self.failed(sql));
        }
        let mut out = Vec::new();
        loop {
            let line = match timeout {
                Some(t) => match self.lines.recv_timeout(t) {
                    Ok(l) => l,
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(SourceError::Process {
                            what: self.what.clone(),
                            status: format!("gave no answer within {} s", t.as_secs()),
                            detail: format!(" to `{}`", first_words(sql)),
                        })
                    }
                    Err(RecvTimeoutError::Disconnected) => return Err(self.failed(sql)),
                },
                None => match self.lines.recv() {
                    Ok(l) => l,
                    Err(_) => return Err(self.failed(sql)),
                },
            };
            if line == self.marker {
                return Ok(out);
            }
            out.push(line);
        }
    }

    /// The error of a session that ended: psql's message.
    fn failed(&mut self, sql: &str) -> SourceError {
        // psql exits after an error (ON_ERROR_STOP); give its stderr time
        // to arrive.
        let status = match self.child.wait() {
            Ok(s) => crate::process::describe_status(&s),
            Err(_) => "ended".to_string(),
        };
        std::thread::sleep(Duration::from_millis(50));
        let mut err = String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned();
        if let Some(s) = &self.secret {
            if !s.is_empty() {
                err = err.replace(s.as_str(), "***");
            }
        }
        let err = err.trim().replace('\n', " ");
        SourceError::Process {
            what: self.what.clone(),
            status,
            detail: format!(
                " in `{}`: {}",
                first_words(sql),
                if err.is_empty() {
                    "the session ended".to_string()
                } else {
                    err
                }
            ),
        }
    }
}

/// The start of a statement, for messages.
fn first_words(sql: &str) -> String {
    let s: String = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing psql's input ends the session; a kill makes sure a
        // session busy in a statement ends too. The server aborts a backup
        // still in progress.
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
