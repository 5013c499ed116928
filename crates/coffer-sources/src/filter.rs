//! Include and exclude globs.
//!
//! A pattern without a slash matches an entry's name at any depth (`*.log`,
//! `node_modules`); a pattern with a slash matches the whole absolute path
//! (`/home/*/.cache`, `**/target`). `**` crosses directories.

use coffer_core::{Error, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::path::Path;

/// A compiled set of patterns.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    names: Option<GlobSet>,
    paths: Option<GlobSet>,
    count: usize,
}

impl Patterns {
    /// Compiles patterns; `what` names their origin for messages.
    pub fn new<S: AsRef<str>>(patterns: &[S], what: &str) -> Result<Self> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut nn, mut np) = (0, 0);
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() || p.starts_with('#') {
                continue;
            }
            let glob = GlobBuilder::new(p.trim_end_matches('/'))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| Error::InvalidInput(format!("{what}: bad pattern `{p}`: {e}")))?;
            if p.trim_end_matches('/').contains('/') {
                paths.add(glob);
                np += 1;
            } else {
                names.add(glob);
                nn += 1;
            }
        }
        let build = |b: GlobSetBuilder, n: usize| -> Result<Option<GlobSet>> {
            if n == 0 {
                return Ok(None);
            }
            b.build()
                .map(Some)
                .map_err(|e| Error::InvalidInput(format!("{what}: {e}")))
        };
        Ok(Patterns {
            names: build(names, nn)?,
            paths: build(paths, np)?,
            count: nn + np,
        })
    }

    /// Reads patterns from files (one per line, `#` comments).
    pub fn with_files(
        mut list: Vec<String>,
        files: &[std::path::PathBuf],
        what: &str,
    ) -> Result<Self> {
        for f in files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            list.extend(text.lines().map(str::to_string));
        }
        Self::new(&list, what)
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `path` (absolute, or rooted at the snapshot) matches.
    pub fn matches(&self, path: &Path) -> bool {
        if let (Some(n), Some(name)) = (&self.names, path.file_name()) {
            if n.is_match(Path::new(name)) {
                return true;
            }
        }
        self.paths.as_ref().is_some_and(|p| p.is_match(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let p = Patterns::new(&["*.log", "/data/**/cache", "# comment"], "t").unwrap();
        assert!(p.matches(Path::new("/x/y/a.log")));
        assert!(!p.matches(Path::new("/x/y/a.txt")));
        assert!(p.matches(Path::new("/data/a/b/cache")));
        assert!(!p.matches(Path::new("/other/cache")));
        assert!(Patterns::new(&["a["], "t").is_err());
    }
}
