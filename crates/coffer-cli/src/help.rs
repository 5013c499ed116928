//! The examples of every command's long help (`--help`; `-h` stays
//! short), by the command's path (`""` for coffer itself, `key add`), put
//! onto the clap definition by [`with_examples`]. Kept in one table so that
//! a unit test (`tests.rs`) can check that every command has examples and
//! that each example line parses as the command it stands under.
//!
//! Lines starting with `coffer` are commands (a `NAME=value` before it, a
//! `| …` or `> …` after it are the shell's); `# …` lines say what the next
//! ones do; others are files or shell (a postgresql.conf line, a pipe).

use clap::Command;

/// The heading of every command's examples.
pub const HEADING: &str = "Examples:";

/// Each command's examples, by its path.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "",
        "
  # A vault in a directory, unlocked by a new key file (keep a copy of it)
  coffer init --vault /srv/backup --key-file /root/backup.key
  # Back up, list, restore
  coffer backup --vault /srv/backup --key-file /root/backup.key /etc /home
  coffer snapshots --vault /srv/backup --key-file /root/backup.key
  # The same vault from the environment
  export COFFER_VAULT=/srv/backup COFFER_KEY_FILE=/root/backup.key
  coffer restore latest --target /tmp/restore
  # The daemon: the rules of its configuration file on their schedules
  coffer config check --config /etc/coffer/coffer.toml
  coffer serve --config /etc/coffer/coffer.toml",
    ),
    (
        "init",
        "
  # The default local vault, with a new key file in ~/.local/share/coffer/keys
  coffer init
  # A vault in a directory; the key file is created when missing
  coffer init --vault /srv/backup --key-file /root/backup.key
  # A vault on S3, unlocked by a password
  coffer init --vault s3://backups/main --password-file /root/backup.pw --label admin",
    ),
    (
        "backup",
        "
  # Files (paths are recorded as absolute paths)
  coffer backup /etc /home --exclude '*.tmp' --exclude-file ~/.coffer-excludes --tag nightly
  coffer backup --vault s3://backups/main --key-file /root/backup.key /srv/www
  # What would be read and stored, without writing
  coffer backup /home --dry-run
  # Standard input, as one file
  pg_dump -Fc shop | coffer backup --stdin --stdin-name shop.pgdump
  # Databases: PostgreSQL (pg_dump), every database and the roles, MariaDB, Redis
  coffer backup --postgres postgres://postgres@db1:5432/shop
  coffer backup --postgres postgres://postgres@db1:5432 --all-databases --globals
  coffer backup --mysql mysql://root@127.0.0.1:3306/shop
  coffer backup --redis redis://127.0.0.1:6379
  # Any command's output, with the command that restores it
  coffer backup --command 'tar -C /srv -cf - data' --name srv-data --restore-command 'tar -C /srv -xf -'",
    ),
    (
        "snapshots",
        "
  coffer snapshots
  coffer snapshots --host web1 --tag nightly
  coffer snapshots --path /etc --json",
    ),
    (
        "ls",
        "
  coffer ls latest
  coffer ls latest /etc --long
  coffer ls 1a2b3c4d /home/alice --json",
    ),
    (
        "restore",
        "
  # Files, below a target directory (they keep their absolute paths there)
  coffer restore latest --target /tmp/restore
  coffer restore 1a2b3c4d --target /tmp/restore --subpath /etc --include '*.conf'
  # The newest snapshot of one host and path
  coffer restore latest --host web1 --path /srv/www --target /tmp/www
  # A dump into a new database, or into a file
  coffer restore latest --postgres postgres://postgres@db2:5432/shop_copy --create --jobs 4
  coffer restore 1a2b3c4d --to-file shop.pgdump
  coffer restore latest --mysql mysql://root@127.0.0.1:3306/shop_copy --create
  # A Redis RDB, and a command snapshot through its own restore command
  coffer restore latest --redis-dir /tmp/r
  coffer restore latest --path srv-data --run-restore-command
  # A base backup, recovered up to a time (the WAL comes from the vault)
  coffer restore latest --pgdata /var/lib/postgresql/15/restored --target-time '2026-03-01 12:00:00+00'
  # From a GLACIER or DEEP_ARCHIVE vault: thaws what it needs, waits, restores
  coffer restore latest --target /tmp/restore --tier Bulk --days 3
  coffer restore latest --target /tmp/restore --no-thaw",
    ),
    (
        "thaw",
        "
  # Request the thaw of what a snapshot of a cold vault needs, and return
  coffer thaw latest
  # Cheapest tier, readable for 3 days, waiting (run it again to continue)
  coffer thaw 1a2b3c4d --tier Bulk --days 3 --wait
  coffer thaw latest --json",
    ),
    (
        "diff",
        "
  coffer diff 1a2b3c4d latest
  coffer diff 1a2b3c4d 5e6f7a8b --json",
    ),
    (
        "check",
        "
  # The structure: every snapshot, tree and index entry
  coffer check
  # And the data: every pack, a random tenth, or part 1 of 4
  coffer check --read-data
  coffer check --read-data-subset 10%
  coffer check --read-data-subset 1/4",
    ),
    (
        "copy",
        "
  coffer copy latest --to s3://dr-bucket/main --to-key-file /etc/coffer/dr.key
  coffer copy --all --tag nightly --to /mnt/usb/vault --to-key-file usb.key --dry-run
  coffer copy --all --host web1 --to offsite --to-password-file /root/offsite.pw --add-tag offsite",
    ),
    (
        "prune",
        "
  # What would be deleted and repacked, and the bytes it would free
  coffer prune --dry-run
  coffer prune
  # Repack packs less than 30% used (default 50; 0: never)
  coffer prune --repack-below 30",
    ),
    (
        "key",
        "
  coffer key list
  coffer key add --new-key-file /root/second.key --label second-admin
  coffer key remove 3c4d
  coffer key rotate --keep-key-file /root/second.key",
    ),
    (
        "key add",
        "
  # A key file (created when missing), or a password (from a file or COFFER_NEW_PASSWORD)
  coffer key add --new-key-file /root/second.key --label second-admin
  coffer key add --new-password-file /root/new.pw --label laptop",
    ),
    (
        "key list",
        "
  coffer key list
  coffer key list --json",
    ),
    (
        "key remove",
        "
  # The slot's id prefix, as `coffer key list` shows it
  coffer key remove 3c4d",
    ),
    (
        "key rotate",
        "
  # Keep only the slot that opens the vault
  coffer key rotate
  # Keep two more slots, by their secrets
  coffer key rotate --keep-key-file /root/second.key --keep-password-file /root/laptop.pw",
    ),
    (
        "wal-push",
        "
  # postgresql.conf (PostgreSQL fills in %p)
  archive_mode = on
  archive_command = 'coffer --vault /srv/backup --key-file /etc/coffer/pg.key wal-push %p'
  # By hand, from the data directory
  coffer wal-push --vault /srv/backup --key-file /etc/coffer/pg.key pg_wal/000000010000000000000003",
    ),
    (
        "wal-fetch",
        "
  # postgresql.conf of a restored cluster (coffer restore --pgdata writes it)
  restore_command = 'coffer --vault /srv/backup --key-file /etc/coffer/pg.key wal-fetch %f %p'
  coffer wal-fetch 000000010000000000000003 /tmp/000000010000000000000003",
    ),
    (
        "pg",
        "
  coffer pg backup --postgres postgres://postgres@127.0.0.1:5432/ --type incr
  coffer pg basebackup --postgres postgres://postgres@127.0.0.1:5432/
  coffer pg wal-verify
  coffer pg wal-prune --dry-run",
    ),
    (
        "pg backup",
        "
  # on the database host: the data directory read between pg_backup_start and pg_backup_stop
  coffer pg backup --postgres postgres://postgres@127.0.0.1:5432/ --type full
  # only the files changed since the newest backup (diff: since the newest full one)
  coffer pg backup --postgres postgres://postgres@127.0.0.1:5432/ --type incr
  # the files of a standby; start and stop on the primary
  coffer pg backup --postgres postgres://postgres@db1:5432/ --standby postgres://postgres@db2:5432/ --pgdata /var/lib/postgresql/15/main",
    ),
    (
        "pg basebackup",
        "
  # pg_basebackup -Ft -X none, streamed into the vault (the WAL comes from wal-push)
  coffer pg basebackup --postgres postgres://postgres@127.0.0.1:5432/
  coffer pg basebackup --postgres postgres://replicator@db1:5432/ --tag weekly --pg-bin-dir /usr/lib/postgresql/15/bin",
    ),
    (
        "pg wal-verify",
        "
  coffer pg wal-verify
  coffer pg wal-verify --json",
    ),
    (
        "pg wal-prune",
        "
  # What would be deleted, then delete it
  coffer pg wal-prune --dry-run
  coffer pg wal-prune",
    ),
    (
        "forget",
        "
  # The plan, with the reason for each snapshot kept or removed
  coffer forget --keep-last 3 --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
  coffer forget --keep-daily 14 --delete-after-days 90 --group-by host,paths --time-zone Europe/Berlin
  coffer forget --keep-last 10 --host web1 --tag nightly
  # Exactly these snapshots
  coffer forget 1a2b3c4d 5e6f7a8b",
    ),
    (
        "rewrite",
        "
  # Erase a file from one snapshot: first see what would go, then do it
  coffer rewrite 1a2b3c4d --exclude /home/alice/contract.pdf --dry-run
  coffer rewrite 1a2b3c4d --exclude /home/alice/contract.pdf
  # From every snapshot of host web1 (the globs of `coffer backup --exclude`)
  coffer rewrite --all --host web1 --exclude '*.pem' --exclude '/srv/app/uploads/user-4711'
  # The data leaves the vault with the next `coffer prune`
  coffer rewrite latest --exclude-file /root/erase.txt --json",
    ),
    (
        "vault",
        "
  coffer vault probe s3://backups/main
  coffer vault lock --min-retention-days 7 --max-retention-days 365
  coffer vault lock-status
  coffer vault usage",
    ),
    (
        "vault lock",
        "
  # Governance mode: an unlock or --bypass-governance can still remove snapshots
  coffer vault lock /srv/backup --min-retention-days 7 --max-retention-days 365 --software-only
  # Compliance mode: after 3 days nobody can change or remove the lock
  coffer vault lock s3://backups/main --min-retention-days 30 --max-retention-days 365 --changeable-for-days 3",
    ),
    (
        "vault usage",
        "
  # Every vault of the configuration: bytes per storage class, the share kept snapshots reference, $/month
  coffer vault usage --config /etc/coffer/coffer.toml
  # One vault of the configuration, or any vault by location
  coffer vault usage --vault-name archive --json
  coffer vault usage --vault s3://backups/main --key-file /root/backup.key",
    ),
    (
        "vault probe",
        "
  coffer vault probe s3://backups/main
  coffer vault probe --json",
    ),
    (
        "vault extend-retention",
        "
  coffer vault extend-retention --dry-run
  coffer vault extend-retention s3://backups/main",
    ),
    (
        "vault unlock",
        "
  coffer vault unlock
  coffer vault unlock s3://backups/main",
    ),
    (
        "vault lock-status",
        "
  coffer vault lock-status
  coffer vault lock-status s3://backups/main --json",
    ),
    (
        "snapshot",
        "
  coffer snapshot hold 1a2b3c4d --reason 'case 2026-17'
  coffer snapshot holds
  coffer snapshot release 1a2b3c4d",
    ),
    (
        "snapshot hold",
        "
  coffer snapshot hold 1a2b3c4d --reason 'case 2026-17'
  coffer snapshot hold latest",
    ),
    (
        "snapshot release",
        "
  coffer snapshot release 1a2b3c4d",
    ),
    (
        "snapshot holds",
        "
  coffer snapshot holds
  coffer snapshot holds --json",
    ),
    (
        "config",
        "
  coffer config check
  coffer config check /etc/coffer/coffer.toml",
    ),
    (
        "config check",
        "
  # Every problem as file:line:column (exit 2), else each rule's next run
  coffer config check
  coffer config check /etc/coffer/coffer.toml
  coffer config check --config ./coffer.toml --json",
    ),
    (
        "serve",
        "
  coffer serve
  coffer serve --config /etc/coffer/coffer.toml --state-dir /var/lib/coffer
  COFFER_CONFIG=./coffer.toml coffer serve --json",
    ),
    (
        "plan",
        "
  coffer plan run daily/nightly
  coffer plan --state-dir /var/lib/coffer run daily/nightly --source shop-db",
    ),
    (
        "plan run",
        "
  # Every source of rule `nightly` of plan `daily`, one after the other
  coffer plan run daily/nightly
  # Only one of its sources, with another configuration file
  coffer plan run daily/nightly --source shop-db --config ./coffer.toml",
    ),
    (
        "jobs",
        "
  coffer jobs list --state FAILED --since 24h
  coffer jobs show 42",
    ),
    (
        "jobs list",
        "
  coffer jobs list
  coffer jobs list --state FAILED,PARTIAL --since 7d
  coffer jobs list --kind backup --plan daily --rule nightly --limit 10 --json",
    ),
    (
        "jobs show",
        "
  coffer jobs show 42
  coffer jobs --state-dir /var/lib/coffer show 42 --json",
    ),
    (
        "status",
        "
  coffer status
  coffer status --config /etc/coffer/coffer.toml --json",
    ),
    (
        "report",
        "
  coffer report
  coffer report --format html --since 7d --output report.html
  coffer report --format csv --since 2026-03-01 > report.csv",
    ),
    (
        "restore-test",
        "
  coffer restore-test run app-db-weekly
  coffer restore-test list --name app-db-weekly",
    ),
    (
        "restore-test run",
        "
  # Restore into scratch space, validate, measure, clean up (exit 1 unless SUCCESSFUL)
  coffer restore-test run app-db-weekly
  coffer restore-test run app-db-weekly --json",
    ),
    (
        "restore-test list",
        "
  coffer restore-test list
  coffer restore-test list --name app-db-weekly --limit 5 --json",
    ),
    (
        "verify",
        "
  # A vault of the configuration file, by name: a share of its data, least recently verified first
  coffer verify main --read-data-subset 5%
  # The vault of --vault, all of its data
  coffer verify --vault /srv/backup --key-file /root/backup.key --read-data
  # The [[verify]] entry `weekly` of the configuration file, now
  coffer verify --rule weekly",
    ),
    (
        "events",
        "
  coffer events
  coffer events --since 7d --severity warning
  coffer events --name BACKUP_JOB_FAILED,RPO_VIOLATED --source shop-db --json",
    ),
    (
        "token",
        "
  coffer token create --role operator --name ci
  coffer token list
  coffer token revoke ci",
    ),
    (
        "token create",
        "
  # Printed once; only its hash is kept
  coffer token create --role operator --name ci
  coffer token create --role viewer --name grafana --expires 90d",
    ),
    (
        "token list",
        "
  coffer token list
  coffer token list --json",
    ),
    (
        "token revoke",
        "
  coffer token revoke grafana",
    ),
    (
        "completions",
        "
  coffer completions bash > /etc/bash_completion.d/coffer
  coffer completions zsh > \"${fpath[1]}/_coffer\"
  coffer completions fish > ~/.config/fish/completions/coffer.fish",
    ),
    (
        "man",
        "
  coffer man > /usr/local/share/man/man1/coffer.1
  coffer man | man -l -",
    ),
];

/// The examples of the command at `path`.
pub fn examples(path: &str) -> Option<&'static str> {
    EXAMPLES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| text.trim_matches('\n'))
}

/// `cmd` (coffer's whole definition) with each command's examples at the
/// end of its long help, after the text it has there already.
pub fn with_examples(cmd: Command) -> Command {
    attach(cmd, "")
}

fn attach(cmd: Command, path: &str) -> Command {
    let cmd = match examples(path) {
        Some(text) => {
            let before = cmd
                .get_after_long_help()
                .or(cmd.get_after_help())
                .map(|h| format!("{h}\n\n"))
                .unwrap_or_default();
            cmd.after_long_help(format!("{before}{HEADING}\n{text}"))
        }
        None => cmd,
    };
    cmd.mut_subcommands(|sub| {
        let name = sub.get_name().to_string();
        let sub_path = if path.is_empty() {
            name
        } else {
            format!("{path} {name}")
        };
        attach(sub, &sub_path)
    })
}
