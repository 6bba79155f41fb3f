//! StatsD datagrams: parsing, aggregation and flushing never panic, whatever the bytes.
#![no_main]

use ingest::statsd::aggregate::{Aggregator, AggregatorConfig};
use ingest::statsd::decode::parse_lines;
use ingest::statsd::mapping::{Mapper, MappingRule};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rules = [MappingRule {
        pattern: "app.*.latency".into(),
        name: "app_${1}_latency".into(),
        labels: vec![("part".into(), "$1".into())],
        ..Default::default()
    }];
    let Ok(mapper) = Mapper::new(&rules) else { return };
    let mut aggregator = Aggregator::new(mapper, AggregatorConfig { max_series: 1000, ..AggregatorConfig::default() });
    let mut events = Vec::new();
    parse_lines(data, &mut events, &mut |_, _| {});
    for event in &events {
        let _ = aggregator.add(event);
    }
    let flushed = aggregator.flush(0);
    let _ = flushed.batch();
});
