//! What every section of `coffer.toml` is checked with: the [`Validator`]
//! that collects every problem as `file:line:column: message`
//! ([`ConfigErrors`]), the spanned type [`S`] every checked value is read
//! as (so that its error can point at it), and the checks sections share
//! (names, duplicates, paths, durations, schedules, time zones).

use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

// ---------------------------------------------------------------------------
// Errors.

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a place.
    pub column: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---------------------------------------------------------------------------
// The file as written. Every value validated after parsing is `Spanned` so
// that its error can point at it.

/// A value as written, with its place in the file.
pub(super) type S<T> = Spanned<T>;

// ---------------------------------------------------------------------------
// Validation.

/// Collects every problem of one file while the sections are checked.
pub(super) struct Validator<'a> {
    /// The file's text (for line and column of a span).
    pub(super) text: &'a str,
    /// The file, as named in messages.
    pub(super) file: PathBuf,
    /// The directory relative paths are read from.
    pub(super) base: PathBuf,
    /// The problems found so far.
    pub(super) errors: Vec<ConfigError>,
    /// What is valid but fails at run time as things are here (a key file
    /// that cannot be read, a password variable not set).
    pub(super) warnings: Vec<ConfigError>,
}

impl Validator<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// A problem at `span` (of the file's text).
    pub(super) fn problem(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = self.line_col(s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let e = self.problem(span, message);
        self.errors.push(e);
    }

    /// A warning at `v`: valid, but fails at run time as things are here.
    pub(super) fn warn<T>(&mut self, v: &S<T>, message: impl Into<String>) {
        let w = self.problem(Some(v.span()), message);
        self.warnings.push(w);
    }

    pub(super) fn at<T>(&mut self, v: &S<T>, message: impl Into<String>) {
        self.error(Some(v.span()), message);
    }

    pub(super) fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Checks a name (vault, source, plan, rule, tag): non-empty, and only
    /// characters safe in a catalog key, a tag and a log line.
    pub(super) fn name(&mut self, what: &str, n: &S<String>) {
        let s = n.get_ref();
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.at(
                n,
                format!("bad {what} name `{s}`: use letters, digits, `.`, `_` and `-`"),
            );
        }
    }

    pub(super) fn duplicates<'n>(
        &mut self,
        what: &str,
        names: impl Iterator<Item = &'n S<String>>,
    ) {
        let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
        let mut dups = Vec::new();
        for n in names {
            let pos = self.line_col(n.span().start);
            if let Some(first) = seen.get(n.get_ref().as_str()) {
                dups.push((n.span(), n.get_ref().clone(), *first));
            } else {
                seen.insert(n.get_ref(), pos);
            }
        }
        for (span, name, (l, c)) in dups {
            self.error(
                Some(span),
                format!("duplicate {what} name `{name}` (first defined at line {l}, column {c}): names must be unique"),
            );
        }
    }

    /// An optional duration: `None` when absent (or invalid, reported).
    pub(super) fn opt_duration(
        &mut self,
        field: &str,
        v: &Option<S<String>>,
    ) -> Option<SignedDuration> {
        v.as_ref()?;
        Some(self.duration(field, v, SignedDuration::ZERO)).filter(|d| !d.is_zero())
    }

    pub(super) fn duration(
        &mut self,
        field: &str,
        v: &Option<S<String>>,
        default: SignedDuration,
    ) -> SignedDuration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => SignedDuration::try_from(d).unwrap_or(default),
            Ok(_) => {
                self.at(v, format!("{field} must be longer than zero"));
                default
            }
            Err(e) => {
                self.at(
                    v,
                    format!(
                        "bad {field} `{}`: {e} (write a duration such as \"30m\", \"1h\" or \"7d\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    /// A schedule; an error points inside the string.
    pub(super) fn schedule(&mut self, owner: &str, v: &S<String>) -> Schedule {
        match Schedule::parse(v.get_ref()) {
            Ok(s) => s,
            Err(e) => {
                // Point inside the string: past the opening quote(s).
                let start = v.span().start;
                let quote = if self.text[start..].starts_with("\"\"\"")
                    || self.text[start..].starts_with("'''")
                {
                    3
                } else {
                    1
                };
                let at = start + quote + e.offset;
                self.error(
                    Some(at..at + e.len),
                    format!("{owner}: bad schedule `{}`: {}", v.get_ref(), e.message),
                );
                Schedule::parse("@daily").expect("a valid schedule")
            }
        }
    }

    /// A time zone (UTC when absent or unknown, reported).
    pub(super) fn timezone(&mut self, owner: &str, v: Option<&S<String>>) -> (TimeZone, String) {
        match v {
            None => (TimeZone::UTC, "UTC".to_string()),
            Some(z) => match TimeZone::get(z.get_ref()) {
                Ok(tz) => (tz, z.get_ref().clone()),
                Err(e) => {
                    self.at(
                        z,
                        format!(
                            "{owner}: unknown time zone `{}` ({e}); use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                            z.get_ref()
                        ),
                    );
                    (TimeZone::UTC, "UTC".to_string())
                }
            },
        }
    }

    /// A duration, as `std::time::Duration`.
    pub(super) fn std_duration(
        &mut self,
        field: &str,
        v: &Option<S<String>>,
        default: Duration,
    ) -> Duration {
        let d = self.duration(
            field,
            v,
            jiff::SignedDuration::try_from(default).unwrap_or_default(),
        );
        d.unsigned_abs()
    }
}
