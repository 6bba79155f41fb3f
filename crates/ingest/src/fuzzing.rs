//! The properties the fuzz targets (`crates/ingest/fuzz`) check, callable from normal
//! tests so the seeds and every crash found become regression tests
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`).

use model::UnixNanos;

use crate::batch::Decoded;
use crate::es_bulk::decode::Action;
use crate::normalize::LogConfig;
use crate::remote_write::decode::{KnownLabelSets, decode_v1, decode_v2};
use crate::remote_write::handler::decompress;
use crate::spans::{DecodedSpans, TraceLimits};
use crate::statsd::aggregate::{Aggregator, AggregatorConfig};
use crate::statsd::decode::parse_lines;
use crate::statsd::mapping::{Mapper, MappingRule};
use crate::validate::LabelLimits;

/// Decodes a remote-write 1.0 body; returns `(samples, exemplars)` when it decodes.
pub fn remote_write_v1(data: &[u8]) -> Option<(u64, u64)> {
    let decoded = decode_v1(data, &LabelLimits::default(), &KnownLabelSets::default()).ok()?;
    let n_labels: usize = (0..decoded.batch.series.len())
        .map(|idx| decoded.batch.series_labels(idx).len())
        .sum();
    assert!(n_labels <= decoded.batch.labels.len());
    Some((decoded.samples_received, decoded.exemplars_received))
}

/// Decodes a remote-write 2.0 body; returns the samples when it decodes.
pub fn remote_write_v2(data: &[u8]) -> Option<u64> {
    let decoded = decode_v2(data, &LabelLimits::default()).ok()?;
    for idx in 0..decoded.batch.series.len() {
        let _ = decoded.batch.series_samples(idx);
    }
    Some(decoded.samples_received)
}

/// Decompresses a body within a 64 KiB bound; the output never exceeds it.
pub fn snappy_body(data: &[u8]) {
    if let Ok(raw) = decompress(data, 1 << 16) {
        assert!(raw.len() <= 1 << 16);
    }
}

/// Parses, aggregates and flushes StatsD lines.
pub fn statsd_lines(data: &[u8]) {
    let rules = [MappingRule {
        pattern: "app.*.latency".into(),
        name: "app_${1}_latency".into(),
        labels: vec![("part".into(), "$1".into())],
        ..Default::default()
    }];
    let Ok(mapper) = Mapper::new(&rules) else {
        return;
    };
    let config = AggregatorConfig {
        max_series: 1000,
        ..AggregatorConfig::default()
    };
    let mut aggregator = Aggregator::new(mapper, config);
    let mut events = Vec::new();
    parse_lines(data, &mut events, &mut |_, _| {});
    for event in &events {
        let _ = aggregator.add(event);
    }
    let flushed = aggregator.flush(0);
    let _ = flushed.batch();
}

/// Small limits, so the fuzzer reaches them.
fn fuzz_log_config() -> LogConfig {
    LogConfig {
        max_line_bytes: 4096,
        max_fields: 64,
        max_depth: 8,
        ..LogConfig::default()
    }
}

/// The non-blank lines of a body, as the NDJSON decoders count them.
fn non_blank_lines(data: &[u8]) -> usize {
    data.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .count()
}

/// Decodes a `POST /api/v1/logs` body (NDJSON or a JSON array): every line is either a
/// record or a reject, numbered in order, and a record respects the limits.
pub fn ndjson_logs(data: &[u8]) {
    let config = fuzz_log_config();
    let Ok(decoded) = crate::json_logs::decode::decode(data, &config, UnixNanos(0)) else {
        return;
    };
    assert_eq!(decoded.records.len(), decoded.numbers.len());
    let mut numbers: Vec<usize> = decoded.numbers.clone();
    numbers.extend(decoded.errors.iter().map(|(number, _)| *number));
    numbers.sort_unstable();
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "a line is reported twice"
    );
    assert!(numbers.first().is_none_or(|&first| first >= 1));
    let is_array = data
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'[');
    if !is_array {
        assert_eq!(numbers.len(), non_blank_lines(data));
    }
    for record in &decoded.records {
        assert!(record.raw.len() <= config.max_line_bytes);
        assert!(record.fields.len() <= config.max_fields);
    }
}

/// Decodes an Elasticsearch `_bulk` body: the items consume every non-blank line (two
/// for each action but `delete`), each record belongs to exactly one `index` or `create`
/// item, and carries that item's index.
pub fn es_bulk(data: &[u8]) {
    let config = fuzz_log_config();
    let Ok(decoded) = crate::es_bulk::decode::decode(data, Some("fuzz"), &config, UnixNanos(0))
    else {
        return;
    };
    let mut owners = vec![0usize; decoded.records.len()];
    let mut n_lines = 0;
    for item in &decoded.items {
        n_lines += if item.action.has_source() { 2 } else { 1 };
        assert!(!item.index.is_empty());
        if let Ok(record_idx) = item.result {
            assert!(matches!(item.action, Action::Index | Action::Create));
            owners[record_idx] += 1;
            let record = &decoded.records[record_idx];
            let index = record.fields.iter().find(|(key, _)| key == "_index");
            assert_eq!(
                index.map(|(_, value)| value),
                Some(&model::Value::Str(item.index.clone()))
            );
            assert!(record.raw.len() <= config.max_line_bytes);
        }
    }
    assert!(owners.iter().all(|&n| n == 1), "a record without one owner");
    assert_eq!(n_lines, non_blank_lines(data));
}

/// Decodes a Loki push body two ways: as a snappy block (within 64 KiB) holding a
/// protobuf `PushRequest`, and as that protobuf itself (so the fuzzer reaches the
/// protobuf decoder without having to write snappy). Normalizing what decodes never
/// panics, every entry becomes one record or one reject, and records respect the limits.
/// Returns the protobuf reading's `(streams, entries)` when it decodes.
pub fn loki_push(data: &[u8]) -> Option<(usize, usize)> {
    use crate::loki_push::decode::{decode_protobuf, decompress};
    if let Ok(raw) = decompress(data, 1 << 16) {
        assert!(raw.len() <= 1 << 16);
        if let Ok(request) = decode_protobuf(&raw) {
            check_loki_records(&request);
        }
    }
    let request = decode_protobuf(data).ok()?;
    check_loki_records(&request);
    let n_entries = request.streams.iter().map(|s| s.entries.len()).sum();
    Some((request.streams.len(), n_entries))
}

fn check_loki_records(request: &crate::loki_push::decode::PushRequest<'_>) {
    let config = fuzz_log_config();
    let decoded = crate::loki_push::records::to_records(request, &config, UnixNanos(0));
    let n_rejected: usize = decoded.rejected.iter().map(|r| r.n_entries).sum();
    assert_eq!(decoded.records.len() + n_rejected, decoded.n_entries);
    assert_eq!(decoded.records.len(), decoded.origins.len());
    for record in &decoded.records {
        assert!(record.raw.len() <= config.max_line_bytes);
        assert!(record.fields.len() <= config.max_fields);
    }
}

/// Decodes an OTLP logs body in protobuf: every record becomes a record or a reject,
/// numbered in order, and records respect the limits. Returns how many records the
/// body holds (kept or refused) when it decodes.
pub fn otlp_logs_protobuf(data: &[u8]) -> Option<usize> {
    let config = fuzz_log_config();
    let decoded = crate::otlp::logs_decode::decode(data, &config, UnixNanos(0)).ok()?;
    check_otlp_records(&decoded, &config);
    Some(decoded.n_records())
}

/// Decodes an OTLP logs body in OTLP/JSON, with the checks of [`otlp_logs_protobuf`].
pub fn otlp_logs_json(data: &[u8]) -> Option<usize> {
    let config = fuzz_log_config();
    let decoded = crate::otlp::logs_json::decode(data, &config, UnixNanos(0)).ok()?;
    check_otlp_records(&decoded, &config);
    Some(decoded.n_records())
}

fn check_otlp_records(decoded: &crate::otlp::log_record::Decoded, config: &LogConfig) {
    check_numbering(decoded);
    for record in &decoded.records {
        assert!(record.raw.len() <= config.max_line_bytes);
        assert!(record.fields.len() <= config.max_fields);
    }
}

/// Every item is kept or refused, and numbered 1..=n once.
fn check_numbering<T>(decoded: &Decoded<T>) {
    assert_eq!(decoded.records.len(), decoded.numbers.len());
    let mut numbers = decoded.numbers.clone();
    numbers.extend(decoded.errors.iter().map(|(number, _)| *number));
    numbers.sort_unstable();
    assert!(
        numbers.iter().copied().eq(1..=decoded.n_records()),
        "items are numbered 1..=n, each once"
    );
}

/// Small limits, so the fuzzer reaches them.
fn fuzz_trace_limits() -> TraceLimits {
    TraceLimits {
        max_attributes_per_span: 8,
        max_events_per_span: 4,
        max_links_per_span: 4,
        max_attribute_value_bytes: 64,
        max_spans_per_request: 256,
        max_request_bytes: 1 << 16,
    }
}

/// Spans are numbered in order and keep the limits: counts of attributes, events and
/// links, string values (with at most a truncation marker beyond the limit), and an end
/// not before the start.
fn check_spans(decoded: &DecodedSpans, limits: &TraceLimits) {
    check_numbering(&decoded.spans);
    assert!(decoded.spans.n_records() <= limits.max_spans_per_request);
    // "…[truncated 18446744073709551615 bytes]" is 42 bytes.
    let max_value_bytes = limits.max_attribute_value_bytes + 42;
    let values_fit = |attributes: &[(String, model::Value)]| {
        attributes.len() <= limits.max_attributes_per_span
            && attributes.iter().all(|(_, value)| match value {
                model::Value::Str(text) => text.len() <= max_value_bytes,
                _ => true,
            })
    };
    for span in &decoded.spans.records {
        assert!(span.end >= span.start);
        assert!(values_fit(&span.attributes) && values_fit(&span.resource_attributes));
        assert!(span.events.len() <= limits.max_events_per_span);
        assert!(span.links.len() <= limits.max_links_per_span);
        assert!(
            span.events
                .iter()
                .all(|event| values_fit(&event.attributes))
        );
        assert!(span.links.iter().all(|link| values_fit(&link.attributes)));
    }
}

/// Decodes an OTLP traces body in protobuf: every span becomes a span or a reject,
/// numbered in order, and spans keep the limits. Returns how many spans the body holds
/// (kept or refused) when it decodes.
pub fn otlp_traces_protobuf(data: &[u8]) -> Option<usize> {
    let limits = fuzz_trace_limits();
    let decoded = crate::otlp::traces_decode::decode(data, &limits).ok()?;
    check_spans(&decoded, &limits);
    Some(decoded.spans.n_records())
}

/// Decodes an OTLP traces body in OTLP/JSON, with the checks of
/// [`otlp_traces_protobuf`].
pub fn otlp_traces_json(data: &[u8]) -> Option<usize> {
    let limits = fuzz_trace_limits();
    let decoded = crate::otlp::traces_json::decode(data, &limits).ok()?;
    check_spans(&decoded, &limits);
    Some(decoded.spans.n_records())
}

/// Decodes a Zipkin v2 JSON body, with the checks of [`otlp_traces_protobuf`]; a list
/// decodes to exactly one span or reject per element.
pub fn zipkin(data: &[u8]) -> Option<usize> {
    let limits = fuzz_trace_limits();
    let decoded = crate::zipkin::decode::decode(data, &limits).ok()?;
    check_spans(&decoded, &limits);
    Some(decoded.spans.n_records())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every seed and every saved crash input of every target still passes.
    #[test]
    fn seeds_and_regressions_pass() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut n_inputs = 0;
        for kind in ["seeds", "regressions"] {
            for target in [
                "remote_write_v1",
                "remote_write_v2",
                "snappy_body",
                "statsd_lines",
                "ndjson_logs",
                "es_bulk",
                "loki_push",
                "otlp_logs_protobuf",
                "otlp_logs_json",
                "otlp_traces_protobuf",
                "otlp_traces_json",
                "zipkin",
            ] {
                let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let data = std::fs::read(entry.path()).expect("read input");
                    match target {
                        "remote_write_v1" => drop(super::remote_write_v1(&data)),
                        "remote_write_v2" => drop(super::remote_write_v2(&data)),
                        "snappy_body" => super::snappy_body(&data),
                        "ndjson_logs" => super::ndjson_logs(&data),
                        "es_bulk" => super::es_bulk(&data),
                        "loki_push" => drop(super::loki_push(&data)),
                        "otlp_logs_protobuf" => drop(super::otlp_logs_protobuf(&data)),
                        "otlp_logs_json" => drop(super::otlp_logs_json(&data)),
                        "otlp_traces_protobuf" => drop(super::otlp_traces_protobuf(&data)),
                        "otlp_traces_json" => drop(super::otlp_traces_json(&data)),
                        "zipkin" => drop(super::zipkin(&data)),
                        _ => super::statsd_lines(&data),
                    }
                    n_inputs += 1;
                }
            }
        }
        assert!(n_inputs >= 6, "the seed inputs are missing");
    }

    /// The trace targets' seeds are whole bodies: each decodes, with spans in it.
    #[test]
    fn trace_seeds_decode() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        type Property = fn(&[u8]) -> Option<usize>;
        let targets: [(&str, Property); 3] = [
            ("otlp_traces_protobuf", super::otlp_traces_protobuf),
            ("otlp_traces_json", super::otlp_traces_json),
            ("zipkin", super::zipkin),
        ];
        for (target, property) in targets {
            let entries = std::fs::read_dir(seeds.join(target)).expect("seed directory");
            let mut n_seeds = 0;
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("read seed");
                let n_spans = property(&data);
                assert!(n_spans.is_some_and(|n| n > 0), "{:?}", entry.path());
                n_seeds += 1;
            }
            assert!(n_seeds >= 2, "{target} has too few seeds");
        }
    }
}
