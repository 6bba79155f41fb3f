//! The command line: `sightline [serve]`, `sightline check-config <file>`, `--version`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::build_info::{LONG_VERSION, VERSION};
use crate::config::{self, ConfigError, Origin, Override};

/// Sightline: metrics, logs and traces in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "sightline",
    version = VERSION,
    long_version = LONG_VERSION,
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand, sightline runs the server (like `sightline serve`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Check a configuration file and exit: 0 when it is valid, 1 when not.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
}

/// Where the configuration comes from. Flags beat `SIGHTLINE_*` environment variables,
/// which beat the file, which beats the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see deploy/sightline.example.toml. Also SIGHTLINE_CONFIG.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sets storage.data_dir.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Sets http.listen.
    #[arg(long, value_name = "HOST:PORT")]
    pub http_listen: Option<String>,
    /// Sets log.level.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Sets log.format (text or json).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Sets any configuration key, e.g. --set http.request_timeout=30s. Repeatable.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
}

impl ServeArgs {
    /// The configuration file: `--config`, else `SIGHTLINE_CONFIG`, else none.
    pub fn config_file(&self) -> Option<PathBuf> {
        self.config
            .clone()
            .or_else(|| std::env::var_os(config::load::ENV_CONFIG_FILE).map(PathBuf::from))
            .filter(|path| !path.as_os_str().is_empty())
    }

    /// The flags as overrides, in the order they apply.
    pub fn overrides(&self) -> Result<Vec<Override>, ConfigError> {
        let named = [
            (
                "storage.data_dir",
                "--data-dir",
                self.data_dir.as_ref().map(|dir| dir.display().to_string()),
            ),
            ("http.listen", "--http-listen", self.http_listen.clone()),
            ("log.level", "--log-level", self.log_level.clone()),
            ("log.format", "--log-format", self.log_format.clone()),
        ];
        let mut overrides: Vec<Override> = named
            .into_iter()
            .filter_map(|(key, flag, value)| {
                value.map(|value| Override {
                    key: key.to_owned(),
                    value,
                    origin: Origin::Flag(flag.to_owned()),
                })
            })
            .collect();
        for assignment in &self.set {
            let (key, value) =
                assignment
                    .split_once('=')
                    .ok_or_else(|| ConfigError::InvalidValue {
                        key: assignment.clone(),
                        value: String::new(),
                        origin: Origin::Flag("--set".to_owned()),
                        reason: "expected --set section.key=value".to_owned(),
                    })?;
            overrides.push(Override {
                key: key.trim().to_owned(),
                value: value.to_owned(),
                origin: Origin::Flag(format!("--set {}", key.trim())),
            });
        }
        Ok(overrides)
    }
}

/// Runs the command line and returns the process exit code.
#[allow(
    clippy::print_stderr,
    clippy::print_stdout,
    reason = "the CLI talks to its user"
)]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { file }) => match config::load(Some(&file), &[]) {
            Ok(_) => {
                println!("{}: configuration is valid", file.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{}: configuration is not valid:\n{err}", file.display());
                ExitCode::FAILURE
            }
        },
        Some(Command::Serve(args)) => serve(&args),
        None => serve(&cli.serve),
    }
}

#[allow(
    clippy::print_stderr,
    reason = "configuration errors come before logging is set up"
)]
fn serve(args: &ServeArgs) -> ExitCode {
    let (config, warnings) = match load_config(args) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("sightline: invalid configuration:\n{err}");
            return ExitCode::from(2);
        }
    };
    if let Some(warning) = crate::logging::init(&config.log) {
        tracing::warn!("{warning}");
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    match crate::serve::run_blocking(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ServeArgs) -> Result<(config::Config, Vec<String>), ConfigError> {
    let (mut overrides, warnings) =
        config::load::overrides_from_env(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }));
    overrides.extend(args.overrides()?);
    let file = args.config_file();
    let config = config::load(file.as_deref().map(Path::new), &overrides)?;
    Ok((config, warnings))
}
