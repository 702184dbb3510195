//! The `dsim` command line: a thin shell over [`dsim::cli`].

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dsim::cli::main()
}
