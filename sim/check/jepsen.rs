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
//! → strings, vectors and lists → lists; a tagged value as what it tags
//! (`#inst` and `#uuid` as their text). An operation may be a record,
//! written as Jepsen prints one: `#jepsen.history.Op{:index 0, ...}`.

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
    if text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with(';'))
    {
        return Err(error(1, "the file holds no history"));
    }
    // A log may open with other log output; the first line that is an
    // operation, or opens EDN, tells which.
    let log = text
        .lines()
        .map(str::trim)
        .find(|l| log_fields(l).is_some() || l.starts_with(['{', '[', '(', '#']))
        .is_some_and(|l| log_fields(l).is_some());
    let (events, others) = if log {
        (read_log(text)?, 0)
    } else {
        read_edn(text)?
    };
    if events.is_empty() && others > 0 {
        return Err(error(
            1,
            format!("no client operation: the {others} operations read are all of processes that are not clients (:nemesis and the like), so there is nothing to check"),
        ));
    }
    if events.is_empty() {
        return Err(error(
            1,
            "no operation found (expected EDN maps with :process, :type and :f, or Jepsen log lines)",
        ));
    }
    Ok(events)
}

/// A Jepsen log line's process, type, function and value (the rest of the
/// line): `... - PROCESS<tab>:TYPE<tab>:F<tab>VALUE`, or with the tabs
/// turned to spaces, as an editor or a copy leaves them. `None` for other
/// lines (log noise).
fn log_fields(line: &str) -> Option<[&str; 4]> {
    if line.starts_with(['{', '[', '(', '#', ';']) {
        return None;
    }
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() >= 3 {
        // Tab-separated: every field as written, so that a wrong one is
        // refused with its line rather than passed over.
        let process = fields[0].rsplit([' ', '-']).find(|w| !w.is_empty());
        let value = fields.get(3).map_or("", |v| v.trim());
        return Some([
            process.unwrap_or(""),
            fields[1].trim(),
            fields[2].trim(),
            value,
        ]);
    }
    let mut words = line
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let mut before = None;
    let kind = loop {
        let w = words.next()?;
        if matches!(w, ":invoke" | ":ok" | ":fail" | ":info") {
            break w;
        }
        before = Some(w);
    };
    let f = words.next()?;
    let process = before?;
    // The value: all that follows the function, spaces and all.
    let rest = &line[f.as_ptr() as usize - line.as_ptr() as usize + f.len()..];
    Some([process, kind, f, rest.trim()])
}

/// Jepsen log lines (see [`log_fields`]).
fn read_log(text: &str) -> Result<Vec<(u64, Op)>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some([process, kind, f, value]) = log_fields(line) else {
            continue; // log noise
        };
        let Ok(process) = process.parse::<u64>() else {
            continue; // :nemesis and other non-client lines
        };
        let value = match value {
            "" => Edn::Nil,
            v => parse_value(v).map_err(|e| error(n, e))?,
        };
        let op = op_of(
            n,
            Some(Edn::Integer(process as i64)),
            &parse_value(kind).map_err(|e| error(n, e))?,
            &parse_value(f).map_err(|e| error(n, e))?,
            None,
            value,
        )?;
        if let Some(op) = op {
            out.push((n as u64, op));
        }
    }
    Ok(out)
}

/// How deep values may nest, brackets and tags together, before the input
/// is refused: the parser takes a level of the stack for each, and a
/// history's values nest a few levels at most.
const MAX_NESTING: usize = 100;

/// A value read as operations, its text and where it starts: an element
/// of a top-level vector or list, or another top-level form (`splat`: one
/// that parses as a vector or list holds operations).
struct Form<'a> {
    text: &'a str,
    line: usize,
    column: usize,
    splat: bool,
}

/// Walks EDN text a byte at a time (every character EDN gives a meaning is
/// ASCII), counting lines and the characters on a line.
struct Scan<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    column: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Scan<'a> {
        Scan {
            text,
            at: 0,
            line: 1,
            column: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn peek_second(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at + 1).copied()
    }

    fn bump(&mut self) {
        let b = self.text.as_bytes()[self.at];
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 0;
        } else if b & 0xC0 != 0x80 {
            self.column += 1;
        }
    }

    /// Skips whitespace, commas and comments.
    fn space(&mut self) {
        while let Some(b) = self.peek() {
            if b == b';' {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.bump();
                }
            } else if b == b',' || b.is_ascii_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    /// Skips the rest of a symbol, keyword or number.
    fn atom(&mut self) {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || b",;\"()[]{}".contains(&b) {
                break;
            }
            self.bump();
        }
    }

    /// Skips a string, from its opening quote.
    fn string(&mut self) {
        self.bump();
        while let Some(b) = self.peek() {
            self.bump();
            if b == b'\\' && self.peek().is_some() {
                self.bump();
            } else if b == b'"' {
                break;
            }
        }
    }

    fn too_deep(&self) -> ImportError {
        ImportError {
            line: self.line,
            column: Some(self.column + 1),
            message: format!(
                "values nest deeper than {MAX_NESTING} levels (brackets and tags counted together); no history nests so deep"
            ),
        }
    }

    /// The element under the scan, inside `depth` levels, as a [`Form`];
    /// `None` when it is discarded.
    fn form(&mut self, depth: usize, splat: bool) -> Result<Option<Form<'a>>, ImportError> {
        let (start, line, column) = (self.at, self.line, self.column + 1);
        let kept = self.element(depth)?;
        Ok(kept.then(|| Form {
            text: &self.text[start..self.at],
            line,
            column,
            splat,
        }))
    }

    /// The closing bracket under the scan does not close `open`, opened at
    /// `line`, `column`.
    fn mismatched(&self, close: u8, open: u8, line: usize, column: usize) -> ImportError {
        ImportError {
            line: self.line,
            column: Some(self.column + 1),
            message: format!(
                "not EDN: `{}` closes the `{}` opened at line {line}, column {column}",
                close as char, open as char
            ),
        }
    }

    /// Skips one element from a position that is not space, with the
    /// `#tag`s and `#_` discards before it, inside `depth` levels; false
    /// when it is discarded. What does not parse is left for the parser to
    /// report, with its place.
    fn element(&mut self, depth: usize) -> Result<bool, ImportError> {
        // What precedes the element, innermost last: true for a discard.
        let mut prefixes: Vec<bool> = Vec::new();
        loop {
            self.space();
            let Some(b) = self.peek() else {
                return Ok(true); // cut short: the parser says so
            };
            let level = depth + prefixes.len();
            if level > MAX_NESTING {
                return Err(self.too_deep());
            }
            match b {
                b'#' if self.peek_second() == Some(b'_') => {
                    self.bump();
                    self.bump();
                    prefixes.push(true);
                    continue;
                }
                b'#' if self.peek_second() != Some(b'{') => {
                    self.bump();
                    self.atom();
                    prefixes.push(false);
                    continue;
                }
                b'#' => {
                    self.bump(); // a set
                    self.nested(level + 1)?;
                }
                b'{' | b'[' | b'(' => self.nested(level + 1)?,
                b'"' => self.string(),
                b'\\' => {
                    self.bump();
                    if self.peek().is_some() {
                        self.bump();
                    }
                    self.atom();
                }
                b')' | b']' | b'}' if !prefixes.is_empty() => {
                    return Err(ImportError {
                        line: self.line,
                        column: Some(self.column + 1),
                        message: format!(
                            "not EDN: a `#_` or `#tag` before this `{}` has no value to apply to",
                            b as char
                        ),
                    })
                }
                b')' | b']' | b'}' => self.bump(),
                _ => self.atom(),
            }
            // Tags keep the element; the innermost discard takes it, and
            // the prefixes before that one apply to the next element.
            loop {
                match prefixes.pop() {
                    None => return Ok(true),
                    Some(false) => {}
                    Some(true) => break,
                }
            }
            if prefixes.is_empty() {
                return Ok(false);
            }
        }
    }

    /// Skips a bracketed element, from its opening bracket.
    fn nested(&mut self, depth: usize) -> Result<(), ImportError> {
        let open = self.text.as_bytes()[self.at];
        let close = match open {
            b'[' => b']',
            b'(' => b')',
            _ => b'}',
        };
        let (line, column) = (self.line, self.column + 1);
        self.bump();
        loop {
            self.space();
            match self.peek() {
                None => return Ok(()),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(());
                }
                Some(c @ (b')' | b']' | b'}')) => {
                    return Err(self.mismatched(c, open, line, column));
                }
                _ => {
                    self.element(depth)?;
                }
            }
        }
    }
}

/// Splits `text` into the values read as operations: the elements of a
/// top-level vector or list, each apart (so that a history is converted an
/// operation at a time, never held whole as EDN), and other top-level
/// forms. Refuses nesting deeper than [`MAX_NESTING`].
fn forms(text: &str) -> Result<Vec<Form<'_>>, ImportError> {
    let mut s = Scan::new(text);
    let mut out = Vec::new();
    loop {
        s.space();
        let Some(b) = s.peek() else {
            break;
        };
        if b == b'[' || b == b'(' {
            let (line, column) = (s.line, s.column + 1);
            let close = if b == b'[' { b']' } else { b')' };
            s.bump();
            loop {
                s.space();
                match s.peek() {
                    None => {
                        return Err(ImportError {
                            line,
                            column: Some(column),
                            message: format!(
                                "not EDN: the `{}` opened here is never closed (the input is cut short?)",
                                b as char
                            ),
                        })
                    }
                    Some(c) if c == close => {
                        s.bump();
                        break;
                    }
                    Some(c @ (b')' | b']' | b'}')) => {
                        return Err(s.mismatched(c, b, line, column));
                    }
                    _ => {}
                }
                out.extend(s.form(1, false)?);
            }
            continue;
        }
        out.extend(s.form(0, true)?);
    }
    Ok(out)
}

/// Parses one EDN value (a log line's field, `--initial`), refusing what
/// nests deeper than [`MAX_NESTING`].
fn parse_value(text: &str) -> Result<Edn, String> {
    forms(text).map_err(|e| e.message)?;
    edn_format::parse_str(text).map_err(|e| format!("`{text}` is not EDN: {}", e.error))
}

/// The client operations of EDN `text`, and how many operations of other
/// processes it holds.
fn read_edn(text: &str) -> Result<(Vec<(u64, Op)>, usize), ImportError> {
    let mut out = Vec::new();
    let mut others = 0;
    for form in forms(text)? {
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
            Edn::Vector(items) | Edn::List(items) if form.splat => {
                for m in items {
                    others += usize::from(!operation(form.line, m, &mut out)?);
                }
            }
            m => others += usize::from(!operation(form.line, m, &mut out)?),
        }
    }
    Ok((out, others))
}

/// Reads `m`, an operation map at `line`, into `out`; false when it is an
/// operation of a process that is not a client (left out).
fn operation(line: usize, mut m: Edn, out: &mut Vec<(u64, Op)>) -> Result<bool, ImportError> {
    // A record is a tagged map: `#jepsen.history.Op{...}`.
    while let Edn::TaggedElement(_, inner) = m {
        m = *inner;
    }
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
    let client = op.is_some();
    out.extend(op.map(|op| (line as u64, op)));
    Ok(client)
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
        Edn::TaggedElement(_, inner) => convert(line, inner)?,
        Edn::Inst(_) | Edn::Uuid(_) => Value::Str(edn_format::emit_str(v)),
        Edn::Vector(items) | Edn::List(items) => Value::List(
            items
                .iter()
                .map(|i| convert(line, i))
                .collect::<Result<_, _>>()?,
        ),
        // A set: its elements in order, once each (as the `set` model
        // reads a read's value).
        Edn::Set(items) => {
            let mut items = items
                .iter()
                .map(|i| convert(line, i))
                .collect::<Result<Vec<_>, _>>()?;
            items.sort();
            items.dedup();
            Value::List(items)
        }
        other => {
            return Err(error(
                line,
                format!(
                    "the value {} is of a kind histories do not hold (nil, integers, strings, keywords, vectors, sets)",
                    edn_format::emit_str(other)
                ),
            ))
        }
    })
}

/// Parses an initial value given on the command line (`0`, `nil`, `"x"`).
pub fn initial(text: &str) -> Result<Value, String> {
    let v = parse_value(text)?;
    convert(0, &v).map_err(|e| e.message)
}
