//! A protocol that takes its process down on some seeds: on its first
//! tick, node 0 draws a number and, one time in eight, recurses until its
//! stack overflows (as a user's handler with unbounded recursion does).
//! Rust aborts the process then, and nothing in it can catch that: the
//! tests use it to show that a sweep resumed after such an abort runs the
//! seeds that were running alone, records the one that aborts as failing
//! check `aborted`, and goes on.
//!
//! ```sh
//! cargo run --release --example abort -- sweep examples/abort.toml --seeds 0..16 --out target/abort
//! ```

use dsim::protocols::{Registry, Spec};
use dsim::{Context, Duration, Node, NodeId, Simulation, TimerId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tick;

#[derive(Clone)]
struct Faulty;

/// Recurses until the stack runs out (the test the compiler cannot see
/// through never ends it).
fn deeper(n: u64) -> u64 {
    let frame = std::hint::black_box([n; 64]);
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    deeper(n + 1).wrapping_add(frame[7])
}

impl Node for Faulty {
    type Msg = ();
    type Timer = Tick;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::from_millis(10), Tick);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, _: Tick) {
        if ctx.id() == NodeId(0) && ctx.rng().below(8) == 0 {
            std::hint::black_box(deeper(0));
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut registry = Registry::builtin();
    registry.add(Spec::new(
        "abort",
        "node 0 overflows its stack on one seed in eight",
        |config, _| Ok(Simulation::new(config, |_| Faulty)),
    ));
    dsim::cli::main_with(registry)
}
