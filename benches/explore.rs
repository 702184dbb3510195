//! What exhaustive exploration costs, on the model stateright's
//! linearizable-register example checks (ABD with two servers, clients that
//! write once and read once, an ignored message left in the network): the
//! same distinct-state counts, and states per second on this machine,
//! with each state copied from its parent (`Simulation::cloneable`) and
//! with each state's path run again from the start (nodes that cannot be
//! copied, such as async nodes), and with partial-order reduction and
//! without (stateright's semantics take every order, as stateright does:
//! the reduction is compared on the model where deliveries consume their
//! messages). With reduction fewer states are reached for the same
//! distinct ones, so compare the seconds, not the rates.
//!
//! stateright's own figures come from its example built outside this
//! repository (stateright 0.31, `spawn_bfs`, one thread); see the closing
//! notes of the exploration issue for the command.

use dsim::explore::{search, Options};
use dsim::protocols::abd::{stateright_model, Abd};
use dsim::{Budgets, Simulation};
use std::time::Instant;

fn abd(clients: u32, copy: bool) -> Simulation<Abd> {
    let sim = stateright_model(clients, Budgets::default());
    match copy {
        true => sim.cloneable(),
        false => sim,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn report(quick: bool) {
    let runs = if quick { 3 } else { 5 };
    println!("# exploration: ABD, 2 servers, BFS to the end, median of {runs} runs");
    println!(
        "{:<48} {:>9} {:>9} {:>12} {:>9}",
        "model", "distinct", "reached", "states/s", "seconds"
    );
    // (clients, ignored messages stay, copied, reduction, label)
    let cases: &[(u32, bool, bool, bool, &str)] = if quick {
        &[
            (2, true, true, false, "stateright semantics, 2 clients"),
            (2, true, false, false, "  the same, paths run again"),
            (3, false, true, true, "deliveries consume, 3 clients"),
            (3, false, true, false, "  the same, without reduction"),
        ]
    } else {
        &[
            (2, true, true, false, "stateright semantics, 2 clients"),
            (2, true, false, false, "  the same, paths run again"),
            (3, true, true, false, "stateright semantics, 3 clients"),
            (3, true, false, false, "  the same, paths run again"),
            (2, false, true, true, "deliveries consume, 2 clients"),
            (3, false, true, true, "deliveries consume, 3 clients"),
            (3, false, true, false, "  the same, without reduction"),
            (
                3,
                false,
                false,
                true,
                "  the same, reduced, paths run again",
            ),
            (3, false, false, false, "  the same, neither"),
        ]
    };
    for &(clients, stay, copy, reduction, label) in cases {
        let sim = abd(clients, copy);
        let options = Options {
            depth: 1000,
            max_states: 10_000_000,
            ignored_stay: stay,
            reduction,
            ..Options::default()
        };
        let mut rates = Vec::new();
        let mut seconds = Vec::new();
        let mut counts = None;
        for _ in 0..runs {
            let t = Instant::now();
            let r = search(&sim, &options).unwrap();
            let s = t.elapsed().as_secs_f64();
            assert!(r.complete && r.violation.is_none());
            rates.push(r.counts.states as f64 / s);
            seconds.push(s);
            counts = Some(r.counts);
        }
        let c = counts.unwrap();
        println!(
            "{label:<48} {:>9} {:>9} {:>12.0} {:>9.3}",
            c.unique,
            c.states,
            median(rates),
            median(seconds)
        );
    }
}
