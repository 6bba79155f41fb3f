//! The properties the fuzz targets (`crates/ingest/fuzz`) check, callable from normal
//! tests so the seeds and every crash found become regression tests
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`).

use crate::remote_write::decode::{KnownLabelSets, decode_v1, decode_v2};
use crate::remote_write::handler::decompress;
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
                        _ => super::statsd_lines(&data),
                    }
                    n_inputs += 1;
                }
            }
        }
        assert!(n_inputs >= 4, "the seed inputs are missing");
    }
}
