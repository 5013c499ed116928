//! The server's TOML configuration (`coffer serve --config`, `coffer
//! config check`): `Config::parse` returns a config or a list of errors
//! with positions, never panics. Build with `--features server`.
#![no_main]

use coffer_server::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, std::path::Path::new("/etc/coffer/coffer.toml")) {
        Ok(c) => {
            for r in c.rules() {
                assert!(c.rule(&r.id()).is_some(), "every rule is found by its id");
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
});
