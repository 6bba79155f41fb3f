//! The API's own telemetry: a latency histogram per route, method and status code.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntGauge, Registry};

/// Route label for requests that matched no route (UI assets and 404s): a fixed value,
/// so unknown paths cannot blow up the label's cardinality.
const UNMATCHED_ROUTE: &str = "fallback";

/// HTTP request metrics, registered once in the process registry.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    duration: HistogramVec,
    in_flight: IntGauge,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "sightline_http_request_duration_seconds",
                "HTTP request latency by route, method and status code.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ]),
            &["route", "method", "code"],
        )?;
        let in_flight = IntGauge::new(
            "sightline_http_requests_in_flight",
            "HTTP requests being served right now.",
        )?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(HttpMetrics {
            duration,
            in_flight,
        })
    }
}

/// Middleware: times every request and counts it under its route pattern.
pub async fn record_request(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    metrics.in_flight.inc();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    metrics
        .duration
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
