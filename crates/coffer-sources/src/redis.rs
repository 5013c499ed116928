//! Redis: an RDB snapshot taken over the network with the replication
//! protocol, as `redis-cli --rdb` does. The server forks and streams its
//! data set to us as if we were a replica, so this works without access to
//! the server's disk and with persistence (`save`, `appendonly`) off.
//!
//! The handshake: `AUTH` (when the URL has a password), `INFO server` (for
//! the version), `CONFIG GET repl-diskless-sync*` (see below), `REPLCONF
//! capa eof` (we understand diskless transfers),
//! `REPLCONF rdb-only 1` (Redis 7+: send the RDB and nothing after it), then
//! `PSYNC ? -1`, answered by `+FULLRESYNC <replid> <offset>`. The payload
//! comes as `$<len>\r\n<len bytes>` (disk-based) or `$EOF:<40-byte mark>\r\n`
//! followed by the data and the mark again (diskless). Before it, the
//! server may send bare `\n` keep-alives while it prepares the data set.
//!
//! A server with `repl-diskless-sync yes` (Redis 7's default) starts a
//! diskless transfer only `repl-diskless-sync-delay` seconds (5 by
//! default) after a replica asks, so that replicas arriving meanwhile share
//! one fork; `redis-cli --rdb` waits the same. No request of a replica
//! shortens it: the server counts the seconds since the replica last spoke.
//! Declining diskless transfers (no `capa eof`) would start at once, but
//! makes the server write the whole RDB to its own disk first, which a
//! backup must not do unasked. So coffer reads the two settings and, when
//! the server will wait, says so through [`Progress::notices`] (the setting,
//! its value and how to avoid it: `repl-diskless-sync-delay 0` on the
//! server); it never changes the server's configuration. A server that
//! refuses `CONFIG` (an ACL) and then takes long to start is named with the
//! likely reason afterwards. The snapshot records the wait in its details.
//!
//! The RDB is checked for its `REDIS` magic and for the end-of-file opcode;
//! a transfer cut short is an error, so it never becomes a snapshot.
//! Restore writes `dump.rdb` into a directory; start `redis-server --dir DIR
//! --dbfilename dump.rdb` on it (the RDB holds every logical database).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_core::Archiver;

use crate::dburl::DbUrl;
use crate::error::{SourceError, SourceResult};
use crate::{stream, Progress, SourceOutput};

/// URL schemes accepted by `--redis`.
pub const SCHEMES: &[&str] = &["redis"];
/// The default port.
pub const DEFAULT_PORT: u16 = 6379;
/// Snapshot kind.
pub const KIND: &str = "redis";
/// The file name of the RDB in the snapshot and in a restore directory.
pub const RDB_NAME: &str = "dump.rdb";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence accepted from the server. While it forks and writes the
/// RDB it sends a keep-alive every second; a diskless transfer may wait
/// `repl-diskless-sync-delay` (5 s by default) before it starts.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// A connection to a Redis server that has authenticated.
pub struct Redis {
    url: DbUrl,
    conn: BufReader<TcpStream>,
    /// `redis_version` from `INFO server`.
    pub server_version: String,
}

impl Redis {
    /// Connects, authenticates and reads the server's version.
    pub fn connect(url: &DbUrl) -> SourceResult<Self> {
        let target = url.host_port();
        let connect_err = |detail: String| SourceError::Connect {
            target: format!("Redis at {}", url.describe(None)),
            detail,
        };
        let addrs: Vec<_> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve {}: {e}", url.host)))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            connect_err(match last {
                Some(e) => e.to_string(),
                None => format!("{} resolves to no address", url.host),
            })
        })?;
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .and_then(|_| stream.set_write_timeout(Some(READ_TIMEOUT)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(|e| SourceError::io(format!("socket to {target}"), e))?;
        let mut r = Redis {
            url: url.clone(),
            conn: BufReader::with_capacity(256 * 1024, stream),
            server_version: String::new(),
        };
        if let Some(pw) = url.password.clone() {
            let mut args = vec!["AUTH".to_string()];
            if let Some(u) = &url.user {
                args.push(u.clone());
            }
            args.push(pw);
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Reply::Error(e) = r.call(&a)? {
                return Err(connect_err(format!(
                    "authentication failed: {}",
                    url.scrub(&e)
                )));
            }
        }
        let info = match r.call(&["INFO", "server"])? {
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            Reply::Error(e) => return Err(connect_err(url.scrub(&e))),
            other => {
                return Err(r.protocol(format!("unexpected answer to INFO: {other:?}")));
            }
        };
        r.server_version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        Ok(r)
    }

    fn protocol(&self, detail: String) -> SourceError {
        SourceError::Protocol {
            target: format!("Redis at {}", self.url.host_port()),
            detail,
        }
    }

    fn io(&self, e: std::io::Error) -> SourceError {
        SourceError::io(
            format!("connection to Redis at {}", self.url.host_port()),
            e,
        )
    }

    fn send(&mut self, args: &[&str]) -> SourceResult<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.conn.get_mut().write_all(&out).map_err(|e| self.io(e))
    }

    fn line(&mut self) -> SourceResult<String> {
        let mut buf = Vec::new();
        let n = self
            .conn
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(self.protocol("the server closed the connection".into()));
        }
        Ok(String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string())
    }

    fn call(&mut self, args: &[&str]) -> SourceResult<Reply> {
        self.send(args)?;
        let l = self.line()?;
        let (t, rest) = l.split_at(l.len().min(1));
        Ok(match t {
            "+" | ":" => Reply::Ok,
            "-" => Reply::Error(rest.to_string()),
            "$" => {
                let n: i64 = rest
                    .parse()
                    .map_err(|_| self.protocol(format!("bad bulk length {rest:?}")))?;
                if n < 0 {
                    Reply::Nil
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.conn.read_exact(&mut b).map_err(|e| self.io(e))?;
                    b.truncate(n as usize);
                    Reply::Bulk(b)
                }
            }
            _ => return Err(self.protocol(format!("unexpected reply {l:?}"))),
        })
    }

    /// Sends one command whose answer is a line (`+OK`, `:42`) and returns
    /// its text (`OK`, `42`); an error answer is an error naming the server.
    /// What a restore test asks a restored server (`DBSIZE`, `EXISTS key`).
    pub fn query(&mut self, args: &[&str]) -> SourceResult<String> {
        self.send(args)?;
        let l = self.line()?;
        match l.split_at(l.len().min(1)) {
            ("+" | ":", rest) => Ok(rest.to_string()),
            ("-", rest) => Err(self.protocol(format!("{} answered: {rest}", args[0]))),
            _ => Err(self.protocol(format!("unexpected answer to {}: {l:?}", args[0]))),
        }
    }

    /// Reads one bulk string (`$<len>\r\n<bytes>\r\n`) of at most 1 MiB.
    fn bulk(&mut self) -> SourceResult<Option<String>> {
        let l = self.line()?;
        let n: i64 = l
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .filter(|n| *n <= 1 << 20)
            .ok_or_else(|| self.protocol(format!("expected a bulk string, got {l:?}")))?;
        if n < 0 {
            return Ok(None);
        }
        let mut b = vec![0u8; n as usize + 2];
        self.conn.read_exact(&mut b).map_err(|e| self.io(e))?;
        b.truncate(n as usize);
        Ok(Some(String::from_utf8_lossy(&b).into_owned()))
    }

    /// When the server starts a diskless transfer to a new replica, from
    /// `CONFIG GET repl-diskless-sync*`; `Err` with the server's answer when
    /// it does not say (CONFIG refused by an ACL, or renamed).
    fn transfer_start(&mut self) -> SourceResult<Result<TransferStart, String>> {
        self.send(&["CONFIG", "GET", "repl-diskless-sync*"])?;
        let l = self.line()?;
        if let Some(e) = l.strip_prefix('-') {
            return Ok(Err(self.url.scrub(e)));
        }
        let n: usize = l
            .strip_prefix('*')
            .and_then(|n| n.parse().ok())
            .filter(|n| *n <= 64)
            .ok_or_else(|| self.protocol(format!("unexpected answer to CONFIG GET: {l:?}")))?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.bulk()?.unwrap_or_default());
        }
        Ok(Ok(TransferStart::from_config(&items)))
    }

    /// Takes an RDB snapshot of the server and streams it into the vault as
    /// `dump.rdb`; a wait the server imposes first is said through
    /// `progress.notices` (see the module doc).
    pub fn backup(
        mut self,
        archiver: &Archiver,
        progress: &Progress,
    ) -> SourceResult<SourceOutput> {
        let start = self.transfer_start()?;
        let at = self.url.host_port();
        if let Ok(TransferStart::After(delay)) = &start {
            progress.notices.say(&format!(
                "Redis at {at} starts a diskless transfer {delay} s after a replica asks \
                 (repl-diskless-sync yes, repl-diskless-sync-delay {delay}), so that other replicas \
                 can share it: coffer waits. To start at once, set repl-diskless-sync-delay 0 on \
                 the server (CONFIG SET repl-diskless-sync-delay 0, and in redis.conf); coffer \
                 does not change the server's configuration"
            ));
        }
        // Both are optional: old servers answer errors and use the disk-based
        // transfer, which the reader below handles as well.
        let _ = self.call(&["REPLCONF", "capa", "eof"])?;
        let _ = self.call(&["REPLCONF", "rdb-only", "1"])?;
        let asked = Instant::now();
        self.send(&["PSYNC", "?", "-1"])?;
        // The server may send keep-alive newlines before its answer, too.
        let first = loop {
            let l = self.line()?;
            if !l.is_empty() {
                break l;
            }
        };
        let (replid, offset) = match first.strip_prefix("+FULLRESYNC ") {
            Some(rest) => {
                let mut it = rest.split_whitespace();
                (
                    it.next().unwrap_or("").to_string(),
                    it.next().unwrap_or("").to_string(),
                )
            }
            None if first.starts_with('-') => {
                return Err(SourceError::Connect {
                    target: format!("Redis at {}", self.url.describe(None)),
                    detail: format!(
                        "the server refused to send a snapshot: {} (the user needs the SYNC/PSYNC and REPLCONF commands)",
                        self.url.scrub(&first[1..])
                    ),
                })
            }
            None => return Err(self.protocol(format!("unexpected answer to PSYNC: {first:?}"))),
        };
        // Skip keep-alives up to the payload's header.
        let header = loop {
            let l = self.line()?;
            if !l.is_empty() {
                break l;
            }
        };
        let waited = asked.elapsed();
        if let Err(why) = &start {
            if waited >= Duration::from_secs(2) {
                progress.notices.say(&format!(
                    "Redis at {at} took {:.1} s to start sending the RDB; a server with \
                     repl-diskless-sync yes waits repl-diskless-sync-delay seconds (5 by default) \
                     first, which coffer could not read (CONFIG GET: {why}): set it to 0 on the \
                     server to start at once",
                    waited.as_secs_f64()
                ));
            }
        }
        let target = self.url.host_port();
        let check = Arc::new(Mutex::new(RdbCheck::default()));
        let content = {
            let body: Box<dyn Read + '_> = if let Some(mark) = header.strip_prefix("$EOF:") {
                if mark.len() != 40 {
                    return Err(self.protocol(format!("bad end-of-file mark in {header:?}")));
                }
                Box::new(EofMarked {
                    inner: &mut self.conn,
                    mark: mark.as_bytes().to_vec(),
                    held: Vec::new(),
                    out: Vec::new(),
                    out_pos: 0,
                    done: false,
                })
            } else if let Some(len) = header.strip_prefix('$') {
                let len: u64 = len
                    .parse()
                    .map_err(|_| self.protocol(format!("bad payload header {header:?}")))?;
                Box::new(Exact {
                    inner: (&mut self.conn).take(len),
                    left: len,
                })
            } else {
                return Err(self.protocol(format!("unexpected payload header {header:?}")));
            };
            let checked = Checked {
                inner: body,
                check: check.clone(),
            };
            archiver
                .save_stream(checked, Path::new(RDB_NAME))
                .map_err(|e| match e {
                    coffer_core::Error::Io { source, .. } => {
                        SourceError::io(format!("receiving the RDB from Redis at {target}"), source)
                    }
                    other => other.into(),
                })?
        };
        let check = check.lock().unwrap().clone();
        check.verify().map_err(|d| self.protocol(d.0))?;
        let mut d = BTreeMap::new();
        d.insert("host".into(), self.url.host.clone());
        d.insert("port".into(), self.url.port.to_string());
        if let Some(u) = &self.url.user {
            d.insert("user".into(), u.clone());
        }
        d.insert("server_version".into(), self.server_version.clone());
        d.insert("rdb_version".into(), check.version.clone());
        d.insert("replication_id".into(), replid);
        d.insert("replication_offset".into(), offset);
        d.insert(
            "transfer_wait_seconds".into(),
            format!("{:.1}", waited.as_secs_f64()),
        );
        d.insert(
            "transfer_start".into(),
            match &start {
                Ok(TransferStart::Now) => "at once".into(),
                Ok(TransferStart::After(s)) => format!("after repl-diskless-sync-delay {s}"),
                Err(_) => "unknown (CONFIG GET refused)".into(),
            },
        );
        d.insert(
            "transfer".into(),
            if header.starts_with("$EOF:") {
                "diskless"
            } else {
                "disk"
            }
            .into(),
        );
        d.insert(
            "restore_needs".into(),
            format!(
                "redis-server {} or newer (RDB version {}) started with --dir on the restored directory and --dbfilename {RDB_NAME}",
                self.server_version, check.version
            ),
        );
        let mut out = stream::one_file(archiver, content, RDB_NAME, KIND, d)?;
        out.paths = vec![self.url.location(None)];
        Ok(out)
    }
}

/// When a server starts a diskless transfer to a replica that asks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferStart {
    /// At once (diskless sync off, no delay, or one replica is enough).
    Now,
    /// After this many seconds (`repl-diskless-sync-delay`).
    After(u64),
}

impl TransferStart {
    /// From the name/value pairs of `CONFIG GET repl-diskless-sync*`.
    fn from_config(items: &[String]) -> TransferStart {
        let get = |k: &str| {
            items
                .chunks(2)
                .find(|p| p.len() == 2 && p[0] == k)
                .map(|p| p[1].as_str())
        };
        let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let diskless = get("repl-diskless-sync") == Some("yes");
        let delay = num("repl-diskless-sync-delay");
        // Redis 7: with max-replicas 1, the first replica starts it.
        let enough = num("repl-diskless-sync-max-replicas") == 1;
        if diskless && delay > 0 && !enough {
            TransferStart::After(delay)
        } else {
            TransferStart::Now
        }
    }
}

#[derive(Debug)]
enum Reply {
    /// A status or integer reply.
    Ok,
    Error(String),
    Bulk(Vec<u8>),
    Nil,
}

/// A length-prefixed payload: an early end is an error.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the server closed the connection {} bytes before the end of the RDB",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A diskless payload that ends with a 40-byte mark: the last 40 bytes
/// read are held back until more data shows they are not the mark.
struct EofMarked<R> {
    inner: R,
    mark: Vec<u8>,
    held: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<R: Read> Read for EofMarked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            let mut chunk = vec![0u8; 256 * 1024];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before the end of the RDB",
                ));
            }
            self.held.extend_from_slice(&chunk[..n]);
            let m = self.mark.len();
            if self.held.len() >= m && self.held[self.held.len() - m..] == self.mark[..] {
                self.held.truncate(self.held.len() - m);
                self.done = true;
                self.out = std::mem::take(&mut self.held);
            } else {
                let keep = self.held.len().min(m);
                let rest = self.held.split_off(self.held.len() - keep);
                self.out = std::mem::replace(&mut self.held, rest);
            }
            self.out_pos = 0;
        }
    }
}

/// What the stream showed of the RDB: its header and its last bytes.
#[derive(Debug, Default, Clone)]
struct RdbCheck {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: u64,
    version: String,
}

/// Why a payload is not a sound RDB file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadRdb(String);

impl RdbCheck {
    fn verify(&self) -> Result<(), BadRdb> {
        if self.head.len() < 9 || &self.head[..5] != b"REDIS" {
            return Err(BadRdb(format!(
                "the payload ({} bytes) is not an RDB file: it does not start with REDIS",
                self.len
            )));
        }
        // The file ends with the EOF opcode 0xFF and an 8-byte checksum.
        if self.tail.len() < 9 || self.tail[self.tail.len() - 9] != 0xFF {
            return Err(BadRdb(format!(
                "the RDB ({} bytes) lacks its end-of-file marker: the transfer was cut short",
                self.len
            )));
        }
        Ok(())
    }
}

struct Checked<R> {
    inner: R,
    check: Arc<Mutex<RdbCheck>>,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut c = self.check.lock().unwrap();
        if c.head.len() < 9 {
            let take = (9 - c.head.len()).min(n);
            c.head.extend_from_slice(&buf[..take]);
            if c.head.len() == 9 {
                c.version = String::from_utf8_lossy(&c.head[5..9])
                    .trim_start_matches('0')
                    .to_string();
            }
        }
        c.tail.extend_from_slice(&buf[..n]);
        if c.tail.len() > 64 {
            let cut = c.tail.len() - 16;
            c.tail.drain(..cut);
        }
        c.len += n as u64;
        Ok(n)
    }
}

/// Writes the RDB stream into `dir/dump.rdb` (the directory is created;
/// an existing `dump.rdb` is not overwritten). Returns the file's path.
pub fn restore_to_dir<R: Read>(mut reader: R, dir: &Path) -> SourceResult<std::path::PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| SourceError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(RDB_NAME);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            SourceError::io(format!("{} (choose an empty directory)", path.display()), e)
        })?;
    std::io::copy(&mut reader, &mut f)
        .and_then(|_| f.sync_all())
        .map_err(|e| SourceError::io(format!("writing {}", path.display()), e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all<R: Read>(mut r: R) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v)?;
        Ok(v)
    }

    /// Hands out data in small pieces, to split the mark across reads.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn eof_marked_payload() {
        let mark = b"0123456789012345678901234567890123456789".to_vec();
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = data.clone();
        wire.extend_from_slice(&mark);
        let r = EofMarked {
            inner: Trickle(wire, 0),
            mark: mark.clone(),
            held: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            done: false,
        };
        assert_eq!(read_all(r).unwrap(), data);
        // Cut short: an error, never a short stream.
        let r = EofMarked {
            inner: Trickle(data.clone(), 0),
            mark,
            held: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            done: false,
        };
        assert!(read_all(r).is_err());
        let r = Exact {
            inner: &data[..500],
            left: 1000,
        };
        assert!(read_all(r).is_err());
    }

    #[test]
    fn issue16_the_transfer_start_follows_the_diskless_settings() {
        let cfg = |pairs: &[&str]| {
            TransferStart::from_config(&pairs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        let redis7 = [
            "repl-diskless-sync-max-replicas",
            "0",
            "repl-diskless-sync-delay",
            "5",
            "repl-diskless-sync",
            "yes",
        ];
        assert_eq!(cfg(&redis7), TransferStart::After(5));
        let mut one = redis7;
        one[1] = "1";
        assert_eq!(cfg(&one), TransferStart::Now);
        assert_eq!(
            cfg(&["repl-diskless-sync", "no", "repl-diskless-sync-delay", "5"]),
            TransferStart::Now
        );
        assert_eq!(
            cfg(&["repl-diskless-sync", "yes", "repl-diskless-sync-delay", "0"]),
            TransferStart::Now
        );
        assert_eq!(cfg(&[]), TransferStart::Now);
    }

    #[test]
    fn rdb_check() {
        let mut c = RdbCheck::default();
        let mut rdb = b"REDIS0010".to_vec();
        rdb.extend_from_slice(b"payload");
        rdb.push(0xFF);
        rdb.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let check = Arc::new(Mutex::new(RdbCheck::default()));
        read_all(Checked {
            inner: &rdb[..],
            check: check.clone(),
        })
        .unwrap();
        c.clone_from(&check.lock().unwrap());
        assert_eq!(c.version, "10");
        c.verify().unwrap();
        let check = Arc::new(Mutex::new(RdbCheck::default()));
        read_all(Checked {
            inner: &rdb[..rdb.len() - 3],
            check: check.clone(),
        })
        .unwrap();
        assert!(check.lock().unwrap().verify().is_err());
    }
}
