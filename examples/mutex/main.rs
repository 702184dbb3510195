//! A user's own protocols on dsim's command line: Ricart–Agrawala mutual
//! exclusion as a state machine, and a lock service written as async
//! nodes (`lock.rs`), each with a broken twin, registered in a few lines.
//!
//! ```sh
//! cargo run --release --example mutex -- run examples/mutex/mutex-reorder.toml
//! cargo run --release --example mutex -- sweep examples/mutex/mutex-bug-reply-in-cs.toml --seeds 0..200
//! cargo run --release --example mutex -- run examples/mutex/lock-lossy.toml
//! cargo run --release --example mutex -- sweep examples/mutex/lock-bug-timeout-is-grant.toml --seeds 0..200
//! cargo test --release --example mutex          # its property tests
//! ```
//!
//! A node that wants the critical section (the workload asks it to)
//! stamps a request with its Lamport clock and sends it to every peer; a
//! peer replies at once unless it is in the section or wants it with an
//! earlier stamp, in which case it defers the reply until it leaves. A
//! node with every reply enters, stays for `hold`, leaves, and answers what
//! it deferred. The broken twin (`reply_in_cs = true`) replies even while
//! it is inside, so two nodes can be inside at once.

mod lock;

use dsim::history::{Phase, Value};
use dsim::protocols::{ParamDoc, Registry, Spec};
use dsim::{Context, Duration, Input, Node, NodeId, Simulation, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Msg {
    Request { stamp: u64 },
    Reply,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Timer {
    Leave,
}

#[derive(Clone, Copy, Debug, Hash)]
struct Settings {
    hold: Duration,
    reply_in_cs: bool,
}

// `Hash` and `Clone` let `explore` merge equal states and copy a state
// rather than run its path again (`.hashable()`, `.cloneable()` below).
#[derive(Clone, Debug, Hash)]
struct Mutex {
    s: Settings,
    clock: u64,
    /// The stamp of this node's current request, if it wants in.
    wanting: Option<u64>,
    replies: BTreeSet<NodeId>,
    deferred: Vec<NodeId>,
    inside: bool,
    /// Requests waiting behind the current one.
    queued: u64,
    entered: u64,
}

impl Mutex {
    fn new(s: Settings) -> Mutex {
        Mutex {
            s,
            clock: 0,
            wanting: None,
            replies: BTreeSet::new(),
            deferred: Vec::new(),
            inside: false,
            queued: 0,
            entered: 0,
        }
    }

    fn request(&mut self, ctx: &mut Context<'_, Self>) {
        // The clients' history, for the `mutex` linearizability model.
        ctx.invoke(u64::from(ctx.id().0), "lock", None, Value::Nil);
        self.clock += 1;
        self.wanting = Some(self.clock);
        self.replies.clear();
        ctx.broadcast(&Msg::Request { stamp: self.clock });
        self.try_enter(ctx);
    }

    fn try_enter(&mut self, ctx: &mut Context<'_, Self>) {
        if self.wanting.is_some()
            && !self.inside
            && self.replies.len() + 1 == ctx.node_count() as usize
        {
            self.inside = true;
            self.entered += 1;
            ctx.begin_span("in critical section");
            ctx.complete(u64::from(ctx.id().0), Phase::Ok, "lock", None, Value::Nil);
            ctx.set_timer(self.s.hold, Timer::Leave);
        }
    }
}

impl Node for Mutex {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {}

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, _input: Input) {
        match self.wanting {
            Some(_) => self.queued += 1,
            None => self.request(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request { stamp } => {
                self.clock = self.clock.max(stamp) + 1;
                let mine_first = self.wanting.is_some_and(|m| (m, ctx.id()) < (stamp, from));
                let busy = (self.inside && !self.s.reply_in_cs) || (!self.inside && mine_first);
                if busy {
                    self.deferred.push(from);
                } else {
                    ctx.send(from, &Msg::Reply);
                }
            }
            Msg::Reply => {
                self.replies.insert(from);
                self.try_enter(ctx);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, Timer::Leave: Timer) {
        self.inside = false;
        ctx.end_span("in critical section");
        self.wanting = None;
        let me = u64::from(ctx.id().0);
        ctx.invoke(me, "unlock", None, Value::Nil);
        ctx.complete(me, Phase::Ok, "unlock", None, Value::Nil);
        for peer in std::mem::take(&mut self.deferred) {
            ctx.send(peer, &Msg::Reply);
        }
        if self.queued > 0 {
            self.queued -= 1;
            self.request(ctx);
        }
    }
}

/// The protocol, as the command line and the tests see it.
fn protocol() -> Spec<Mutex> {
    Spec::new(
        "mutex",
        "Ricart–Agrawala mutual exclusion (reliable channels)",
        |config, params| {
            let s = Settings {
                hold: params.duration("hold")?,
                reply_in_cs: params.flag("reply_in_cs")?,
            };
            Ok(Simulation::new(config, move |_| Mutex::new(s))
                .always(
                    "mutual-exclusion",
                    "at most one node is in the critical section",
                    |v| {
                        let inside: Vec<NodeId> =
                            v.up().filter(|(_, n)| n.inside).map(|(id, _)| id).collect();
                        match inside.len() {
                            0 | 1 => Ok(()),
                            _ => Err(format!("{inside:?} are in the critical section at once")),
                        }
                    },
                )
                .eventually(
                    "no-starvation",
                    "every request is served once the network is calm",
                    Duration::from_secs(5),
                    |v| match v.up().find(|(_, n)| n.wanting.is_some() || n.queued > 0) {
                        Some((id, _)) => Err(format!("{id} still waits for the critical section")),
                        None => Ok(()),
                    },
                )
                .hashable()
                .cloneable())
        },
    )
    .param(ParamDoc::duration(
        "hold",
        Duration::from_millis(40),
        "how long a node stays in the critical section",
    ))
    .param(ParamDoc::flag(
        "reply_in_cs",
        false,
        "reply to requests while inside; true is the broken twin",
    ))
    .min_nodes(2)
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.add(protocol());
    registry.add(lock::protocol());
    registry
}

fn main() -> std::process::ExitCode {
    dsim::cli::main_with(registry())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim::history::{Linearizability, Value};
    use dsim::protocols::{ParamValue, Params, Protocol};
    use dsim::testing::{cases, check_protocol, check_protocol_with, Bounds};
    use proptest::prelude::*;

    /// Ricart–Agrawala assumes channels that lose nothing, and nodes that
    /// do not crash.
    fn bounds() -> Bounds {
        Bounds::default().reliable().no_crashes().no_partitions()
    }

    fn params(reply_in_cs: bool) -> Params {
        let given = [("reply_in_cs".to_string(), ParamValue::Bool(reply_in_cs))].into();
        Params::resolve(&protocol().params(), &given).unwrap()
    }

    proptest! {
        #[test]
        fn mutual_exclusion_holds_on_reliable_reordering_networks(case in cases(bounds())) {
            // The protocol's invariants, and the clients' history as a
            // mutex, as the scenarios check it.
            let mutex = Linearizability { model: "mutex".into(), initial: Value::Nil };
            check_protocol_with(&case, &protocol(), &params(false), Some(mutex))?;
        }
    }

    /// The command line, as `cargo run --example mutex -- ARGS` runs it.
    fn cli(args: &str) -> u8 {
        dsim::cli::run_with(
            &registry(),
            std::iter::once("mutex").chain(args.split_whitespace()),
        )
    }

    #[test]
    fn the_command_line_passes_the_protocol_and_catches_its_twin() {
        // Removed when the test ends.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().display();
        let ok = format!("sweep examples/mutex/mutex-reorder.toml --seeds 0..200 --out {out}/ok");
        assert_eq!(cli(&ok), 0);
        let bug = format!(
            "sweep examples/mutex/mutex-bug-reply-in-cs.toml --seeds 0..200 --out {out}/bug"
        );
        assert_eq!(cli(&bug), 1, "the twin must fail in some seed of 0..200");
        let ok = format!("sweep examples/mutex/lock-lossy.toml --seeds 0..200 --out {out}/lock-ok");
        assert_eq!(cli(&ok), 0);
        let bug = format!(
            "sweep examples/mutex/lock-bug-timeout-is-grant.toml --seeds 0..200 --out {out}/lock-bug"
        );
        assert_eq!(
            cli(&bug),
            1,
            "the async twin must fail in some seed of 0..200"
        );
        assert_eq!(
            cli("run examples/mutex/mutex-bug-reply-in-cs.toml --check mutal-exclusion"),
            2,
            "a misspelt check is refused"
        );
        // Exhaustively, two operations: every order of the correct
        // protocol's events is clean, and the twin's violation is found.
        let explore = |scenario: &str, dir: &str| {
            cli(&format!(
                "explore examples/mutex/{scenario} --operations 2 --depth 40 --out {out}/{dir}"
            ))
        };
        assert_eq!(explore("mutex-reorder.toml", "explore-ok"), 0);
        assert_eq!(explore("mutex-bug-reply-in-cs.toml", "explore-bug"), 1);
    }

    /// The crate's own regression corpus: the twin's shrunk failure must
    /// still fail as recorded, and the scenario of the correct protocol
    /// must pass against its schedule.
    #[test]
    fn every_trace_in_the_corpus_still_behaves_as_recorded() {
        let replayed = dsim::testing::assert_corpus(&registry(), "examples/mutex/traces");
        assert!(
            replayed[0]
                .summary
                .ends_with("mutex-reorder.toml passes against its schedule"),
            "{}",
            replayed[0].summary
        );
    }

    #[test]
    fn the_broken_twin_is_caught_and_shrinks_small() {
        let mut runner = proptest::test_runner::TestRunner::default();
        let result = runner.run(&cases(bounds()), |case| {
            check_protocol(&case, &protocol(), &params(true))
        });
        let Err(proptest::test_runner::TestError::Fail(why, case)) = result else {
            panic!("the broken twin was not caught: {result:?}");
        };
        assert!(why.to_string().contains("mutual-exclusion"), "{why}");
        assert!(case.operations <= 6 && case.faults.len() <= 2, "{case:?}");
    }
}
