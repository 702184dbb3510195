//! The benchmark workload as a standalone program, for profilers:
//! `cargo run --release --example relay -- 16 2000000 [trace]`.

use dsim::{Context, Duration, Latency, LinkConfig, Node, NodeId, SimConfig, Simulation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Counter(u64);

struct Relay;

fn other(ctx: &mut Context<'_, Counter>) -> NodeId {
    let n = u64::from(ctx.node_count());
    let me = u64::from(ctx.id().0);
    let pick = ctx.rng().below(n - 1);
    NodeId(if pick >= me { pick + 1 } else { pick } as u32)
}

impl Node for Relay {
    type Msg = Counter;
    fn on_start(&mut self, ctx: &mut Context<'_, Counter>) {
        let to = other(ctx);
        ctx.send(to, &Counter(0));
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Counter>, _from: NodeId, Counter(c): Counter) {
        let to = other(ctx);
        ctx.send(to, &Counter(c + 1));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let deliveries: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let traced = args.get(3).is_some_and(|a| a == "trace");
    let mut c = SimConfig::new(7, nodes);
    c.network.default = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
        },
        ..LinkConfig::default()
    };
    c.limits.events = deliveries + u64::from(nodes);
    c.limits.time = Duration::from_secs(1 << 30);
    let sim = Simulation::new(c, |_| Relay);
    let outcome = if traced {
        let path = std::env::temp_dir().join("dsim-relay.trace");
        let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        sim.run_traced(f, None).unwrap().0
    } else {
        sim.run().unwrap()
    };
    println!("{} deliveries", outcome.stats.delivered);
}
