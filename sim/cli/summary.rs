//! A sweep's record of what it ran: the summary (`DIR/summary.json`),
//! written whole and atomically at the end, and the journal
//! (`DIR/summary.journal`), appended to as each seed finishes so that a
//! sweep killed outright loses nothing it finished.
//!
//! Both say what they were made from — the scenario's name and a hash of
//! its text, the seed range, the shard, the invariants selected, the dsim
//! version — and a resume that does not match is refused. Every outcome's
//! seed must lie in the range and shard; the summary carries a digest of
//! its outcomes and each journal line a checksum of its own, so an edited
//! or torn record is noticed, not trusted.

use super::CliError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One seed's outcome, as the summary records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedOutcome {
    pub seed: u64,
    /// "pass" or "fail".
    pub verdict: String,
    pub end: String,
    pub events: u64,
    pub virtual_time_ns: u64,
    pub failed_check: Option<String>,
    pub message: Option<String>,
    pub record: Option<u64>,
    /// The trace file, beside the summary, for failing seeds.
    pub trace: Option<String>,
    /// The hash of that trace (empty for a passing seed: its trace was
    /// never written).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_hash: String,
    /// The run's digest ([`crate::trace::Digest`]), for every seed: two
    /// machines that ran a seed alike agree on it.
    #[serde(default)]
    pub digest: String,
    pub drawn: BTreeMap<String, String>,
    /// Invariants this seed did not evaluate, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_run: BTreeMap<String, String>,
}

/// What a sweep was made from; a resume or a merge must match it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The scenario as the user named it, and a hash of its text.
    pub scenario: String,
    pub scenario_hash: String,
    pub protocol: String,
    pub seeds: (u64, u64),
    /// `(index, count)` for a shard; `None` for a whole sweep.
    pub shard: Option<(u64, u64)>,
    /// The invariants selected (`None`: all of the protocol's).
    pub checks: Option<Vec<String>>,
    /// The scheduling strategy, as given.
    #[serde(default)]
    pub strategy: String,
    pub dsim_version: String,
    /// The trace format the runs were made in: a seed names the same run
    /// only within one (see [`crate::trace::FATE_DRAW_VERSION`]). 0 in a
    /// journal or summary written before it was recorded.
    #[serde(default)]
    pub trace_format: u16,
    /// Every seed run twice (`--check-determinism`).
    #[serde(default)]
    pub determinism: bool,
}

impl Identity {
    /// The seeds this sweep covers.
    pub fn covers(&self, seed: u64) -> bool {
        let (start, end) = self.seeds;
        (start..end).contains(&seed) && self.shard.is_none_or(|(i, n)| (seed - start) % n == i)
    }

    /// How many seeds it covers.
    pub fn expected(&self) -> u64 {
        let (start, end) = self.seeds;
        match self.shard {
            None => end - start,
            Some((i, n)) => (end - start).saturating_sub(i).div_ceil(n),
        }
    }

    /// What differs from `other`, in words; `None` if nothing does.
    pub fn mismatch(&self, other: &Identity) -> Option<String> {
        let mut diffs = Vec::new();
        if self.scenario_hash != other.scenario_hash {
            diffs.push(format!(
                "the scenario's text differs ({} was edited, or is another file)",
                self.scenario
            ));
        }
        if self.seeds != other.seeds {
            diffs.push(format!(
                "seeds {}..{} vs {}..{}",
                other.seeds.0, other.seeds.1, self.seeds.0, self.seeds.1
            ));
        }
        if self.shard != other.shard {
            diffs.push(format!("shard {:?} vs {:?}", other.shard, self.shard));
        }
        if self.checks != other.checks {
            diffs.push(format!("checks {:?} vs {:?}", other.checks, self.checks));
        }
        if self.strategy != other.strategy {
            diffs.push(format!("strategy {} vs {}", other.strategy, self.strategy));
        }
        if self.dsim_version != other.dsim_version {
            diffs.push(format!(
                "made by dsim {}, this is dsim {}",
                other.dsim_version, self.dsim_version
            ));
        }
        if self.determinism != other.determinism {
            diffs.push(format!(
                "--check-determinism {} vs {}",
                if other.determinism {
                    "given"
                } else {
                    "not given"
                },
                if self.determinism {
                    "given"
                } else {
                    "not given"
                }
            ));
        }
        if self.trace_format != other.trace_format {
            diffs.push(match other.trace_format {
                0 => format!(
                    "made by an older dsim, whose seeds name other runs than this one's (trace format {})",
                    self.trace_format
                ),
                f => format!(
                    "runs of trace format {f} vs {}: a seed names another run in each",
                    self.trace_format
                ),
            });
        }
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

/// What a sweep writes to `DIR/summary.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub protocol: String,
    pub seeds: (u64, u64),
    /// `(index, count)` for a shard; `None` for a whole sweep.
    pub shard: Option<(u64, u64)>,
    pub complete: bool,
    pub run: u64,
    pub passed: u64,
    pub failed: u64,
    pub failures_by_check: BTreeMap<String, u64>,
    /// For each invariant some passing seed did not evaluate: in how many
    /// passing seeds.
    #[serde(default)]
    pub not_run_by_check: BTreeMap<String, u64>,
    pub first_failing_seed: Option<u64>,
    /// What the sweep was made from.
    pub identity: Identity,
    /// A hash of the outcomes below, to notice an edited summary.
    pub digest: String,
    pub outcomes: Vec<SeedOutcome>,
}

fn digest_of(outcomes: &[SeedOutcome]) -> String {
    let bytes = serde_json::to_vec(outcomes).unwrap_or_default();
    crate::trace::hex(blake3::hash(&bytes).as_bytes())[..32].to_string()
}

impl Summary {
    pub fn new(identity: Identity, outcomes: Vec<SeedOutcome>, complete: bool) -> Summary {
        let mut outcomes = outcomes;
        outcomes.sort_by_key(|o| o.seed);
        outcomes.dedup_by_key(|o| o.seed);
        let mut failures_by_check = BTreeMap::new();
        let mut not_run_by_check = BTreeMap::new();
        for o in &outcomes {
            if let Some(c) = &o.failed_check {
                *failures_by_check.entry(c.clone()).or_insert(0) += 1;
            }
            // A failing seed stops early and leaves later checks unrun as
            // a matter of course; a passing seed that did not evaluate a
            // check is what people must hear about.
            if o.verdict == "pass" {
                for c in o.not_run.keys() {
                    *not_run_by_check.entry(c.clone()).or_insert(0) += 1;
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.verdict == "fail").count() as u64;
        Summary {
            scenario: identity.scenario.clone(),
            protocol: identity.protocol.clone(),
            seeds: identity.seeds,
            shard: identity.shard,
            complete,
            run: outcomes.len() as u64,
            passed: outcomes.len() as u64 - failed,
            failed,
            failures_by_check,
            not_run_by_check,
            first_failing_seed: outcomes
                .iter()
                .find(|o| o.verdict == "fail")
                .map(|o| o.seed),
            digest: digest_of(&outcomes),
            identity,
            outcomes,
        }
    }
}

/// Checks every outcome belongs to the sweep `identity` describes.
fn check_seeds(file: &Path, identity: &Identity, outcomes: &[SeedOutcome]) -> Result<(), CliError> {
    let mut seen = BTreeSet::new();
    for o in outcomes {
        if !identity.covers(o.seed) {
            return Err(CliError::input(format!(
                "{}: seed {} is outside this sweep (seeds {}..{}{}); the file was edited or mixed up",
                file.display(),
                o.seed,
                identity.seeds.0,
                identity.seeds.1,
                identity
                    .shard
                    .map(|(i, n)| format!(", shard {i}/{n}"))
                    .unwrap_or_default()
            )));
        }
        if !seen.insert(o.seed) {
            return Err(CliError::input(format!(
                "{}: seed {} appears twice",
                file.display(),
                o.seed
            )));
        }
        if !matches!(o.verdict.as_str(), "pass" | "fail")
            || (o.verdict == "fail") != o.failed_check.is_some()
        {
            return Err(CliError::input(format!(
                "{}: the outcome of seed {} does not hold together (verdict {:?}, failed check {:?})",
                file.display(),
                o.seed,
                o.verdict,
                o.failed_check
            )));
        }
    }
    Ok(())
}

/// Reads and checks a summary.
pub fn read_summary(path: &Path) -> Result<Summary, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    let summary: Summary = serde_json::from_str(&text).map_err(|e| {
        CliError::input(format!(
            "{}:{}:{}: not a sweep summary of this dsim: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if summary.digest != digest_of(&summary.outcomes) {
        return Err(CliError::input(format!(
            "{}: the outcomes do not match the summary's digest: it was edited after it was written",
            path.display()
        )));
    }
    check_seeds(path, &summary.identity, &summary.outcomes)?;
    Ok(summary)
}

/// Writes a summary atomically: the previous one stays whole until the
/// new one is complete on disk.
pub fn write_summary(path: &Path, summary: &Summary) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(summary).map_err(CliError::input)?;
    text.push('\n');
    super::files::write(path, text.as_bytes())
}

/// A line of the journal: its checksum, then its JSON.
#[derive(Serialize, Deserialize)]
enum Entry {
    Identity(Identity),
    Outcome(SeedOutcome),
}

fn line_of(entry: &Entry) -> String {
    let json = serde_json::to_string(entry).unwrap_or_default();
    let sum = crate::trace::hex(blake3::hash(json.as_bytes()).as_bytes());
    format!("{} {json}\n", &sum[..16])
}

/// The journal of a sweep in progress, appended to as seeds finish.
pub struct Journal {
    file: std::sync::Mutex<std::fs::File>,
    path: PathBuf,
}

impl Journal {
    /// Starts a journal with the sweep's identity and what is already done.
    pub fn start(
        path: &Path,
        identity: &Identity,
        done: &[SeedOutcome],
    ) -> Result<Journal, CliError> {
        let fail =
            |e: std::io::Error| CliError::input(format!("cannot write {}: {e}", path.display()));
        let mut text = line_of(&Entry::Identity(identity.clone()));
        for o in done {
            text.push_str(&line_of(&Entry::Outcome(o.clone())));
        }
        // Written whole then renamed, so a journal is never half a header.
        super::files::write(path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(fail)?;
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            path: path.to_path_buf(),
        })
    }

    /// Records one finished seed (one write of one line: a kill leaves at
    /// worst that line torn, which a resume drops).
    pub fn record(&self, outcome: &SeedOutcome) -> Result<(), CliError> {
        let line = line_of(&Entry::Outcome(outcome.clone()));
        let mut file = self
            .file
            .lock()
            .map_err(|_| CliError::input("the journal's lock was poisoned"))?;
        file.write_all(line.as_bytes())
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", self.path.display())))
    }

    /// The sweep ended with its summary written: the journal goes.
    pub fn close(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads a journal: its identity and outcomes. A torn last line (a kill
/// in mid-write) is dropped; any other bad line is refused.
pub fn read_journal(path: &Path) -> Result<(Identity, Vec<SeedOutcome>), CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    let mut identity = None;
    let mut outcomes = Vec::new();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        let parsed = line.split_once(' ').and_then(|(sum, json)| {
            let want = crate::trace::hex(blake3::hash(json.as_bytes()).as_bytes());
            (sum == &want[..16])
                .then(|| serde_json::from_str::<Entry>(json).ok())
                .flatten()
        });
        match parsed {
            Some(Entry::Identity(id)) if i == 0 => identity = Some(id),
            Some(Entry::Outcome(o)) if i > 0 => outcomes.push(o),
            None if i == last && i > 0 => {} // torn by a kill
            _ => {
                return Err(CliError::input(format!(
                    "{}:{}: not a line this journal could have written (edited or damaged)",
                    path.display(),
                    i + 1
                )))
            }
        }
    }
    let identity = identity
        .ok_or_else(|| CliError::input(format!("{}: the journal has no header", path.display())))?;
    check_seeds(path, &identity, &outcomes)?;
    Ok((identity, outcomes))
}

/// The journal a sweep that never wrote its summary (killed, crashed,
/// stopped by an error) left in `dir`, described for a sweep about to
/// write there without resuming it; `None` when there is none. (A sweep
/// stopped by Ctrl-C or `--max-failures` wrote its summary and said how
/// to resume: a new sweep may write over it, as over a finished one.)
pub fn unfinished(dir: &Path, identity: &Identity) -> Option<String> {
    let journal = dir.join("summary.journal");
    if !journal.exists() {
        return None;
    }
    let record = read_journal(&journal).map(|(id, o)| (id, o.len() as u64));
    let file = journal.display();
    Some(match record {
        Ok((previous, done)) => match identity.mismatch(&previous) {
            None => format!(
                "{file}: this sweep was started here before and did not finish ({done} of {} \
                 seeds done); resume it with --resume {}, or remove {file} to start over",
                previous.expected(),
                dir.display()
            ),
            Some(why) => format!(
                "{file}: another sweep, unfinished, is recorded here ({done} of {} seeds \
                 done; {why}); writing here would lose it: choose another --out, or remove \
                 {file} to start over",
                previous.expected()
            ),
        },
        Err(e) => format!(
            "an unfinished sweep's record is here, but it does not read ({}); remove {file} \
             to start over, or choose another --out",
            match e {
                CliError::Input(m) => m,
                _ => String::new(),
            }
        ),
    })
}

/// Where a sweep keeps its journal, beside its summary.
pub fn journal_path(summary: &Path) -> PathBuf {
    summary.with_file_name("summary.journal")
}

/// What `--resume PATH` names: a summary, a journal or a sweep's
/// directory. A journal beside a summary is newer (it is removed when a
/// summary is written), so it wins.
pub fn read_resume(path: &Path) -> Result<(Identity, Vec<SeedOutcome>, PathBuf), CliError> {
    let (summary, journal) = if path.is_dir() {
        (path.join("summary.json"), path.join("summary.journal"))
    } else if path.extension().is_some_and(|e| e == "journal") {
        (path.with_file_name("summary.json"), path.to_path_buf())
    } else {
        (path.to_path_buf(), journal_path(path))
    };
    if journal.exists() {
        let (id, outcomes) = read_journal(&journal)?;
        return Ok((id, outcomes, journal));
    }
    let s = read_summary(&summary)?;
    Ok((s.identity, s.outcomes, summary))
}
