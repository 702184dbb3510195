//! `dsim protocols`: what the registry holds.

use super::CliError;
use crate::protocols::Registry;
use clap::Args;

/// List the built-in protocols, their parameters and their invariants.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  dsim protocols")]
pub struct ProtocolsArgs {}

pub fn protocols(registry: &Registry, _args: ProtocolsArgs) -> Result<(), CliError> {
    print!("{}", listing(registry));
    Ok(())
}

/// What `dsim protocols` prints.
fn listing(registry: &Registry) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    for p in registry.iter() {
        let _ = writeln!(t, "{}: {}", p.name(), p.summary());
        let _ = writeln!(t, "  nodes: at least {}", p.min_nodes());
        let roles = p.roles();
        if !roles.is_empty() {
            let _ = writeln!(
                t,
                "  roles (for a fault's `isolate = \"ROLE\"`, `crash = \"ROLE\"` or `pause = \"ROLE\"`): {}",
                roles.join(", ")
            );
        }
        let params = p.params();
        if !params.is_empty() {
            let _ = writeln!(t, "  parameters:");
            for d in &params {
                let choices = if d.choices.is_empty() {
                    String::new()
                } else {
                    format!(" (one of {})", d.choices.join(", "))
                };
                let choices = match d.range {
                    Some((lo, hi)) => format!("{choices} ({lo} to {hi})"),
                    None => choices,
                };
                let _ = writeln!(t, "    {} = {}{choices}  {}", d.name, d.default, d.doc);
            }
        }
        let invariants = p.invariants();
        match invariants.is_empty() {
            // Said, not left as an empty list: a run of it checks only
            // what its scenario asks for.
            true => {
                let _ = writeln!(t, "  invariants: none registered (a scenario may still check its clients' history: [check] linearizable)");
            }
            false => {
                let _ = writeln!(t, "  invariants:");
            }
        }
        for i in invariants {
            let _ = writeln!(t, "    {}  {} (checked {})", i.name, i.doc, i.when);
        }
        let models = p.models();
        if !models.is_empty() {
            let _ = writeln!(t, "  models (for `[check] linearizable = \"NAME\"`):");
            for m in &models {
                let _ = writeln!(t, "    {}  {}", m.name(), m.doc());
            }
        }
        let _ = writeln!(t);
    }
    let _ = writeln!(t, "models every protocol can name:");
    for m in crate::check::linearizable::builtin() {
        let _ = writeln!(t, "  {}  {}", m.name(), m.doc());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::Spec;
    use crate::{Context, Node, NodeId, Simulation};

    struct Quiet;
    impl Node for Quiet {
        type Msg = ();
        type Timer = ();
        fn on_start(&mut self, _: &mut Context<'_, Self>) {}
        fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    }

    #[test]
    fn a_protocol_without_invariants_says_so() {
        let mut registry = Registry::empty();
        registry.add(Spec::new("quiet", "checks nothing", |config, _| {
            Ok(Simulation::new(config, |_| Quiet))
        }));
        let text = listing(&registry);
        assert!(
            text.contains(
                "quiet: checks nothing\n  nodes: at least 1\n  invariants: none registered"
            ),
            "{text}"
        );
        // A protocol with invariants lists them.
        let text = listing(&Registry::builtin());
        assert!(text.contains("  invariants:\n    "), "{text}");
    }
}
