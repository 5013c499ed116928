//! SIGTERM and SIGINT: the commands that run jobs (`serve`, `plan run`,
//! `verify`, `restore-test run`) stop cleanly on either.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGTERM/SIGINT handlers and calls `on_stop` (on a thread
/// of its own) once one of them arrives. The handler only sets [`STOP`];
/// the watcher does the rest outside signal context.
pub(crate) fn on_stop_signal(on_stop: impl FnOnce() + Send + 'static) {
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    std::thread::spawn(move || {
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        on_stop();
    });
}
