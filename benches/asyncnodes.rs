//! The ring-gossip race written as an async node, beside the state-machine
//! version, in one process: trace off and trace on, ns per delivery, and
//! each as a ratio to the bare loop.

use super::{bare_loop, config, dsim_traced, dsim_untraced, interleaved_medians_ns, Counter};
use dsim::aio::{Async, AsyncNode, Ctx};
use dsim::{NodeId, Simulation};

/// The relay of `dsim_bench`: each delivery sends counter + 1 to a random
/// other node.
struct AsyncRelay;

fn other(ctx: &Ctx<AsyncRelay>) -> NodeId {
    let n = u64::from(ctx.node_count());
    let me = u64::from(ctx.id().0);
    let pick = ctx.rng(|r| r.below(n - 1));
    NodeId(if pick >= me { pick + 1 } else { pick } as u32)
}

impl AsyncNode for AsyncRelay {
    type Msg = Counter;
    type State = ();

    async fn main(self, ctx: Ctx<Self>) {
        ctx.send(other(&ctx), &Counter(0));
        loop {
            let Counter(c) = ctx.recv().await.msg;
            ctx.send(other(&ctx), &Counter(c + 1));
        }
    }
}

pub fn untraced(nodes: u32, deliveries: u64) -> u64 {
    let sim = Simulation::new(config(nodes, deliveries, true), |_| Async::new(AsyncRelay));
    sim.run().unwrap().stats.delivered
}

fn async_traced(nodes: u32, deliveries: u64, path: &std::path::Path) -> u64 {
    let sim = Simulation::new(config(nodes, deliveries, true), |_| Async::new(AsyncRelay));
    let file = std::fs::File::create(path).unwrap();
    sim.run_traced(file, None).unwrap().0.stats.delivered
}

pub fn report(quick: bool) {
    let deliveries: u64 = if quick { 200_000 } else { 2_000_000 };
    let runs = if quick { 3 } else { 5 };
    let trace = std::env::temp_dir().join(format!("dsim-bench-async-{}.trace", std::process::id()));
    println!(
        "\n# async nodes: ring gossip, 16 nodes, {deliveries} deliveries, median of {runs} rounds taken in turn"
    );
    let [bare, sm_off, as_off, sm_on, as_on] = interleaved_medians_ns(
        runs,
        [
            &mut || bare_loop(16, deliveries),
            &mut || dsim_untraced(16, deliveries, true),
            &mut || untraced(16, deliveries),
            &mut || dsim_traced(16, deliveries, true, &trace),
            &mut || async_traced(16, deliveries, &trace),
        ],
    )
    .map(|ns| ns / deliveries as f64);
    println!("bare event loop           {bare:>8.1} ns/delivery");
    println!(
        "state machine, trace off  {sm_off:>8.1} ns/delivery   {:.2}x bare",
        sm_off / bare
    );
    println!(
        "async, trace off          {as_off:>8.1} ns/delivery   {:.2}x bare, {:.2}x the state machine (target <= 1.5x)",
        as_off / bare,
        as_off / sm_off
    );
    println!(
        "state machine, trace on   {sm_on:>8.1} ns/delivery   {:.2}x bare",
        sm_on / bare
    );
    println!(
        "async, trace on           {as_on:>8.1} ns/delivery   {:.2}x bare, {:.2}x the state machine (target <= 1.5x)",
        as_on / bare,
        as_on / sm_on
    );
    let _ = std::fs::remove_file(&trace);
}
