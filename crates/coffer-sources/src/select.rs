//! Which snapshot `latest` means for a restore: the one rule of `coffer
//! restore`, the HTTP API's restore and any other front end that restores
//! "the newest" into a destination.
//!
//! A vault holds snapshots of many sources: after `--all-databases` one a
//! database, beside Redis instances and file trees. The newest snapshot of
//! the vault is rarely the one a restore into `postgres://db/nc_shop`
//! means. So, for a destination that takes particular kinds ([`Wanted`]):
//!
//! 1. The candidates are the snapshots of a kind the destination restores
//!    (a dump for a database URL, globals for a server URL, an
//!    all-databases MySQL dump for a MySQL URL without a database …) that
//!    pass the `--host`, `--tag` and `--path` filters.
//! 2. If some of them come from the database the restore goes into (same
//!    database name, host and port; `localhost`, `127.0.0.1` and `::1` are
//!    one host), the newest of those.
//! 3. Else, if every candidate comes from one source (one database, server
//!    or set of paths, on one machine), the newest: a restore into a copy
//!    (`…/nc_shop_copy --create`) of the only database there is.
//! 4. Else the choice is ambiguous: a usage error lists the newest snapshot
//!    of each source (id, time, source without user or password, machine,
//!    tags) and says how to choose (`--path NAME`, `--tag source:NAME`,
//!    `--host`, or an id).
//!
//! An explicit snapshot id is never second-guessed: [`find`] hands it to
//! [`Vault::find_snapshot`] as it is (a wrong kind is refused by the
//! restore, naming the kind). A destination that takes any kind (a
//! directory, a file, a command) gets the newest snapshot passing the
//! filters, as `latest` has always meant.

use coffer_core::{Error, Id, Snapshot, SnapshotFilter, Vault};

use crate::dburl::DbUrl;
use crate::restore::Destination;
use crate::{mysql, postgres, SourceError, SourceResult};

/// What a restore's destination takes, for choosing `latest`: the snapshot
/// kinds it restores and, for a database destination, the database it goes
/// into.
#[derive(Debug, Clone)]
pub struct Wanted {
    kinds: Vec<String>,
    into: Option<Place>,
    /// The destination as messages name it (`--postgres postgres://db:5432/x`).
    what: String,
    /// The last sentence of an ambiguity error: how to choose.
    how: String,
}

/// Where a database snapshot came from, or where a restore goes: a server
/// and, for one database, its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    host: String,
    port: u16,
    /// `None`: the whole server (globals, an all-databases dump, Redis).
    database: Option<String>,
}

impl Place {
    fn of_url(url: &DbUrl) -> Place {
        Place {
            host: same_host(&url.host),
            port: url.port,
            database: url.database.clone(),
        }
    }

    /// From a snapshot's `host`, `port` and `database` details (what every
    /// database source records); `None` for a snapshot without them.
    fn of_snapshot(s: &Snapshot) -> Option<Place> {
        let d = &s.source.details;
        Some(Place {
            host: same_host(d.get("host")?),
            port: d.get("port")?.parse().ok()?,
            database: d.get("database").filter(|x| !x.is_empty()).cloned(),
        })
    }
}

/// Loopback names are one host: a dump of `localhost:5432/shop` is of the
/// database a restore into `127.0.0.1:5432/shop` means.
fn same_host(h: &str) -> String {
    let h = h.trim_start_matches('[').trim_end_matches(']');
    match h.to_ascii_lowercase().as_str() {
        "" | "localhost" | "127.0.0.1" | "::1" => "localhost".into(),
        other => other.to_string(),
    }
}

const HOW: &str = "choose one with --path NAME (a database's name or the source as listed, \
                   e.g. --path {example}), --tag source:NAME, --host HOST, or the snapshot's id";

impl Wanted {
    /// Snapshots of these kinds, from no particular place (`--pgdata`,
    /// `--redis-dir`, the API's files restore). `what` names the
    /// destination in messages.
    pub fn kinds(kinds: &[&str], what: impl Into<String>) -> Wanted {
        Wanted {
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            into: None,
            what: what.into(),
            how: HOW.into(),
        }
    }

    /// A restore with `--postgres url`: into a database, a dump (`postgres`);
    /// into a server (no database in the URL), its globals.
    pub fn postgres(url: &DbUrl) -> Wanted {
        let kind = match url.database {
            Some(_) => postgres::KIND,
            None => postgres::KIND_GLOBALS,
        };
        Wanted {
            into: Some(Place::of_url(url)),
            ..Wanted::kinds(
                &[kind],
                format!("--postgres {}", url.location(url.database.as_deref())),
            )
        }
    }

    /// A restore with `--mysql url`: into a database, a one-database dump;
    /// into a server, an all-databases dump.
    pub fn mysql(url: &DbUrl) -> Wanted {
        Wanted {
            into: Some(Place::of_url(url)),
            ..Wanted::kinds(
                &[mysql::KIND],
                format!("--mysql {}", url.location(url.database.as_deref())),
            )
        }
    }

    /// What `destination` takes; `None` for one that takes any kind (a
    /// directory, a file, a command).
    pub fn for_destination(destination: &Destination) -> Option<Wanted> {
        match destination {
            Destination::Postgres { url, .. } => Some(Wanted::postgres(url)),
            Destination::Mysql { url, .. } => Some(Wanted::mysql(url)),
            d => d.kinds().map(|(kinds, flag)| Wanted::kinds(kinds, flag)),
        }
    }

    /// The same, with `how` as the advice that ends an ambiguity error (a
    /// front end without the CLI's filters: "give a snapshot id").
    pub fn advising(mut self, how: impl Into<String>) -> Wanted {
        self.how = how.into();
        self
    }

    /// Whether `s` is a candidate: of a wanted kind, and for a MySQL
    /// destination of the same scope (one database, or all of them).
    fn accepts(&self, s: &Snapshot) -> bool {
        if !self.kinds.contains(&s.source.kind) {
            return false;
        }
        match (&self.into, s.source.kind.as_str()) {
            (Some(into), mysql::KIND) => {
                let one = Place::of_snapshot(s).is_some_and(|p| p.database.is_some());
                one == into.database.is_some()
            }
            _ => true,
        }
    }
}

/// The source a snapshot came from, for telling sources apart: the
/// machine, the kind, and the database place or else the paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Origin {
    machine: String,
    kind: String,
    place: Option<Place>,
    paths: Vec<String>,
}

impl Origin {
    fn of(s: &Snapshot) -> Origin {
        let place = Place::of_snapshot(s);
        Origin {
            machine: s.hostname.clone(),
            kind: s.source.kind.clone(),
            paths: if place.is_some() {
                Vec::new()
            } else {
                s.paths.clone()
            },
            place,
        }
    }
}

/// Resolves `name` for a restore into what `wanted` describes: `latest`
/// by the rule of this module; an id prefix (or `latest` for a destination
/// that takes any kind, `wanted` = `None`) by [`Vault::find_snapshot`].
pub fn find(
    vault: &Vault,
    name: &str,
    filter: &SnapshotFilter,
    wanted: Option<&Wanted>,
) -> SourceResult<(Id, Snapshot)> {
    match wanted {
        Some(w) if name == "latest" => latest(vault, filter, w),
        _ => Ok(vault.find_snapshot(name, filter)?),
    }
}

/// The snapshot `latest` means for a restore into what `wanted` describes
/// (see the module doc): a usage error when it is ambiguous, not found when
/// no snapshot of a wanted kind passes the filter.
pub fn latest(
    vault: &Vault,
    filter: &SnapshotFilter,
    wanted: &Wanted,
) -> SourceResult<(Id, Snapshot)> {
    let (good, bad) = vault.snapshots_lenient()?;
    let candidates: Vec<(Id, Snapshot)> = good
        .into_iter()
        .filter(|(_, s)| filter.matches(s) && wanted.accepts(s))
        .collect();
    if candidates.is_empty() {
        let unread = match bad.first() {
            None => String::new(),
            Some(e) => format!(
                "; {} snapshot(s) could not be read and may match (the first: {e})",
                bad.len()
            ),
        };
        return Err(Error::NotFound {
            what: format!(
                "a {} snapshot for {} in {}",
                wanted.kinds.join(" or "),
                wanted.what,
                vault.backend().location()
            ),
            hint: format!(" matching the filter{unread}: list them with `coffer snapshots`"),
        }
        .into());
    }
    let i = choose(&candidates, wanted)?;
    Ok(candidates.into_iter().nth(i).expect("chosen among them"))
}

/// Steps 2 to 4 of the rule over `candidates` (oldest first, as the vault
/// lists them): the index of the chosen one, or the ambiguity error.
fn choose(candidates: &[(Id, Snapshot)], wanted: &Wanted) -> SourceResult<usize> {
    let all: Vec<usize> = (0..candidates.len()).collect();
    let same_place: Vec<usize> = match &wanted.into {
        Some(into) => all
            .iter()
            .copied()
            .filter(|&i| Place::of_snapshot(&candidates[i].1).as_ref() == Some(into))
            .collect(),
        None => Vec::new(),
    };
    let at_place = !same_place.is_empty();
    let (pool, why) = if !at_place {
        let why = match &wanted.into {
            Some(into) => format!(
                "none of the vault's {} snapshots is of {} itself, and they come from",
                wanted.kinds.join(" or "),
                into.database.as_deref().unwrap_or("that server")
            ),
            None => format!(
                "the vault's {} snapshots come from",
                wanted.kinds.join(" or ")
            ),
        };
        (all, why)
    } else {
        (same_place, "its snapshots come from".to_string())
    };
    let mut newest: std::collections::BTreeMap<Origin, usize> = Default::default();
    for &i in &pool {
        // Oldest first: the last one of each origin is its newest.
        newest.insert(Origin::of(&candidates[i].1), i);
    }
    if newest.len() == 1 {
        return Ok(*pool.last().expect("not empty"));
    }
    let mut listed: Vec<usize> = newest.into_values().collect();
    listed.sort_by(|a, b| b.cmp(a));
    let lines: Vec<String> = listed
        .iter()
        .map(|&i| describe(&candidates[i].0, &candidates[i].1))
        .collect();
    let machines: std::collections::BTreeSet<&str> = listed
        .iter()
        .map(|&i| candidates[i].1.hostname.as_str())
        .collect();
    let count = if at_place && machines.len() == listed.len() {
        format!("{} machines", machines.len())
    } else {
        format!("{} sources", listed.len())
    };
    // An example: the shortest --path that names the newest one.
    let s = &candidates[listed[0]].1;
    let example = s
        .source
        .details
        .get("database")
        .filter(|d| !d.is_empty())
        .or(s.paths.first())
        .cloned()
        .unwrap_or_default();
    let how = wanted.how.replace("{example}", &example);
    Err(SourceError::Usage(format!(
        "`latest` is ambiguous for {}: {why} {count}; the newest of each:\n{}\n{how}",
        wanted.what,
        lines.join("\n"),
    )))
}

/// One line of an ambiguity error: id, time, source (never a user or a
/// password: the paths a source records have none), machine, tags.
fn describe(id: &Id, s: &Snapshot) -> String {
    let time = s.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let tags = if s.tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags {}", s.tags.join(","))
    };
    format!(
        "  {}  {time}  {}  {}  host {}  {tags}",
        id.short(),
        s.source.kind,
        s.paths.join(" "),
        s.hostname
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::{BackupSummary, SourceInfo};

    fn snap(n: u8, machine: &str, kind: &str, host: &str, db: Option<&str>) -> (Id, Snapshot) {
        let mut details = std::collections::BTreeMap::new();
        details.insert("host".into(), host.into());
        details.insert("port".into(), "5432".into());
        if let Some(d) = db {
            details.insert("database".into(), d.into());
        }
        let path = match db {
            Some(d) => format!("postgres://{host}:5432/{d}"),
            None => format!("postgres://{host}:5432"),
        };
        (
            Id([n; 32]),
            Snapshot {
                version: 1,
                time: format!("2026-01-01T00:00:{n:02}Z"),
                tree: Id::default(),
                paths: vec![path],
                hostname: machine.into(),
                username: "u".into(),
                tags: db.map(|d| format!("source:{d}")).into_iter().collect(),
                parent: None,
                source: SourceInfo {
                    kind: kind.into(),
                    details,
                },
                program_version: "0".into(),
                summary: BackupSummary::default(),
                retain_until: None,
                origin: None,
                rewritten_from: None,
            },
        )
    }

    fn pg(url: &str) -> Wanted {
        Wanted::postgres(&DbUrl::parse(url, postgres::SCHEMES, 5432, "--postgres").unwrap())
    }

    fn pick(c: &[(Id, Snapshot)], w: &Wanted) -> SourceResult<u8> {
        let c: Vec<(Id, Snapshot)> = c.iter().filter(|(_, s)| w.accepts(s)).cloned().collect();
        choose(&c, w).map(|i| c[i].0 .0[0])
    }

    #[test]
    fn issue16_latest_is_the_newest_of_the_target_database_or_refused_when_ambiguous() {
        let c = vec![
            snap(1, "m", "postgres", "127.0.0.1", Some("nc_shop")),
            snap(2, "m", "postgres", "127.0.0.1", Some("test")),
            snap(3, "m", "postgres-globals", "127.0.0.1", None),
            snap(4, "m", "postgres", "localhost", Some("nc_shop")),
            snap(5, "m", "postgres", "127.0.0.1", Some("test")),
        ];
        // The target database itself: its newest (localhost is 127.0.0.1).
        assert_eq!(
            pick(&c, &pg("postgres://u:pw@127.0.0.1/nc_shop")).unwrap(),
            4
        );
        assert_eq!(pick(&c, &pg("postgres://localhost:5432/test")).unwrap(), 5);
        // A server URL: the globals.
        assert_eq!(pick(&c, &pg("postgres://127.0.0.1")).unwrap(), 3);
        // A copy, with two databases to copy from: refused, listing both.
        let e = pick(&c, &pg("postgres://u:Secr3t@127.0.0.1/nc_shop_copy")).unwrap_err();
        assert!(e.is_usage(), "{e}");
        let m = e.to_string();
        for want in [
            "postgres://127.0.0.1:5432/nc_shop_copy",
            "05050505",
            "04040404",
            "postgres://localhost:5432/nc_shop ",
            "postgres://127.0.0.1:5432/test ",
            "tags source:test",
            "e.g. --path test)",
            "--tag source:NAME",
        ] {
            assert!(m.contains(want), "{want:?} missing: {m}");
        }
        assert!(!m.contains("Secr3t") && !m.contains("01010101"), "{m}");
        // One database only: a copy of it.
        let one: Vec<_> = c
            .iter()
            .filter(|(_, s)| s.has_path("test"))
            .cloned()
            .collect();
        assert_eq!(
            pick(&one, &pg("postgres://127.0.0.1/test_copy")).unwrap(),
            5
        );
        // The same database from two machines: which one?
        let two = vec![
            snap(1, "a", "postgres", "localhost", Some("shop")),
            snap(2, "b", "postgres", "localhost", Some("shop")),
        ];
        let e = pick(&two, &pg("postgres://localhost/shop")).unwrap_err();
        assert!(e.to_string().contains("come from 2 machines"), "{e}");
        // Kinds without a place: one source or refused.
        let globals = Wanted::kinds(&["postgres-globals"], "--x");
        assert_eq!(pick(&c, &globals).unwrap(), 3);
    }
}
