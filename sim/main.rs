//! The `dsim` command line: a thin shell over [`dsim::cli`].

fn main() -> std::process::ExitCode {
    dsim::cli::main()
}
