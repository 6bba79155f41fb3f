"""Two small instrumented services for the trace tests, each its own process.

`frontend` serves nothing: it runs N requests, each a SERVER span "checkout" with a CLIENT
span "GET /inventory" that calls the backend over HTTP, propagating the W3C `traceparent`
header. It exports over OTLP/gRPC and prints one JSON line per request:
{"trace_id": ..., "checkout": span id, "client": span id, "failed": bool}.

`backend` is an HTTP server: for each GET it continues the caller's trace with a SERVER
span "GET /inventory" and an INTERNAL child "select stock"; `?fail=1` marks the server
span as an error and answers 500. It exports over OTLP/HTTP and prints "ready <port>".

Both use the SDK's SimpleSpanProcessor, so a span is exported when it ends.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import propagate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def provider(service: str, exporter) -> TracerProvider:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service, "host.name": "e2e"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def run_backend(args) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    tracer_provider = provider("inventory", OTLPSpanExporter(endpoint=args.otlp_http))
    tracer = tracer_provider.get_tracer("inventory.http", "1.0")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            # HTTP header names are case-insensitive; the propagator's dict getter is not.
            context = propagate.extract({name.lower(): value for name, value in self.headers.items()})
            fail = "fail=1" in self.path
            with tracer.start_as_current_span(
                "GET /inventory", context=context, kind=SpanKind.SERVER,
                attributes={"http.request.method": "GET", "http.route": "/inventory"},
            ) as span:
                with tracer.start_as_current_span("select stock", attributes={"db.statement": "SELECT qty FROM stock"}):
                    pass
                status = 500 if fail else 200
                span.set_attribute("http.response.status_code", status)
                if fail:
                    span.set_status(Status(StatusCode.ERROR, "out of stock"))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        tracer_provider.shutdown()


def run_frontend(args) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    tracer_provider = provider("frontend", OTLPSpanExporter(endpoint=args.otlp_grpc, insecure=True))
    tracer = tracer_provider.get_tracer("frontend.checkout", "2.1")
    for i in range(args.requests):
        fail = i in args.fail
        with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER, attributes={"cart.items": i + 1}) as root:
            with tracer.start_as_current_span("GET /inventory", kind=SpanKind.CLIENT) as client:
                headers: dict[str, str] = {}
                propagate.inject(headers)
                url = args.backend + ("/inventory?fail=1" if fail else "/inventory")
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
                        code = answer.status
                except urllib.error.HTTPError as err:
                    code = err.code
                client.set_attribute("http.response.status_code", code)
                if code >= 500:
                    client.set_status(Status(StatusCode.ERROR))
            print(json.dumps({
                "trace_id": format(root.get_span_context().trace_id, "032x"),
                "checkout": format(root.get_span_context().span_id, "016x"),
                "client": format(client.get_span_context().span_id, "016x"),
                "failed": fail,
            }), flush=True)
    tracer_provider.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    backend = sub.add_parser("backend")
    backend.add_argument("--otlp-http", required=True)
    frontend = sub.add_parser("frontend")
    frontend.add_argument("--otlp-grpc", required=True)
    frontend.add_argument("--backend", required=True)
    frontend.add_argument("--requests", type=int, default=3)
    frontend.add_argument("--fail", type=int, nargs="*", default=[])
    args = parser.parse_args()
    (run_backend if args.role == "backend" else run_frontend)(args)


if __name__ == "__main__":
    sys.exit(main())
