//! The plaintext vault `config` object, read before any key is known:
//! `Vault::read_config` returns a config within the documented bounds or
//! an error.
#![no_main]

use coffer_core::backend::Backend;
use coffer_core::Vault;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mem = coffer_fuzz::Mem::default();
    mem.write("config", data.to_vec()).unwrap();
    if let Ok(c) = Vault::read_config(&mem) {
        let p = c.chunker;
        assert!(
            p.min <= p.avg && p.avg <= p.max,
            "chunker parameters are ordered"
        );
        assert!(
            p.min >= 64 && p.max <= 1 << 28,
            "chunker parameters are bounded"
        );
        assert_eq!(c.format, "coffer-vault");
    }
});
