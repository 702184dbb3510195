//! Scenario errors that name the file, the line and the column.

use std::fmt;
use std::ops::Range;

/// A problem with a scenario file, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line and column, when the problem has a place.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Turns byte spans into located errors for one file.
#[derive(Clone, Copy)]
pub struct Locator<'a> {
    pub file: &'a str,
    pub source: &'a str,
}

impl Locator<'_> {
    /// An error at byte offset `span.start`.
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(self.source, span.start);
        ScenarioError {
            file: self.file.to_string(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// An error about the file as a whole.
    pub fn whole(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Converts a TOML error, adding a suggestion for a misspelt key, and
    /// for a top-level key written below a table's header.
    pub fn toml(&self, e: &toml::de::Error) -> ScenarioError {
        let message = plain_types(&with_suggestion(e.message().trim()));
        // A required top-level key missing because it sits in a table.
        if let Some(key) = message
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            if let Some((at, table)) = in_a_table(self.source, key) {
                return self.at(
                    at..at,
                    format!(
                        "`{key}` is missing at the top of the file: it is given here, below \
                         `[{table}]`, so it belongs to that table {}",
                        MISPLACED
                    ),
                );
            }
        }
        let message = match message
            .strip_prefix("unknown key `")
            .and_then(|r| r.split_once('`'))
        {
            Some((key, _)) => format!("{message}{}", misplaced(key)),
            None => message,
        };
        match e.span() {
            Some(span) => {
                // serde names the value's type, not its key: name the key
                // the value is given to, when the span is a value.
                let message = match key_before(self.source, span.start) {
                    Some(key) if message.starts_with("invalid ") => format!("`{key}`: {message}"),
                    _ => message,
                };
                self.at(span, message)
            }
            None => self.whole(message),
        }
    }
}

/// Keys of a scenario's top level (before any table).
const TOP_LEVEL: [&str; 4] = ["protocol", "description", "nodes", "seed"];

const MISPLACED: &str = "(in TOML a key belongs to the table whose header comes before it); \
                         move it above the first header";

/// For a key of the top level found in a table: why it is not read there.
pub fn misplaced(key: &str) -> String {
    match TOP_LEVEL.contains(&key) {
        true => format!(
            "; `{key}` is a key of the file's top level: written below a table's header, it \
             belongs to that table {MISPLACED}"
        ),
        false => String::new(),
    }
}

/// Where `key = ...` is given below a table's header, and the table's
/// name: the first such line.
fn in_a_table<'s>(source: &'s str, key: &str) -> Option<(usize, &'s str)> {
    let mut table = None;
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let text = line.trim();
        if let Some(name) = text.strip_prefix('[') {
            let name = name.trim_start_matches('[');
            table = name.split(']').next().map(str::trim);
            continue;
        }
        let given = text
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if let (true, Some(table)) = (given, table) {
            return Some((at + (line.len() - line.trim_start().len()), table));
        }
    }
    None
}

/// The key a value at byte `offset` is given to (`key = value`, or an
/// array's element: `key = [a, value]`), read back along its line.
fn key_before(source: &str, offset: usize) -> Option<&str> {
    let line = source.get(..offset)?.rsplit('\n').next()?;
    // The last `=` outside quotes before the value.
    let mut quoted = None;
    let mut equals = None;
    for (i, c) in line.char_indices() {
        match (quoted, c) {
            (None, '"' | '\'') => quoted = Some(c),
            (Some(q), _) if c == q => quoted = None,
            (None, '=') => equals = Some(i),
            _ => {}
        }
    }
    let key = line[..equals?].trim_end();
    let start = key
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |i| i + 1);
    let key = &key[start..];
    (!key.is_empty()).then_some(key)
}

/// serde's Rust type names in words a scenario's author reads.
fn plain_types(message: &str) -> String {
    let mut out = message.to_string();
    // A section given a value that is no table: serde names the type that
    // reads it ("expected struct RawDisk"), which means nothing to a user.
    if let Some(at) = out.find("expected struct Raw") {
        out.replace_range(at.., "expected a table");
        return out;
    }
    for (rust, plain) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected usize", "expected a whole number of 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
    ] {
        if let Some(rest) = out.strip_suffix(rust) {
            out = format!("{rest}{plain}");
            break;
        }
        if let Some(at) = out.find(&format!("{rust} ")) {
            out.replace_range(at..at + rust.len(), plain);
            break;
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

pub use crate::names::{did_you_mean, nearest};

/// serde reports "unknown field `x`, expected one of `a`, `b`"; add the
/// nearest valid key.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((wrong, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    let valid: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    match nearest(wrong, valid.iter().copied()) {
        Some(v) => format!(
            "unknown key `{wrong}`: did you mean `{v}`? (valid keys here: {})",
            valid.join(", ")
        ),
        None => format!(
            "unknown key `{wrong}` (valid keys here: {})",
            valid.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_level_key_below_a_header_is_found_in_its_table() {
        let src =
            "protocol = \"echo\"\n[params]\ntimeout = \"1s\"\n  nodes = 4\n[[fault]]\nseed=1\n";
        let (at, table) = in_a_table(src, "nodes").unwrap();
        assert_eq!((line_col(src, at), table), ((4, 3), "params"));
        let (at, table) = in_a_table(src, "seed").unwrap();
        assert_eq!((line_col(src, at), table), ((6, 1), "fault"));
        assert_eq!(in_a_table(src, "protocol"), None);
        assert_eq!(in_a_table(src, "time"), None);
        assert!(misplaced("seed").contains("move it above the first header"));
        assert_eq!(misplaced("timeout"), "");
    }

    #[test]
    fn offsets_become_lines_and_columns() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn type_errors_name_their_key_in_plain_words() {
        let src = "protocol = 1\n[network]\nlatency = { dist = \"fixed\", value = [1] }\nat = [\"1s\", 2]\n";
        assert_eq!(key_before(src, 11), Some("protocol"));
        let inner = src.find("[1]").unwrap();
        assert_eq!(key_before(src, inner), Some("value"));
        let element = src.rfind('2').unwrap();
        assert_eq!(key_before(src, element), Some("at"));
        assert_eq!(key_before(src, src.find("[network]").unwrap()), None);
        assert_eq!(
            plain_types("invalid type: floating point `0.5`, expected u32"),
            "invalid type: floating point `0.5`, expected a whole number from 0 to 4294967295"
        );
        let e = toml::from_str::<std::collections::BTreeMap<String, String>>("protocol = 1\n")
            .unwrap_err();
        let located = Locator {
            file: "s.toml",
            source: "protocol = 1\n",
        }
        .toml(&e);
        assert!(
            located.message.starts_with("`protocol`: invalid type"),
            "{located}"
        );
    }

    #[test]
    fn misspelt_keys_get_the_nearest_valid_key() {
        assert_eq!(nearest("lattency", ["latency", "loss"]), Some("latency"));
        assert_eq!(nearest("zzzzzz", ["latency", "loss"]), None);
        let m = with_suggestion("unknown field `los`, expected one of `latency`, `loss`");
        assert!(m.contains("did you mean `loss`"), "{m}");
    }
}
