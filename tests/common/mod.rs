//! Small protocols the kernel tests share.
#![allow(dead_code)]

use dsim::{Context, Duration, Node, NodeId, TimerId};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};

static RUNS: AtomicU32 = AtomicU32::new(0);

/// Node 0 sends node 1 how many runs of this test process came before:
/// no two runs alike, as a global leaking into a protocol makes them.
pub struct Leaky;

impl Node for Leaky {
    type Msg = u32;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), &RUNS.fetch_add(1, Ordering::SeqCst));
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: u32) {}
}

/// Every `period`, each node sends a numbered message to every peer, for
/// `rounds` rounds; it counts what it receives.
#[derive(Debug)]
pub struct Chatter {
    pub period: Duration,
    pub rounds: u32,
    pub sent_rounds: u32,
    pub received: u64,
    pub random_draws: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    pub round: u32,
    pub note: String,
}

impl Chatter {
    pub fn new(period: Duration, rounds: u32) -> Chatter {
        Chatter {
            period,
            rounds,
            sent_rounds: 0,
            received: 0,
            random_draws: 0,
        }
    }
}

impl Node for Chatter {
    type Msg = Hello;
    type Timer = u64;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(self.period, 0);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _from: NodeId, _msg: Hello) {
        self.received += 1;
        for _ in 0..self.random_draws {
            ctx.rng().next_u64();
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId, _tag: u64) {
        self.sent_rounds += 1;
        ctx.broadcast(&Hello {
            round: self.sent_rounds,
            note: "hello there, peer".into(),
        });
        if self.sent_rounds < self.rounds {
            ctx.set_timer(self.period, 0);
        }
    }
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `dsim` binary built for these tests.
pub fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .output()
        .expect("dsim runs")
}

/// Standard output and standard error together, for messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A trace's header and records (its seal taken off), to edit as a
/// forger would.
pub fn unsealed(
    bytes: &[u8],
) -> (
    dsim::trace::Header,
    Vec<dsim::trace::Record<'static>>,
    dsim::trace::Record<'static>,
) {
    let (header, mut records, _) = dsim::trace::read_all(bytes, None).unwrap();
    let seal = records.pop().expect("a seal");
    (header, records, seal)
}

/// `records` written again under `header` with a valid chain, sealed as
/// `seal` was: what a forger who rebuilds the chain writes.
pub fn resealed(
    header: &dsim::trace::Header,
    records: &[dsim::trace::Record<'_>],
    seal: &dsim::trace::Record<'_>,
) -> Vec<u8> {
    let dsim::trace::Kind::End { reason, .. } = seal.kind else {
        panic!("not a seal: {seal:?}")
    };
    let mut w = dsim::trace::TraceWriter::new(Vec::new(), header, None).unwrap();
    for r in records {
        w.append(r).unwrap();
    }
    w.finish(reason, seal.time).unwrap().0
}

/// The files in `dir` whose extension is `ext`, sorted.
pub fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Where [`tmp`] puts `name`: under the build's own scratch directory
/// (`target/tmp`), one folder per test file (the caller's), so that each
/// run of the tests reuses the last run's folders instead of leaving new
/// ones behind, and two files may use the same name.
#[track_caller]
pub fn tmp_path(name: &str) -> PathBuf {
    let file = Path::new(std::panic::Location::caller().file());
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(file.file_stem().expect("a test file"))
        .join(name)
}

/// A fresh, empty directory of the calling test file. Each may be claimed
/// once in a run of the tests: two tests running at once in one directory
/// would delete each other's files.
#[track_caller]
pub fn tmp(name: &str) -> PathBuf {
    static CLAIMED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let dir = tmp_path(name);
    let fresh = CLAIMED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.clone());
    assert!(
        fresh,
        "{}: another test of this run has this scratch directory",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The digest of a passing sweep of `scenario` over `seeds` with `jobs`
/// workers, its summary written under `dir`.
pub fn passing_sweep_digest(
    dir: &std::path::Path,
    scenario: &str,
    seeds: &str,
    jobs: &str,
) -> serde_json::Value {
    let out_dir = dir.join(format!("{scenario}-{jobs}"));
    let out = dsim(&[
        "sweep",
        &format!("scenarios/{scenario}.toml"),
        "--seeds",
        seeds,
        "--jobs",
        jobs,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    summary["digest"].clone()
}

/// Sends SIGINT (Ctrl-C) to `child`, through the shell's own `kill`: no
/// procps needed.
pub fn interrupt(child: &std::process::Child) {
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .expect("sh runs");
    assert!(killed.success());
}

/// A heartbeat failure detector: every node beats every 20 ms and
/// suspects a peer not heard from for 100 ms (`blind`: never suspects).
#[derive(Debug)]
pub struct Detector {
    pub heard: Vec<dsim::Instant>,
    pub suspects: Vec<bool>,
    pub blind: bool,
}

impl Detector {
    pub fn new(blind: bool) -> Detector {
        Detector {
            heard: Vec::new(),
            suspects: Vec::new(),
            blind,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Beat;

impl Node for Detector {
    type Msg = Beat;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let n = ctx.node_count() as usize;
        self.heard = vec![ctx.now(); n];
        self.suspects = vec![false; n];
        ctx.set_timer(Duration::from_millis(20), ());
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, _: Beat) {
        self.heard[from.index()] = ctx.now();
        self.suspects[from.index()] = false;
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, (): ()) {
        ctx.broadcast(&Beat);
        for (j, &t) in self.heard.iter().enumerate() {
            let silent = ctx.now() - t > Duration::from_millis(100);
            self.suspects[j] = silent && !self.blind && j != ctx.id().index();
        }
        ctx.set_timer(Duration::from_millis(20), ());
    }
}
