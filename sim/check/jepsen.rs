//! Histories from Jepsen, Knossos and Porcupine users: EDN operation maps
//! and the older Jepsen log lines, read into dsim's history vocabulary for
//! the linearizability checker.
//!
//! Accepted forms, in one file:
//!
//! - EDN maps, one or more per line or spread over lines:
//!   `{:process 0, :type :invoke, :f :cas, :value [1 2]}` — with `:key`
//!   for key-value operations (or `:value [key value]` when `:f` is one of
//!   the key-value functions and there is no `:key`, as Jepsen's
//!   `independent` tuples are written);
//! - an EDN vector of such maps;
//! - Jepsen log lines: `INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]`
//!   (process, type, function and value separated by tabs).
//!
//! How outcomes are read, as Knossos reads them: `:ok` completed with that
//! result; `:fail` certainly did not happen and is left out; `:info`
//! (and an invocation never completed) may or may not have happened, at
//! any point after its invocation, with an unknown result. Operations of a
//! process that is not a number (`:nemesis`) are not client operations
//! and are skipped. The time of an event is its position: its line.
//!
//! A value maps as: `nil` → nil, integers → integers, strings and keywords
//! → strings, vectors and lists → lists.

use crate::history::{Op, Phase, Value};
use edn_format::Value as Edn;

/// A problem in the input, with its line (and column, when known).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}{}: {message}", .column.map(|c| format!(":{c}")).unwrap_or_default())]
pub struct ImportError {
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> ImportError {
    ImportError {
        line,
        column: None,
        message: message.into(),
    }
}

/// Reads a history; each event is paired with its line.
pub fn read(text: &str) -> Result<Vec<(u64, Op)>, ImportError> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';'));
    let Some(first) = first else {
        return Err(error(1, "the file holds no history"));
    };
    let events = if first.contains('\t') && !first.starts_with('{') && !first.starts_with('[') {
        read_log(text)?
    } else {
        read_edn(text)?
    };
    if events.is_empty() {
        return Err(error(
            1,
            "no operation found (expected EDN maps with :process, :type and :f, or Jepsen log lines)",
        ));
    }
    Ok(events)
}

/// Jepsen log lines: `... - PROCESS<tab>:TYPE<tab>:F<tab>VALUE`.
fn read_log(text: &str) -> Result<Vec<(u64, Op)>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 3 {
            continue; // log noise
        }
        let process = fields[0]
            .rsplit([' ', '-'])
            .find(|w| !w.is_empty())
            .unwrap_or("");
        let Ok(process) = process.parse::<u64>() else {
            continue; // :nemesis and other non-client lines
        };
        let value = match fields.get(3).map(|v| v.trim()) {
            None | Some("") => Edn::Nil,
            Some(v) => edn_format::parse_str(v)
                .map_err(|e| error(n, format!("the value `{v}` is not EDN: {}", e.error)))?,
        };
        let op = op_of(
            n,
            Some(Edn::Integer(process as i64)),
            &edn_format::parse_str(fields[1].trim()).map_err(|e| error(n, e.error.to_string()))?,
            &edn_format::parse_str(fields[2].trim()).map_err(|e| error(n, e.error.to_string()))?,
            None,
            value,
        )?;
        if let Some(op) = op {
            out.push((n as u64, op));
        }
    }
    Ok(out)
}

/// A top-level EDN form: its text and where it starts.
struct Form<'a> {
    text: &'a str,
    line: usize,
    column: usize,
}

/// Splits `text` into top-level EDN forms, and finds the line of every
/// map that is an operation (at the top level, or directly in a top-level
/// vector).
fn forms(text: &str) -> (Vec<Form<'_>>, Vec<usize>) {
    let mut out = Vec::new();
    let mut op_lines = Vec::new();
    let mut stack: Vec<char> = Vec::new();
    let (mut line, mut column) = (1usize, 0usize);
    let mut start: Option<(usize, usize, usize)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        column += 1;
        let top = stack.is_empty();
        if top && start.is_none() && !(c.is_whitespace() || c == ',' || c == ';') {
            start = Some((at, line, column));
        }
        match c {
            '\n' => {
                line += 1;
                column = 0;
            }
            ';' => {
                while let Some(&(_, d)) = chars.peek() {
                    if d == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '"' => {
                while let Some((_, d)) = chars.next() {
                    column += 1;
                    match d {
                        '\\' => {
                            chars.next();
                            column += 1;
                        }
                        '"' => break,
                        '\n' => {
                            line += 1;
                            column = 0;
                        }
                        _ => {}
                    }
                }
            }
            '\\' => {
                chars.next();
                column += 1;
            }
            '{' | '[' | '(' => {
                if c == '{' && (stack.is_empty() || stack == ['[']) {
                    op_lines.push(line);
                }
                stack.push(c);
            }
            '}' | ']' | ')' => {
                stack.pop();
            }
            _ => {}
        }
        let ends = match (start, stack.is_empty()) {
            (Some((s, ..)), true) => {
                let next = chars.peek().map(|&(_, d)| d);
                let bracketed = matches!(text[s..].chars().next(), Some('{' | '[' | '('));
                if bracketed {
                    matches!(c, '}' | ']' | ')')
                } else {
                    next.is_none_or(|d| d.is_whitespace() || d == ',' || "{[(;".contains(d))
                }
            }
            _ => false,
        };
        if ends {
            if let Some((s, l, col)) = start.take() {
                out.push(Form {
                    text: &text[s..at + c.len_utf8()],
                    line: l,
                    column: col,
                });
            }
        }
    }
    if let Some((s, l, col)) = start {
        out.push(Form {
            text: &text[s..],
            line: l,
            column: col,
        });
    }
    (out, op_lines)
}

fn read_edn(text: &str) -> Result<Vec<(u64, Op)>, ImportError> {
    let (forms, op_lines) = forms(text);
    let mut maps: Vec<Edn> = Vec::new();
    for form in &forms {
        let value = edn_format::parse_str(form.text).map_err(|e| {
            // The parser counts lines in `col` (from 1) and characters on
            // the line in `row`.
            let line = form.line + e.col.saturating_sub(1);
            let column = if e.col <= 1 {
                form.column + e.row.saturating_sub(1)
            } else {
                e.row.max(1)
            };
            ImportError {
                line,
                column: Some(column),
                message: format!("not EDN: {}", e.error),
            }
        })?;
        match value {
            Edn::Vector(items) | Edn::List(items) => maps.extend(items),
            other => maps.push(other),
        }
    }
    let mut out = Vec::new();
    for (i, m) in maps.into_iter().enumerate() {
        let line = op_lines.get(i).copied().unwrap_or(0);
        let Edn::Map(fields) = m else {
            return Err(error(
                line,
                format!(
                    "expected an operation map, found {}",
                    edn_format::emit_str(&m)
                ),
            ));
        };
        let get = |k: &str| fields.get(&Edn::Keyword(edn_format::Keyword::from_name(k)));
        let missing = |k: &str| error(line, format!("the operation has no :{k}"));
        let op = op_of(
            line,
            get("process").cloned(),
            get("type").ok_or_else(|| missing("type"))?,
            get("f").ok_or_else(|| missing("f"))?,
            get("key").cloned(),
            get("value").cloned().unwrap_or(Edn::Nil),
        )?;
        if let Some(op) = op {
            out.push((line as u64, op));
        }
    }
    Ok(out)
}

/// One operation event; `None` for a non-client process.
fn op_of(
    line: usize,
    process: Option<Edn>,
    kind: &Edn,
    f: &Edn,
    key: Option<Edn>,
    value: Edn,
) -> Result<Option<Op>, ImportError> {
    let process = match process {
        Some(Edn::Integer(p)) if p >= 0 => p as u64,
        Some(Edn::Integer(p)) => return Err(error(line, format!("the process {p} is negative"))),
        Some(_) => return Ok(None), // :nemesis and friends
        None => return Err(error(line, "the operation has no :process")),
    };
    let name = |v: &Edn| match v {
        Edn::Keyword(k) => Some(k.name().to_string()),
        Edn::String(s) => Some(s.clone()),
        Edn::Symbol(s) => Some(s.name().to_string()),
        _ => None,
    };
    let phase = match name(kind).as_deref() {
        Some("invoke") => Phase::Invoke,
        Some("ok") => Phase::Ok,
        Some("fail") => Phase::Fail,
        Some("info") => Phase::Info,
        _ => {
            return Err(error(
                line,
                format!(
                    ":type must be :invoke, :ok, :fail or :info, not {}",
                    edn_format::emit_str(kind)
                ),
            ))
        }
    };
    let f = name(f).ok_or_else(|| {
        error(
            line,
            format!(":f must be a keyword, not {}", edn_format::emit_str(f)),
        )
    })?;
    let mut value = convert(line, &value)?;
    let mut key = key.map(|k| convert(line, &k)).transpose()?;
    // Jepsen's independent tuples: `:value [key value]`.
    let keyed = matches!(f.as_str(), "get" | "put" | "append");
    if key.is_none() && keyed {
        if let Value::List(pair) = &value {
            if pair.len() == 2 {
                key = Some(pair[0].clone());
                value = pair[1].clone();
            }
        }
    }
    Ok(Some(Op {
        process,
        phase,
        f,
        key,
        value,
    }))
}

/// An EDN value as a history value.
pub fn convert(line: usize, v: &Edn) -> Result<Value, ImportError> {
    Ok(match v {
        Edn::Nil => Value::Nil,
        Edn::Integer(i) => Value::Int(*i),
        Edn::String(s) => Value::Str(s.clone()),
        Edn::Keyword(k) => Value::Str(k.name().to_string()),
        Edn::Boolean(b) => Value::Str(b.to_string()),
        Edn::Vector(items) | Edn::List(items) => Value::List(
            items
                .iter()
                .map(|i| convert(line, i))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(error(
                line,
                format!(
                    "the value {} is of a kind histories do not hold (nil, integers, strings, keywords, vectors)",
                    edn_format::emit_str(other)
                ),
            ))
        }
    })
}

/// Parses an initial value given on the command line (`0`, `nil`, `"x"`).
pub fn initial(text: &str) -> Result<Value, String> {
    let v = edn_format::parse_str(text).map_err(|e| format!("`{text}` is not EDN: {}", e.error))?;
    convert(0, &v).map_err(|e| e.message)
}
