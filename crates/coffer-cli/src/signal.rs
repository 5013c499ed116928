//! SIGTERM and SIGINT. The commands that run jobs (`serve`, `plan run`,
//! `verify`, `restore-test run`) stop cleanly on either
//! ([`on_stop_signal`]). A backup stops cleanly on the first one
//! ([`cancel_on_interrupt`]: no snapshot is written, and the command says
//! so); a second one ends it at once. A restore ends at once, saying what
//! it leaves behind ([`exit_on_interrupt`]). Every other command keeps the
//! default: it ends without a word.

use coffer_core::Cancel;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

/// The signal that arrived (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Installs the handler, which only records the signal.
fn install() {
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// Calls `then(signal)` on a thread of its own once SIGTERM or SIGINT
/// arrived (outside signal context).
fn watch(then: impl FnOnce(i32) + Send + 'static) {
    install();
    std::thread::spawn(move || loop {
        let sig = SIGNAL.load(Ordering::SeqCst);
        if sig != 0 {
            then(sig);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
}

/// Installs the SIGTERM/SIGINT handlers and calls `on_stop` (on a thread
/// of its own) once one of them arrives. The handler only records the
/// signal; the watcher does the rest outside signal context.
pub(crate) fn on_stop_signal(on_stop: impl FnOnce() + Send + 'static) {
    watch(|_| on_stop());
}

/// The signal that stopped the command, if one arrived.
pub(crate) fn received() -> Option<i32> {
    Some(SIGNAL.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

/// The exit code of a command that a signal stopped: 128 + its number, as
/// a shell reports a process the signal killed (130 for SIGINT).
pub(crate) fn exit_code(sig: i32) -> u8 {
    (128 + sig).clamp(0, 255) as u8
}

/// The first SIGINT or SIGTERM asks `cancel` to stop (a backup then fails
/// at its next step, before any snapshot is written); the handlers then go
/// back to the default, so that a second one ends the process at once.
pub(crate) fn cancel_on_interrupt(cancel: Cancel) {
    watch(move |sig| {
        cancel.cancel(if sig == libc::SIGINT {
            "interrupted (SIGINT)"
        } else {
            "stopped (SIGTERM)"
        });
        // SAFETY: restores the default disposition.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
    });
}

/// Until [`Interruptible::done`], SIGINT or SIGTERM print `message` on
/// standard error and end the process at once with 128 + the signal's
/// number. After it, a signal is only recorded (the work it would have cut
/// short is complete).
pub(crate) fn exit_on_interrupt(message: String) -> Interruptible {
    let done = Arc::new(Mutex::new(false));
    let d2 = done.clone();
    watch(move |sig| {
        // Held until the process ends: the work cannot be marked done in
        // between, so the message is never printed after it completed.
        let done = d2.lock().unwrap_or_else(|e| e.into_inner());
        if !*done {
            eprintln!("{message}");
            std::process::exit(exit_code(sig).into());
        }
    });
    Interruptible { done }
}

/// Work that a signal ends at once (see [`exit_on_interrupt`]).
pub(crate) struct Interruptible {
    done: Arc<Mutex<bool>>,
}

impl Interruptible {
    /// The work is complete: a signal no longer ends the process.
    pub(crate) fn done(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}
