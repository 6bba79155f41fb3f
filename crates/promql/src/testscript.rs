//! Prometheus's PromQL test scripts ("promqltest"), parsed and run against the engine.
//!
//! A script is a sequence of commands separated by blank lines: `load <step>` (and
//! `load_with_nhcb <step>`, which also turns classic histograms into native histograms
//! with custom buckets) followed by series definitions, `clear`, and
//! `eval[_fail|_warn|_info|_ordered] instant at <time> <expr>` or
//! `eval[_fail|_warn|_info] range from <t> to <t> step <d> <expr>` followed by the
//! expected result. Each `eval` is one case. As Prometheus's own runner does, an instant
//! case is also run with `@ <time>` fixed on every selector at several evaluation times,
//! and as a range query around its time, and must give the same answer every way.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use model::sample::STALE_NAN_BITS;
use model::{Label, Labels};
use promql_parser::parser::{AtModifier, Expr};

use crate::engine::{Engine, QueryResult};
use crate::histogram::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Span};
use crate::storage::MemStorage;
use crate::value::{QueryValue, SampleValue};
use crate::{CancelToken, Error};

/// Relative tolerance of value comparisons, as in Prometheus's runner.
const EPSILON: f64 = 1e-6;

/// One value of a series definition.
#[derive(Debug, Clone, PartialEq)]
enum SeqValue {
    Omitted,
    Float(f64),
    Stale,
    Histogram(FloatHistogram),
}

#[derive(Debug, Clone)]
enum EvalKind {
    Instant { time: i64 },
    Range { start: i64, end: i64, step: i64 },
}

#[derive(Debug, Clone)]
struct EvalCmd {
    line: usize,
    expr: String,
    kind: EvalKind,
    fail: bool,
    warn: bool,
    info: bool,
    ordered: bool,
    fail_message: Option<String>,
    fail_regexp: Option<regex::Regex>,
    scalar: Option<f64>,
    /// Expected series: labels, values, and position (1-based) among the lines.
    series: Vec<(Labels, Vec<SeqValue>, usize)>,
}

#[derive(Debug, Clone)]
enum Command {
    Clear,
    Load {
        step: i64,
        nhcb: bool,
        series: Vec<(Labels, Vec<SeqValue>)>,
    },
    Eval(Box<EvalCmd>),
}

/// The outcome of running one script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptReport {
    pub passed: usize,
    pub failed: usize,
    /// One message per failed case: its line, query and what went wrong.
    pub failures: Vec<String>,
}

/// Parses and runs a script; commands that do not parse count as failed cases.
pub fn run_script(text: &str, engine: &Engine) -> ScriptReport {
    let mut report = ScriptReport::default();
    let commands = match parse_script(text) {
        Ok(commands) => commands,
        Err(err) => {
            report.failed += 1;
            report
                .failures
                .push(format!("the script does not parse: {err}"));
            return report;
        }
    };
    let mut storage = MemStorage::new();
    for command in commands {
        match command {
            Command::Clear => storage.clear(),
            Command::Load { step, nhcb, series } => {
                if let Err(err) = load(&mut storage, step, nhcb, &series) {
                    report.failed += 1;
                    report.failures.push(format!("load failed: {err}"));
                }
            }
            Command::Eval(cmd) => match run_eval(engine, &storage, &cmd) {
                Ok(()) => report.passed += 1,
                Err(err) => {
                    report.failed += 1;
                    report
                        .failures
                        .push(format!("line {}: {}: {err}", cmd.line, cmd.expr));
                }
            },
        }
    }
    report
}

// ---------------------------------------------------------------------------
// Parsing.

fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('#') {
                String::new()
            } else {
                trimmed.to_owned()
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        // The block: this line and the non-empty lines after it.
        let mut end = i + 1;
        while end < lines.len() && !lines[end].is_empty() {
            end += 1;
        }
        let body = &lines[i + 1..end];
        if word == "clear" {
            // A one-line command: the next line may start another.
            commands.push(Command::Clear);
            i += 1;
            continue;
        }
        let command = if word.starts_with("load") {
            parse_load(line, body).map_err(|err| format!("line {}: {err}", i + 1))?
        } else if word.starts_with("eval") {
            Command::Eval(Box::new(
                parse_eval(line, body, i + 1).map_err(|err| format!("line {}: {err}", i + 1))?,
            ))
        } else {
            return Err(format!("line {}: invalid command {line:?}", i + 1));
        };
        commands.push(command);
        i = end;
    }
    Ok(commands)
}

fn parse_time(text: &str) -> Result<i64, String> {
    let duration = model::time::parse_duration(text).map_err(|err| err.to_string())?;
    Ok(duration.as_millis() as i64)
}

fn parse_load(line: &str, body: &[String]) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or("");
    let nhcb = match command {
        "load" => false,
        "load_with_nhcb" => true,
        other => return Err(format!("invalid load command {other:?}")),
    };
    let step = parse_time(words.next().ok_or("load needs a step")?)?;
    let mut series: Vec<(Labels, Vec<SeqValue>)> = Vec::new();
    for definition in body {
        let (labels, values) = parse_series_line(definition)?;
        // A series defined twice keeps its last definition.
        series.retain(|(existing, _)| *existing != labels);
        series.push((labels, values));
    }
    Ok(Command::Load { step, nhcb, series })
}

fn parse_eval(line: &str, body: &[String], line_no: usize) -> Result<EvalCmd, String> {
    let (head, rest) = line.split_once(char::is_whitespace).ok_or("empty eval")?;
    let modifier = head.strip_prefix("eval").unwrap_or("");
    let (fail, warn, info, ordered) = match modifier {
        "" => (false, false, false, false),
        "_fail" => (true, false, false, false),
        "_warn" => (false, true, false, false),
        "_info" => (false, false, true, false),
        "_ordered" => (false, false, false, true),
        other => return Err(format!("unknown eval modifier {other:?}")),
    };
    let rest = rest.trim_start();
    let (kind, expr) = if let Some(rest) = rest.strip_prefix("instant") {
        let rest = rest.trim_start();
        let rest = rest
            .strip_prefix("at")
            .ok_or("expected `instant at <time>`")?;
        let rest = rest.trim_start();
        let (time, expr) = rest
            .split_once(char::is_whitespace)
            .ok_or("missing expression")?;
        (
            EvalKind::Instant {
                time: parse_time(time)?,
            },
            expr.trim().to_owned(),
        )
    } else if let Some(rest) = rest.strip_prefix("range") {
        let mut rest = rest;
        let mut words = Vec::with_capacity(6);
        for _ in 0..6 {
            let (word, after) = next_word(rest);
            words.push(word);
            rest = after;
        }
        if words[0] != "from" || words[2] != "to" || words[4] != "step" || rest.trim().is_empty() {
            return Err("expected `range from <t> to <t> step <d> <expr>`".into());
        }
        (
            EvalKind::Range {
                start: parse_time(words[1])?,
                end: parse_time(words[3])?,
                step: parse_time(words[5])?,
            },
            rest.trim().to_owned(),
        )
    } else {
        return Err("expected `instant` or `range`".into());
    };
    let mut cmd = EvalCmd {
        line: line_no,
        expr,
        kind,
        fail,
        warn,
        info,
        ordered,
        fail_message: None,
        fail_regexp: None,
        scalar: None,
        series: Vec::new(),
    };
    let mut position = 0;
    for definition in body {
        if fail && let Some(message) = definition.strip_prefix("expected_fail_message") {
            cmd.fail_message = Some(message.trim().to_owned());
            continue;
        }
        if fail && let Some(pattern) = definition.strip_prefix("expected_fail_regexp") {
            cmd.fail_regexp =
                Some(regex::Regex::new(pattern.trim()).map_err(|err| err.to_string())?);
            continue;
        }
        position += 1;
        if let Some(number) = parse_number(definition) {
            cmd.scalar = Some(number);
            continue;
        }
        let (labels, values) = parse_series_line(definition)?;
        cmd.series.retain(|(existing, _, _)| *existing != labels);
        cmd.series.push((labels, values, position));
    }
    Ok(cmd)
}

/// The first whitespace-separated word and what follows it.
fn next_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    text.parse::<f64>().ok()
}

/// `name{a="b", ...}` or `{__name__="x", ...}`, then the values.
fn parse_series_line(line: &str) -> Result<(Labels, Vec<SeqValue>), String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
    {
        i += 1;
    }
    let name = &line[..i];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push((model::labels::METRIC_NAME.to_owned(), name.to_owned()));
    }
    let rest = &line[i..];
    let rest = if rest.starts_with('{') && !rest.starts_with("{{") {
        let (labels, after) = parse_label_block(rest)?;
        for (label, value) in labels {
            pairs.retain(|(existing, _)| *existing != label);
            pairs.push((label, value));
        }
        after
    } else {
        rest
    };
    if name.is_empty() && pairs.is_empty() && !line.starts_with('{') {
        return Err(format!("invalid series definition {line:?}"));
    }
    let labels = Labels::from_pairs(pairs).map_err(|err| err.to_string())?;
    let mut values = Vec::new();
    for token in split_values(rest.trim())? {
        values.extend(parse_item(token)?);
    }
    Ok((labels, values))
}

/// `{a="b", c='d'}`: the pairs and the text after the closing brace.
type LabelPairs = Vec<(String, String)>;

fn parse_label_block(text: &str) -> Result<(LabelPairs, &str), String> {
    let mut chars = text.char_indices().peekable();
    chars.next(); // '{'
    let mut pairs = Vec::new();
    loop {
        while chars
            .peek()
            .is_some_and(|&(_, c)| c.is_whitespace() || c == ',')
        {
            chars.next();
        }
        match chars.peek() {
            Some(&(idx, '}')) => return Ok((pairs, &text[idx + 1..])),
            None => return Err(format!("unterminated label set in {text:?}")),
            _ => {}
        }
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_alphanumeric() || c == '_' || c == '.' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        if chars.next().map(|(_, c)| c) != Some('=') {
            return Err(format!("expected '=' after label {name:?} in {text:?}"));
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let quote = match chars.next() {
            Some((_, q)) if q == '"' || q == '\'' || q == '`' => q,
            _ => return Err(format!("expected a quoted value for label {name:?}")),
        };
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {name:?}")),
                Some((_, c)) if c == quote => break,
                Some((_, '\\')) if quote != '`' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, c)) => value.push(c),
                    None => return Err("dangling escape".into()),
                },
                Some((_, c)) => value.push(c),
            }
        }
        pairs.push((name, value));
    }
}

/// Splits values on whitespace, keeping `{{ ... }}` histogram literals whole.
fn split_values(text: &str) -> Result<Vec<&str>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let mut depth = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"{{") {
                depth += 1;
                i += 2;
            } else if bytes[i..].starts_with(b"}}") {
                depth -= 1;
                i += 2;
            } else if depth == 0 && bytes[i].is_ascii_whitespace() {
                break;
            } else {
                i += 1;
            }
        }
        if depth != 0 {
            return Err(format!("unbalanced histogram literal in {text:?}"));
        }
        tokens.push(&text[start..i]);
    }
    Ok(tokens)
}

fn parse_float(text: &str) -> Result<f64, String> {
    parse_number(text).ok_or_else(|| format!("invalid number {text:?}"))
}

/// One value item: `1`, `_`, `_x3`, `stale`, `1+2x3`, `5x3`, `{{...}}`, `{{...}}x3`,
/// `{{...}}+{{...}}x3`.
fn parse_item(token: &str) -> Result<Vec<SeqValue>, String> {
    if token == "_" {
        return Ok(vec![SeqValue::Omitted]);
    }
    if let Some(count) = token.strip_prefix("_x") {
        let n: usize = count
            .parse()
            .map_err(|_| format!("invalid count in {token:?}"))?;
        return Ok(vec![SeqValue::Omitted; n]);
    }
    if token == "stale" {
        return Ok(vec![SeqValue::Stale]);
    }
    if token.starts_with("{{") {
        return parse_histogram_item(token);
    }
    // `<base>[<+|-><increment>]x<count>`
    let times = token
        .rfind('x')
        .filter(|&at| at + 1 < token.len() && token[at + 1..].bytes().all(|b| b.is_ascii_digit()));
    let Some(at) = times else {
        return Ok(vec![SeqValue::Float(parse_float(token)?)]);
    };
    let count: usize = token[at + 1..]
        .parse()
        .map_err(|_| format!("invalid count in {token:?}"))?;
    let head = &token[..at];
    let bytes = head.as_bytes();
    let split = (1..bytes.len())
        .rev()
        .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (base, increment) = match split {
        Some(i) => (parse_float(&head[..i])?, parse_float(&head[i..])?),
        None => (parse_float(head)?, 0.0),
    };
    let mut values = Vec::with_capacity(count + 1);
    let mut value = base;
    for _ in 0..=count {
        values.push(SeqValue::Float(value));
        value += increment;
    }
    Ok(values)
}

fn parse_histogram_item(token: &str) -> Result<Vec<SeqValue>, String> {
    let end = token.find("}}").ok_or("unterminated histogram")? + 2;
    let base = parse_histogram(&token[2..end - 2])?;
    let rest = &token[end..];
    if rest.is_empty() {
        return Ok(vec![SeqValue::Histogram(base)]);
    }
    if let Some(count) = rest.strip_prefix('x') {
        let n: usize = count
            .parse()
            .map_err(|_| format!("invalid count in {token:?}"))?;
        return Ok(vec![SeqValue::Histogram(base); n + 1]);
    }
    let (sign, rest) = rest.split_at(1);
    let inc_end = rest.find("}}").ok_or("unterminated histogram")? + 2;
    if !rest.starts_with("{{") {
        return Err(format!("invalid histogram series {token:?}"));
    }
    let increment = parse_histogram(&rest[2..inc_end - 2])?;
    let count: usize = rest[inc_end..]
        .strip_prefix('x')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("invalid histogram series {token:?}"))?;
    let mut values = Vec::with_capacity(count + 1);
    let mut value = base;
    for _ in 0..=count {
        values.push(SeqValue::Histogram(value.clone()));
        let stepped = if sign == "+" {
            value.add(&increment)
        } else {
            value.sub(&increment)
        };
        stepped.map_err(|err| err.to_string())?;
    }
    Ok(values)
}

/// The inside of `{{schema:0 sum:5 count:4 buckets:[1 2 1]}}`.
fn parse_histogram(text: &str) -> Result<FloatHistogram, String> {
    let mut h = FloatHistogram::default();
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once(':')
            .ok_or_else(|| format!("invalid histogram field in {text:?}"))?;
        let key = key.trim();
        let after = after.trim_start();
        let (value, next) = if let Some(list) = after.strip_prefix('[') {
            let close = list.find(']').ok_or("unterminated list")?;
            (&list[..close], &list[close + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        let list =
            || -> Result<Vec<f64>, String> { value.split_whitespace().map(parse_float).collect() };
        match key {
            "schema" => {
                h.schema = value
                    .parse()
                    .map_err(|_| format!("invalid schema {value:?}"))?
            }
            "sum" => h.sum = parse_float(value)?,
            "count" => h.count = parse_float(value)?,
            "z_bucket" => h.zero_count = parse_float(value)?,
            "z_bucket_w" => h.zero_threshold = parse_float(value)?,
            "buckets" => positive = list()?,
            "n_buckets" => negative = list()?,
            "offset" => {
                offset = value
                    .parse()
                    .map_err(|_| format!("invalid offset {value:?}"))?
            }
            "n_offset" => {
                n_offset = value
                    .parse()
                    .map_err(|_| format!("invalid offset {value:?}"))?
            }
            "custom_values" => h.custom_values = list()?,
            "counter_reset_hint" => {
                h.counter_reset_hint = match value {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("invalid counter_reset_hint {other:?}")),
                }
            }
            other => return Err(format!("unknown histogram field {other:?}")),
        }
        rest = next.trim_start();
    }
    if !positive.is_empty() {
        h.positive_spans = vec![Span {
            offset,
            length: positive.len() as u32,
        }];
        h.positive_buckets = positive;
    }
    if !negative.is_empty() {
        h.negative_spans = vec![Span {
            offset: n_offset,
            length: negative.len() as u32,
        }];
        h.negative_buckets = negative;
    }
    Ok(h)
}

// ---------------------------------------------------------------------------
// Loading.

fn load(
    storage: &mut MemStorage,
    step: i64,
    nhcb: bool,
    series: &[(Labels, Vec<SeqValue>)],
) -> Result<(), String> {
    for (labels, values) in series {
        for (i, value) in values.iter().enumerate() {
            let t = i as i64 * step;
            match value {
                SeqValue::Omitted => {}
                SeqValue::Float(f) => storage.add_float(labels, t, *f),
                SeqValue::Stale => storage.add_float(labels, t, f64::from_bits(STALE_NAN_BITS)),
                SeqValue::Histogram(h) => storage.add_histogram(labels, t, h.clone()),
            }
        }
    }
    if nhcb {
        load_custom_bucket_histograms(storage, step, series)?;
    }
    Ok(())
}

/// Classic histogram parts at one timestamp.
#[derive(Debug, Default)]
struct ClassicParts {
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
}

/// `load_with_nhcb`: every classic histogram (`_bucket` series with `le`, `_count`,
/// `_sum`) also becomes a native histogram with custom buckets, named without suffix.
fn load_custom_bucket_histograms(
    storage: &mut MemStorage,
    step: i64,
    series: &[(Labels, Vec<SeqValue>)],
) -> Result<(), String> {
    let mut histograms: BTreeMap<Labels, BTreeMap<i64, ClassicParts>> = BTreeMap::new();
    for (labels, values) in series {
        let name = labels.metric_name().unwrap_or("");
        let (base, part) = if let Some(base) = name.strip_suffix("_bucket") {
            let Some(le) = labels.get("le").and_then(|le| le.parse::<f64>().ok()) else {
                continue;
            };
            if le.is_nan() {
                continue;
            }
            (base, Some(le))
        } else if let Some(base) = name.strip_suffix("_sum") {
            (base, None)
        } else if let Some(base) = name.strip_suffix("_count") {
            (base, None)
        } else {
            continue;
        };
        let mut pairs: Vec<Label> = labels
            .iter()
            .filter(|l| l.name != "le" && l.name != model::labels::METRIC_NAME)
            .cloned()
            .collect();
        pairs.push(Label::new(model::labels::METRIC_NAME, base));
        pairs.sort();
        let key = Labels::from_sorted(pairs).map_err(|err| err.to_string())?;
        let by_time = histograms.entry(key).or_default();
        for (i, value) in values.iter().enumerate() {
            let SeqValue::Float(f) = value else {
                continue;
            };
            let parts = by_time.entry(i as i64 * step).or_default();
            match part {
                Some(le) => {
                    if !parts.buckets.iter().any(|(bound, _)| *bound == le) {
                        parts.buckets.push((le, *f));
                    }
                }
                None if name.ends_with("_sum") => parts.sum = *f,
                None => parts.count = Some(*f),
            }
        }
    }
    for (labels, by_time) in histograms {
        for (t, mut parts) in by_time {
            parts
                .buckets
                .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            let count = match (parts.count, parts.buckets.last()) {
                (Some(count), _) => count,
                (None, Some(&(_, highest))) => highest,
                (None, None) => {
                    return Err(format!("{labels}: a histogram needs buckets or a count"));
                }
            };
            if parts
                .buckets
                .last()
                .is_none_or(|(bound, _)| *bound != f64::INFINITY)
            {
                parts.buckets.push((f64::INFINITY, count));
            }
            let integral =
                parts.buckets.iter().all(|(_, c)| c.fract() == 0.0) && count.fract() == 0.0;
            let mut previous = 0.0;
            let mut buckets = Vec::with_capacity(parts.buckets.len());
            let mut custom_values = Vec::with_capacity(parts.buckets.len());
            for &(bound, cumulative) in &parts.buckets {
                buckets.push(cumulative - previous);
                previous = cumulative;
                if bound != f64::INFINITY {
                    custom_values.push(bound);
                }
            }
            let mut h = FloatHistogram {
                schema: CUSTOM_BUCKETS_SCHEMA,
                count,
                sum: parts.sum,
                positive_spans: vec![Span {
                    offset: 0,
                    length: buckets.len() as u32,
                }],
                positive_buckets: buckets,
                custom_values,
                ..FloatHistogram::default()
            };
            h.compact(if integral { 2 } else { 0 });
            storage.add_histogram(&labels, t, h);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Running.

/// Functions whose result changes with the evaluation time even when their arguments
/// do not: queries using them are not rerun with `@`.
const AT_UNSAFE_FUNCTIONS: [&str; 10] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
];

fn at_time(ms: i64) -> AtModifier {
    let time = if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    };
    AtModifier::At(time)
}

/// Sets `@ at` on every selector and subquery that has none (not inside a subquery
/// that has one); reports whether a time-dependent function is used.
fn fix_at(expr: &mut Expr, at: &AtModifier, unsafe_used: &mut bool) {
    match expr {
        Expr::VectorSelector(selector) => {
            if selector.at.is_none() {
                selector.at = Some(at.clone());
            }
        }
        Expr::MatrixSelector(matrix) => {
            if matrix.vs.at.is_none() {
                matrix.vs.at = Some(at.clone());
            }
        }
        Expr::Subquery(subquery) => {
            if subquery.at.is_none() {
                subquery.at = Some(at.clone());
            }
        }
        Expr::Call(call) => {
            *unsafe_used |= AT_UNSAFE_FUNCTIONS.contains(&call.func.name);
            for arg in &mut call.args.args {
                fix_at(arg, at, unsafe_used);
            }
        }
        Expr::Aggregate(aggregate) => {
            fix_at(&mut aggregate.expr, at, unsafe_used);
            if let Some(param) = &mut aggregate.param {
                fix_at(param, at, unsafe_used);
            }
        }
        Expr::Binary(binary) => {
            fix_at(&mut binary.lhs, at, unsafe_used);
            fix_at(&mut binary.rhs, at, unsafe_used);
        }
        Expr::Paren(paren) => fix_at(&mut paren.expr, at, unsafe_used),
        Expr::Unary(unary) => fix_at(&mut unary.expr, at, unsafe_used),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The instant query and its `@`-fixed variants, with their evaluation times.
fn instant_variants(expr: &Expr, time: i64) -> Vec<(Expr, i64)> {
    let mut variants = vec![(expr.clone(), time)];
    let mut fixed = expr.clone();
    let mut unsafe_used = false;
    fix_at(&mut fixed, &at_time(time), &mut unsafe_used);
    if unsafe_used {
        return variants;
    }
    let times: Vec<i64> = if time == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * time, 0, time / 5, time, 10 * time]
    };
    for t in times {
        variants.push((fixed.clone(), t));
    }
    variants
}

fn check_failure(cmd: &EvalCmd, err: &Error) -> Result<(), String> {
    let message = err.to_string();
    if let Some(expected) = &cmd.fail_message
        && *expected != message
    {
        return Err(format!("expected error {expected:?}, got {message:?}"));
    }
    if let Some(pattern) = &cmd.fail_regexp
        && !pattern.is_match(&message)
    {
        return Err(format!(
            "expected an error matching {:?}, got {message:?}",
            pattern.as_str()
        ));
    }
    Ok(())
}

fn check_annotations(cmd: &EvalCmd, result: &QueryResult) -> Result<(), String> {
    if cmd.warn && result.annotations.warnings().next().is_none() {
        return Err("expected warnings but got none".into());
    }
    if cmd.info && result.annotations.infos().next().is_none() {
        return Err("expected info annotations but got none".into());
    }
    Ok(())
}

fn run_eval(engine: &Engine, storage: &MemStorage, cmd: &EvalCmd) -> Result<(), String> {
    let expr = crate::parse(&cmd.expr).map_err(|err| format!("does not parse: {err}"))?;
    let cancel = CancelToken::new();
    match cmd.kind {
        EvalKind::Range { start, end, step } => {
            match engine.range_expr(storage, &expr, start, end, step, &cancel) {
                Err(err) if cmd.fail => check_failure(cmd, &err),
                Err(err) => Err(format!("error evaluating the query: {err}")),
                Ok(_) if cmd.fail => Err("expected an error but the query succeeded".into()),
                Ok(result) => {
                    check_annotations(cmd, &result)?;
                    compare(cmd, &result.value, Some((start, end, step)))
                }
            }
        }
        EvalKind::Instant { time } => {
            for (variant, t) in instant_variants(&expr, time) {
                let shown = if t == time && variant == expr {
                    String::new()
                } else {
                    format!(" (with @ fixed, evaluated at {t}ms)")
                };
                let result = match engine.instant_expr(storage, &variant, t, &cancel) {
                    Err(err) if cmd.fail => {
                        check_failure(cmd, &err)?;
                        continue;
                    }
                    Err(err) => return Err(format!("error evaluating the query{shown}: {err}")),
                    Ok(_) if cmd.fail => {
                        return Err(format!("expected an error but the query succeeded{shown}"));
                    }
                    Ok(result) => result,
                };
                check_annotations(cmd, &result).map_err(|err| format!("{err}{shown}"))?;
                compare(cmd, &result.value, None).map_err(|err| format!("{err}{shown}"))?;
                // The same query as a range query must agree at its middle step.
                let range = engine
                    .range_expr(storage, &variant, t - 60_000, t + 60_000, 60_000, &cancel)
                    .map_err(|err| format!("error evaluating in range mode{shown}: {err}"))?;
                if cmd.ordered {
                    continue;
                }
                let QueryValue::Matrix(series) = &range.value else {
                    return Err(format!("range mode did not return a matrix{shown}"));
                };
                if series
                    .windows(2)
                    .any(|pair| pair[0].labels > pair[1].labels)
                {
                    return Err(format!("range mode result is not sorted by labels{shown}"));
                }
                let mut samples = Vec::new();
                for s in series {
                    if let Some(&(_, f)) = s.floats.iter().find(|(pt, _)| *pt == t) {
                        samples.push((s.labels.clone(), SampleValue::Float(f)));
                    } else if let Some((_, h)) = s.histograms.iter().find(|(pt, _)| *pt == t) {
                        samples.push((s.labels.clone(), SampleValue::Histogram(Arc::clone(h))));
                    }
                }
                let at_t = if matches!(result.value, QueryValue::Scalar { .. }) {
                    match samples.first() {
                        Some((_, SampleValue::Float(f))) => QueryValue::Scalar {
                            timestamp_ms: t,
                            value: *f,
                        },
                        _ => return Err(format!("range mode lost the scalar{shown}")),
                    }
                } else {
                    QueryValue::Vector(
                        samples
                            .into_iter()
                            .map(|(labels, value)| crate::value::InstantSample {
                                labels,
                                timestamp_ms: t,
                                value,
                            })
                            .collect(),
                    )
                };
                compare(cmd, &at_t, None).map_err(|err| format!("in range mode{shown}: {err}"))?;
            }
            Ok(())
        }
    }
}

/// Prometheus's relative comparison, NaN equal to NaN.
fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn histograms_match(expected: &FloatHistogram, actual: &FloatHistogram) -> bool {
    let expected = expected.clone().compacted();
    let actual = actual.clone().compacted();
    let buckets = |h: &FloatHistogram, positive: bool| -> Vec<(i32, f64)> {
        let (spans, counts) = if positive {
            (&h.positive_spans, &h.positive_buckets)
        } else {
            (&h.negative_spans, &h.negative_buckets)
        };
        let mut out = Vec::new();
        let mut next = 0;
        let mut counts = counts.iter();
        for span in spans {
            let start = next + span.offset;
            for i in 0..span.length as i32 {
                out.push((start + i, counts.next().copied().unwrap_or(0.0)));
            }
            next = start + span.length as i32;
        }
        out
    };
    let same_buckets = |a: Vec<(i32, f64)>, b: Vec<(i32, f64)>| {
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x.0 == y.0 && almost_equal(x.1, y.1))
    };
    expected.schema == actual.schema
        && almost_equal(expected.count, actual.count)
        && almost_equal(expected.sum, actual.sum)
        && (!expected.uses_custom_buckets() || expected.custom_values == actual.custom_values)
        && expected.zero_threshold == actual.zero_threshold
        && almost_equal(expected.zero_count, actual.zero_count)
        && same_buckets(buckets(&expected, true), buckets(&actual, true))
        && same_buckets(buckets(&expected, false), buckets(&actual, false))
}

fn matches_value(expected: &SeqValue, actual: &SampleValue) -> Result<(), String> {
    match (expected, actual) {
        (SeqValue::Float(e), SampleValue::Float(a)) if almost_equal(*e, *a) => Ok(()),
        (SeqValue::Histogram(e), SampleValue::Histogram(a)) if histograms_match(e, a) => Ok(()),
        (SeqValue::Float(e), SampleValue::Float(a)) => Err(format!("expected {e}, got {a}")),
        (SeqValue::Histogram(e), SampleValue::Histogram(a)) => {
            Err(format!("expected {e}, got {a}"))
        }
        (expected, actual) => Err(format!("expected {expected:?}, got {actual:?}")),
    }
}

fn compare(
    cmd: &EvalCmd,
    value: &QueryValue,
    range: Option<(i64, i64, i64)>,
) -> Result<(), String> {
    match value {
        QueryValue::Scalar { value, .. } => match cmd.scalar {
            Some(expected) if almost_equal(expected, *value) => Ok(()),
            Some(expected) => Err(format!("expected scalar {expected}, got {value}")),
            None => Err(format!("expected a vector or matrix, got scalar {value}")),
        },
        QueryValue::String { value, .. } => Err(format!("unexpected string result {value:?}")),
        QueryValue::Vector(samples) => {
            if cmd.scalar.is_some() {
                return Err("expected a scalar, got a vector".into());
            }
            let expected: HashMap<&Labels, (&Vec<SeqValue>, usize)> = cmd
                .series
                .iter()
                .map(|(labels, values, position)| (labels, (values, *position)))
                .collect();
            for (idx, sample) in samples.iter().enumerate() {
                let Some((values, position)) = expected.get(&sample.labels) else {
                    return Err(format!(
                        "unexpected metric {} in the result, with value {:?}",
                        sample.labels, sample.value
                    ));
                };
                if cmd.ordered && *position != idx + 1 {
                    return Err(format!(
                        "expected {} at position {position}, found it at {}",
                        sample.labels,
                        idx + 1
                    ));
                }
                let first = values.first().ok_or("no expected value")?;
                matches_value(first, &sample.value)
                    .map_err(|err| format!("{}: {err}", sample.labels))?;
            }
            for (labels, _, _) in &cmd.series {
                if !samples.iter().any(|s| s.labels == *labels) {
                    return Err(format!(
                        "expected metric {labels} is missing from the result"
                    ));
                }
            }
            Ok(())
        }
        QueryValue::Matrix(series) => {
            let Some((start, end, step)) = range else {
                return Err("an instant query returned a matrix".into());
            };
            if cmd.scalar.is_some() {
                return Err("expected a scalar, got a matrix".into());
            }
            if series
                .windows(2)
                .any(|pair| pair[0].labels > pair[1].labels)
            {
                return Err("the matrix is not sorted by labels".into());
            }
            for s in series {
                let Some((_, values, _)) = cmd.series.iter().find(|(l, _, _)| *l == s.labels)
                else {
                    let mut shown = String::new();
                    for (t, f) in &s.floats {
                        let _ = write!(shown, " {f}@{t}");
                    }
                    return Err(format!(
                        "unexpected metric {} in the result:{shown}",
                        s.labels
                    ));
                };
                let mut floats = Vec::new();
                let mut hists = Vec::new();
                for (i, value) in values.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, more than the range holds",
                            values.len(),
                            s.labels
                        ));
                    }
                    match value {
                        SeqValue::Float(f) => floats.push((t, *f)),
                        SeqValue::Histogram(h) => hists.push((t, h)),
                        SeqValue::Omitted | SeqValue::Stale => {}
                    }
                }
                if floats.len() != s.floats.len() || hists.len() != s.histograms.len() {
                    return Err(format!(
                        "expected {} float and {} histogram points for {}, got {:?} and {} histograms",
                        floats.len(),
                        hists.len(),
                        s.labels,
                        s.floats,
                        s.histograms.len()
                    ));
                }
                for ((et, ev), (at, av)) in floats.iter().zip(&s.floats) {
                    if et != at || !almost_equal(*ev, *av) {
                        return Err(format!(
                            "{}: expected {ev} at {et}, got {av} at {at}",
                            s.labels
                        ));
                    }
                }
                for ((et, eh), (at, ah)) in hists.iter().zip(&s.histograms) {
                    if et != at || !histograms_match(eh, ah) {
                        return Err(format!(
                            "{}: expected {eh} at {et}, got {ah} at {at}",
                            s.labels
                        ));
                    }
                }
            }
            for (labels, _, _) in &cmd.series {
                if !series.iter().any(|s| s.labels == *labels) {
                    return Err(format!(
                        "expected metric {labels} is missing from the result"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Runs every `*.test` file of `dir` (sorted by name); returns `(file name, report)`.
pub fn run_dir(
    dir: &std::path::Path,
    engine: &Engine,
) -> std::io::Result<Vec<(String, ScriptReport)>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    let mut reports = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        reports.push((name, run_script(&text, engine)));
    }
    Ok(reports)
}

/// The engine the scripts assume: Prometheus's test engine settings.
pub fn test_engine() -> Engine {
    Engine::new(crate::EngineOptions {
        lookback_delta: Duration::from_secs(300),
        default_subquery_step: Duration::from_secs(60),
        timeout: Duration::from_secs(100),
        max_samples: 0,
        max_series: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_values_expand_like_promqltest() {
        let (labels, values) =
            parse_series_line(r#"m{a="b"} 0+10x2 _ 1x1 _x2 stale -1-1x1"#).expect("parses");
        assert_eq!(labels.to_string(), r#"m{a="b"}"#);
        let shown: Vec<String> = values
            .iter()
            .map(|v| match v {
                SeqValue::Float(f) => f.to_string(),
                SeqValue::Omitted => "_".into(),
                SeqValue::Stale => "stale".into(),
                SeqValue::Histogram(h) => h.to_string(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "0", "10", "20", "_", "1", "1", "_", "_", "stale", "-1", "-2"
            ]
        );
        let (labels, values) =
            parse_series_line(r#"{__name__="x", y='z'} 1e+6 Inf"#).expect("parses");
        assert_eq!(labels.to_string(), r#"x{y="z"}"#);
        assert_eq!(
            values,
            [SeqValue::Float(1e6), SeqValue::Float(f64::INFINITY)]
        );
    }

    #[test]
    fn histogram_literals_parse_and_step() {
        let (_, values) = parse_series_line(
            "h {{schema:0 sum:5 count:4 buckets:[1 2 1]}}+{{schema:0 sum:1 count:1 buckets:[1]}}x1",
        )
        .expect("parses");
        let SeqValue::Histogram(second) = &values[1] else {
            panic!("histogram expected");
        };
        assert_eq!((second.count, second.sum), (5.0, 6.0));
        assert_eq!(second.positive_buckets, [2.0, 2.0, 1.0]);
    }

    #[test]
    fn a_small_script_runs() {
        let script = r#"
load 5m
  m{job="a"} 0+10x10
  m{job="b"} 0+20x10

eval instant at 50m sum(m)
  {} 300

eval instant at 50m m{job="a"} * 2
  {job="a"} 200

eval range from 0 to 10m step 5m m{job="b"}
  m{job="b"} 0 20 40

eval_fail instant at 50m m == on() m
"#;
        let report = run_script(script, &test_engine());
        assert_eq!(report.failures, Vec::<String>::new());
        assert_eq!((report.passed, report.failed), (4, 0));
    }
}
