//! Configuration: a TOML file -> a typed [`Config`] -> validation.
//!
//! Every key is declared once below with its documentation and default (see
//! [`section::config_section`]). Values come from, lowest priority first: defaults, the
//! file, `SIGHTLINE_<SECTION>_<KEY>` environment variables, command-line flags. Errors
//! name the key, the bad value and where it came from.

pub mod example;
pub mod load;
pub mod section;
pub mod units;

use std::path::PathBuf;

use section::{KeyDoc, Section, config_section};
use serde::{Deserialize, Serialize};
use units::{ByteSize, HumanDuration, ListenAddr};

pub use load::{ConfigError, Origin, Override, load};

config_section! {
    /// Where Sightline keeps its data.
    pub struct StorageConfig {
        /// Directory for all stored data: one subdirectory per store (tsdb, logs, traces,
        /// alerting), a LOCK file held while a server runs, and a FORMAT file with the
        /// layout version. Created if it does not exist.
        pub data_dir: PathBuf = PathBuf::from("./data"),
    }
}

config_section! {
    /// The main HTTP listener: the Prometheus-compatible query API, the log and trace
    /// APIs, HTTP ingest endpoints, /metrics, /-/healthy, /-/ready and the web UI.
    pub struct HttpConfig {
        /// Open this listener.
        pub enabled: bool = true,
        /// Address to listen on. Loopback by default; listening on another address
        /// (e.g. "0.0.0.0:7413" or ":7413") exposes Sightline to the network.
        pub listen: ListenAddr = ListenAddr::loopback(7413),
        /// Largest request body accepted, as sent (before decompression).
        pub max_request_body: ByteSize = ByteSize::mib(16),
        /// Longest a request may run before it is answered with 503.
        pub request_timeout: HumanDuration = HumanDuration::secs(120),
        /// On shutdown, how long to wait for in-flight requests before closing the stores.
        pub shutdown_timeout: HumanDuration = HumanDuration::secs(30),
        /// Serve the web UI from this directory (a built ui/dist) instead of the copy
        /// embedded in the binary. Empty: use the embedded copy.
        pub ui_dir: PathBuf = PathBuf::new(),
    }
}

config_section! {
    /// The time-series store that holds every metric sample (in storage.data_dir/tsdb).
    pub struct TsdbConfig {
        /// Delete data older than this, measured back from the newest sample stored.
        /// "0s" keeps everything.
        pub retention: HumanDuration = HumanDuration::secs(15 * 24 * 3600),
        /// Delete the oldest blocks while blocks and WAL together exceed this size.
        /// 0 means no size limit.
        pub retention_size: ByteSize = ByteSize(0),
        /// Width of the time-aligned blocks the in-memory head is cut into (at least 1m).
        pub block_duration: HumanDuration = HumanDuration::secs(2 * 3600),
        /// How far behind a series' newest sample an older sample is still accepted;
        /// older ones are refused with 400. "0s" accepts only samples in order.
        pub out_of_order_window: HumanDuration = HumanDuration::secs(600),
        /// Samples further ahead of this server's clock are refused with 400 (a sender
        /// with a wrong clock, or timestamps in microseconds). "0s" accepts any time.
        pub max_future: HumanDuration = HumanDuration::secs(600),
        /// When the write-ahead log reaches the disk. Every policy writes it to the OS
        /// before a write is acknowledged, so acknowledged writes survive the process
        /// being killed. "always": fsync before every acknowledgement (also survives
        /// power loss); "interval": fsync every wal_fsync_interval (power loss can lose
        /// that much); "never": fsync only when a segment is full.
        pub wal_fsync: FsyncPolicyName = FsyncPolicyName::Interval,
        /// How often the WAL is fsynced under wal_fsync = "interval".
        pub wal_fsync_interval: HumanDuration = HumanDuration::secs(1),
        /// Size at which a WAL segment file is closed and a new one started.
        pub wal_segment_size: ByteSize = ByteSize::mib(64),
        /// Most active series; samples of a new series beyond it are refused with 400
        /// (not 429: the limit holds until old series leave the head, hours later, so a
        /// sender must not retry). 0 means unlimited.
        pub max_series: u64 = 0,
        /// Most active series of one metric name. 0 means unlimited.
        pub max_series_per_metric: u64 = 0,
        /// Exemplars kept per series (the newest ones).
        pub max_exemplars_per_series: u64 = 16,
        /// Memory for decompressed block pages, shared by all queries.
        pub page_cache_size: ByteSize = ByteSize::mib(64),
    }
}

config_section! {
    /// Limits on the labels of every metric series received, whatever the protocol.
    /// A series over a limit is refused with 400 naming the series and the limit.
    pub struct LimitsConfig {
        /// Most labels per series, the metric name included. 0 means unlimited.
        pub max_labels_per_series: u64 = 30,
        /// Longest label name, in bytes. 0 means unlimited.
        pub max_label_name_length: u64 = 1024,
        /// Longest label value, in bytes. 0 means unlimited.
        pub max_label_value_length: u64 = 2048,
    }
}

config_section! {
    /// The Prometheus remote-write receiver, POST /api/v1/write on the http listener
    /// (remote-write 1.0 and 2.0). The compressed body is limited by
    /// http.max_request_body.
    pub struct RemoteWriteConfig {
        /// Largest decompressed body; checked against the snappy header before any
        /// memory is allocated.
        pub max_decompressed_size: ByteSize = ByteSize::mib(32),
    }
}

config_section! {
    /// PromQL queries: the Prometheus query API on the http listener (used by Grafana
    /// and the UI) and, later, alert rules.
    pub struct QueryConfig {
        /// A query running longer is stopped and answered 503 (errorType "timeout");
        /// the API's timeout parameter can only lower it.
        pub timeout: HumanDuration = HumanDuration::secs(120),
        /// Most samples a query may hold in memory at once; beyond it the query fails
        /// with 422 naming this limit. 0 means unlimited.
        pub max_samples: u64 = 50_000_000,
        /// Most series a query result may have; beyond it the query fails with 422
        /// naming this limit. 0 means unlimited.
        pub max_series: u64 = 100_000,
        /// Queries evaluated at once; more wait for a slot up to their timeout and are
        /// then answered 503 naming this limit.
        pub max_concurrency: u64 = 20,
        /// How far back an instant selector looks for a sample (Prometheus's
        /// --query.lookback-delta).
        pub lookback_delta: HumanDuration = HumanDuration::secs(300),
        /// The resolution of a subquery written without one, as in rate(x[5m])[1h:].
        pub default_subquery_step: HumanDuration = HumanDuration::secs(60),
    }
}

config_section! {
    /// The log store (in storage.data_dir/logs) and the log ingest endpoints on the http
    /// listener: POST /api/v1/logs (NDJSON or a JSON array) and the protocols that
    /// follow. Lines are searchable about commit_interval after they are acknowledged.
    pub struct LogsConfig {
        /// The time span of one index partition: "day" or "hour". Searches open only the
        /// partitions their time range overlaps; retention deletes whole partitions.
        pub partition: LogPartition = LogPartition::Day,
        /// How often new lines are committed to the index (and become searchable).
        pub commit_interval: HumanDuration = HumanDuration::secs(1),
        /// Delete partitions wholly older than this; lines older than it are refused.
        /// "0s" keeps everything.
        pub retention: HumanDuration = HumanDuration::secs(7 * 24 * 3600),
        /// Delete the oldest partitions while all of them exceed this size (the newest
        /// is kept). 0 means no size limit.
        pub retention_size: ByteSize = ByteSize(0),
        /// Lines stamped further ahead of this server's clock are refused.
        pub max_future: HumanDuration = HumanDuration::secs(600),
        /// When the log store's write-ahead log reaches the disk; as tsdb.wal_fsync.
        pub wal_fsync: FsyncPolicyName = FsyncPolicyName::Interval,
        /// How often the WAL is fsynced under wal_fsync = "interval".
        pub wal_fsync_interval: HumanDuration = HumanDuration::secs(1),
        /// Size at which a WAL segment file is closed and a new one started.
        pub wal_segment_size: ByteSize = ByteSize::mib(64),
        /// Indexing memory of each indexing thread of an open partition (at least 15MiB);
        /// when full, the thread writes a segment to disk. Larger segments mean fewer
        /// merges under heavy ingest (each segment is merged about twice less often per
        /// quadrupling).
        pub indexing_memory: ByteSize = ByteSize::mib(256),
        /// Threads that index lines into each open partition.
        pub indexing_threads: u64 = 2,
        /// Memory of acknowledged lines waiting for the indexer; beyond it appends are
        /// answered 429 with Retry-After.
        pub max_indexing_queue: ByteSize = ByteSize::mib(256),
        /// Longest line accepted; a longer one is refused on its own.
        pub max_line_size: ByteSize = ByteSize::kib(256),
        /// Most fields in one line after nested objects are flattened.
        pub max_fields: u64 = 1000,
        /// Deepest nesting of objects and arrays in one line.
        pub max_depth: u64 = 32,
        /// Largest request body after Content-Encoding (gzip, zstd, deflate) is undone.
        pub max_decompressed_size: ByteSize = ByteSize::mib(64),
        /// Fields that carry a request's correlation id, for services that do not
        /// propagate a trace id: searched together with trace ids by the trace lookup.
        pub correlation_fields: Vec<String> = ingest::normalize::LogConfig::default().correlation_fields,
        /// Fields that act as stream labels in the Loki API, beside service, level and
        /// host (for example "env" or "k8s.namespace.name"; dots become underscores).
        pub label_fields: Vec<String> = Vec::new(),
        /// Fields besides the label fields whose values get index terms: dotted paths,
        /// "prefix.*", or "*" for every field. Other fields are still searchable
        /// (field:value, ranges): their values are kept and read from the lines the
        /// rest of a query selects, as Loki filters lines. Terms cost indexing CPU (every
        /// field: about 1.5x the CPU per GB); applies to partitions created afterwards.
        pub indexed_fields: Vec<String> = Vec::new(),
        /// Most lines one search may read to match fields without index terms; a search
        /// that would read more is refused (400) with what to narrow.
        pub max_filtered_lines: u64 = 10_000_000,
    }
}

config_section! {
    /// The trace store (in storage.data_dir/traces) and the metrics derived from spans.
    /// Spans arrive over OTLP (gRPC and HTTP) and Zipkin; each is written to the WAL
    /// before it is acknowledged, kept in memory grouped by trace, and written to an
    /// immutable Parquet block every block_max_age (or block_max_size).
    pub struct TracesConfig {
        /// Delete blocks whose newest span ended longer ago than this. "0s" keeps
        /// everything.
        pub retention: HumanDuration = HumanDuration::secs(7 * 24 * 3600),
        /// Write the spans held in memory to a block once the oldest of them arrived this
        /// long ago. Longer means fewer, larger blocks and more memory.
        pub block_max_age: HumanDuration = HumanDuration::secs(300),
        /// ... or once they take this much memory.
        pub block_max_size: ByteSize = ByteSize::mib(256),
        /// Past this much memory of spans not yet in blocks, exports are answered 429
        /// (gRPC RESOURCE_EXHAUSTED) with a retry delay.
        pub max_head_size: ByteSize = ByteSize::mib(1024),
        /// A trace with more spans is refused by the trace APIs rather than loaded.
        pub max_spans_per_trace: u64 = 1_000_000,
        /// Compaction merges this many blocks of one level into one block of the next
        /// (fewer, larger blocks: faster searches, traces split across blocks regrouped).
        /// 0 turns compaction off.
        pub compaction_fan_in: u64 = 4,
        /// Blocks holding more spans than this together are not merged.
        pub compaction_max_spans: u64 = 20_000_000,
        /// Blocks are not compacted past this level (with the defaults, a level-3 block
        /// holds about 5 hours of 5-minute blocks).
        pub compaction_max_level: u64 = 3,
        /// When the trace store's write-ahead log reaches the disk; as tsdb.wal_fsync.
        pub wal_fsync: FsyncPolicyName = FsyncPolicyName::Interval,
        /// How often the WAL is fsynced under wal_fsync = "interval".
        pub wal_fsync_interval: HumanDuration = HumanDuration::secs(1),
        /// Size at which a WAL segment file is closed and a new one started.
        pub wal_segment_size: ByteSize = ByteSize::mib(64),
        /// Attributes kept per span (and per event, link and resource); the rest are
        /// dropped and counted in the span's dropped-attributes count.
        pub max_attributes_per_span: u64 = 128,
        /// Events kept per span; the rest are dropped and counted.
        pub max_events_per_span: u64 = 128,
        /// Links kept per span; the rest are dropped and counted.
        pub max_links_per_span: u64 = 128,
        /// Longest string attribute value kept whole; a longer one is cut and ends with
        /// "…[truncated N bytes]" (counted in sightline_ingest_limited_total).
        pub max_attribute_value_size: ByteSize = ByteSize::kib(4),
        /// Most spans in one export; a larger one is refused whole (413, gRPC
        /// RESOURCE_EXHAUSTED).
        pub max_spans_per_request: u64 = 50_000,
        /// Largest export after Content-Encoding (or gRPC compression) is undone.
        pub max_decompressed_size: ByteSize = ByteSize::mib(64),
        /// Derive Tempo-style span metrics and service-graph series from every span
        /// (traces_spanmetrics_*, traces_service_graph_*), written to the time-series
        /// store every metrics_flush_interval.
        pub span_metrics: bool = true,
        /// Upper bounds of the span latency histograms, in seconds.
        pub latency_buckets: Vec<f64> = ingest::spanmetrics::DEFAULT_LATENCY_BUCKETS.to_vec(),
        /// How often span metrics are written to the time-series store.
        pub metrics_flush_interval: HumanDuration = HumanDuration::secs(15),
        /// Most span-metric series (and, separately, service-graph edges); spans beyond
        /// are stored but not counted.
        pub metrics_max_series: u64 = 100_000,
        /// How long a client or server span waits for its other side before it is
        /// counted in traces_service_graph_unpaired_spans_total.
        pub service_graph_wait: HumanDuration = HumanDuration::secs(10),
        /// Most spans waiting for their other side.
        pub service_graph_max_pending: u64 = 100_000,
    }
}

config_section! {
    /// OTLP over gRPC from OpenTelemetry SDKs and Collectors: LogsService/Export
    /// (gzip accepted; messages up to logs.max_decompressed_size).
    pub struct OtlpGrpcConfig {
        /// Open this listener.
        pub enabled: bool = true,
        /// Address to listen on (OTLP's standard gRPC port is 4317).
        pub listen: ListenAddr = ListenAddr::loopback(4317),
    }
}

config_section! {
    /// OTLP over HTTP, protobuf and JSON, optionally gzip-compressed: /v1/logs (also
    /// served on the main port).
    pub struct OtlpHttpConfig {
        /// Open this listener.
        pub enabled: bool = true,
        /// Address to listen on (OTLP's standard HTTP port is 4318).
        pub listen: ListenAddr = ListenAddr::loopback(4318),
    }
}

config_section! {
    /// StatsD over UDP and newline-delimited TCP, with DogStatsD tags, aggregated into
    /// Prometheus series the way statsd_exporter does and written every flush_interval.
    pub struct StatsdConfig {
        /// Open the StatsD listeners.
        pub enabled: bool = true,
        /// UDP address to listen on (StatsD's standard port is 8125).
        pub listen: ListenAddr = ListenAddr::loopback(8125),
        /// Also accept newline-delimited StatsD over TCP.
        pub tcp_enabled: bool = true,
        /// TCP address to listen on.
        pub tcp_listen: ListenAddr = ListenAddr::loopback(8125),
        /// How often aggregated values are written to the time-series store.
        pub flush_interval: HumanDuration = HumanDuration::secs(10),
        /// UDP socket receive buffer to ask the kernel for (it caps the request at twice
        /// net.core.rmem_max); a larger buffer rides out bursts without drops.
        pub receive_buffer: ByteSize = ByteSize::mib(8),
        /// Longest TCP line; a longer one closes the connection.
        pub max_line_length: ByteSize = ByteSize(65536),
        /// Histogram bucket upper bounds for timers (in seconds), histograms and
        /// distributions; +Inf is implicit.
        pub histogram_buckets: Vec<f64> = ingest::statsd::DEFAULT_BUCKETS.to_vec(),
        /// Most series the aggregator holds; lines of new series beyond it are dropped
        /// and counted. 0 means unlimited.
        pub max_series: u64 = 100_000,
        /// Mapping rules, first match wins, as in statsd_exporter's mapping file. Each is
        /// a table: match = "simplebank-demo.*.request_reservation" (a * matches one
        /// dot-separated component), name = "request_reservation_seconds",
        /// labels = { app = "$1" }, and optionally match_metric_type = "counter" |
        /// "gauge" | "observer", action = "drop", buckets = [0.1, 1.0]. Unmapped names
        /// are escaped into valid Prometheus names. Counters get a _total suffix and
        /// timers (histograms in seconds) a _seconds suffix, unless the name has it.
        pub mappings: Vec<StatsdMapping> = Vec::new(),
    }
}

config_section! {
    /// Sightline's own log output (on standard error).
    pub struct LogConfig {
        /// Minimum level, or a full filter such as "info,api=debug". The RUST_LOG
        /// environment variable, when set, takes precedence.
        pub level: String = "info".to_owned(),
        /// "text" for people, "json" for log shippers (one object per line).
        pub format: LogFormat = LogFormat::Text,
    }
}

/// One StatsD mapping rule (see `statsd.mappings`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatsdMapping {
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_metric_type: Option<StatsdMetricClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<StatsdAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsdMetricClass {
    Counter,
    Gauge,
    Observer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsdAction {
    Map,
    Drop,
}

impl StatsdMapping {
    pub fn to_rule(&self) -> ingest::statsd::MappingRule {
        ingest::statsd::MappingRule {
            pattern: self.pattern.clone(),
            name: self.name.clone(),
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            class: self.match_metric_type.map(|class| match class {
                StatsdMetricClass::Counter => ingest::statsd::MetricClass::Counter,
                StatsdMetricClass::Gauge => ingest::statsd::MetricClass::Gauge,
                StatsdMetricClass::Observer => ingest::statsd::MetricClass::Observer,
            }),
            drop: self.action == Some(StatsdAction::Drop),
            buckets: self.buckets.clone(),
        }
    }
}

/// When the write-ahead log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicyName {
    Always,
    Interval,
    Never,
}

/// The time span of one log index partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogPartition {
    Hour,
    Day,
}

/// How Sightline writes its own logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub tsdb: TsdbConfig,
    pub limits: LimitsConfig,
    pub remote_write: RemoteWriteConfig,
    pub query: QueryConfig,
    pub logs: LogsConfig,
    pub traces: TracesConfig,
    pub otlp_grpc: OtlpGrpcConfig,
    pub otlp_http: OtlpHttpConfig,
    pub statsd: StatsdConfig,
    pub log: LogConfig,
}

/// One `[section]`: its name, documentation and keys, in file order.
#[derive(Debug, Clone, Copy)]
pub struct SectionDoc {
    pub name: &'static str,
    pub doc: &'static str,
    pub keys: &'static [KeyDoc],
}

impl Config {
    /// Every section, in the order of the struct above (and of the reference file).
    pub const SECTIONS: [SectionDoc; 12] = [
        section_doc::<StorageConfig>("storage"),
        section_doc::<HttpConfig>("http"),
        section_doc::<TsdbConfig>("tsdb"),
        section_doc::<LimitsConfig>("limits"),
        section_doc::<RemoteWriteConfig>("remote_write"),
        section_doc::<QueryConfig>("query"),
        section_doc::<LogsConfig>("logs"),
        section_doc::<TracesConfig>("traces"),
        section_doc::<OtlpGrpcConfig>("otlp_grpc"),
        section_doc::<OtlpHttpConfig>("otlp_http"),
        section_doc::<StatsdConfig>("statsd"),
        section_doc::<LogConfig>("log"),
    ];

    /// The listeners and their keys, for conflict checks and start-up.
    pub fn listeners(&self) -> Vec<Listener> {
        vec![
            Listener::new(
                "http",
                "http.listen",
                self.http.enabled,
                self.http.listen,
                Transport::Tcp,
            ),
            Listener::new(
                "otlp_grpc",
                "otlp_grpc.listen",
                self.otlp_grpc.enabled,
                self.otlp_grpc.listen,
                Transport::Tcp,
            ),
            Listener::new(
                "otlp_http",
                "otlp_http.listen",
                self.otlp_http.enabled,
                self.otlp_http.listen,
                Transport::Tcp,
            ),
            Listener::new(
                "statsd",
                "statsd.listen",
                self.statsd.enabled,
                self.statsd.listen,
                Transport::Udp,
            ),
            Listener::new(
                "statsd",
                "statsd.tcp_listen",
                self.statsd.enabled && self.statsd.tcp_enabled,
                self.statsd.tcp_listen,
                Transport::Tcp,
            ),
        ]
    }
}

const fn section_doc<S: Section>(name: &'static str) -> SectionDoc {
    SectionDoc {
        name,
        doc: S::DOC,
        keys: S::KEYS,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// One configured listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The section that configures it.
    pub section: &'static str,
    /// The key that holds its address.
    pub key: &'static str,
    pub enabled: bool,
    pub addr: ListenAddr,
    pub transport: Transport,
}

impl Listener {
    fn new(
        section: &'static str,
        key: &'static str,
        enabled: bool,
        addr: ListenAddr,
        transport: Transport,
    ) -> Self {
        Listener {
            section,
            key,
            enabled,
            addr,
            transport,
        }
    }

    /// Whether both would try to bind the same port (same transport, same port, and the
    /// same address or either one on all interfaces). Port 0 never clashes.
    fn clashes_with(&self, other: &Listener) -> bool {
        let (a, b) = (self.addr.0, other.addr.0);
        self.enabled
            && other.enabled
            && self.transport == other.transport
            && a.port() != 0
            && a.port() == b.port()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    }
}
