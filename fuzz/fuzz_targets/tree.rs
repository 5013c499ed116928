//! Tree decoding: a tree blob's plaintext, after authentication and the
//! hash check, is still only as trustworthy as whoever held the key.
//! Decoding must return a tree or an error, never panic; a decoded tree
//! re-encodes to bytes that decode to the same tree.
#![no_main]

use coffer_core::Tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `into_iter().next()` takes the tree whether decode gives an Option or
    // a Result, so the target does not care which.
    let Some(tree) = Tree::decode(data).into_iter().next() else {
        return;
    };
    for n in &tree.nodes {
        let _ = tree.get(&n.name);
        let _ = n.display_name();
    }
    let again = Tree::decode(&tree.encode()).into_iter().next();
    assert_eq!(
        again.as_ref(),
        Some(&tree),
        "a decoded tree re-encodes to itself"
    );
});
