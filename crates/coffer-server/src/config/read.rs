//! Reading the file into its `Raw…` sections, with every unknown field
//! reported at once.
//!
//! serde stops at the first error. So that an operator sees every unknown
//! field in one run, each one is blanked out (its key and value overwritten
//! with spaces, so every other byte keeps its offset, and so its line and
//! column) and the text is read again, until it reads or fails in a way
//! blanking cannot get past (bad syntax, a required value of the wrong
//! type). An unknown field or value gets a did-you-mean among the ones its
//! place accepts; fields the sections read only to refuse them with a
//! better message ([`REFUSED_FIELDS`], an inline `password`) are never
//! offered.

use super::secret::REFUSED_FIELDS;
use serde::de::DeserializeOwned;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, TableLike, Value};

/// At most this many problems are read from one file.
const MAX_PROBLEMS: usize = 200;

/// What reading the text found.
pub(super) struct Read<T> {
    /// The sections as written (less what was blanked), when they read.
    pub(super) raw: Option<T>,
    /// Every problem, with where it is.
    pub(super) errors: Vec<(Option<Range<usize>>, String)>,
    /// Whether every problem was an unknown field: the rest of the file,
    /// as read, can then be validated too without consequential errors.
    pub(super) only_unknown_fields: bool,
}

/// Reads `text` as `T`, collecting every unknown field (and the first
/// problem of another kind that blanking cannot get past).
pub(super) fn read<T: DeserializeOwned>(text: &str) -> Read<T> {
    let mut work = text.to_string();
    let mut errors = Vec::new();
    let mut only_unknown_fields = true;
    // Keys blanked because their value was wrong: a "missing field" for
    // one of them is our doing, not a second problem.
    let mut blanked_values: Vec<String> = Vec::new();
    while errors.len() < MAX_PROBLEMS {
        let e = match toml::from_str::<T>(&work) {
            Ok(raw) => {
                return Read {
                    raw: Some(raw),
                    errors,
                    only_unknown_fields,
                }
            }
            Err(e) => e,
        };
        let message = e.message().trim_end();
        if missing_field(message).is_some_and(|f| blanked_values.iter().any(|b| b == f)) {
            break;
        }
        let (message, unknown_field) = explain(message);
        errors.push((e.span(), message));
        only_unknown_fields &= unknown_field;
        let Some((next, key)) = e.span().and_then(|s| blank(&work, &s)) else {
            break;
        };
        if !unknown_field {
            blanked_values.push(key);
        }
        work = next;
    }
    Read {
        raw: None,
        errors,
        only_unknown_fields: false,
    }
}

/// The field a "missing field `x`" message names.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde's message made helpful: an unknown field or value gets a
/// did-you-mean and the list of what is allowed (never a refused field).
/// Also says whether it was an unknown field.
fn explain(message: &str) -> (String, bool) {
    for (prefix, what, allowed) in [
        ("unknown field `", "field", "The fields allowed here"),
        ("unknown variant `", "value", "The values allowed here"),
    ] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((got, expected)) = rest.split_once('`') else {
            continue;
        };
        let all: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let refused = |n: &str| what == "field" && REFUSED_FIELDS.contains(&n);
        let names: Vec<&str> = all.iter().copied().filter(|n| !refused(n)).collect();
        let mut out = format!("unknown {what} `{got}`");
        // A typo of a refused field (`pasword`) is pointed at the fields
        // that replace it (`password_file`, `password_env`).
        let guesses: Vec<&str> = match did_you_mean(got, &all) {
            Some(r) if refused(r) => names.iter().copied().filter(|n| n.starts_with(r)).collect(),
            Some(s) => vec![s],
            None => Vec::new(),
        };
        if !guesses.is_empty() {
            let g: Vec<String> = guesses.iter().map(|n| format!("`{n}`")).collect();
            out.push_str(&format!("; did you mean {}?", g.join(" or ")));
        }
        // After a question mark a new sentence starts; else after a period.
        out.push_str(if guesses.is_empty() { ". " } else { " " });
        if names.is_empty() {
            out.push_str(&format!("No {what}s are allowed here."));
        } else {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            out.push_str(&format!("{allowed}: {}", list.join(", ")));
        }
        return (out, what == "field");
    }
    (message.to_string(), false)
}

/// The name in `names` closest to `got` (by edit distance, ignoring case
/// and `-` for `_`), if one is close enough to be a typo.
fn did_you_mean<'a>(got: &str, names: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let g = norm(got);
    names
        .iter()
        .map(|n| {
            let c = norm(n);
            let d = strsim::damerau_levenshtein(&g, &c);
            let limit = (g.chars().count().max(c.chars().count()) / 3).max(1);
            // A prefix of a longer name (`tls` for `tls_cert`) is a fair guess too.
            let prefix = g.len() >= 3 && (c.starts_with(&g) || g.starts_with(&c));
            (
                n,
                if d <= limit {
                    d
                } else if prefix {
                    limit + 1
                } else {
                    usize::MAX
                },
            )
        })
        .filter(|(_, d)| *d != usize::MAX)
        .min_by_key(|(_, d)| *d)
        .map(|(n, _)| *n)
}

/// `text` with the key whose key (or value) is at `span` blanked out, and
/// that key; `None` when it cannot be found or blanking would not leave a
/// valid document.
fn blank(text: &str, span: &Range<usize>) -> Option<(String, String)> {
    let doc = ImDocument::parse(text).ok()?;
    let (key, ranges) = find_in_table(doc.as_table(), span, text, false)?;
    let mut bytes = text.as_bytes().to_vec();
    for r in ranges {
        for b in bytes.get_mut(r)? {
            if !matches!(*b, b'\n' | b'\r') {
                *b = b' ';
            }
        }
    }
    // Whole characters were replaced, byte for byte: still UTF-8.
    let out = String::from_utf8(bytes).ok()?;
    ImDocument::parse(out.as_str()).ok()?;
    Some((out, key))
}

fn find_in_table(
    t: &dyn TableLike,
    span: &Range<usize>,
    text: &str,
    inline: bool,
) -> Option<(String, Vec<Range<usize>>)> {
    for (name, _) in t.iter() {
        let (key, item) = t.get_key_value(name)?;
        let value_span = item.as_value().and_then(Value::span);
        if key.span().as_ref() == Some(span) || value_span.as_ref() == Some(span) {
            return Some((name.to_string(), extent(key.span()?, item, text, inline)?));
        }
        if let Some(found) = find_in_item(item, span, text) {
            return Some(found);
        }
    }
    None
}

fn find_in_item(
    item: &Item,
    span: &Range<usize>,
    text: &str,
) -> Option<(String, Vec<Range<usize>>)> {
    match item {
        Item::None => None,
        Item::Table(t) => find_in_table(t, span, text, false),
        Item::ArrayOfTables(a) => a.iter().find_map(|t| find_in_table(t, span, text, false)),
        Item::Value(v) => find_in_value(v, span, text),
    }
}

fn find_in_value(
    v: &Value,
    span: &Range<usize>,
    text: &str,
) -> Option<(String, Vec<Range<usize>>)> {
    match v {
        Value::Array(a) => a.iter().find_map(|v| find_in_value(v, span, text)),
        Value::InlineTable(t) => find_in_table(t, span, text, true),
        _ => None,
    }
}

/// The bytes to blank for the key at `key` holding `item`.
fn extent(key: Range<usize>, item: &Item, text: &str, inline: bool) -> Option<Vec<Range<usize>>> {
    match item {
        Item::None => None,
        Item::Value(v) => {
            let mut r = key.start..v.span()?.end;
            if inline {
                // One of the commas around it goes too.
                let b = text.as_bytes();
                let after = r.end + text[r.end..].len() - text[r.end..].trim_start().len();
                let before = text[..r.start].trim_end().len();
                if b.get(after) == Some(&b',') {
                    r.end = after + 1;
                } else if before > 0 && b[before - 1] == b',' {
                    r.start = before - 1;
                }
            }
            Some(vec![r])
        }
        // `a.b = 1` with `a` unknown: not worth the trouble.
        Item::Table(t) if t.is_dotted() => None,
        Item::Table(t) => Some(table_ranges(t)),
        Item::ArrayOfTables(a) => Some(a.iter().flat_map(table_ranges).collect()),
    }
}

/// A `[table]`'s header and its key/values, and those of its sub-tables.
fn table_ranges(t: &Table) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = t.span().into_iter().collect();
    for (_, item) in t.iter() {
        match item {
            Item::Table(c) => out.extend(table_ranges(c)),
            Item::ArrayOfTables(a) => out.extend(a.iter().flat_map(table_ranges)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos_and_not_strangers() {
        let names = ["name", "url", "key_file", "password_file", "password_env"];
        assert_eq!(did_you_mean("keyfile", &names), Some("key_file"));
        assert_eq!(did_you_mean("key-file", &names), Some("key_file"));
        assert_eq!(did_you_mean("pasword_env", &names), Some("password_env"));
        assert_eq!(did_you_mean("URL", &names), Some("url"));
        assert_eq!(did_you_mean("colour", &names), None);
    }

    #[test]
    fn explain_drops_refused_fields() {
        let (m, unknown) = explain(
            "unknown field `pasword`, expected one of `name`, `url`, `password_env`, `password`",
        );
        assert!(unknown);
        assert!(!m.contains("`password`"), "{m}");
        assert!(m.contains("did you mean `password_env`?"), "{m}");
        let (m, _) = explain(
            "unknown field `pasword`, expected one of `name`, `password_file`, `password_env`, `password`",
        );
        assert!(
            m.starts_with("unknown field `pasword`; did you mean `password_file` or `password_env`? The fields allowed here: `name`, `password_file`, `password_env`"),
            "{m}"
        );
        let (m, unknown) = explain("unknown variant `hto`, expected `hot` or `cold`");
        assert!(!unknown);
        assert_eq!(
            m,
            "unknown value `hto`; did you mean `hot`? The values allowed here: `hot`, `cold`"
        );
    }

    #[test]
    fn blanking_keeps_offsets_and_syntax() {
        let text = "a = 1\nb = 2\nt = { x = 1, yy = 2 }\n[sub]\nk = \"é\"\n[sub.deep]\nz = 3\n[other]\nc = 4\n";
        let at = |s: &str| {
            let i = text.find(s).unwrap();
            i..i + s.len()
        };
        let (out, key) = blank(text, &at("yy")).unwrap();
        assert_eq!(key, "yy");
        assert_eq!(out.len(), text.len());
        assert!(out.contains("{ x = 1         }"), "{out:?}");
        let (out, key) = blank(text, &at("sub")).unwrap();
        assert_eq!(key, "sub");
        assert!(!out.contains('z') && !out.contains('k'), "{out:?}");
        assert!(out.contains("b = 2") && out.contains("c = 4"), "{out:?}");
        assert_eq!(out.lines().count(), text.lines().count());
    }
}
