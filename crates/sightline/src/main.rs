//! The `sightline` executable: everything lives in the library; see `sightline::cli`.

fn main() -> std::process::ExitCode {
    sightline::cli::main()
}
