//! The StatsD listeners (UDP datagrams and newline-delimited TCP), and the flusher that
//! writes the aggregated series to the sink every interval.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::aggregate::{Aggregator, AggregatorConfig, Refusal};
use super::decode::{Event, parse_lines};
use super::mapping::{Mapper, MappingError, MappingRule};
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::MetricsSink;

/// Everything the StatsD receiver is told.
#[derive(Debug, Clone)]
pub struct StatsdConfig {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    /// `SO_RCVBUF` to ask for; the kernel caps it at twice `net.core.rmem_max`.
    pub receive_buffer_bytes: usize,
    pub flush_interval: Duration,
    /// Longest TCP line; a longer one closes the connection.
    pub max_line_bytes: usize,
    pub mappings: Vec<MappingRule>,
    pub aggregator: AggregatorConfig,
}

/// The receiver's own counters (parse errors go to the shared ingest rejects).
#[derive(Debug, Clone)]
pub struct StatsdMetrics {
    packets: IntCounterVec,
    lines: IntCounter,
    skipped_tags: IntCounter,
    series: IntGauge,
    flushes: IntCounter,
    flush_errors: IntCounter,
    tcp_connections: IntCounter,
}

impl StatsdMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = StatsdMetrics {
            packets: IntCounterVec::new(
                Opts::new(
                    "sightline_statsd_packets_total",
                    "UDP datagrams and TCP reads received.",
                ),
                &["transport"],
            )?,
            lines: IntCounter::new(
                "sightline_statsd_lines_total",
                "Non-empty StatsD lines received.",
            )?,
            skipped_tags: IntCounter::new(
                "sightline_statsd_skipped_tags_total",
                "DogStatsD tags without a value (or key), ignored.",
            )?,
            series: IntGauge::new(
                "sightline_statsd_series",
                "Series held by the StatsD aggregator.",
            )?,
            flushes: IntCounter::new(
                "sightline_statsd_flushes_total",
                "Aggregator flushes to the store.",
            )?,
            flush_errors: IntCounter::new(
                "sightline_statsd_flush_errors_total",
                "Flushes the store refused; the cumulative values are written again at the next flush.",
            )?,
            tcp_connections: IntCounter::new(
                "sightline_statsd_tcp_connections_total",
                "TCP connections accepted.",
            )?,
        };
        registry.register(Box::new(metrics.packets.clone()))?;
        registry.register(Box::new(metrics.lines.clone()))?;
        registry.register(Box::new(metrics.skipped_tags.clone()))?;
        registry.register(Box::new(metrics.series.clone()))?;
        registry.register(Box::new(metrics.flushes.clone()))?;
        registry.register(Box::new(metrics.flush_errors.clone()))?;
        registry.register(Box::new(metrics.tcp_connections.clone()))?;
        Ok(metrics)
    }
}

/// Datagrams the kernel dropped on the UDP socket because its receive buffer was full,
/// read from `/proc/net/udp{,6}` at each scrape.
#[derive(Debug)]
struct KernelDrops {
    port: u16,
    counter: IntCounter,
    last: Mutex<u64>,
}

impl Collector for KernelDrops {
    fn desc(&self) -> Vec<&Desc> {
        self.counter.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(now) = udp_socket_drops(self.port) {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if now > *last {
                self.counter.inc_by(now - *last);
            }
            *last = now;
        }
        self.counter.collect()
    }
}

/// The `drops` column of the sockets bound to local `port`, summed over IPv4 and IPv6.
pub fn udp_socket_drops(port: u16) -> Option<u64> {
    let mut total = None;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let local_port = columns
                .get(1)
                .and_then(|local| local.rsplit_once(':'))
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            if local_port == Some(port)
                && let Some(drops) = columns.last().and_then(|drops| drops.parse::<u64>().ok())
            {
                *total.get_or_insert(0) += drops;
            }
        }
    }
    total
}

/// Rows written to the sink per batch at a flush.
const FLUSH_CHUNK_ROWS: usize = 8192;

/// Shared by the listeners and the flusher.
#[derive(Debug)]
struct Shared {
    aggregator: Mutex<Aggregator>,
    sink: Arc<dyn MetricsSink>,
    ingest: IngestMetrics,
    statsd: StatsdMetrics,
}

impl Shared {
    /// Parses and aggregates a payload of whole lines; updates the counters once.
    fn ingest(&self, payload: &[u8]) {
        let mut local: Vec<Event<'_>> = Vec::new();
        let mut rejected: Vec<&'static str> = Vec::new();
        let n_lines = parse_lines(payload, &mut local, &mut |err, _| {
            rejected.push(err.reason())
        });
        let mut accepted = 0u64;
        {
            let mut aggregator = self
                .aggregator
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for event in &local {
                match aggregator.add(event) {
                    Ok(()) => accepted += 1,
                    Err(Refusal::Dropped) => {}
                    Err(refusal) => rejected.push(refusal.reason()),
                }
            }
            let skipped = std::mem::take(&mut aggregator.skipped_tags);
            self.statsd.skipped_tags.inc_by(skipped);
        }
        self.statsd.lines.inc_by(n_lines as u64);
        self.ingest
            .record_accepted(Protocol::Statsd, accepted, payload.len() as u64);
        for reason in rejected {
            self.ingest.record_rejected(Protocol::Statsd, reason, 1);
        }
    }

    async fn flush(self: &Arc<Self>) {
        let now_ms = model::UnixNanos::now().as_millis();
        let (flushed, n_series) = {
            let mut aggregator = self
                .aggregator
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (aggregator.flush(now_ms), aggregator.n_series())
        };
        self.statsd.series.set(n_series as i64);
        if flushed.rows.is_empty() {
            return;
        }
        let shared = Arc::clone(self);
        // In chunks, so a flush of many series never builds one huge batch.
        let written = tokio::task::spawn_blocking(move || {
            let mut outcome = crate::sink::WriteOutcome::default();
            for part in flushed.chunks(FLUSH_CHUNK_ROWS) {
                let part_outcome = shared.sink.write(&part.batch())?;
                outcome.samples_written += part_outcome.samples_written;
                outcome.rejected.extend(part_outcome.rejected);
            }
            Ok::<_, crate::sink::SinkError>(outcome)
        })
        .await;
        self.statsd.flushes.inc();
        match written {
            Ok(Ok(outcome)) if outcome.rejected.is_empty() => {}
            Ok(Ok(outcome)) => {
                self.statsd.flush_errors.inc();
                for rejection in outcome.rejected.iter().take(10) {
                    tracing::warn!(
                        reason = rejection.reason,
                        "the store refused StatsD series: {}",
                        rejection.message
                    );
                }
            }
            Ok(Err(err)) => {
                self.statsd.flush_errors.inc();
                tracing::warn!("StatsD flush failed, retrying at the next flush: {err}");
            }
            Err(join_err) => {
                self.statsd.flush_errors.inc();
                tracing::error!("StatsD flush panicked: {join_err}");
            }
        }
    }
}

/// A running StatsD receiver.
#[derive(Debug)]
pub struct StatsdServer {
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// Checks the mapping rules without starting anything (for configuration validation).
pub fn check_mappings(rules: &[MappingRule]) -> Result<(), MappingError> {
    Mapper::new(rules).map(|_| ())
}

fn bind_udp(addr: SocketAddr, receive_buffer_bytes: usize) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if receive_buffer_bytes > 0 {
        socket.set_recv_buffer_size(receive_buffer_bytes)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl StatsdServer {
    /// Binds the listeners and starts receiving and flushing.
    pub async fn start(
        config: StatsdConfig,
        sink: Arc<dyn MetricsSink>,
        ingest: IngestMetrics,
        registry: &Registry,
    ) -> Result<StatsdServer, StartError> {
        let mapper = Mapper::new(&config.mappings).map_err(StartError::Mapping)?;
        let statsd = StatsdMetrics::register(registry)
            .map_err(|err| StartError::Metrics(err.to_string()))?;
        let shared = Arc::new(Shared {
            aggregator: Mutex::new(Aggregator::new(mapper, config.aggregator.clone())),
            sink,
            ingest,
            statsd,
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut udp_addr = None;
        if let Some(addr) = config.udp {
            let socket =
                bind_udp(addr, config.receive_buffer_bytes).map_err(|source| StartError::Bind {
                    transport: "UDP",
                    addr,
                    source,
                })?;
            let local = socket.local_addr().map_err(|source| StartError::Bind {
                transport: "UDP",
                addr,
                source,
            })?;
            udp_addr = Some(local);
            let drops = KernelDrops {
                port: local.port(),
                counter: IntCounter::new(
                    "sightline_statsd_udp_kernel_drops_total",
                    "StatsD datagrams the kernel dropped because the socket's receive buffer was full.",
                )
                .map_err(|err| StartError::Metrics(err.to_string()))?,
                last: Mutex::new(udp_socket_drops(local.port()).unwrap_or(0)),
            };
            registry
                .register(Box::new(drops))
                .map_err(|err| StartError::Metrics(err.to_string()))?;
            tasks.push(tokio::spawn(receive_udp(
                socket,
                Arc::clone(&shared),
                stopped.clone(),
            )));
        }
        let mut tcp_addr = None;
        if let Some(addr) = config.tcp {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind {
                    transport: "TCP",
                    addr,
                    source,
                })?;
            tcp_addr = Some(listener.local_addr().map_err(|source| StartError::Bind {
                transport: "TCP",
                addr,
                source,
            })?);
            tasks.push(tokio::spawn(accept_tcp(
                listener,
                Arc::clone(&shared),
                stopped.clone(),
                config.max_line_bytes,
            )));
        }
        tasks.push(tokio::spawn(flush_every(
            config.flush_interval,
            Arc::clone(&shared),
            stopped,
        )));
        Ok(StatsdServer {
            udp_addr,
            tcp_addr,
            stop,
            tasks,
            shared,
        })
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Stops receiving, then flushes what was aggregated, so nothing received is lost.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.shared.flush().await;
    }
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("statsd.mappings: {0}")]
    Mapping(MappingError),
    #[error("cannot listen for StatsD over {transport} on {addr}: {source}")]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot register StatsD metrics: {0}")]
    Metrics(String),
}

async fn receive_udp(socket: UdpSocket, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; 65_536];
    let packets = shared.statsd.packets.with_label_values(&["udp"]);
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok((n, _)) => {
                    packets.inc();
                    shared.ingest(&buffer[..n]);
                }
                Err(err) => tracing::warn!("StatsD UDP receive failed: {err}"),
            },
            () = until_stopped(&mut stopped) => return,
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn accept_tcp(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    max_line_bytes: usize,
) {
    let for_connections = stopped.clone();
    // Connections are awaited at stop, so their last lines precede the final flush.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.statsd.tcp_connections.inc();
                    connections.spawn(read_tcp(stream, Arc::clone(&shared), for_connections.clone(), max_line_bytes));
                }
                Err(err) => tracing::warn!("StatsD TCP accept failed: {err}"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = until_stopped(&mut stopped) => break,
        }
    }
    while connections.join_next().await.is_some() {}
}

/// Reads newline-terminated lines; a line longer than `max_line_bytes` closes the
/// connection (it cannot be framed safely).
async fn read_tcp(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    max_line_bytes: usize,
) {
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let packets = shared.statsd.packets.with_label_values(&["tcp"]);
    loop {
        let n = tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(0) => {
                    // A clean end of stream: a last line without a newline still counts.
                    if !buffer.is_empty() {
                        shared.ingest(&buffer);
                    }
                    return;
                }
                Ok(n) => n,
                // A broken connection or a stop: an unterminated line may be cut short
                // (`x:1|c|@0.15` read as `@0.1`), so it is dropped, not guessed at.
                Err(_) => return,
            },
            () = until_stopped(&mut stopped) => return,
        };
        packets.inc();
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(last_newline) = buffer.iter().rposition(|&b| b == b'\n') {
            shared.ingest(&buffer[..=last_newline]);
            buffer.drain(..=last_newline);
        }
        if buffer.len() > max_line_bytes {
            shared
                .ingest
                .record_rejected(Protocol::Statsd, "line_too_long", 1);
            tracing::warn!(
                limit = max_line_bytes,
                "StatsD TCP line too long; closing the connection"
            );
            return;
        }
    }
}

async fn flush_every(interval: Duration, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => shared.flush().await,
            () = until_stopped(&mut stopped) => return,
        }
    }
}
