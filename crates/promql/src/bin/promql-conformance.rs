//! Runs Prometheus's PromQL test scripts against Sightline's engine.
//!
//! Usage: `promql-conformance [DIR]`; the directory defaults to `$PROMQL_CONFORMANCE_DIR`,
//! then `../shared/conformance/promql`. Prints one line per file with its passed and
//! failed cases, each failure below it with `-v`, and ends with `N passed, M failed`.
//! Exits non-zero when a case failed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut verbose = false;
    let mut dir: Option<PathBuf> = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-v" | "--verbose" => verbose = true,
            other => dir = Some(PathBuf::from(other)),
        }
    }
    let dir = dir
        .or_else(|| std::env::var_os("PROMQL_CONFORMANCE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/conformance/promql"));
    let engine = promql::testscript::test_engine();
    let reports = match promql::testscript::run_dir(&dir, &engine) {
        Ok(reports) => reports,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "cannot read {}: {err}", dir.display());
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0, 0);
    for (name, report) in &reports {
        let _ = writeln!(
            out,
            "{name}: {} passed, {} failed",
            report.passed, report.failed
        );
        if verbose {
            for failure in &report.failures {
                let _ = writeln!(out, "  {failure}");
            }
        }
        passed += report.passed;
        failed += report.failed;
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
