//! Ingest's own telemetry: items, bytes and rejects per protocol, and what limits
//! trimmed in items that were kept.

use prometheus::core::Collector as _;
use prometheus::{IntCounterVec, Opts, Registry};

/// What kind of telemetry a protocol carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Metrics,
    Logs,
    Traces,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }
}

/// Every protocol Sightline accepts, in the order the Status page lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    RemoteWrite,
    Statsd,
    LogsJson,
    ElasticsearchBulk,
    LokiPush,
    OtlpLogs,
    OtlpTraces,
    Zipkin,
}

impl Protocol {
    pub const ALL: [Protocol; 8] = [
        Protocol::RemoteWrite,
        Protocol::Statsd,
        Protocol::LogsJson,
        Protocol::ElasticsearchBulk,
        Protocol::LokiPush,
        Protocol::OtlpLogs,
        Protocol::OtlpTraces,
        Protocol::Zipkin,
    ];

    /// The `protocol` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::RemoteWrite => "remote_write",
            Protocol::Statsd => "statsd",
            Protocol::LogsJson => "logs_json",
            Protocol::ElasticsearchBulk => "es_bulk",
            Protocol::LokiPush => "loki_push",
            Protocol::OtlpLogs => "otlp_logs",
            Protocol::OtlpTraces => "otlp_traces",
            Protocol::Zipkin => "zipkin",
        }
    }

    pub fn signal(self) -> Signal {
        match self {
            Protocol::RemoteWrite | Protocol::Statsd => Signal::Metrics,
            Protocol::LogsJson
            | Protocol::ElasticsearchBulk
            | Protocol::LokiPush
            | Protocol::OtlpLogs => Signal::Logs,
            Protocol::OtlpTraces | Protocol::Zipkin => Signal::Traces,
        }
    }
}

/// Counters of one protocol, read for the Status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolCounters {
    pub protocol: Protocol,
    /// Items accepted: samples, log lines or spans.
    pub items: u64,
    /// Bytes received on the wire, before decompression.
    pub bytes: u64,
    /// Items rejected, whatever the reason.
    pub rejected: u64,
}

/// Ingest counters, registered once in the process registry.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    items: IntCounterVec,
    bytes: IntCounterVec,
    rejected: IntCounterVec,
    limited: IntCounterVec,
}

impl IngestMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let items = IntCounterVec::new(
            Opts::new(
                "sightline_ingest_items_total",
                "Items accepted (samples, log lines, spans), by protocol.",
            ),
            &["protocol"],
        )?;
        let bytes = IntCounterVec::new(
            Opts::new(
                "sightline_ingest_bytes_total",
                "Bytes received on the wire, before decompression, by protocol.",
            ),
            &["protocol"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "sightline_ingest_rejected_total",
                "Items rejected, by protocol and reason.",
            ),
            &["protocol", "reason"],
        )?;
        let limited = IntCounterVec::new(
            Opts::new(
                "sightline_ingest_limited_total",
                "Values truncated, and attributes, events or links dropped, by an ingest limit \
                 in items that were kept, by protocol and limit.",
            ),
            &["protocol", "limit"],
        )?;
        registry.register(Box::new(items.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(limited.clone()))?;
        // Every protocol is listed from the start, so dashboards see zeros, not gaps.
        for protocol in Protocol::ALL {
            items.with_label_values(&[protocol.as_str()]);
            bytes.with_label_values(&[protocol.as_str()]);
        }
        Ok(IngestMetrics {
            items,
            bytes,
            rejected,
            limited,
        })
    }

    pub fn record_accepted(&self, protocol: Protocol, n_items: u64, n_bytes: u64) {
        self.items
            .with_label_values(&[protocol.as_str()])
            .inc_by(n_items);
        self.bytes
            .with_label_values(&[protocol.as_str()])
            .inc_by(n_bytes);
    }

    /// `reason` is a short fixed identifier (`parse_error`, `too_old`, ...), never input.
    pub fn record_rejected(&self, protocol: Protocol, reason: &'static str, n_items: u64) {
        self.rejected
            .with_label_values(&[protocol.as_str(), reason])
            .inc_by(n_items);
    }

    /// `limit` names the limit (`max_attribute_value_bytes`, ...), never input.
    pub fn record_limited(&self, protocol: Protocol, limit: &'static str, n_values: u64) {
        self.limited
            .with_label_values(&[protocol.as_str(), limit])
            .inc_by(n_values);
    }

    /// Values and items trimmed by `limit` for `protocol`.
    pub fn limited(&self, protocol: Protocol, limit: &'static str) -> u64 {
        self.limited
            .with_label_values(&[protocol.as_str(), limit])
            .get()
    }

    pub fn snapshot(&self) -> Vec<ProtocolCounters> {
        let rejected_by_protocol = |protocol: Protocol| -> u64 {
            self.rejected
                .collect()
                .iter()
                .flat_map(|family| family.get_metric())
                .filter(|metric| {
                    metric.get_label().iter().any(|label| {
                        label.name() == "protocol" && label.value() == protocol.as_str()
                    })
                })
                .map(|metric| metric.get_counter().get_value() as u64)
                .sum()
        };
        Protocol::ALL
            .into_iter()
            .map(|protocol| ProtocolCounters {
                protocol,
                items: self.items.with_label_values(&[protocol.as_str()]).get(),
                bytes: self.bytes.with_label_values(&[protocol.as_str()]).get(),
                rejected: rejected_by_protocol(protocol),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_rejects_over_reasons() {
        let registry = Registry::new();
        let metrics = IngestMetrics::register(&registry).expect("register");
        metrics.record_accepted(Protocol::Statsd, 3, 120);
        metrics.record_rejected(Protocol::Statsd, "parse_error", 2);
        metrics.record_rejected(Protocol::Statsd, "bad_sample_rate", 1);
        metrics.record_rejected(Protocol::RemoteWrite, "too_old", 7);
        let statsd = metrics
            .snapshot()
            .into_iter()
            .find(|counters| counters.protocol == Protocol::Statsd)
            .expect("statsd listed");
        assert_eq!(
            statsd,
            ProtocolCounters {
                protocol: Protocol::Statsd,
                items: 3,
                bytes: 120,
                rejected: 3
            }
        );
    }
}
