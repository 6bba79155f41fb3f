use super::*;
use crate::statsd::decode::parse_lines;
use crate::statsd::mapping::MappingRule;

fn aggregator(rules: &[MappingRule]) -> Aggregator {
    Aggregator::new(
        Mapper::new(rules).expect("rules"),
        AggregatorConfig::default(),
    )
}

/// Feeds lines; returns refusal reasons.
fn feed(aggregator: &mut Aggregator, payload: &str) -> Vec<&'static str> {
    let mut events = Vec::new();
    parse_lines(payload.as_bytes(), &mut events, &mut |err, _| {
        panic!("parse error {err:?}")
    });
    events
        .iter()
        .filter_map(|event| aggregator.add(event).err().map(Refusal::reason))
        .collect()
}

fn rows(flushed: &Flushed) -> Vec<String> {
    flushed
        .rows
        .iter()
        .map(|row| {
            let mut labels: Vec<(String, String)> = row.labels.to_vec();
            if let Some(le) = &row.le {
                labels.push(("le".to_owned(), le.to_string()));
                labels.sort();
            }
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!("{}{{{}}} {}", row.name, labels.join(","), row.value)
        })
        .collect()
}

#[test]
fn counters_accumulate_with_sample_rates_and_get_a_total_suffix() {
    let mut agg = aggregator(&[]);
    assert!(feed(&mut agg, "hits:1|c\nhits:2|c|@0.5\nhits:1|c|#env:prod").is_empty());
    assert_eq!(
        rows(&agg.flush(1000)),
        [r#"hits_total{} 5"#, r#"hits_total{env="prod"} 1"#]
    );
    feed(&mut agg, "hits:1|c");
    assert_eq!(
        rows(&agg.flush(2000))[0],
        "hits_total{} 6",
        "cumulative across flushes"
    );
}

#[test]
fn gauges_set_and_add() {
    let mut agg = aggregator(&[]);
    feed(&mut agg, "temp:20|g\ntemp:+2.5|g\ntemp:-1|g\nfresh:-3|g");
    assert_eq!(rows(&agg.flush(1)), ["temp{} 21.5", "fresh{} -3"]);
}

#[test]
fn timers_become_histograms_in_seconds_and_rates_weigh_not_repeat() {
    let mut agg = aggregator(&[]);
    feed(
        &mut agg,
        "lat:72.8|ms\nlat:300|ms|@0.5\nlat:20000|ms\nlat:1|ms|@1e-9",
    );
    let shown = rows(&agg.flush(1));
    assert!(
        shown.contains(&r#"lat_seconds_bucket{le="0.005"} 1000000000"#.to_owned()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&r#"lat_seconds_bucket{le="0.1"} 1000000001"#.to_owned()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&r#"lat_seconds_bucket{le="0.5"} 1000000003"#.to_owned()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&r#"lat_seconds_bucket{le="+Inf"} 1000000004"#.to_owned()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"lat_seconds_count{} 1000000004".to_owned()),
        "{shown:?}"
    );
    let sum = agg
        .flush(2)
        .rows
        .iter()
        .find(|row| &*row.name == "lat_seconds_sum")
        .map(|row| row.value)
        .expect("sum");
    assert!(
        (sum - (0.0728 + 0.6 + 20.0 + 1_000_000.0)).abs() < 1e-6,
        "{sum}"
    );
    assert_eq!(agg.n_series(), 1, "one series whatever the rate");
}

#[test]
fn sets_count_distinct_members_per_flush() {
    let mut agg = aggregator(&[]);
    feed(&mut agg, "users:alice|s\nusers:bob|s\nusers:alice|s");
    assert_eq!(rows(&agg.flush(1)), ["users{} 2"]);
    assert_eq!(rows(&agg.flush(2)), ["users{} 0"]);
}

#[test]
fn mappings_name_and_label_series_and_beat_tags() {
    let mut agg = aggregator(&[MappingRule {
        pattern: "simplebank-demo.*.request_reservation".into(),
        name: "request_reservation_seconds".into(),
        labels: vec![("app".into(), "$1".into())],
        buckets: Some(vec![0.1, 1.0]),
        ..Default::default()
    }]);
    feed(
        &mut agg,
        "simplebank-demo.market.request_reservation:250|ms|#app:ignored,region:eu",
    );
    let shown = rows(&agg.flush(1));
    assert_eq!(
        shown,
        [
            r#"request_reservation_seconds_bucket{app="market",le="0.1",region="eu"} 0"#,
            r#"request_reservation_seconds_bucket{app="market",le="1",region="eu"} 1"#,
            r#"request_reservation_seconds_bucket{app="market",le="+Inf",region="eu"} 1"#,
            r#"request_reservation_seconds_sum{app="market",region="eu"} 0.25"#,
            r#"request_reservation_seconds_count{app="market",region="eu"} 1"#,
        ]
    );
}

#[test]
fn conflicts_negative_counters_and_limits_are_refused_with_reasons() {
    let mut agg = Aggregator::new(
        Mapper::default(),
        AggregatorConfig {
            max_series: 2,
            ..AggregatorConfig::default()
        },
    );
    let refused = feed(
        &mut agg,
        "x:1|c\nx_total:1|g\nneg:-1|c\ny:1|g\nz:1|g\ny:2|g",
    );
    assert_eq!(refused, ["type_conflict", "negative_counter", "max_series"]);
    assert_eq!(rows(&agg.flush(1)), ["x_total{} 1", "y{} 2"]);
}

#[test]
fn flush_batches_carry_names_labels_and_metadata() {
    let mut agg = aggregator(&[]);
    feed(&mut agg, "a.b:1|c|#z:1,a:2");
    let flushed = agg.flush(42);
    let batch = flushed.batch();
    assert_eq!(
        batch.series_labels(0),
        [("__name__", "a_b_total"), ("a", "2"), ("z", "1")]
    );
    assert_eq!(batch.series_samples(0), [Sample::new(42, 1.0)]);
    assert_eq!(batch.metadata[0].metric_type, MetricType::Counter);
}

#[test]
fn flushes_split_into_bounded_batches_with_metadata_once() {
    let mut agg = aggregator(&[]);
    feed(&mut agg, "a:1|c\nb:1|c\nc:1|c\nlat:5|ms");
    let flushed = agg.flush(1);
    let parts: Vec<_> = flushed.chunks(3).collect();
    assert_eq!(
        parts.iter().map(|part| part.rows.len()).sum::<usize>(),
        flushed.rows.len()
    );
    assert!(parts.iter().all(|part| part.rows.len() <= 3));
    assert_eq!(parts[0].batch().metadata.len(), 4);
    assert!(
        parts[1..]
            .iter()
            .all(|part| part.batch().metadata.is_empty())
    );
}

#[test]
fn an_le_tag_on_an_observer_is_refused_not_duplicated() {
    let mut agg = aggregator(&[]);
    assert_eq!(
        feed(&mut agg, "lat:5|ms|#le:x\nlat:5|h|#le:1\nhits:1|c|#le:x"),
        ["reserved_label_le", "reserved_label_le"]
    );
    assert_eq!(rows(&agg.flush(1)), [r#"hits_total{le="x"} 1"#]);
}

#[test]
fn weighted_values_that_overflow_are_refused() {
    let mut agg = aggregator(&[]);
    assert_eq!(
        feed(&mut agg, "hits:1e300|c|@1e-10\nlat:1|ms|@1e-320\nhits:2|c"),
        ["value_overflow", "value_overflow"]
    );
    assert_eq!(rows(&agg.flush(1)), ["hits_total{} 2"]);
}

#[test]
fn a_histogram_owns_its_bucket_sum_and_count_names() {
    let mut agg = aggregator(&[]);
    assert_eq!(
        feed(
            &mut agg,
            "req:5|h\nreq_sum:1|g\nreq_count:1|g\nreq_total:1|c"
        ),
        ["type_conflict", "type_conflict"]
    );
    let mut agg = aggregator(&[]);
    assert_eq!(feed(&mut agg, "req_sum:1|g\nreq:5|h"), ["type_conflict"]);
}
