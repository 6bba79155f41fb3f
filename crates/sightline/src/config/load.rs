//! Loading: file, environment and flags merged into one TOML table, then typed and
//! validated. Every error names the key, the value and where the value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, SectionDoc};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File(path) => write!(f, "from {}", path.display()),
            Origin::Env(var) => write!(f, "from environment variable {var}"),
            Origin::Flag(flag) => write!(f, "from flag {flag}"),
        }
    }
}

/// One `section.key = value` set from outside the file. `value` is the text as typed; it
/// is read with the type of the key's default (a string stays a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("unknown configuration key {key} ({origin}); {hint}")]
    UnknownKey {
        key: String,
        origin: Origin,
        hint: String,
    },
    #[error("{key} = {value} ({origin}): {reason}")]
    InvalidValue {
        key: String,
        value: String,
        origin: Origin,
        reason: String,
    },
    #[error("{}", join_lines(.0))]
    Several(Vec<ConfigError>),
}

fn join_lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The environment variable that sets `section.key`: `SIGHTLINE_SECTION_KEY`.
pub fn env_var_name(section: &str, key: &str) -> String {
    format!("SIGHTLINE_{section}_{key}").to_ascii_uppercase()
}

/// Environment variables that are not configuration keys (`SIGHTLINE_CONFIG` names the
/// file).
pub const ENV_CONFIG_FILE: &str = "SIGHTLINE_CONFIG";

/// Overrides from `SIGHTLINE_*` variables, and a warning for each such variable that
/// names no key. Unknown ones are not fatal: orchestrators such as Kubernetes inject
/// `<SERVICE>_PORT`-style variables that would otherwise stop the server.
pub fn overrides_from_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> (Vec<Override>, Vec<String>) {
    let by_name: BTreeMap<String, String> = all_keys()
        .map(|(section, key)| (env_var_name(section, key), format!("{section}.{key}")))
        .collect();
    let mut overrides = Vec::new();
    let mut warnings = Vec::new();
    for (name, value) in vars {
        if !name.starts_with("SIGHTLINE_") || name == ENV_CONFIG_FILE {
            continue;
        }
        match by_name.get(&name) {
            Some(key) => overrides.push(Override {
                key: key.clone(),
                value,
                origin: Origin::Env(name),
            }),
            None => warnings.push(format!(
                "ignoring environment variable {name}: no configuration key has that name"
            )),
        }
    }
    (overrides, warnings)
}

fn all_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    Config::SECTIONS
        .iter()
        .flat_map(|section| section.keys.iter().map(|key| (section.name, key.name)))
}

/// Reads `file` (if any), applies `overrides` in order, and returns the validated
/// configuration.
pub fn load(file: Option<&Path>, overrides: &[Override]) -> Result<Config, ConfigError> {
    let mut table = toml::Table::new();
    let mut origins: BTreeMap<String, Origin> = BTreeMap::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        table = toml::from_str(&text).map_err(|err| ConfigError::Syntax {
            path: path.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })?;
        check_known_keys(&table, &Origin::File(path.to_owned()))?;
        for (section, values) in &table {
            for key in values.as_table().into_iter().flat_map(toml::Table::keys) {
                origins.insert(format!("{section}.{key}"), Origin::File(path.to_owned()));
            }
        }
    }
    for item in overrides {
        apply_override(&mut table, item)?;
        origins.insert(item.key.clone(), item.origin.clone());
    }
    let origin_of = |key: &str| origins.get(key).cloned().unwrap_or(Origin::Default);
    let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
        .map_err(|err| {
            let key = err.path().to_string();
            ConfigError::InvalidValue {
                value: value_at(&table, &key),
                origin: origin_of(&key),
                // toml appends "in `key`" on a second line; the key is already named.
                reason: first_line(&err.into_inner().to_string()),
                key,
            }
        })?;
    let mut errors = validate(&config, &origin_of);
    match errors.len() {
        0 => Ok(config),
        1 => Err(errors.remove(0)),
        _ => Err(ConfigError::Several(errors)),
    }
}

fn section_named(name: &str) -> Option<&'static SectionDoc> {
    Config::SECTIONS.iter().find(|section| section.name == name)
}

fn check_known_keys(table: &toml::Table, origin: &Origin) -> Result<(), ConfigError> {
    for (section_name, values) in table {
        let Some(section) = section_named(section_name) else {
            let names: Vec<&str> = Config::SECTIONS.iter().map(|s| s.name).collect();
            return Err(ConfigError::UnknownKey {
                key: section_name.clone(),
                origin: origin.clone(),
                hint: format!("the sections are {}", names.join(", ")),
            });
        };
        let Some(values) = values.as_table() else {
            return Err(ConfigError::InvalidValue {
                key: section_name.clone(),
                value: values.to_string(),
                origin: origin.clone(),
                reason: format!("must be a table: write [{section_name}] and its keys below"),
            });
        };
        for key in values.keys() {
            if !section.keys.iter().any(|known| known.name == key) {
                return Err(unknown_key(section, key, origin));
            }
        }
    }
    Ok(())
}

fn unknown_key(section: &SectionDoc, key: &str, origin: &Origin) -> ConfigError {
    let names: Vec<&str> = section.keys.iter().map(|known| known.name).collect();
    ConfigError::UnknownKey {
        key: format!("{}.{key}", section.name),
        origin: origin.clone(),
        hint: format!("[{}] has {}", section.name, names.join(", ")),
    }
}

fn apply_override(table: &mut toml::Table, item: &Override) -> Result<(), ConfigError> {
    let unknown = || ConfigError::UnknownKey {
        key: item.key.clone(),
        origin: item.origin.clone(),
        hint: "keys are written section.key, e.g. http.listen".to_owned(),
    };
    let (section_name, key) = item.key.split_once('.').ok_or_else(unknown)?;
    let section = section_named(section_name).ok_or_else(unknown)?;
    if !section.keys.iter().any(|known| known.name == key) {
        return Err(unknown_key(section, key, &item.origin));
    }
    let defaults =
        toml::Value::try_from(Config::default()).map_err(|err| ConfigError::InvalidValue {
            key: item.key.clone(),
            value: item.value.clone(),
            origin: item.origin.clone(),
            reason: format!("internal error reading defaults: {err}"),
        })?;
    let default = defaults
        .get(section_name)
        .and_then(|values| values.get(key))
        .ok_or_else(unknown)?;
    let value = typed_like(default, &item.value).map_err(|reason| ConfigError::InvalidValue {
        key: item.key.clone(),
        value: format!("{:?}", item.value),
        origin: item.origin.clone(),
        reason,
    })?;
    let section_table = table
        .entry(section_name.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match section_table.as_table_mut() {
        Some(values) => {
            values.insert(key.to_owned(), value);
            Ok(())
        }
        None => Err(ConfigError::InvalidValue {
            key: section_name.to_owned(),
            value: section_table.to_string(),
            origin: item.origin.clone(),
            reason: "must be a table".to_owned(),
        }),
    }
}

/// Reads `text` as a value of the same TOML type as `default`.
fn typed_like(default: &toml::Value, text: &str) -> Result<toml::Value, String> {
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(text.to_owned())),
        toml::Value::Boolean(_) => match text {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            _ => Err("expected true or false".to_owned()),
        },
        toml::Value::Integer(_) => text
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| "expected a whole number".to_owned()),
        toml::Value::Float(_) => text
            .parse()
            .map(toml::Value::Float)
            .map_err(|_| "expected a number".to_owned()),
        toml::Value::Array(_) => match text.parse::<toml::Value>() {
            Ok(array @ toml::Value::Array(_)) => Ok(array),
            _ => Err("expected a TOML array such as [\"a\", \"b\"]".to_owned()),
        },
        toml::Value::Table(_) | toml::Value::Datetime(_) => {
            Err("this key cannot be set outside the file".to_owned())
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

fn value_at(table: &toml::Table, dotted_key: &str) -> String {
    let mut parts = dotted_key.splitn(2, '.');
    let section = parts.next().and_then(|name| table.get(name));
    let value = match parts.next() {
        Some(key) => section.and_then(|values| values.get(key)),
        None => section,
    };
    value.map_or_else(|| "(missing)".to_owned(), ToString::to_string)
}

/// Checks what types alone cannot: cross-key rules, paths, filters.
fn validate(config: &Config, origin_of: &dyn Fn(&str) -> Origin) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut invalid = |key: &str, value: String, reason: String| {
        errors.push(ConfigError::InvalidValue {
            key: key.to_owned(),
            value,
            // `section.key[3]` comes from wherever `section.key` came from.
            origin: origin_of(key.split('[').next().unwrap_or(key)),
            reason,
        });
    };
    let quoted = |text: &dyn fmt::Display| format!("\"{text}\"");

    if config.storage.data_dir.as_os_str().is_empty() {
        invalid(
            "storage.data_dir",
            "\"\"".into(),
            "must name a directory".into(),
        );
    }
    if config.http.max_request_body.0 == 0 {
        invalid(
            "http.max_request_body",
            quoted(&config.http.max_request_body),
            "must be more than 0 bytes".into(),
        );
    }
    for (key, duration) in [
        ("http.request_timeout", config.http.request_timeout),
        ("http.shutdown_timeout", config.http.shutdown_timeout),
    ] {
        if duration.0.is_zero() {
            invalid(key, quoted(&duration), "must be longer than 0s".into());
        }
    }
    if config.tsdb.block_duration.0 < std::time::Duration::from_secs(60) {
        invalid(
            "tsdb.block_duration",
            quoted(&config.tsdb.block_duration),
            "must be at least 1m".into(),
        );
    }
    if config.tsdb.wal_fsync == super::FsyncPolicyName::Interval
        && config.tsdb.wal_fsync_interval.0.is_zero()
    {
        invalid(
            "tsdb.wal_fsync_interval",
            quoted(&config.tsdb.wal_fsync_interval),
            "must be longer than 0s when tsdb.wal_fsync = \"interval\"".into(),
        );
    }
    if config.tsdb.wal_segment_size.0 < 1 << 20 {
        invalid(
            "tsdb.wal_segment_size",
            quoted(&config.tsdb.wal_segment_size),
            "must be at least 1MiB".into(),
        );
    }
    let max_decompressed = config.remote_write.max_decompressed_size;
    if max_decompressed.0 == 0 || max_decompressed.0 > 1 << 30 {
        invalid(
            "remote_write.max_decompressed_size",
            quoted(&max_decompressed),
            "must be more than 0 bytes and at most 1GiB".into(),
        );
    }
    for (key, duration) in [
        ("query.timeout", config.query.timeout),
        ("query.lookback_delta", config.query.lookback_delta),
        (
            "query.default_subquery_step",
            config.query.default_subquery_step,
        ),
    ] {
        if duration.0 < std::time::Duration::from_millis(1) {
            invalid(key, quoted(&duration), "must be at least 1ms".into());
        }
    }
    if config.query.max_concurrency == 0 {
        invalid(
            "query.max_concurrency",
            "0".into(),
            "must be at least 1".into(),
        );
    }
    if config.statsd.flush_interval.0 < std::time::Duration::from_millis(100) {
        invalid(
            "statsd.flush_interval",
            quoted(&config.statsd.flush_interval),
            "must be at least 100ms".into(),
        );
    }
    if config.statsd.max_line_length.0 < 64 {
        invalid(
            "statsd.max_line_length",
            quoted(&config.statsd.max_line_length),
            "must be at least 64B".into(),
        );
    }
    let logs = &config.logs;
    if logs.commit_interval.0 < std::time::Duration::from_millis(100) {
        invalid(
            "logs.commit_interval",
            quoted(&logs.commit_interval),
            "must be at least 100ms".into(),
        );
    }
    if logs.wal_fsync == super::FsyncPolicyName::Interval && logs.wal_fsync_interval.0.is_zero() {
        invalid(
            "logs.wal_fsync_interval",
            quoted(&logs.wal_fsync_interval),
            "must be longer than 0s when logs.wal_fsync = \"interval\"".into(),
        );
    }
    if logs.wal_segment_size.0 < 1 << 20 {
        invalid(
            "logs.wal_segment_size",
            quoted(&logs.wal_segment_size),
            "must be at least 1MiB".into(),
        );
    }
    if logs.indexing_memory.0 < 15 << 20 || logs.indexing_memory.0 > 4 << 30 {
        invalid(
            "logs.indexing_memory",
            quoted(&logs.indexing_memory),
            "must be at least 15MiB (Tantivy's minimum) and at most 4GiB".into(),
        );
    }
    if !(1..=16).contains(&logs.indexing_threads) {
        invalid(
            "logs.indexing_threads",
            logs.indexing_threads.to_string(),
            "must be from 1 to 16".into(),
        );
    }
    if logs.max_indexing_queue.0 < 1 << 20 {
        invalid(
            "logs.max_indexing_queue",
            quoted(&logs.max_indexing_queue),
            "must be at least 1MiB".into(),
        );
    }
    if logs.max_line_size.0 < 1024 || logs.max_line_size.0 > 16 << 20 {
        invalid(
            "logs.max_line_size",
            quoted(&logs.max_line_size),
            "must be from 1KiB to 16MiB".into(),
        );
    }
    if logs.max_filtered_lines == 0 {
        invalid(
            "logs.max_filtered_lines",
            "0".into(),
            "must be at least 1".into(),
        );
    }
    if logs.max_fields == 0 {
        invalid("logs.max_fields", "0".into(), "must be at least 1".into());
    }
    if !(1..=100).contains(&logs.max_depth) {
        invalid(
            "logs.max_depth",
            logs.max_depth.to_string(),
            "must be from 1 to 100".into(),
        );
    }
    if logs.max_decompressed_size.0 == 0 || logs.max_decompressed_size.0 > 1 << 30 {
        invalid(
            "logs.max_decompressed_size",
            quoted(&logs.max_decompressed_size),
            "must be more than 0 bytes and at most 1GiB".into(),
        );
    }
    for (i, field) in logs.correlation_fields.iter().enumerate() {
        if field.trim().is_empty() {
            invalid(
                &format!("logs.correlation_fields[{i}]"),
                quoted(field),
                "must name a field".into(),
            );
        }
    }
    for (i, field) in logs.label_fields.iter().enumerate() {
        if field.trim().is_empty() || field.len() > 256 {
            invalid(
                &format!("logs.label_fields[{i}]"),
                quoted(field),
                "must name a field (1 to 256 characters)".into(),
            );
        }
    }
    for (i, field) in logs.indexed_fields.iter().enumerate() {
        let path = field.strip_suffix('*').unwrap_or(field);
        if (field.trim().is_empty() || field.len() > 256 || path.contains('*'))
            || (path.is_empty() && field != "*")
        {
            invalid(
                &format!("logs.indexed_fields[{i}]"),
                quoted(field),
                "must be a field path, a prefix ending in * (\"attributes.*\"), or * (1 to 256 characters)".into(),
            );
        }
    }
    let ui_dir = &config.http.ui_dir;
    if !ui_dir.as_os_str().is_empty() && !ui_dir.join("index.html").is_file() {
        invalid(
            "http.ui_dir",
            quoted(&ui_dir.display()),
            "must be a directory holding a built UI (index.html not found there)".into(),
        );
    }
    if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&config.log.level) {
        invalid(
            "log.level",
            quoted(&config.log.level),
            format!("not a valid level or filter: {err}"),
        );
    }
    for (key, buckets) in [
        ("statsd.histogram_buckets", &config.statsd.histogram_buckets),
        ("traces.latency_buckets", &config.traces.latency_buckets),
    ] {
        if let Err(reason) = ingest::statsd::mapping::validate_buckets(buckets) {
            invalid(key, format!("{buckets:?}"), reason);
        }
    }
    let rules: Vec<_> = config
        .statsd
        .mappings
        .iter()
        .map(super::StatsdMapping::to_rule)
        .collect();
    if let Err(err) = ingest::statsd::check_mappings(&rules) {
        invalid(
            &format!("statsd.mappings[{}]", err.index),
            format!("{{ match = {:?} }}", err.pattern),
            err.message,
        );
    }
    let listeners = config.listeners();
    for (idx, first) in listeners.iter().enumerate() {
        for second in &listeners[idx + 1..] {
            if first.clashes_with(second) {
                let first_key = first.key;
                invalid(
                    second.key,
                    quoted(&second.addr),
                    format!(
                        "port {} is already taken by {first_key} = \"{}\" ({})",
                        second.addr.0.port(),
                        first.addr,
                        origin_of(first_key)
                    ),
                );
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sightline.toml");
        std::fs::write(&path, text).expect("write config");
        (dir, path)
    }

    fn set(key: &str, value: &str, origin: Origin) -> Override {
        Override {
            key: key.to_owned(),
            value: value.to_owned(),
            origin,
        }
    }

    fn load_err(file: Option<&Path>, overrides: &[Override]) -> String {
        load(file, overrides)
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn no_file_gives_the_defaults() {
        assert_eq!(load(None, &[]).expect("defaults"), Config::default());
    }

    #[test]
    fn file_values_apply_and_unset_keys_keep_defaults() {
        let (_dir, path) =
            write_file("[http]\nlisten = \"127.0.0.1:9999\"\nmax_request_body = 1024\n");
        let config = load(Some(&path), &[]).expect("valid");
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(config.http.max_request_body.0, 1024);
        assert_eq!(
            config.http.request_timeout,
            Config::default().http.request_timeout
        );
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let (_dir, path) =
            write_file("[log]\nlevel = \"debug\"\n[http]\nlisten = \"127.0.0.1:1\"\n");
        let overrides = [
            set(
                "log.level",
                "warn",
                Origin::Env("SIGHTLINE_LOG_LEVEL".into()),
            ),
            set(
                "http.listen",
                "127.0.0.1:2",
                Origin::Env("SIGHTLINE_HTTP_LISTEN".into()),
            ),
            set(
                "http.listen",
                "127.0.0.1:3",
                Origin::Flag("--http-listen".into()),
            ),
        ];
        let config = load(Some(&path), &overrides).expect("valid");
        assert_eq!(config.log.level, "warn");
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:3");
    }

    #[test]
    fn errors_name_key_value_and_origin() {
        let (_dir, path) = write_file("[http]\nlisten = \"nowhere\"\n");
        let err = load_err(Some(&path), &[]);
        assert_eq!(
            err,
            format!(
                "http.listen = \"nowhere\" (from {}): expected host:port, e.g. 127.0.0.1:7413",
                path.display()
            )
        );
        let err = load_err(
            None,
            &[set(
                "http.request_timeout",
                "soon",
                Origin::Env("SIGHTLINE_HTTP_REQUEST_TIMEOUT".into()),
            )],
        );
        assert!(err.starts_with("http.request_timeout = \"soon\" (from environment variable SIGHTLINE_HTTP_REQUEST_TIMEOUT): duration \"soon\" is not valid"), "{err}");
        let err = load_err(
            None,
            &[set(
                "http.enabled",
                "yes",
                Origin::Flag("--set http.enabled".into()),
            )],
        );
        assert_eq!(
            err,
            "http.enabled = \"yes\" (from flag --set http.enabled): expected true or false"
        );
    }

    #[test]
    fn values_that_would_stall_or_exhaust_a_receiver_are_refused() {
        let (_dir, path) = write_file(
            "[statsd]\nflush_interval = \"0s\"\nmax_line_length = \"0B\"\n[remote_write]\nmax_decompressed_size = \"2GiB\"\n",
        );
        let err = load_err(Some(&path), &[]);
        assert!(err.contains("statsd.flush_interval = \"0s\""), "{err}");
        assert!(err.contains("must be at least 100ms"), "{err}");
        assert!(err.contains("statsd.max_line_length"), "{err}");
        assert!(err.contains("at most 1GiB"), "{err}");
    }

    #[test]
    fn unknown_keys_and_sections_are_named() {
        let (_dir, path) = write_file("[http]\nlistn = \"127.0.0.1:1\"\n");
        let err = load_err(Some(&path), &[]);
        assert!(
            err.starts_with("unknown configuration key http.listn"),
            "{err}"
        );
        assert!(err.contains("[http] has enabled, listen,"), "{err}");
        let (_dir, path) = write_file("[htp]\n");
        assert!(load_err(Some(&path), &[]).starts_with("unknown configuration key htp"));
        let err = load_err(None, &[set("nope", "1", Origin::Flag("--set nope".into()))]);
        assert!(err.contains("keys are written section.key"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let (_dir, path) = write_file("[http\n");
        let err = load_err(Some(&path), &[]);
        assert!(
            err.starts_with(&format!(
                "configuration file {} is not valid TOML",
                path.display()
            )),
            "{err}"
        );
        let err = load_err(Some(Path::new("/nonexistent/sightline.toml")), &[]);
        assert!(
            err.starts_with("cannot read configuration file /nonexistent/sightline.toml"),
            "{err}"
        );
    }

    #[test]
    fn validation_reports_every_problem_at_once() {
        let (_dir, path) = write_file(
            "[http]\nlisten = \"127.0.0.1:4318\"\nrequest_timeout = \"0s\"\nui_dir = \"/nonexistent\"\n[log]\nlevel = \"info,=[\"\n",
        );
        let err = load_err(Some(&path), &[]);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines[0].starts_with("http.request_timeout = \"0s\""),
            "{err}"
        );
        assert!(
            lines[1].starts_with("http.ui_dir = \"/nonexistent\""),
            "{err}"
        );
        assert!(lines[2].starts_with("log.level = \"info,=[\""), "{err}");
        assert!(
            lines[3].starts_with("otlp_http.listen = \"127.0.0.1:4318\" (the default): port 4318 is already taken by http.listen = \"127.0.0.1:4318\""),
            "{err}"
        );
    }

    #[test]
    fn indexed_fields_are_paths_prefixes_or_everything() {
        let (_dir, path) = write_file(
            "[logs]\nindexed_fields = [\"status\", \"attributes.*\", \"*\", \"a*b\", \"\", \"**\"]\n",
        );
        let err = load_err(Some(&path), &[]);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            lines[0].starts_with("logs.indexed_fields[3] = \"a*b\""),
            "{err}"
        );
        assert!(
            lines[1].starts_with("logs.indexed_fields[4] = \"\""),
            "{err}"
        );
        assert!(
            lines[2].starts_with("logs.indexed_fields[5] = \"**\""),
            "{err}"
        );
    }

    #[test]
    fn disabled_or_differently_addressed_listeners_do_not_clash() {
        let overrides = [
            set(
                "http.listen",
                "127.0.0.1:4318",
                Origin::Flag("--http-listen".into()),
            ),
            set(
                "otlp_http.enabled",
                "false",
                Origin::Flag("--set otlp_http.enabled".into()),
            ),
            set(
                "statsd.listen",
                "127.0.0.1:4317",
                Origin::Flag("--set statsd.listen".into()),
            ),
        ];
        // StatsD is UDP, so it may share a port number with a TCP listener.
        load(None, &overrides).expect("no clash");
        let err = load_err(
            None,
            &[set(
                "http.listen",
                ":4317",
                Origin::Flag("--http-listen".into()),
            )],
        );
        assert!(
            err.contains("port 4317 is already taken by http.listen"),
            "{err}"
        );
    }

    #[test]
    fn environment_variables_map_to_keys_and_unknown_ones_only_warn() {
        let vars = [
            ("SIGHTLINE_HTTP_LISTEN", "127.0.0.1:1"),
            ("SIGHTLINE_CONFIG", "/etc/sightline.toml"),
            ("SIGHTLINE_PORT", "tcp://10.0.0.1:7413"),
            ("HOME", "/root"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let (overrides, warnings) = overrides_from_env(vars);
        assert_eq!(
            overrides,
            [set(
                "http.listen",
                "127.0.0.1:1",
                Origin::Env("SIGHTLINE_HTTP_LISTEN".into())
            )]
        );
        assert_eq!(
            warnings,
            ["ignoring environment variable SIGHTLINE_PORT: no configuration key has that name"]
        );
    }

    #[test]
    fn statsd_mappings_and_buckets_are_checked_and_named() {
        let (_dir, path) = write_file("[traces]\nlatency_buckets = [0.1, 0.1]\n");
        let err = load_err(Some(&path), &[]);
        assert!(
            err.starts_with("traces.latency_buckets = [0.1, 0.1]"),
            "{err}"
        );
        let (_dir, path) = write_file(
            "[statsd]\nhistogram_buckets = [1.0, 0.5]\n[[statsd.mappings]]\nmatch = \"a.b*\"\nname = \"x\"\n",
        );
        let err = load_err(Some(&path), &[]);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(
            lines[0].starts_with(&format!(
                "statsd.histogram_buckets = [1.0, 0.5] (from {})",
                path.display()
            )),
            "{err}"
        );
        assert!(
            lines[0].ends_with("must be finite and strictly increasing (+Inf is implicit)"),
            "{err}"
        );
        assert!(
            lines[1].starts_with(&format!(
                "statsd.mappings[0] = {{ match = \"a.b*\" }} (from {}): component \"b*\" must be *",
                path.display()
            )),
            "{err}"
        );
        let (_dir, path) = write_file(
            "[[statsd.mappings]]\nmatch = \"simplebank-demo.*.request_reservation\"\nname = \"request_reservation_seconds\"\nlabels = { app = \"$1\" }\n",
        );
        let config = load(Some(&path), &[]).expect("valid mapping");
        assert_eq!(config.statsd.mappings[0].labels["app"], "$1");
    }

    #[test]
    fn statsd_tcp_listener_clashes_name_its_own_key() {
        let err = load_err(
            None,
            &[set(
                "http.listen",
                "127.0.0.1:8125",
                Origin::Flag("--http-listen".into()),
            )],
        );
        assert!(
            err.starts_with(r#"statsd.tcp_listen = "127.0.0.1:8125" (the default): port 8125 is already taken by http.listen = "127.0.0.1:8125" (from flag --http-listen)"#),
            "{err}"
        );
    }
}
