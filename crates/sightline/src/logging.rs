//! Sightline's own logs: `tracing` events to standard error, as text or JSON lines.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set and valid, beats `log.level`.
/// Returns a warning to log once logging works, if `RUST_LOG` was set but unusable.
pub fn init(config: &LogConfig) -> Option<String> {
    let (filter, warning) = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            match EnvFilter::builder().parse(&directives) {
                Ok(filter) => (filter, None),
                Err(err) => (
                    level_filter(&config.level),
                    Some(format!(
                        "ignoring RUST_LOG={directives:?} ({err}); using log.level {:?}",
                        config.level
                    )),
                ),
            }
        }
        _ => (level_filter(&config.level), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests in one process) keeps the first subscriber; that is fine.
    let _ = match config.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    warning
}

fn level_filter(level: &str) -> EnvFilter {
    // Validated with the configuration; the fallback only guards against a bypass.
    EnvFilter::builder()
        .parse(level)
        .unwrap_or_else(|_| EnvFilter::new("info"))
}
