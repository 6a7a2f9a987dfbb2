//! The `gatehouse` binary: a thin wrapper over [`gatehouse::cli`].

fn main() -> std::process::ExitCode {
    gatehouse::cli::main(std::env::args_os())
}
