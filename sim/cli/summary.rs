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
use std::collections::BTreeMap;
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
    /// For a failed liveness check, when it was due and from what
    /// ([`crate::scheduler::Failure::due`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
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
    /// For a failing seed: the checks judged after its failure that
    /// failed too ([`crate::scheduler::CheckStatus::AlsoFailed`]), with
    /// why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub also_failed: BTreeMap<String, String>,
    /// Planned faults that never happened in this seed (a crash whose
    /// trigger never came, a planned loss of a message never sent), by
    /// what was planned, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub missed: BTreeMap<String, String>,
}

/// Every seed's outcome, kept packed in memory, in seed order once
/// [`Outcomes::sort`]ed: a passing seed takes some 70 bytes here where a
/// [`SeedOutcome`] with its text took some 2 KB, so that a sweep of ten
/// million seeds keeps them all (the summary lists every seed) in about a
/// gigabyte. Read and written as the list of [`SeedOutcome`]s it holds,
/// one at a time.
#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    /// Each outcome's seed and where its bytes begin in `bytes`.
    index: Vec<(u64, usize)>,
    /// The outcomes, packed one after another, in the order pushed.
    bytes: Vec<u8>,
}

/// A [`SeedOutcome`] as packed: the same fields, without the attributes
/// that leave fields out of JSON (a compact binary form cannot skip them).
#[derive(Serialize, Deserialize)]
struct Packed {
    seed: u64,
    verdict: String,
    end: String,
    events: u64,
    virtual_time_ns: u64,
    failed_check: Option<String>,
    message: Option<String>,
    due: Option<String>,
    record: Option<u64>,
    trace: Option<String>,
    trace_hash: String,
    digest: String,
    drawn: BTreeMap<String, String>,
    not_run: BTreeMap<String, String>,
    also_failed: BTreeMap<String, String>,
    missed: BTreeMap<String, String>,
}

impl Outcomes {
    /// Packs one outcome (in any order: see [`Outcomes::sort`]).
    pub fn push(&mut self, o: SeedOutcome) {
        let packed = Packed {
            seed: o.seed,
            verdict: o.verdict,
            end: o.end,
            events: o.events,
            virtual_time_ns: o.virtual_time_ns,
            failed_check: o.failed_check,
            message: o.message,
            due: o.due,
            record: o.record,
            trace: o.trace,
            trace_hash: o.trace_hash,
            digest: o.digest,
            drawn: o.drawn,
            not_run: o.not_run,
            also_failed: o.also_failed,
            missed: o.missed,
        };
        let at = self.bytes.len();
        let bytes = std::mem::take(&mut self.bytes);
        self.bytes = postcard::to_extend(&packed, bytes).expect("an outcome packs");
        self.index.push((packed.seed, at));
    }

    /// Moves `other`'s outcomes here.
    pub fn append(&mut self, other: &mut Outcomes) {
        let base = self.bytes.len();
        self.bytes.append(&mut other.bytes);
        self.index
            .extend(other.index.drain(..).map(|(seed, at)| (seed, base + at)));
    }

    /// Puts the outcomes in seed order (stable: of two outcomes of one
    /// seed, the first pushed stays first).
    pub fn sort(&mut self) {
        self.index.sort_by_key(|(seed, _)| *seed);
    }

    /// Keeps the first outcome of each seed (sorted first).
    fn dedup(&mut self) {
        self.index.dedup_by_key(|(seed, _)| *seed);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether `seed` has an outcome here (sorted first).
    pub fn has(&self, seed: u64) -> bool {
        self.index.binary_search_by_key(&seed, |(s, _)| *s).is_ok()
    }

    /// The outcomes, unpacked one at a time.
    pub fn iter(&self) -> impl Iterator<Item = SeedOutcome> + '_ {
        self.index.iter().map(|&(_, at)| {
            let (p, _): (Packed, _) = postcard::take_from_bytes(&self.bytes[at..])
                .expect("an outcome packed here unpacks");
            SeedOutcome {
                seed: p.seed,
                verdict: p.verdict,
                end: p.end,
                events: p.events,
                virtual_time_ns: p.virtual_time_ns,
                failed_check: p.failed_check,
                message: p.message,
                due: p.due,
                record: p.record,
                trace: p.trace,
                trace_hash: p.trace_hash,
                digest: p.digest,
                drawn: p.drawn,
                not_run: p.not_run,
                also_failed: p.also_failed,
                missed: p.missed,
            }
        })
    }
}

/// Equal when they hold the same outcomes in the same order.
impl PartialEq for Outcomes {
    fn eq(&self, other: &Outcomes) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Outcomes {}

impl Serialize for Outcomes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Outcomes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Outcomes, D::Error> {
        struct Each;
        impl<'de> serde::de::Visitor<'de> for Each {
            type Value = Outcomes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of seed outcomes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Outcomes, A::Error> {
                let mut all = Outcomes::default();
                while let Some(o) = seq.next_element::<SeedOutcome>()? {
                    all.push(o);
                }
                Ok(all)
            }
        }
        d.deserialize_seq(Each)
    }
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
    /// For each check that failed too in some failing seed, judged after
    /// the seed's failure: in how many.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub also_failed_by_check: BTreeMap<String, u64>,
    /// For each invariant some passing seed did not evaluate: in how many
    /// passing seeds.
    #[serde(default)]
    pub not_run_by_check: BTreeMap<String, u64>,
    /// For each planned fault that never happened in some passing seed:
    /// in how many.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub missed_faults: BTreeMap<String, u64>,
    pub first_failing_seed: Option<u64>,
    /// What the sweep was made from.
    pub identity: Identity,
    /// A hash of the outcomes below, to notice an edited summary.
    pub digest: String,
    pub outcomes: Outcomes,
}

/// The hash of the outcomes' compact JSON, streamed (the text of ten
/// million outcomes is gigabytes).
fn digest_of(outcomes: &Outcomes) -> String {
    let mut hasher = blake3::Hasher::new();
    {
        let mut sink = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        let _ = serde_json::to_writer(&mut sink, outcomes);
        let _ = sink.flush();
    }
    crate::trace::hex(hasher.finalize().as_bytes())[..32].to_string()
}

impl Summary {
    pub fn new(identity: Identity, outcomes: Outcomes, complete: bool) -> Summary {
        let mut outcomes = outcomes;
        outcomes.sort();
        outcomes.dedup();
        let mut failures_by_check = BTreeMap::new();
        let mut also_failed_by_check = BTreeMap::new();
        let mut not_run_by_check = BTreeMap::new();
        let mut missed_faults = BTreeMap::new();
        let mut failed = 0;
        let mut first_failing_seed = None;
        for o in outcomes.iter() {
            if o.verdict == "fail" {
                failed += 1;
                first_failing_seed.get_or_insert(o.seed);
            }
            if let Some(c) = &o.failed_check {
                *failures_by_check.entry(c.clone()).or_insert(0) += 1;
            }
            for c in o.also_failed.keys() {
                *also_failed_by_check.entry(c.clone()).or_insert(0) += 1;
            }
            // A failing seed stops early and leaves later checks unrun as
            // a matter of course; a passing seed that did not evaluate a
            // check is what people must hear about.
            // So is a planned fault that never happened in a seed that
            // ran to its end (a failing one stopped before it was due).
            if o.verdict == "pass" {
                for c in o.not_run.keys() {
                    *not_run_by_check.entry(c.clone()).or_insert(0) += 1;
                }
                for f in o.missed.keys() {
                    *missed_faults.entry(f.clone()).or_insert(0) += 1;
                }
            }
        }
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
            also_failed_by_check,
            not_run_by_check,
            missed_faults,
            first_failing_seed,
            digest: digest_of(&outcomes),
            identity,
            outcomes,
        }
    }
}

impl Summary {
    /// Swarm testing's question, for a sweep of a scenario with ranges
    /// that both passed and failed: how often seeds failed for each value
    /// (or, past six values, each quarter of the range) each knob drew,
    /// the knob whose rate spreads widest first. A value that raises the
    /// rate goes with the failure; one that lowers it keeps it away. A
    /// knob whose rates differ no more than chance makes them once in 370
    /// sweeps (Pearson's chi-squared test) comes after the others, marked
    /// `within chance`: a dozen failures spread over four quarters differ
    /// by chance alone.
    /// Two passes over the outcomes, memory flat however many.
    pub fn draws_and_failures(&self) -> Vec<String> {
        if self.failed == 0 || self.passed == 0 {
            return Vec::new();
        }
        // Pass 1: each knob's values, up to seven distinct, and its
        // numeric range. A duration prints in the largest unit that holds
        // it exactly ("77695566ns", "20100us", "40ms"): read in
        // nanoseconds, whatever its unit.
        // A clock's offset is a signed duration ("-8619333ns").
        let number = |v: &str| -> Option<f64> {
            v.parse()
                .ok()
                .or_else(|| crate::scenario::Offset::parse(v).ok().map(|o| o.0 as f64))
        };
        struct Knob {
            values: Vec<String>,
            many: bool,
            range: Option<(f64, f64)>,
            numeric: bool,
            duration: bool,
        }
        let mut knobs: BTreeMap<String, Knob> = BTreeMap::new();
        for o in self.outcomes.iter() {
            for (k, v) in &o.drawn {
                let knob = knobs.entry(k.clone()).or_insert(Knob {
                    values: Vec::new(),
                    many: false,
                    range: None,
                    numeric: true,
                    duration: false,
                });
                if !knob.many && !knob.values.contains(v) {
                    knob.values.push(v.clone());
                    knob.many = knob.values.len() > 6;
                }
                knob.duration |= v.parse::<f64>().is_err();
                match number(v) {
                    Some(x) => {
                        let (lo, hi) = knob.range.unwrap_or((x, x));
                        knob.range = Some((lo.min(x), hi.max(x)));
                    }
                    None => knob.numeric = false,
                }
            }
        }
        // Pass 2: runs and failures per group.
        let group = |knob: &Knob, v: &str| -> Option<usize> {
            if !knob.many {
                return knob.values.iter().position(|x| x == v);
            }
            let (lo, hi) = knob.range.filter(|_| knob.numeric)?;
            let x = number(v)?;
            let width = (hi - lo) / 4.0;
            Some(match width > 0.0 {
                true => (((x - lo) / width) as usize).min(3),
                false => 0,
            })
        };
        let mut counts: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
        for o in self.outcomes.iter() {
            let failed = o.verdict == "fail";
            for (k, v) in &o.drawn {
                let Some(knob) = knobs.get(k) else { continue };
                let Some(g) = group(knob, v) else { continue };
                let name = knobs
                    .get_key_value(k)
                    .map(|(n, _)| n.as_str())
                    .unwrap_or_default();
                let c = counts.entry(name).or_insert_with(|| vec![(0, 0); 7]);
                c[g].0 += 1;
                c[g].1 += u64::from(failed);
            }
        }
        // Three decimals, trailing zeros off: 0.075, 12.5ms.
        let short = |x: f64, unit: &str| {
            let t = format!("{x:.3}");
            let t = t.trim_end_matches('0').trim_end_matches('.');
            format!("{t}{unit}")
        };
        let show = |knob: &Knob, x: f64| match knob.duration {
            true if x.abs() >= 1e9 => short(x / 1e9, "s"),
            true if x.abs() >= 1e6 => short(x / 1e6, "ms"),
            true if x.abs() >= 1e3 => short(x / 1e3, "us"),
            true => short(x, "ns"),
            false => short(x, ""),
        };
        let mut lines: Vec<(bool, f64, String)> = Vec::new();
        for (name, c) in counts {
            let knob = &knobs[name];
            let mut labels: Vec<String> = match knob.many {
                false => knob.values.clone(),
                true => {
                    let (lo, hi) = knob.range.unwrap_or_default();
                    let w = (hi - lo) / 4.0;
                    (0..4)
                        .map(|i| {
                            let a = lo + w * i as f64;
                            format!("{}..{}", show(knob, a), show(knob, a + w))
                        })
                        .collect()
                }
            };
            let mut groups: Vec<(String, u64, u64)> = labels
                .drain(..)
                .zip(c)
                .filter(|(_, (runs, _))| *runs > 0)
                .map(|(l, (runs, failed))| (l, runs, failed))
                .collect();
            // Values in their order: numbers by size, words as words.
            if !knob.many && knob.numeric {
                groups.sort_by(|a, b| {
                    number(&a.0)
                        .partial_cmp(&number(&b.0))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            } else if !knob.many {
                groups.sort();
            }
            if groups.len() < 2 {
                continue;
            }
            let rates: Vec<f64> = groups
                .iter()
                .map(|(_, r, f)| *f as f64 / *r as f64)
                .collect();
            let spread = rates.iter().cloned().fold(0.0, f64::max)
                - rates.iter().cloned().fold(1.0, f64::min);
            // The rate over the seeds that drew this knob; a value's
            // failures against what that rate gives its seeds.
            let (runs, failed) = groups.iter().fold((0, 0), |(r, f), g| (r + g.1, f + g.2));
            // Pearson's chi-squared over the knob's values (a table of
            // two rows, failed and passed): beyond chance where chance
            // gives so large a sum less than once in 370 sweeps (as far
            // out as three standard deviations of one normal variable).
            let rate = failed as f64 / runs as f64;
            let chi2: f64 = groups
                .iter()
                .map(|&(_, n, f)| {
                    let expected = n as f64 * rate;
                    let variance = expected * (1.0 - rate);
                    match variance > 0.0 {
                        true => (f as f64 - expected).powi(2) / variance,
                        false => 0.0,
                    }
                })
                .sum();
            // Its quantiles at 1 - 0.0027, by degrees of freedom: the
            // values less one (two to six values, or four quarters).
            const CRITICAL: [f64; 5] = [9.0, 11.83, 14.16, 16.25, 18.21];
            let beyond_chance = chi2 >= CRITICAL[(groups.len() - 2).min(4)];
            let words: Vec<String> = groups
                .iter()
                .zip(&rates)
                .map(|((l, runs, _), rate)| format!("{l}: {:.0}% of {runs}", rate * 100.0))
                .collect();
            let chance = match beyond_chance {
                true => "",
                false => " · within chance",
            };
            lines.push((
                beyond_chance,
                spread,
                format!("  {name:<16} {}{chance}", words.join(" · ")),
            ));
        }
        // Beyond chance first, then the widest spread; ties in name order
        // (stable sort).
        lines.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal))
        });
        lines.into_iter().map(|(_, _, l)| l).collect()
    }
}

/// Checks every outcome belongs to the sweep `identity` describes, and
/// puts them in seed order.
fn check_seeds(file: &Path, identity: &Identity, outcomes: &mut Outcomes) -> Result<(), CliError> {
    outcomes.sort();
    let mut last = None;
    for o in outcomes.iter() {
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
        if last.replace(o.seed) == Some(o.seed) {
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

/// Reads and checks a summary (streamed: it may be gigabytes).
pub fn read_summary(path: &Path) -> Result<Summary, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut summary: Summary = serde_json::from_reader(reader).map_err(|e| {
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
    check_seeds(path, &summary.identity, &mut summary.outcomes)?;
    Ok(summary)
}

/// Writes a summary atomically: the previous one stays whole until the
/// new one is complete on disk. Streamed, as it is read.
pub fn write_summary(path: &Path, summary: &Summary) -> Result<(), CliError> {
    super::files::write_with(path, |out| fill_summary(out, summary))
}

/// Prints a summary to standard output, streamed.
pub fn print_summary(summary: &Summary) -> Result<(), CliError> {
    super::print_with(|out| fill_summary(out, summary))
}

fn fill_summary(out: &mut dyn Write, summary: &Summary) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, summary)?;
    out.write_all(b"\n")
}

/// A line of the journal: its checksum, then its JSON.
#[derive(Serialize, Deserialize)]
enum Entry {
    Identity(Identity),
    Outcome(SeedOutcome),
    /// A seed about to run: one started and never finished was running
    /// when the sweep stopped (and, if the process died, may be why).
    Started(u64),
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
    pub fn start(path: &Path, identity: &Identity, done: &Outcomes) -> Result<Journal, CliError> {
        let fail =
            |e: std::io::Error| CliError::input(format!("cannot write {}: {e}", path.display()));
        // Written whole then renamed, so a journal is never half a header.
        super::files::write_with(path, |out| {
            out.write_all(line_of(&Entry::Identity(identity.clone())).as_bytes())?;
            done.iter()
                .try_for_each(|o| out.write_all(line_of(&Entry::Outcome(o)).as_bytes()))
        })?;
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
        self.append(&Entry::Outcome(outcome.clone()))
    }

    /// Records that a seed is about to run.
    pub fn started(&self, seed: u64) -> Result<(), CliError> {
        self.append(&Entry::Started(seed))
    }

    fn append(&self, entry: &Entry) -> Result<(), CliError> {
        let line = line_of(entry);
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

/// Reads a journal: its identity, outcomes, and the seeds that were
/// running when it stopped (started, never finished). A torn last line
/// (a kill in mid-write) is dropped; any other bad line is refused.
pub fn read_journal(path: &Path) -> Result<(Identity, Outcomes, Vec<u64>), CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    // Line by line: a journal of millions of seeds is not read whole.
    let mut lines = std::io::BufReader::with_capacity(1 << 16, file)
        .lines()
        .enumerate()
        .peekable();
    let mut identity = None;
    let mut outcomes = Outcomes::default();
    let mut started = std::collections::BTreeSet::new();
    while let Some((i, line)) = lines.next() {
        let line =
            line.map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
        let last = lines.peek().is_none();
        let parsed = line.split_once(' ').and_then(|(sum, json)| {
            let want = crate::trace::hex(blake3::hash(json.as_bytes()).as_bytes());
            (sum == &want[..16])
                .then(|| serde_json::from_str::<Entry>(json).ok())
                .flatten()
        });
        match parsed {
            Some(Entry::Identity(id)) if i == 0 => identity = Some(id),
            Some(Entry::Outcome(o)) if i > 0 => outcomes.push(o),
            Some(Entry::Started(seed)) if i > 0 => {
                started.insert(seed);
            }
            None if last && i > 0 => {} // torn by a kill
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
    check_seeds(path, &identity, &mut outcomes)?;
    let running = started
        .into_iter()
        .filter(|&s| identity.covers(s) && !outcomes.has(s))
        .collect();
    Ok((identity, outcomes, running))
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
    let record = read_journal(&journal).map(|(id, o, running)| (id, o.len() as u64, running));
    let file = journal.display();
    Some(match record {
        Ok((previous, done, running)) => match identity.mismatch(&previous) {
            None => format!(
                "{file}: this sweep was started here before and did not finish ({done} of {} \
                 seeds done{}); resume it with --resume {}, or remove {file} to start over",
                previous.expected(),
                match running.as_slice() {
                    [] => String::new(),
                    seeds => format!(
                        "; running when it stopped: {} (a resume runs each alone in a child \
                         process first, in case one took the process down)",
                        seeds
                            .iter()
                            .map(|s| format!("seed {s}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
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
pub fn read_resume(path: &Path) -> Result<(Identity, Outcomes, Vec<u64>, PathBuf), CliError> {
    let (summary, journal) = if path.is_dir() {
        (path.join("summary.json"), path.join("summary.journal"))
    } else if path.extension().is_some_and(|e| e == "journal") {
        (path.with_file_name("summary.json"), path.to_path_buf())
    } else {
        (path.to_path_buf(), journal_path(path))
    };
    if journal.exists() {
        let (id, outcomes, running) = read_journal(&journal)?;
        return Ok((id, outcomes, running, journal));
    }
    let s = read_summary(&summary)?;
    Ok((s.identity, s.outcomes, Vec::new(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn outcome(seed: u64, failed: bool, drawn: &[(&str, String)]) -> SeedOutcome {
        SeedOutcome {
            seed,
            verdict: if failed { "fail" } else { "pass" }.into(),
            end: "quiescent".into(),
            events: 1,
            virtual_time_ns: 1,
            failed_check: failed.then(|| "in-order".into()),
            message: None,
            due: None,
            record: None,
            trace: None,
            trace_hash: String::new(),
            digest: String::new(),
            drawn: drawn
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            not_run: BTreeMap::new(),
            also_failed: BTreeMap::new(),
            missed: BTreeMap::new(),
        }
    }

    fn summary(outcomes: Vec<SeedOutcome>) -> Summary {
        let mut packed = Outcomes::default();
        let n = outcomes.len() as u64;
        outcomes.into_iter().for_each(|o| packed.push(o));
        let identity = Identity {
            scenario: "s.toml".into(),
            scenario_hash: String::new(),
            protocol: "p".into(),
            seeds: (0, n),
            shard: None,
            checks: None,
            strategy: String::new(),
            dsim_version: String::new(),
            trace_format: 0,
            determinism: false,
        };
        Summary::new(identity, packed, true)
    }

    #[test]
    fn the_knob_whose_values_decide_the_failures_comes_first() {
        // Seeds fail exactly when the modulus drawn is 2; the loss and the
        // timeout, drawn beside it, have nothing to do with it.
        let outcomes = (0..400u64)
            .map(|seed| {
                let modulus = 2 + seed % 4;
                let drawn = [
                    (
                        "network.loss",
                        format!("{:.6}", (seed * 7919 % 400) as f64 / 1000.0),
                    ),
                    ("params.modulus", modulus.to_string()),
                    // As a drawn duration prints: in the largest exact unit
                    // ("20ms", "20100us").
                    (
                        "params.timeout",
                        Duration(20_000_000 + seed * 7919 % 400 * 100_000).to_string(),
                    ),
                ];
                outcome(seed, modulus == 2, &drawn)
            })
            .collect();
        let lines = summary(outcomes).draws_and_failures();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(
            lines[0],
            "  params.modulus   2: 100% of 100 · 3: 0% of 100 · 4: 0% of 100 · 5: 0% of 100"
        );
        // Past six values, a range in quarters; durations in their units.
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.starts_with("  network.loss     0..0.1: ")),
            "{lines:#?}"
        );
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.starts_with("  params.timeout   20ms..29.975ms: ")),
            "{lines:#?}"
        );
        // The loss and the timeout differ by chance alone, and say so.
        assert!(
            lines[1..].iter().all(|l| l.ends_with(" · within chance")),
            "{lines:#?}"
        );
        // A sweep that only passed, or only failed, has nothing to compare.
        let passing = (0..10).map(|s| outcome(s, false, &[("params.modulus", "3".into())]));
        assert!(summary(passing.collect()).draws_and_failures().is_empty());
    }

    #[test]
    fn a_knob_that_decides_failures_comes_before_a_wider_spread_by_chance() {
        // Seeds that drew a loss of 0.2 fail 10% of the time, 0.1 4%: over
        // 1,500 seeds each, no chance. `params.batch` is 1 in 20 seeds
        // that happen to pass: a wider spread (0% against 7%), by chance.
        let outcomes = (0..3000u64)
            .map(|seed| {
                let loss = if seed % 2 == 0 { "0.1" } else { "0.2" };
                let failed = seed % 50 == 0 || seed % 20 == 1;
                let batch = if seed % 150 == 7 { "1" } else { "2" };
                outcome(
                    seed,
                    failed,
                    &[
                        ("network.loss", loss.into()),
                        ("params.batch", batch.into()),
                    ],
                )
            })
            .collect();
        let lines = summary(outcomes).draws_and_failures();
        assert_eq!(
            lines,
            [
                "  network.loss     0.1: 4% of 1500 · 0.2: 10% of 1500",
                "  params.batch     1: 0% of 20 · 2: 7% of 2980 · within chance",
            ]
        );
    }

    #[test]
    fn a_clock_offset_set_back_is_grouped_like_one_set_ahead() {
        // Seeds fail exactly when a clock was set back: the offset, a
        // signed duration ("-20ms", as a drawn offset prints), must be in
        // the table, first, its ranges readable with a minus sign.
        let outcomes = (0..810u64)
            .map(|seed| {
                let ms = (seed % 81) as i64 - 40;
                let offset = match ms < 0 {
                    true => format!("-{}", Duration(ms.unsigned_abs() * 1_000_000)),
                    false => Duration(ms as u64 * 1_000_000).to_string(),
                };
                let drawn = [
                    ("fault.0.skew.offset", offset),
                    ("params.modulus", (2 + seed % 3).to_string()),
                ];
                outcome(seed, ms < 0, &drawn)
            })
            .collect();
        let lines = summary(outcomes).draws_and_failures();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert_eq!(
            lines[0],
            "  fault.0.skew.offset -40ms..-20ms: 100% of 200 · -20ms..0ns: 100% of 200 · \
             0ns..20ms: 0% of 200 · 20ms..40ms: 0% of 210"
        );
    }
}
