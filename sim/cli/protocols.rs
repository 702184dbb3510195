//! `dsim protocols`: what the registry holds.

use super::CliError;
use crate::protocols::Registry;
use clap::Args;

/// List the built-in protocols, their parameters and their invariants.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  dsim protocols")]
pub struct ProtocolsArgs {}

pub fn protocols(registry: &Registry, _args: ProtocolsArgs) -> Result<(), CliError> {
    for p in registry.iter() {
        println!("{}: {}", p.name(), p.summary());
        println!("  nodes: at least {}", p.min_nodes());
        let params = p.params();
        if !params.is_empty() {
            println!("  parameters:");
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
                println!("    {} = {}{choices}  {}", d.name, d.default, d.doc);
            }
        }
        println!("  invariants:");
        for i in p.invariants() {
            println!("    {}  {} (checked {})", i.name, i.doc, i.when);
        }
        let models = p.models();
        if !models.is_empty() {
            println!("  models (for `[check] linearizable = \"NAME\"`):");
            for m in &models {
                println!("    {}  {}", m.name(), m.doc());
            }
        }
        println!();
    }
    println!("models every protocol can name:");
    for m in crate::check::linearizable::builtin() {
        println!("  {}  {}", m.name(), m.doc());
    }
    Ok(())
}
