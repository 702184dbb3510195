//! Crashes a search lets fall in the middle of a handler
//! (`--mid-handler N`, `Budgets::mid_handler`): right after one of its
//! sends, so that the rest of a broadcast never leaves and what the
//! handler did after that send never happens. A protocol that tells a
//! value before logging it survives every crash between handlers and is
//! caught here; its fix passes the same search, and the counterexample
//! replays against the fix by what each step did, cut included.

use crate::common::tmp;
use dsim::aio::{Async, AsyncNode, Ctx};
use dsim::explore::{search, Options, Report};
use dsim::trace::Kind;
use dsim::{Budgets, Context, Node, NodeId, SimConfig, Simulation, Strategy};
use serde::{Deserialize, Serialize};

/// Node 0 counts its starts on its disk and, a millisecond after a start
/// with nothing told yet, tells the others its count: `log_first` logs
/// what it tells first; else it tells, then logs. A start with a value
/// logged tells that value again. The others keep the first value they
/// hear and note any other. `mute`: the timer logs and tells no one.
struct Teller {
    log_first: bool,
    mute: bool,
    boots: u32,
    heard: Option<u32>,
    contradicted: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Tell(u32);

impl Node for Teller {
    type Msg = Tell;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() != NodeId(0) {
            return;
        }
        self.boots = ctx.disk().read("boots").unwrap_or(0);
        ctx.disk().write("boots", &(self.boots + 1));
        ctx.disk().sync();
        match ctx.disk().read::<u32>("told") {
            Some(v) => ctx.broadcast(&Tell(v)),
            None => {
                ctx.set_timer(dsim::Duration::from_millis(1), ());
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, _: ()) {
        let v = self.boots;
        if self.log_first {
            ctx.disk().write("told", &v);
            ctx.disk().sync();
        }
        if !self.mute {
            ctx.broadcast(&Tell(v));
        }
        if !self.log_first {
            ctx.disk().write("told", &v);
            ctx.disk().sync();
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, Tell(v): Tell) {
        self.contradicted |= self.heard.is_some_and(|w| w != v);
        self.heard.get_or_insert(v);
    }
}

fn teller(config: SimConfig, log_first: bool) -> Simulation<Teller> {
    teller_with(config, log_first, false)
}

fn teller_with(config: SimConfig, log_first: bool, mute: bool) -> Simulation<Teller> {
    Simulation::new(config, move |_| Teller {
        log_first,
        mute,
        boots: 0,
        heard: None,
        contradicted: false,
    })
    .always("one-value", "no node hears two values", |v| {
        let mut heard = None;
        for id in (1..v.node_count() as u32).map(NodeId) {
            let Some(n) = v.node(id) else { continue };
            if n.contradicted {
                return Err(format!("{id} heard two values"));
            }
            if let (Some(a), Some(b)) = (heard, n.heard) {
                if a != b {
                    return Err(format!("nodes heard {a} and {b}"));
                }
            }
            heard = heard.or(n.heard);
        }
        Ok(())
    })
}

fn registry(log_first: bool) -> dsim::protocols::Registry {
    registry_with(log_first, false)
}

fn registry_with(log_first: bool, mute: bool) -> dsim::protocols::Registry {
    let mut r = dsim::protocols::Registry::empty();
    r.add(dsim::protocols::Spec::new(
        "teller",
        "tells a value, logged before or after",
        move |config, _| Ok(teller_with(config, log_first, mute)),
    ));
    r
}

/// Three nodes explored with one crash, which may fall right after one
/// of a handler's first `mid_handler` sends; crashed nodes recover.
fn explored(mid_handler: u32) -> SimConfig {
    let mut config = SimConfig::new(0, 3);
    config.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets: Budgets {
            crashes: 1,
            mid_handler,
            recover: true,
            ..Budgets::default()
        },
    };
    config
}

fn searched(log_first: bool, mid_handler: u32) -> Report {
    search(
        &teller(explored(mid_handler), log_first),
        &Options::default(),
    )
    .unwrap()
}

#[test]
fn a_search_names_the_send_a_crash_cut_a_handler_after_and_leaves_sends_never_made() {
    let r = searched(false, 0);
    assert!(r.violation.is_none() && r.complete, "{r:?}");
    let r = searched(false, 1);
    let v = r.violation.expect("the twin is caught");
    assert!(
        v.steps.iter().any(|s| s.starts_with("fire n0's timer")
            && s.ends_with(": (), cut by a crash of n0 right after the handler's 1st send")),
        "{:?}",
        v.steps
    );
    // The fix, with a cut after either of its two sends: clean. A cut
    // after a third send, which no handler makes, is no step: the same
    // states, none more.
    let two = searched(true, 2);
    assert!(two.violation.is_none() && two.complete, "{two:?}");
    let five = searched(true, 5);
    assert!(five.violation.is_none() && five.complete, "{five:?}");
    assert_eq!(two.counts.states, five.counts.states);
    assert!(
        two.counts.states > searched(true, 1).counts.states,
        "a cut after the second send is searched too"
    );
}

fn cli(log_first: bool, args: &[&str]) -> u8 {
    dsim::cli::run_with(
        &registry(log_first),
        std::iter::once("dsim").chain(args.iter().copied()),
    )
}

#[test]
fn a_crash_right_after_a_handlers_send_is_searched_found_and_replayed_against_the_fix() {
    let dir = tmp("mid-handler");
    let scenario = dir.join("teller.toml");
    std::fs::write(&scenario, "protocol = \"teller\"\nnodes = 3\n").unwrap();
    let s = scenario.to_str().unwrap();
    let out = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // Crashes between handlers only: the twin survives every one, the
    // search complete.
    let between = out("between");
    assert_eq!(
        cli(false, &["explore", s, "--crashes", "1", "--out", &between]),
        0,
        "a crash between handlers never parts the telling from the logging"
    );
    // The budget asks for crashes to spend.
    for crashes in [&[][..], &["--crashes", "0"]] {
        let mut args = vec!["explore", s, "--mid-handler", "1", "--out", &between];
        args.extend_from_slice(crashes);
        assert_eq!(cli(false, &args), 2, "{args:?}");
    }
    // A crash right after the first of the broadcast's sends: n1 heard 0,
    // n0 came back with nothing logged and told 1.
    let found = out("found");
    let args = |o: &str, n: &str| -> Vec<String> {
        [
            "explore",
            s,
            "--crashes",
            "1",
            "--mid-handler",
            n,
            "--recover",
            "--out",
            o,
        ]
        .map(String::from)
        .to_vec()
    };
    let found_args = args(&found, "1");
    let found_args: Vec<&str> = found_args.iter().map(String::as_str).collect();
    assert_eq!(cli(false, &found_args), 1, "the twin is caught");
    let trace = dir.join("found").join("teller-explored.trace");
    let t = trace.to_str().unwrap();
    // The fix passes the same search, with a cut after either send.
    let fixed = out("fixed");
    let fixed_args = args(&fixed, "2");
    let fixed_args: Vec<&str> = fixed_args.iter().map(String::as_str).collect();
    assert_eq!(cli(true, &fixed_args), 0, "the fix passes");
    // The recorded path names its cut step: the timer's, after one send.
    let (_, records, _) = dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let mut steps = dsim::replay::ExploredSteps::default();
    for r in &records {
        steps.add(r);
    }
    let cut: Vec<(usize, u32)> = steps.cuts.iter().map(|(&k, &n)| (k, n)).collect();
    assert_eq!(cut.len(), 1, "{:?} {:?}", steps.cuts, steps.steps);
    assert_eq!(cut[0].1, 1, "cut after the handler's first send");
    assert!(
        matches!(
            steps.steps[cut[0].0],
            Some(dsim::network::Step::Fire { node: 0, .. })
        ),
        "{:?}",
        steps.steps
    );
    // Replayed: the twin fails again; the fix, taking the same cut, passes.
    assert_eq!(cli(false, &["replay", t]), 1, "the twin still fails");
    let replayed = out("fixed.trace");
    assert_eq!(
        cli(true, &["replay", t, "-o", &replayed]),
        0,
        "the fix passes"
    );
    let (_, fixed, _) = dsim::trace::read_all(&std::fs::read(&replayed).unwrap(), None).unwrap();
    let crash = fixed
        .iter()
        .position(|r| {
            matches!(
                r.kind,
                Kind::Crash {
                    node: NodeId(0),
                    ..
                }
            )
        })
        .expect("the fix's run crashed n0 as the recorded one did");
    let fired = fixed[..crash]
        .iter()
        .rposition(|r| {
            matches!(
                r.kind,
                Kind::Timer {
                    node: NodeId(0),
                    ..
                }
            )
        })
        .expect("in its timer's handler");
    let sends = fixed[fired..crash]
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                Kind::Send {
                    node: NodeId(0),
                    ..
                }
            )
        })
        .count();
    assert_eq!(sends, 1, "the rest of the broadcast never left");
    // Against a version that tells no one, the recorded cut has no send
    // to fall after: the run passes, and says the step's crash never came
    // (a pass that did not face the crash is no fix): five steps not
    // followed, the cut one and four after it that need what it would
    // have done (without the count of the cut one, four).
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::copy(&trace, corpus.join("teller.trace")).unwrap();
    std::fs::write(
        corpus.join("teller.expect"),
        "fails = \"one-value\"\nfixed_in_place = true\n",
    )
    .unwrap();
    let r = dsim::testing::replay_corpus(&registry_with(true, true), &corpus).unwrap();
    assert!(
        r[0].summary.contains("(5 steps of the explored path")
            && r[0]
                .summary
                .contains("taken without the crash that cut their handler"),
        "{r:?}"
    );
}

/// [`Teller`] as an async node: its task tells and logs in the order
/// `log_first` says; the others keep the first value they hear.
struct AsyncTeller {
    log_first: bool,
}

impl AsyncNode for AsyncTeller {
    type Msg = Tell;
    /// What a node heard first, and whether it heard another since.
    type State = (Option<u32>, bool);

    async fn main(self, ctx: Ctx<Self>) {
        if ctx.id() != NodeId(0) {
            loop {
                let Tell(v) = ctx.recv().await.msg;
                ctx.state_mut(|(heard, contradicted)| {
                    *contradicted |= heard.is_some_and(|w| w != v);
                    heard.get_or_insert(v);
                });
            }
        }
        let boots: u32 = ctx.read("boots").await.unwrap_or(0);
        ctx.write("boots", &(boots + 1)).await;
        ctx.sync().await;
        if let Some(v) = ctx.read::<u32>("told").await {
            ctx.broadcast(&Tell(v));
            return;
        }
        ctx.sleep(dsim::Duration::from_millis(1)).await;
        if self.log_first {
            ctx.write("told", &boots).await;
            ctx.sync().await;
        }
        ctx.broadcast(&Tell(boots));
        if !self.log_first {
            ctx.write("told", &boots).await;
            ctx.sync().await;
        }
    }
}

fn async_searched(log_first: bool, mid_handler: u32) -> Report {
    let config = explored(mid_handler);
    let sim = Simulation::new(config, move |_| Async::new(AsyncTeller { log_first })).always(
        "one-value",
        "no node hears two values",
        |v| {
            let heard: Vec<(Option<u32>, bool)> = (1..v.node_count() as u32)
                .filter_map(|i| v.node(NodeId(i)).map(|n| *n.state()))
                .collect();
            let values: std::collections::BTreeSet<u32> =
                heard.iter().filter_map(|h| h.0).collect();
            match heard.iter().any(|h| h.1) || values.len() > 1 {
                true => Err(format!("heard {values:?}")),
                false => Ok(()),
            }
        },
    );
    search(&sim, &Options::default()).unwrap()
}

#[test]
fn an_async_nodes_task_is_cut_right_after_a_send_under_exploration() {
    let r = async_searched(false, 0);
    assert!(r.violation.is_none() && r.complete, "{r:?}");
    let r = async_searched(false, 1);
    let v = r.violation.expect("the async twin is caught");
    assert!(
        v.steps
            .iter()
            .any(|s| s.ends_with("cut by a crash of n0 right after the handler's 1st send")),
        "{:?}",
        v.steps
    );
    let fixed = async_searched(true, 2);
    assert!(fixed.violation.is_none() && fixed.complete, "{fixed:?}");
}
