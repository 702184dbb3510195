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
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let name = args
        .first()
        .map_or_else(|| "dsim".to_string(), |a| program_name(a));
    if let Ok(mut program) = PROGRAM.lock() {
        *program = Some(name.clone());
    }
    let parsed = command_as(&name)
        .try_get_matches_from(args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    let cli = match parsed {
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
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// A write to standard output that failed: quiet when the reader went
/// away (`| head`), else said.
pub(crate) fn stdout_error(e: std::io::Error) -> CliError {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => CliError::Quiet,
        _ => CliError::input(format!("cannot write to standard output: {e}")),
    }
}

/// Writes to standard output what `fill` streams into it (buffered).
pub(crate) fn print_with(
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    fill(&mut out)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Writes `parts` one after another to `output` (atomically, as every
/// file) or to standard output, as they are made.
pub(crate) fn stream(
    output: Option<&std::path::Path>,
    parts: impl Iterator<Item = String>,
) -> Result<(), CliError> {
    let fill = |out: &mut dyn std::io::Write| {
        for part in parts {
            out.write_all(part.as_bytes())?;
        }
        Ok(())
    };
    match output {
        Some(path) => files::write_with(path, fill),
        None => print_with(fill),
    }
}

/// The name [`run_with`] was last given (a test calling it names the
/// program in its arguments, not in the process's).
static PROGRAM: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The name this program was started by (a user's binary is not `dsim`),
/// for the command lines it prints.
pub(crate) fn program() -> String {
    if let Some(name) = PROGRAM.lock().ok().and_then(|p| p.clone()) {
        return name;
    }
    std::env::args_os()
        .next()
        .map_or_else(|| "dsim".to_string(), |a| program_name(&a))
}

fn program_name(arg0: &std::ffi::OsStr) -> String {
    std::path::Path::new(arg0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "dsim".into())
}

/// The command line as the program `name` presents it. A crate's own
/// binary (through [`main_with`]) is not `dsim` and does not ship dsim's
/// bundled scenarios and traces: its usage lines, version and examples
/// say its own name, and the examples' files are placeholders.
fn command_as(name: &str) -> clap::Command {
    let command = Cli::command();
    if name == "dsim" {
        return command;
    }
    let version = format!("(built on dsim {})", env!("CARGO_PKG_VERSION"));
    let examples = |c: clap::Command| {
        let Some(help) = c.get_after_help().map(ToString::to_string) else {
            return c;
        };
        let help = user_examples(&help, name);
        c.after_help(help)
    };
    examples(command)
        .name(name.to_string())
        .bin_name(name.to_string())
        .display_name(name.to_string())
        .version(version)
        .mut_subcommands(examples)
}

/// dsim's examples as a user's binary `name` would run them: its own
/// name, and a scenario or trace of its own in place of the bundled files.
fn user_examples(help: &str, name: &str) -> String {
    // Split on single spaces so that indents and aligned comments stay.
    // What tells the bundled files apart stays: a broken twin's `-bug`,
    // a trace's `-seed-3`.
    let stem = |file: &str| match file.contains("-bug") {
        true => "my-scenario-bug",
        false => "my-scenario",
    };
    let word = |word: &str| {
        if word == "dsim" {
            name.to_string()
        } else if let Some(file) = word.strip_prefix("scenarios/") {
            format!("scenarios/{}.toml", stem(file))
        } else if let Some(file) = word.strip_prefix("traces/") {
            let seed = file
                .find("-seed-")
                .map_or("-seed-3.trace", |at| &file[at..]);
            format!("traces/{}{seed}", stem(file))
        } else {
            word.to_string()
        }
    };
    let line = |line: &str| line.split(' ').map(word).collect::<Vec<_>>().join(" ");
    help.split('\n').map(line).collect::<Vec<_>>().join("\n")
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

#[cfg(test)]
mod tests {
    use super::command_as;

    /// Every help a command prints, as one text, and its examples alone.
    fn helps(mut command: clap::Command) -> (String, String) {
        command.build();
        let mut text = command.render_long_help().to_string();
        text += &command.render_version();
        let mut examples = String::new();
        for sub in command.get_subcommands_mut() {
            text += &sub.render_long_help().to_string();
            examples += &sub
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
        }
        (text, examples)
    }

    #[test]
    fn command_lines_printed_under_run_with_name_the_program_it_was_given() {
        // A test binary calling `run_with(["mytool", "run", ...])` printed
        // `reproduce  <the test binary's name> run ...`.
        let code = super::run_with(&crate::protocols::Registry::builtin(), ["mytool", "-V"]);
        assert_eq!(code, 0);
        assert_eq!(super::program(), "mytool");
    }

    #[test]
    fn a_users_binary_speaks_its_own_name_and_no_bundled_file() {
        let (dsim, _) = helps(command_as("dsim"));
        assert!(
            dsim.contains("dsim run scenarios/echo-lossy.toml"),
            "{dsim}"
        );
        let (user, examples) = helps(command_as("lease"));
        assert!(user.contains("lease run scenarios/my-scenario.toml --seed 7"));
        assert!(user.contains(
            "lease diff traces/my-scenario-seed-4.trace traces/my-scenario-bug-seed-4.trace"
        ));
        assert!(user.contains("Usage: lease run"), "{user}");
        assert!(user.contains("lease (built on dsim "), "{user}");
        // Aligned comments keep their spaces.
        assert!(user.contains("lease replay old.trace -o new.trace    # an older"));
        for bundled in [
            "dsim ",
            "scenarios/echo",
            "traces/echo",
            "raft-bug",
            "twophase",
        ] {
            assert!(!examples.contains(bundled), "{bundled:?} in\n{examples}");
        }
    }
}
