//! The `sightline` executable: everything lives in the library; see `sightline::cli`.

/// mimalloc instead of the system allocator: log ingest allocates and frees many small
/// strings across threads, where glibc's malloc spent a fifth of the CPU
/// (benches/README.md, "JSON-log ingest").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sightline::cli::main()
}
