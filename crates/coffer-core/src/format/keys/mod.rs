//! Key slots: the master secret wrapped once per password or key file.
//!
//! A slot is a small JSON object at `keys/<random id>`. A password slot
//! derives its wrapping key with Argon2id (parameters and salt in the slot);
//! a key-file slot derives it with BLAKE3 from the file's 256-bit secret and
//! the slot's salt (the secret is already uniformly random, so a slow KDF adds
//! nothing). The wrapped secret is sealed with XChaCha20-Poly1305 bound to
//! the vault id (and, from the first rotation on, to the keyring of its
//! epoch), so a slot cannot be moved to another vault or epoch.
//!
//! Key epochs ([`epoch`]): a slot wraps the secret of one key epoch. Epoch 0
//! is the vault's first master secret; `coffer key rotate` starts a new
//! epoch with a new random secret, stores the older epochs' secrets in a
//! keyring object sealed under the new one, writes new slots for the secrets
//! the operator keeps, and deletes every older slot. Invariants:
//!
//! - Everything written after a rotation is sealed under the new epoch's
//!   data key, which only the new slots unwrap: a removed slot, a copy of
//!   one, or an old version of one on a versioned bucket opens the old
//!   epoch's secret and reads only what was written before the rotation.
//! - The new epoch's secret is never stored outside the new slots, and the
//!   older secrets only inside the keyring sealed under it.
//! - A key of an older epoch never writes (its opener sees a newer slot
//!   and is refused), so no writer falls back to a revoked epoch.

pub mod epoch;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::backend::{Backend, ObjectKind};
use crate::error::{Error, Result};
use crate::format::crypto::{self, MasterKey};
use crate::format::id::Id;

/// The first line of a coffer key file.
pub const KEY_FILE_HEADER: &str = "coffer-key-file-v1";

/// What unlocks a vault.
#[derive(Clone)]
pub enum Secret {
    /// A password (from COFFER_PASSWORD or a password file).
    Password(String),
    /// The 256-bit secret read from a key file.
    KeyFile([u8; 32]),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Secret::Password(_) => f.write_str("Secret::Password(<redacted>)"),
            Secret::KeyFile(_) => f.write_str("Secret::KeyFile(<redacted>)"),
        }
    }
}

impl Secret {
    /// Reads a password file by [`read_password_file`]'s rule.
    pub fn from_password_file(path: &Path) -> Result<Secret> {
        read_password_file(path).map(Secret::Password)
    }

    /// Reads a key file written by [`write_new_key_file`].
    pub fn from_key_file(path: &Path) -> Result<Secret> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some(KEY_FILE_HEADER) {
            return Err(Error::InvalidInput(format!(
                "{} is not a coffer key file (its first line must be `{KEY_FILE_HEADER}`)",
                path.display()
            )));
        }
        let raw = lines
            .next()
            .and_then(|l| B64.decode(l.trim()).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: the key file's second line must be 32 bytes in base64",
                    path.display()
                ))
            })?;
        Ok(Secret::KeyFile(raw.try_into().unwrap()))
    }

    /// The kind of slot this secret opens.
    pub fn kind(&self) -> SlotKind {
        match self {
            Secret::Password(_) => SlotKind::Password,
            Secret::KeyFile(_) => SlotKind::KeyFile,
        }
    }
}

/// Reads a password file: the one rule for every password file coffer
/// reads (a vault's, a new key slot's, a database's, a mail server's), so
/// a password stored from a file opens with the same file. The password is
/// the file's content less exactly one trailing `\n` or `\r\n`; any
/// other whitespace is part of it. The file must be UTF-8 and the password
/// not empty (an [`Error::InvalidInput`] naming the file, never its
/// content).
pub fn read_password_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::InvalidInput(format!("password file {} is not UTF-8", path.display()))
    })?;
    let pw = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if pw.is_empty() {
        return Err(Error::InvalidInput(format!(
            "password file {} is empty",
            path.display()
        )));
    }
    Ok(pw.to_string())
}

/// Writes a new key file with a random secret, mode 0600, refusing to
/// overwrite an existing file.
pub fn write_new_key_file(path: &Path) -> Result<Secret> {
    use std::io::Write;
    let secret: [u8; 32] = crypto::random_bytes();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directories made for a key file are private (0700).
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
    let text = format!(
        "{KEY_FILE_HEADER}\n{}\n# This file unlocks a coffer vault. Keep a copy somewhere safe: without it (or another key slot) the vault cannot be read.\n",
        B64.encode(secret)
    );
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))?;
    Ok(Secret::KeyFile(secret))
}

/// Kinds of key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotKind {
    /// Argon2id over a password.
    Password,
    /// BLAKE3 over a key file's secret.
    KeyFile,
}

impl SlotKind {
    /// The kind's name in messages: `password` or `key file`.
    pub fn name(self) -> &'static str {
        match self {
            SlotKind::Password => "password",
            SlotKind::KeyFile => "key file",
        }
    }

    /// The function that derives a slot's wrapping key, as reports name
    /// it: `Argon2id` (password) or `BLAKE3 derive_key` (key file).
    pub fn kdf_name(self) -> &'static str {
        match self {
            SlotKind::Password => "Argon2id",
            SlotKind::KeyFile => "BLAKE3 derive_key",
        }
    }
}

/// Argon2id parameters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

/// Bounds on the Argon2id parameters of a slot that is opened. A slot is
/// plaintext that anyone with write access to the storage can edit, so a
/// reader refuses, before any work, parameters that would take gigabytes
/// or minutes (or that Argon2 itself rejects), and skips that slot.
///
/// - lanes `p`: 1 to 16;
/// - memory `m_kib`: 8·p KiB (Argon2's minimum, RFC 9106) to 2 GiB;
/// - iterations `t`: 1 to 64;
/// - work `m_kib · t`: at most 8 GiB·passes, about 40 times the default
///   (64 MiB × 3), a few seconds on a server.
///
/// Weak parameters are not refused when reading: a slot opens only for the
/// secret it was made for, and making one needs the master key already.
pub mod kdf_bounds {
    /// Most lanes.
    pub const MAX_P: u32 = 16;
    /// Most memory, KiB (2 GiB).
    pub const MAX_M_KIB: u32 = 2 << 20;
    /// Most iterations.
    pub const MAX_T: u32 = 64;
    /// Most work, KiB × iterations (8 GiB·passes).
    pub const MAX_WORK: u64 = 8 << 20;
    /// Least memory of a new slot, KiB: 7 MiB, with [`MIN_NEW_WORK`] the
    /// weakest of OWASP's Argon2id configurations (m = 7 MiB, t = 5).
    pub const MIN_NEW_M_KIB: u32 = 7 * 1024;
    /// Least work of a new slot, KiB × iterations (7 MiB × 5; OWASP's other
    /// configurations, 46 MiB × 1 … 9 MiB × 4, are all above it).
    pub const MIN_NEW_WORK: u64 = 7 * 1024 * 5;
}

impl KdfParams {
    /// Checks the parameters against [`kdf_bounds`] (what a reader accepts).
    pub fn check(&self) -> Result<()> {
        use kdf_bounds::*;
        let KdfParams { m_kib, t, p } = *self;
        let work = u64::from(m_kib) * u64::from(t);
        if !(1..=MAX_P).contains(&p) {
            return Err(Error::InvalidInput(format!(
                "Argon2id lanes p={p} are outside 1..={MAX_P}"
            )));
        }
        if m_kib < 8 * p || m_kib > MAX_M_KIB {
            return Err(Error::InvalidInput(format!(
                "Argon2id memory m_kib={m_kib} is outside {}..={MAX_M_KIB} KiB (2 GiB)",
                8 * p
            )));
        }
        if !(1..=MAX_T).contains(&t) {
            return Err(Error::InvalidInput(format!(
                "Argon2id iterations t={t} are outside 1..={MAX_T}"
            )));
        }
        if work > MAX_WORK {
            return Err(Error::InvalidInput(format!(
                "Argon2id work m_kib·t = {work} is above {MAX_WORK} (8 GiB·passes)"
            )));
        }
        Ok(())
    }

    /// Checks the parameters of a slot about to be made: readable, and not
    /// weaker than OWASP's weakest Argon2id recommendation.
    pub fn check_new(&self) -> Result<()> {
        use kdf_bounds::*;
        self.check()?;
        if self.m_kib < MIN_NEW_M_KIB || u64::from(self.m_kib) * u64::from(self.t) < MIN_NEW_WORK {
            return Err(Error::InvalidInput(format!(
                "Argon2id m_kib={} t={} is weaker than OWASP's minimum (at least {MIN_NEW_M_KIB} KiB, and m_kib·t at least {MIN_NEW_WORK})",
                self.m_kib, self.t
            )));
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        // OWASP's second Argon2id recommendation: 46 MiB, t=1 is the minimum;
        // we take 64 MiB and t=3 (about 0.2 s here).
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

/// A key slot as stored (JSON, not itself encrypted: it holds only salts and
/// the wrapped secret).
/// Unknown fields are ignored so that later slot kinds (write-only clients)
/// do not lock out this version's readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySlot {
    /// Slot format version (1).
    pub version: u32,
    /// Password or key file.
    pub kind: SlotKind,
    /// When the slot was added (RFC 3339).
    pub created: String,
    /// Host that added it.
    pub hostname: String,
    /// Optional label given by the user.
    #[serde(default)]
    pub label: String,
    /// Argon2id parameters (password slots).
    #[serde(default)]
    pub kdf: Option<KdfParams>,
    /// Salt, base64.
    pub salt: String,
    /// The epoch secret sealed under the slot's wrapping key, base64.
    pub wrapped: String,
    /// The generation of the key epoch whose secret the slot wraps (0, and
    /// absent, for a slot of the first epoch).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u32,
    /// The keyring object (`epochs/<id>`, hex id) of that epoch; absent for
    /// epoch 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl KeySlot {
    /// The Argon2id parameters a password slot is opened with (its `kdf`,
    /// or the default when it has none); `None` for a key-file slot.
    pub fn argon2_params(&self) -> Option<KdfParams> {
        match self.kind {
            SlotKind::Password => Some(self.kdf.unwrap_or_default()),
            SlotKind::KeyFile => None,
        }
    }

    /// The slot's keyring id, if it has one (checked by [`check_slot`]).
    fn keyring_id(&self) -> Option<Id> {
        self.keyring.as_deref().and_then(Id::parse)
    }
}

/// A key slot that was skipped (it does not parse, its salt or wrapped key
/// does not decode, its Argon2id parameters are out of bounds, or it cannot
/// be read), and why. Skipping it never locks out the other slots.
#[derive(Debug, Clone, Serialize)]
pub struct SlotProblem {
    /// The slot's object path (`keys/<id>`).
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for SlotProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key slot {} skipped: {}", self.path, self.reason)
    }
}

/// A slot with its id, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SlotInfo {
    /// The slot's id (object name).
    pub id: Id,
    /// The slot.
    #[serde(flatten)]
    pub slot: KeySlot,
}

fn wrapping_key(secret: &Secret, salt: &[u8], kdf: Option<KdfParams>) -> Result<[u8; 32]> {
    match secret {
        Secret::Password(pw) => {
            let p = kdf.unwrap_or_default();
            // Checked again here, whoever called: never start absurd work.
            p.check()?;
            let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32))
                .map_err(|e| Error::InvalidInput(format!("bad Argon2id parameters: {e}")))?;
            let a =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = [0u8; 32];
            a.hash_password_into(pw.as_bytes(), salt, &mut out)
                .map_err(|e| Error::InvalidInput(format!("Argon2id failed: {e}")))?;
            Ok(out)
        }
        Secret::KeyFile(k) => {
            let mut h = blake3::Hasher::new_derive_key("coffer 2026 v1 key file wrapping key");
            h.update(k);
            h.update(salt);
            Ok(*h.finalize().as_bytes())
        }
    }
}

/// What a slot's wrapped secret is bound to: the vault, and from the first
/// rotation on the keyring of its epoch.
fn slot_aad(vault_id: &str, keyring: Option<&Id>) -> Vec<u8> {
    match keyring {
        None => format!("coffer.keyslot:{vault_id}").into_bytes(),
        Some(k) => format!("coffer.keyslot:{vault_id}:{}", k.to_hex()).into_bytes(),
    }
}

/// Wraps the current epoch of `master` for `secret` and stores the slot;
/// returns its id.
pub fn add_slot(
    backend: &dyn Backend,
    vault_id: &str,
    master: &MasterKey,
    secret: &Secret,
    label: &str,
    kdf: Option<KdfParams>,
) -> Result<Id> {
    let salt: [u8; 16] = crypto::random_bytes();
    let kdf = match secret {
        Secret::Password(_) => Some(kdf.unwrap_or_default()),
        Secret::KeyFile(_) => None,
    };
    if let Some(k) = &kdf {
        k.check_new()
            .map_err(|e| Error::InvalidInput(format!("new key slot: {e}")))?;
    }
    let wk = wrapping_key(secret, &salt, kdf)?;
    let keyring = master.keyring();
    let slot = KeySlot {
        version: if keyring.is_some() { 2 } else { 1 },
        kind: secret.kind(),
        created: jiff::Timestamp::now().to_string(),
        hostname: crate::hostname(),
        label: label.to_string(),
        kdf,
        salt: B64.encode(salt),
        wrapped: B64.encode(crypto::seal_key(
            &wk,
            &slot_aad(vault_id, keyring.as_ref()),
            master.secret(),
        )),
        epoch: master.generation(),
        keyring: keyring.map(|k| k.to_hex()),
    };
    let id = Id::random();
    let body = serde_json::to_vec_pretty(&slot).expect("serializable");
    backend
        .write(&ObjectKind::Key.path(&id), body)
        .map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })?;
    Ok(id)
}

/// How long before `now` slot `slot` was added, from its `created` (every
/// slot records it, from the first format version on); `None` when that
/// does not parse: the age is unknown. A slot added after `now` (a clock
/// behind the adder's) is zero days old.
pub fn slot_age(slot: &KeySlot, now: jiff::Timestamp) -> Option<jiff::SignedDuration> {
    let created: jiff::Timestamp = slot.created.parse().ok()?;
    Some(now.duration_since(created).max(jiff::SignedDuration::ZERO))
}

/// Lists every usable key slot, oldest first. A slot that is damaged or
/// asks for Argon2id parameters out of [`kdf_bounds`] is left out and
/// reported (see [`list_slots_checked`]) only in the log.
pub fn list_slots(backend: &dyn Backend) -> Result<Vec<SlotInfo>> {
    let (slots, problems) = list_slots_checked(backend)?;
    for p in problems {
        tracing::warn!("{p}");
    }
    Ok(slots)
}

/// Why slot `body` cannot be used, if it cannot: it must parse, its salt
/// and wrapped secret must decode, and a password slot's Argon2id
/// parameters must be within [`kdf_bounds`]. Checked before any KDF work.
fn check_slot(body: &[u8]) -> Result<KeySlot> {
    let slot: KeySlot = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidInput(format!("does not parse: {e}")))?;
    if !B64.decode(&slot.salt).is_ok_and(|s| !s.is_empty()) {
        return Err(Error::InvalidInput("its salt is not base64".to_string()));
    }
    if B64.decode(&slot.wrapped).is_err() {
        return Err(Error::InvalidInput(
            "its wrapped key is not base64".to_string(),
        ));
    }
    if slot.kind == SlotKind::Password {
        slot.kdf.unwrap_or_default().check()?;
    }
    match (&slot.keyring, slot.epoch) {
        (None, 0) => {}
        (Some(k), n) if n > 0 && Id::parse(k).is_some() => {}
        _ => {
            return Err(Error::InvalidInput(
                "its key epoch and keyring do not match".to_string(),
            ))
        }
    }
    Ok(slot)
}

/// Lists every key slot, oldest first, with the slots that were skipped:
/// one that cannot be read, parsed or used (a kind this version does not
/// know, damage, tampered Argon2id parameters) must not lock out the others.
pub fn list_slots_checked(backend: &dyn Backend) -> Result<(Vec<SlotInfo>, Vec<SlotProblem>)> {
    let listed = backend
        .list(ObjectKind::Key.prefix())
        .map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for obj in listed {
        let Some(id) = ObjectKind::Key.id_of(&obj.path) else {
            continue;
        };
        let body = match backend.read(&obj.path) {
            Ok(b) => b,
            // Removed since the listing: not a slot any more.
            Err(e) if e.not_found => continue,
            Err(e) => {
                problems.push(SlotProblem {
                    path: obj.path,
                    reason: format!("cannot be read: {e}"),
                });
                continue;
            }
        };
        match check_slot(&body) {
            Ok(slot) => out.push(SlotInfo { id, slot }),
            Err(reason) => problems.push(SlotProblem {
                path: obj.path,
                reason: reason.to_string(),
            }),
        }
    }
    out.sort_by(|a, b| a.slot.created.cmp(&b.slot.created));
    Ok((out, problems))
}

/// A vault's key as a slot opened it.
pub struct Opened {
    /// The key: the slot's epoch and every older one.
    pub key: MasterKey,
    /// The slot that opened it.
    pub slot: Id,
    /// Slots that were skipped (for the caller to warn about).
    pub skipped: Vec<SlotProblem>,
    /// The newest epoch generation any usable slot has: above the key's
    /// when the vault was rotated after this slot was made (an interrupted
    /// rotation, or a revoked slot put back), and then the key must not
    /// write.
    pub newest_generation: u32,
}

/// Finds the slot `secret` opens and returns the key of its epoch (loading
/// the epoch's keyring for a slot made by a rotation). Slots of the newest
/// epoch are tried first.
pub fn open(backend: &dyn Backend, vault_id: &str, secret: &Secret) -> Result<Opened> {
    let (mut slots, mut problems) = list_slots_checked(backend)?;
    let newest_generation = slots.iter().map(|s| s.slot.epoch).max().unwrap_or(0);
    slots.sort_by_key(|s| std::cmp::Reverse(s.slot.epoch));
    for s in slots.iter().filter(|s| s.slot.kind == secret.kind()) {
        let path = ObjectKind::Key.path(&s.id);
        // Both decode: check_slot made sure.
        let salt = B64.decode(&s.slot.salt).unwrap_or_default();
        let wrapped = B64.decode(&s.slot.wrapped).unwrap_or_default();
        let wk = match wrapping_key(secret, &salt, s.slot.kdf) {
            Ok(wk) => wk,
            Err(e) => {
                problems.push(SlotProblem {
                    path,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let keyring = s.slot.keyring_id();
        let Some(opened) = crypto::open_key(&wk, &slot_aad(vault_id, keyring.as_ref()), &wrapped)
        else {
            continue;
        };
        let Ok(epoch_secret) = <[u8; 32]>::try_from(opened.as_slice()) else {
            problems.push(SlotProblem {
                path,
                reason: "its wrapped secret has the wrong length".into(),
            });
            continue;
        };
        let key = match keyring {
            None => MasterKey::from_secret(epoch_secret),
            Some(k) => epoch::load(backend, vault_id, &k, s.slot.epoch, epoch_secret).map_err(
                |e| match e {
                    Error::Damaged { object, detail } => Error::Damaged {
                        object,
                        detail: format!("{detail} (the keyring of key slot {path})"),
                    },
                    e => e,
                },
            )?,
        };
        return Ok(Opened {
            key,
            slot: s.id,
            skipped: problems,
            newest_generation,
        });
    }
    let skipped = if problems.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!(" ({})", list.join("; "))
    };
    Err(Error::WrongKey {
        vault: backend.location(),
        skipped,
    })
}

/// Removes a key slot: a usable one, or one that was skipped as damaged.
/// The last usable slot cannot be removed.
pub fn remove_slot(backend: &dyn Backend, id_prefix: &str) -> Result<Id> {
    let (slots, problems) = list_slots_checked(backend)?;
    let usable = slots.iter().map(|s| (s.id, true));
    let damaged = problems
        .iter()
        .filter_map(|p| ObjectKind::Key.id_of(&p.path).map(|id| (id, false)));
    let matches: Vec<(Id, bool)> = usable
        .chain(damaged)
        .filter(|(id, _)| id.to_hex().starts_with(id_prefix))
        .collect();
    let (target, is_usable) = match matches.as_slice() {
        [] => return Err(Error::not_found(format!("key slot {id_prefix}"))),
        [one] => *one,
        _ => {
            return Err(Error::InvalidInput(format!(
                "key slot prefix {id_prefix} is ambiguous: give more digits"
            )))
        }
    };
    if is_usable && slots.len() == 1 {
        return Err(Error::InvalidInput(format!(
            "key slot {} is the vault's last one and cannot be removed: add another first (coffer key add)",
            target.short()
        )));
    }
    backend
        .delete(&ObjectKind::Key.path(&target))
        .map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::Mem;

    const VAULT: &str = "00112233445566778899aabbccddeeff";
    /// The weakest parameters a new slot may have (quick in tests).
    const QUICK: KdfParams = KdfParams {
        m_kib: kdf_bounds::MIN_NEW_M_KIB,
        t: 5,
        p: 1,
    };

    fn put(b: &Mem, name: char, body: &str) -> String {
        let path = format!("keys/{}", name.to_string().repeat(64));
        b.write(&path, body.as_bytes().to_vec()).unwrap();
        path
    }

    #[test]
    fn damaged_slots_are_skipped_naming_them_and_lock_nobody_out() {
        let b = Mem::default();
        let master = MasterKey::generate();
        let key = Secret::KeyFile([3; 32]);
        let pw = Secret::Password("horse".into());
        add_slot(&b, VAULT, &master, &key, "file", None).unwrap();
        add_slot(&b, VAULT, &master, &pw, "pw", Some(QUICK)).unwrap();
        // Read a sound slot before the damaged ones join it: slot ids are
        // random hex, so a listing may put 'aaaa…' first.
        let good: KeySlot =
            serde_json::from_slice(&b.read(&b.list("keys/").unwrap()[0].path).unwrap()).unwrap();
        let garbage = put(&b, 'a', "{ not json");
        let mut bad_salt = good.clone();
        bad_salt.salt = "%%%".into();
        let bad_salt = put(&b, 'b', &serde_json::to_string(&bad_salt).unwrap());
        // Parameters that would take 4 GiB (or a minute) are refused unrun.
        let mut huge = good.clone();
        huge.kind = SlotKind::Password;
        huge.kdf = Some(KdfParams {
            m_kib: 4 << 20,
            t: 3,
            p: 1,
        });
        let huge = put(&b, 'c', &serde_json::to_string(&huge).unwrap());
        let mut s = good.clone();
        s.kind = SlotKind::Password;
        s.kdf = Some(KdfParams {
            m_kib: 1 << 20,
            t: 60,
            p: 1,
        });
        let slow = put(&b, 'd', &serde_json::to_string(&s).unwrap());
        for secret in [&key, &pw] {
            let o = open(&b, VAULT, secret).unwrap();
            let (k, problems) = (o.key, o.skipped);
            assert_eq!(k.secret(), master.secret());
            let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
            for p in [&garbage, &bad_salt, &huge, &slow] {
                assert!(paths.contains(&p.as_str()), "{p} not in {problems:?}");
            }
        }
        let shown = open(&b, VAULT, &Secret::Password("wrong".into()))
            .err()
            .unwrap()
            .to_string();
        assert!(
            shown.contains(&huge) && shown.contains("2 GiB") && shown.contains(&garbage),
            "{shown}"
        );
        // Two usable slots are listed; a damaged one can be removed.
        assert_eq!(list_slots(&b).unwrap().len(), 2);
        remove_slot(&b, &"a".repeat(8)).unwrap();
        assert!(!b.exists(&garbage).unwrap());
    }

    #[test]
    fn kdf_bounds_for_reading_and_for_new_slots() {
        let k = |m_kib, t, p| KdfParams { m_kib, t, p };
        assert!(KdfParams::default().check_new().is_ok());
        assert!(QUICK.check_new().is_ok());
        for owasp in [
            k(47104, 1, 1),
            k(19456, 2, 1),
            k(12288, 3, 1),
            k(9216, 4, 1),
        ] {
            assert!(owasp.check_new().is_ok(), "{owasp:?}");
        }
        assert!(k(1024, 1, 1).check().is_ok(), "weak is readable");
        assert!(k(1024, 1, 1).check_new().is_err(), "weak is not made");
        for bad in [
            k(7, 1, 1),
            k(64, 1, 0),
            k(1 << 20, 1, 17),
            k((2 << 20) + 1, 1, 1),
            k(65536, 0, 1),
            k(65536, 65, 1),
            k(2 << 20, 5, 1),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let b = Mem::default();
        let e = add_slot(
            &b,
            VAULT,
            &MasterKey::generate(),
            &Secret::Password("x".into()),
            "",
            Some(k(1024, 1, 1)),
        )
        .unwrap_err();
        assert!(e.to_string().contains("OWASP"), "{e}");
        assert!(b.list("keys/").unwrap().is_empty());
    }

    #[test]
    fn a_password_file_loses_exactly_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        for (content, want) in [
            ("pw\n", Some("pw")),
            ("pw\r\n", Some("pw")),
            ("pw", Some("pw")),
            ("pw\n\n", Some("pw\n")),
            ("pw \t\n", Some("pw \t")),
            ("pw\r", Some("pw\r")),
            ("\n", None),
            ("", None),
        ] {
            std::fs::write(&f, content).unwrap();
            let got = read_password_file(&f);
            match want {
                Some(w) => assert_eq!(got.unwrap(), w, "{content:?}"),
                None => {
                    let e = got.unwrap_err().to_string();
                    assert!(e.contains("empty") && e.contains("pw"), "{e}");
                }
            }
        }
    }
}
