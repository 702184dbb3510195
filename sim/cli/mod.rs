//! The command line: one file per command, each a thin layer over library
//! calls. Exit status: 0 every check held, 1 a check failed, 2 bad input or
//! usage.
//!
//! A crate with its own protocols gets the same command line with:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let mut registry = dsim::protocols::Registry::builtin();
//!     // registry.register(Box::new(my_protocol::MyProtocol));
//!     dsim::cli::main_with(registry)
//! }
//! ```

mod check;
mod diff;
mod explore;
mod files;
mod protocols;
pub(crate) mod replay;
mod run;
mod show;
mod shrink;
mod summary;
mod sweep;

use crate::protocols::Registry;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// What a command reports back to `main`.
#[derive(Debug)]
pub enum CliError {
    /// Bad input or usage: exit 2.
    Input(String),
    /// A check failed (already reported): exit 1.
    CheckFailed,
    /// The reader of standard output went away: stop without a word.
    Quiet,
}

impl CliError {
    pub fn input(message: impl std::fmt::Display) -> CliError {
        CliError::Input(message.to_string())
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "dsim",
    version,
    about = "Deterministic simulation, checking and replay for message-passing systems",
    after_help = "Examples:\n  dsim run scenarios/echo-lossy.toml --seed 7\n  dsim sweep scenarios/echo-bug-no-dedup.toml --seeds 0..1000\n  dsim check traces/echo-bug-no-dedup-seed-0.trace\n  dsim protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Run(run::RunArgs),
    Check(check::CheckArgs),
    Replay(replay::ReplayArgs),
    Diff(diff::DiffArgs),
    Show(show::ShowArgs),
    Shrink(shrink::ShrinkArgs),
    Sweep(sweep::SweepArgs),
    Explore(explore::ExploreArgs),
    Merge(sweep::MergeArgs),
    Protocols(protocols::ProtocolsArgs),
}

/// The `dsim` binary with the built-in protocols.
pub fn main() -> ExitCode {
    main_with(Registry::builtin())
}

/// The `dsim` command line over `registry`.
pub fn main_with(registry: Registry) -> ExitCode {
    ExitCode::from(run_with(&registry, std::env::args_os()))
}

/// The command line over `registry` with these arguments (the first is
/// the program's name), returning the exit status: what `main_with` runs,
/// callable from a test.
pub fn run_with<I, T>(registry: &Registry, args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    install_panic_hook();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
        }
    };
    // Printing to a closed pipe (`dsim show t.trace | head`) panics inside
    // `println!`; that is the reader leaving, not a failure: stop quietly.
    let dispatch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(registry, cli.command)
    }));
    let result = match dispatch {
        Ok(result) => result,
        Err(panic) => match output_failure(panic.as_ref()) {
            // `println!` gives up on a closed pipe or a full disk by
            // panicking; both are the output's fate, not a bug.
            Some(OutputFailure::Closed) => return 141,
            Some(OutputFailure::Failed(why)) => {
                eprintln!("error: cannot write to standard output: {why}");
                return 2;
            }
            None => std::panic::resume_unwind(panic),
        },
    };
    match result {
        Ok(()) => 0,
        Err(CliError::CheckFailed) => 1,
        Err(CliError::Quiet) => 141,
        Err(CliError::Input(message)) => {
            // Messages may quote what a file holds: escape what could
            // steer a terminal, keep the lines.
            let lines: Vec<String> = message
                .split('\n')
                .map(|l| crate::show::plain(l).into_owned())
                .collect();
            eprintln!("error: {}", lines.join("\n"));
            2
        }
    }
}

/// Writes `text` to standard output. A reader that went away (a closed
/// pipe: `dsim show t.trace | head`) ends the command quietly; any other
/// failure (a full disk) is an error with its reason.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::Quiet),
        Err(e) => Err(CliError::input(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// The name this program was started by (a user's binary is not `dsim`),
/// for the command lines it prints.
pub(crate) fn program() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "dsim".into())
}

/// A protocol as the renderings' decoder.
pub(crate) struct ByProtocol<'a>(pub &'a dyn crate::protocols::Protocol);

impl crate::show::text::Decode for ByProtocol<'_> {
    fn message(&self, payload: &[u8]) -> Option<String> {
        self.0.decode(payload)
    }
    fn timer(&self, tag: &[u8]) -> Option<String> {
        self.0.decode_timer(tag)
    }
}

enum OutputFailure {
    Closed,
    Failed(String),
}

/// Whether a panic is `println!` failing to write standard output, and
/// how.
fn output_failure(panic: &(dyn std::any::Any + Send)) -> Option<OutputFailure> {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("");
    let why = text.strip_prefix("failed printing to stdout: ")?;
    Some(if why.contains("Broken pipe") {
        OutputFailure::Closed
    } else {
        OutputFailure::Failed(why.to_string())
    })
}

fn dispatch(registry: &Registry, command: Command) -> Result<(), CliError> {
    match command {
        Command::Run(args) => run::run(registry, args),
        Command::Check(args) => check::check(args, &registry.models()),
        Command::Replay(args) => replay::replay(registry, args),
        Command::Diff(args) => diff::diff(registry, args),
        Command::Show(args) => show::show(registry, args),
        Command::Shrink(args) => shrink::shrink(registry, args),
        Command::Sweep(args) => sweep::sweep(registry, args),
        Command::Explore(args) => explore::explore(registry, args),
        Command::Merge(args) => sweep::merge(args),
        Command::Protocols(args) => protocols::protocols(registry, args),
    }
}

/// Panics inside node handlers are caught, recorded in the trace and
/// reported as failures; printing them as crashes too would only confuse.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let output = output_failure(info.payload()).is_some();
        if !crate::scheduler::in_handler() && !output {
            default(info);
        }
    }));
}
