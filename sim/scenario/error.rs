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

    /// Converts a TOML error, adding a suggestion for a misspelt key.
    pub fn toml(&self, e: &toml::de::Error) -> ScenarioError {
        let message = with_suggestion(e.message().trim());
        match e.span() {
            Some(span) => self.at(span, message),
            None => self.whole(message),
        }
    }
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
    fn offsets_become_lines_and_columns() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn misspelt_keys_get_the_nearest_valid_key() {
        assert_eq!(nearest("lattency", ["latency", "loss"]), Some("latency"));
        assert_eq!(nearest("zzzzzz", ["latency", "loss"]), None);
        let m = with_suggestion("unknown field `los`, expected one of `latency`, `loss`");
        assert!(m.contains("did you mean `loss`"), "{m}");
    }
}
