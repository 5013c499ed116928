//! Process liveness: the process that owns a job, as recorded (host name,
//! pid, the kernel's boot id and the process's start time from
//! `/proc/PID/stat`), and whether it still runs. A previous boot, or a pid
//! that no longer runs the same process (the start time tells a reused pid
//! apart), is gone; another host without boot ids to compare cannot be
//! told.

/// The process that owns a job, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) host: String,
    pub(super) pid: u32,
    /// `/proc/sys/kernel/random/boot_id`: tells a previous boot apart.
    pub(super) boot_id: Option<String>,
    /// Field 22 of `/proc/PID/stat` (clock ticks after boot): tells a
    /// reused pid apart.
    pub(super) pid_start: Option<u64>,
}

impl Owner {
    pub(super) fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: coffer_core::hostname(),
            pid,
            boot_id: boot_id(),
            pid_start: proc_start_ticks(pid).map(|(t, _)| t),
        }
    }

    /// Whether this recorded owner still runs. `None`: cannot tell (another
    /// host, without boot ids to compare).
    pub(super) fn is_alive(&self, me: &Owner) -> Option<bool> {
        match (&self.boot_id, &me.boot_id) {
            (Some(a), Some(b)) if a != b => return Some(false),
            (Some(_), Some(_)) => {}
            _ if self.host != me.host => return None,
            _ => {}
        }
        if self.pid == me.pid {
            return Some(self.pid_start == me.pid_start);
        }
        if let Some(start) = self.pid_start {
            if std::path::Path::new("/proc/self/stat").exists() {
                return Some(match proc_start_ticks(self.pid) {
                    // A zombie has finished running; only its parent has
                    // not collected it yet.
                    Some((t, state)) => t == start && state != 'Z',
                    None => false,
                });
            }
        }
        let pid = libc::pid_t::try_from(self.pid).ok()?;
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        Some(rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
    }
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A process's start time and state letter from `/proc/PID/stat`.
pub(super) fn proc_start_ticks(pid: u32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold
    // spaces and parentheses: count fields after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is `state`; field 22 is `starttime`.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}
