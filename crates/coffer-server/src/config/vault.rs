//! `[[vault]]` entries: where a vault is, how it is unlocked (never the
//! secret itself), its tier, its lock and its capacity.

use super::secret::url_has_password;
use super::validate::{Validator, S};
use coffer_core::LockPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A vault the daemon writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// Its name in the file (rules refer to it).
    pub name: String,
    /// Storage location: a directory (made absolute) or `s3://bucket/prefix?…`.
    pub url: String,
    /// How to unlock it.
    pub key: KeySource,
    /// Its tier: hot (default; backups are written here), warm, cold or
    /// archive (snapshots move there by age through a rule's `tiers`).
    pub tier: Tier,
    /// The S3 storage class of its data packs (`STANDARD_IA`, `GLACIER_IR`,
    /// `DEEP_ARCHIVE`, …).
    pub storage_class: Option<String>,
    /// The vault lock: retention bounds every rule writing here must meet.
    pub lock: Option<LockPolicy>,
    /// The space the vault may use, in bytes (metrics and the
    /// storage-nearly-full alert); local vaults default to their file system's.
    pub capacity: Option<u64>,
    /// How long a connection to an S3 vault's endpoint may take
    /// (`connect_timeout = "5s"`); the storage layer's default (10 s) when
    /// `None`.
    pub connect_timeout: Option<std::time::Duration>,
    /// How a restore or restore test of a snapshot whose data packs are in
    /// an archive class (GLACIER, DEEP_ARCHIVE) thaws them: the tier
    /// (`thaw_tier`, default Standard).
    pub thaw_tier: coffer_core::ThawTier,
    /// Days the thawed copies stay readable (`thaw_days`, default 7).
    pub thaw_days: u32,
}

impl VaultConfig {
    /// The location the storage layer opens: `url`, with an S3 vault's
    /// `storage_class` and `connect_timeout` as its parameters. Every
    /// place that opens a configured vault opens this.
    pub fn storage_url(&self) -> String {
        let mut url = self.url.clone();
        if !url.starts_with("s3://") {
            return url;
        }
        let mut add = |kv: String| {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&kv);
        };
        if let Some(class) = &self.storage_class {
            add(format!("storage_class={class}"));
        }
        if let Some(t) = self.connect_timeout {
            add(format!("connect_timeout={}ms", t.as_millis()));
        }
        url
    }
}

/// Where a vault's secret comes from. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file.
    KeyFile(PathBuf),
    /// A file holding the password (one line).
    PasswordFile(PathBuf),
    /// An environment variable holding the password.
    PasswordEnv(String),
}

/// A vault's storage tier, in the order snapshots move through them (the
/// order `Ord` gives): a rule writes into a hot vault, and its `tiers`
/// chain moves snapshots into warm, cold and archive vaults as they age.
/// The tier says what the vault is for; its `storage_class` says what it
/// costs (e.g. warm STANDARD_IA, cold GLACIER_IR, archive DEEP_ARCHIVE).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Ordinary storage: backups are written here.
    #[default]
    Hot,
    /// Infrequent access: the first stop of older snapshots.
    Warm,
    /// Rare access (the older `cold_after_days` moves snapshots here).
    Cold,
    /// Long-term archive: the last stop.
    Archive,
}

impl Tier {
    /// Its name as written in `coffer.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
            Tier::Archive => "archive",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVault {
    pub(super) name: S<String>,
    url: S<String>,
    key_file: Option<S<PathBuf>>,
    password_file: Option<S<PathBuf>>,
    password_env: Option<S<String>>,
    /// Only to refuse it with a useful message.
    password: Option<S<toml::Value>>,
    tier: Option<S<Tier>>,
    storage_class: Option<S<String>>,
    lock: Option<S<LockPolicy>>,
    capacity: Option<S<String>>,
    connect_timeout: Option<S<String>>,
    thaw_tier: Option<S<String>>,
    thaw_days: Option<S<i64>>,
}

/// Parses a size: `500GB`, `1.5 TiB`, `1048576` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" | "p" => 1e15,
        "kib" => 1024f64,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let v = num * mult;
    (v.is_finite() && v >= 1.0 && v < u64::MAX as f64).then_some(v as u64)
}

impl Validator<'_> {
    pub(super) fn vault(&mut self, v: &RawVault) -> VaultConfig {
        self.name("vault", &v.name);
        let name = v.name.get_ref();
        if let Some(p) = &v.password {
            self.at(
                p,
                format!(
                    "vault `{name}`: an inline password is not allowed; put it in a file \
                     (password_file = \"…\") or an environment variable (password_env = \"VAR\"), or use key_file"
                ),
            );
        }
        let mut keys = Vec::new();
        let owner = format!("vault `{name}`");
        if let Some(k) = &v.key_file {
            let p = self.path(k.get_ref());
            self.readable_file(&owner, "key_file", k, &p);
            keys.push((k.span(), KeySource::KeyFile(p)));
        }
        if let Some(k) = &v.password_file {
            let p = self.path(k.get_ref());
            self.readable_file(&owner, "password_file", k, &p);
            keys.push((k.span(), KeySource::PasswordFile(p)));
        }
        if let Some(k) = &v.password_env {
            if k.get_ref().is_empty() {
                self.at(k, format!("vault `{name}`: password_env names no variable"));
            }
            self.env_set(&owner, "password_env", k);
            keys.push((k.span(), KeySource::PasswordEnv(k.get_ref().clone())));
        }
        if keys.len() > 1 {
            self.error(
                Some(keys[1].0.clone()),
                format!(
                    "vault `{name}`: give only one of key_file, password_file and password_env"
                ),
            );
        }
        let key = match keys.into_iter().next() {
            Some((_, k)) => k,
            None => {
                if v.password.is_none() {
                    self.at(
                        &v.name,
                        format!(
                            "vault `{name}` has no key: set key_file, password_file or password_env"
                        ),
                    );
                }
                KeySource::PasswordEnv(String::new())
            }
        };
        let url = v.url.get_ref();
        let is_s3 = url.starts_with("s3://");
        let url = if url.is_empty() {
            self.at(
                &v.url,
                format!("vault `{name}`: url is empty: give a directory or s3://bucket/prefix"),
            );
            String::new()
        } else if is_s3 {
            if url.len() <= "s3://".len() || url["s3://".len()..].starts_with(['/', '?']) {
                self.at(
                    &v.url,
                    format!(
                        "vault `{name}`: url `{url}` names no bucket: write s3://bucket/prefix"
                    ),
                );
            }
            if url_has_password(url) {
                self.at(&v.url, format!("vault `{name}`: the url must not carry credentials; give them to the daemon as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
            }
            url.clone()
        } else if url.contains("://") {
            self.at(&v.url, format!("vault `{name}`: unsupported url scheme in `{}`: give a directory or s3://bucket/prefix", url.split("://").next().unwrap_or_default()));
            url.clone()
        } else {
            self.path(Path::new(url)).to_string_lossy().into_owned()
        };
        let tier = v.tier.as_ref().map(|t| *t.get_ref()).unwrap_or_default();
        if let Some(sc) = &v.storage_class {
            if !is_s3 {
                self.at(
                    sc,
                    format!("vault `{name}`: storage_class applies to s3:// vaults only"),
                );
            }
        }
        let connect_timeout = v.connect_timeout.as_ref().and_then(|t| {
            if !is_s3 {
                self.at(
                    t,
                    format!("vault `{name}`: connect_timeout applies to s3:// vaults only"),
                );
            }
            let d = coffer_storage::parse_timeout(t.get_ref());
            if d.is_none() {
                self.at(
                    t,
                    format!(
                        "vault `{name}`: bad connect_timeout `{}`: write a duration such as \"5s\" or \"500ms\" (longer than zero, at most 1h)",
                        t.get_ref()
                    ),
                );
            }
            d
        });
        let lock = v.lock.as_ref().map(|l| {
            let lp = l.get_ref().clone();
            if lp.min_retention_days > lp.max_retention_days {
                self.at(
                    l,
                    format!(
                        "vault `{name}`: lock min_retention_days ({}) is above max_retention_days ({})",
                        lp.min_retention_days, lp.max_retention_days
                    ),
                );
            }
            if let Some(g) = lp.changeable_for_days {
                if g < 3 {
                    self.at(l, format!("vault `{name}`: lock changeable_for_days is {g}; compliance mode needs at least 3 days"));
                }
            }
            lp
        });
        VaultConfig {
            name: name.clone(),
            url,
            key,
            tier,
            storage_class: v.storage_class.as_ref().map(|s| s.get_ref().clone()),
            lock,
            capacity: self.capacity(name, &v.capacity),
            connect_timeout,
            thaw_tier: self.thaw_tier(name, &v.thaw_tier),
            thaw_days: self.thaw_days(name, &v.thaw_days),
        }
    }

    /// A vault's `thaw_tier` (Expedited, Standard or Bulk, any case).
    fn thaw_tier(&mut self, vault: &str, v: &Option<S<String>>) -> coffer_core::ThawTier {
        let Some(v) = v else {
            return coffer_core::ThawTier::default();
        };
        match coffer_core::ThawTier::parse(v.get_ref()) {
            Ok(t) => t,
            Err(e) => {
                self.at(v, format!("vault `{vault}`: thaw_tier: {e}"));
                coffer_core::ThawTier::default()
            }
        }
    }

    /// A vault's `thaw_days` (1 to [`coffer_core::thaw::MAX_THAW_DAYS`]).
    fn thaw_days(&mut self, vault: &str, v: &Option<S<i64>>) -> u32 {
        let max = coffer_core::thaw::MAX_THAW_DAYS;
        let Some(v) = v else {
            return coffer_core::thaw::DEFAULT_THAW_DAYS;
        };
        match u32::try_from(*v.get_ref()) {
            Ok(d) if (1..=max).contains(&d) => d,
            _ => {
                self.at(
                    v,
                    format!(
                        "vault `{vault}`: thaw_days = {} is out of range: thawed copies stay readable 1 to {max} days (default {})",
                        v.get_ref(),
                        coffer_core::thaw::DEFAULT_THAW_DAYS
                    ),
                );
                coffer_core::thaw::DEFAULT_THAW_DAYS
            }
        }
    }

    /// A vault's `capacity`.
    fn capacity(&mut self, vault: &str, v: &Option<S<String>>) -> Option<u64> {
        let v = v.as_ref()?;
        let size = parse_size(v.get_ref());
        if size.is_none() {
            self.at(
                v,
                format!(
                    "vault `{vault}`: bad capacity `{}`: write a size such as \"500GB\" or \"2TiB\"",
                    v.get_ref()
                ),
            );
        }
        size
    }
}

// References to vaults from the other sections.
impl Validator<'_> {
    /// The vault named by `n` (field `field` of `owner`, e.g. ``rule `p/r` ``
    /// and `vault`), or an error at `n` listing the vaults there are.
    pub(super) fn vault_ref<'v>(
        &mut self,
        owner: &str,
        field: &str,
        n: &S<String>,
        vaults: &'v [VaultConfig],
    ) -> Option<&'v VaultConfig> {
        let found = vaults.iter().find(|v| &v.name == n.get_ref());
        if found.is_none() {
            let known: Vec<&str> = vaults.iter().map(|v| v.name.as_str()).collect();
            self.at(
                n,
                format!(
                    "{owner}: {field} `{}` is not a vault of this file (vaults: {}); add a [[vault]] with that name or fix the name",
                    n.get_ref(),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;
    use std::time::Duration;

    const VAULTS: &str = r#"
[[vault]]
name = "s3"
url = "s3://b/p?region=garage"
password_env = "PW"
storage_class = "STANDARD_IA"
connect_timeout = "2500ms"

[[vault]]
name = "plain"
url = "s3://b/q"
password_env = "PW"
"#;

    #[test]
    fn connect_timeout_reaches_the_storage_url() {
        let c = Config::parse(VAULTS, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        let v = c.vault("s3").unwrap();
        assert_eq!(v.connect_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            v.storage_url(),
            "s3://b/p?region=garage&storage_class=STANDARD_IA&connect_timeout=2500ms"
        );
        let Ok(coffer_storage::Location::S3(l)) = coffer_storage::Location::parse(&v.storage_url())
        else {
            panic!()
        };
        assert_eq!(l.connect_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.vault("plain").unwrap().storage_url(), "s3://b/q");
    }

    #[test]
    fn issue17_thaw_tier_and_days_default_and_bad_ones_are_refused_where_they_are() {
        let c = Config::parse(VAULTS, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        let v = c.vault("s3").unwrap();
        assert_eq!(v.thaw_tier, coffer_core::ThawTier::Standard);
        assert_eq!(v.thaw_days, 7);
        let ok = "[[vault]]\nname = \"a\"\nurl = \"s3://b/p\"\npassword_env = \"PW\"\nthaw_tier = \"bulk\"\nthaw_days = 2\n";
        let c = Config::parse(ok, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.vault("a").unwrap().thaw_tier, coffer_core::ThawTier::Bulk);
        assert_eq!(c.vault("a").unwrap().thaw_days, 2);
        let bad = "[[vault]]\nname = \"a\"\nurl = \"s3://b/p\"\npassword_env = \"PW\"\nthaw_tier = \"fast\"\nthaw_days = 0\n";
        let e: Vec<String> = match Config::parse(bad, Path::new("t.toml")) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        };
        assert!(
            e.iter().any(|e| e.starts_with("t.toml:5:")
                && e.contains("vault `a`: thaw_tier: unknown thaw tier `fast`")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|e| e.starts_with("t.toml:6:") && e.contains("thaw_days = 0 is out of range")),
            "{e:?}"
        );
    }

    #[test]
    fn a_bad_or_local_connect_timeout_is_refused() {
        let text = "[[vault]]\nname = \"a\"\nurl = \"s3://b/p\"\npassword_env = \"PW\"\nconnect_timeout = \"soon\"\n\n\
                    [[vault]]\nname = \"l\"\nurl = \"/srv/l\"\npassword_env = \"PW\"\nconnect_timeout = \"5s\"\n";
        let e: Vec<String> = match Config::parse(text, Path::new("t.toml")) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        };
        assert!(
            e.iter().any(|e| e.starts_with("t.toml:5:")
                && e.contains("vault `a`: bad connect_timeout `soon`")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|e| e.starts_with("t.toml:11:")
                && e.contains("connect_timeout applies to s3:// vaults only")),
            "{e:?}"
        );
    }
}
