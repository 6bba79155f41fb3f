//! The routes against a recording sink: bodies as the shippers write them, per-item
//! results in Elasticsearch's shape, whole-request failures, and the handshake requests.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use model::{ErrorKind, LogRecord, UnixNanos, Value};
use serde_json::json;

use super::router;
use crate::http_testing::{self, gzip};
use crate::json_logs::JsonLogsConfig;
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::testing::RecordingSink;

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    text: String,
    json: serde_json::Value,
    product: Option<String>,
    retry_after: Option<String>,
}

async fn send(
    sink: Arc<RecordingSink>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (Answer, IngestMetrics) {
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&registry).expect("metrics");
    let config = JsonLogsConfig {
        log: LogConfig {
            max_line_bytes: 1024,
            ..LogConfig::default()
        },
        max_decompressed_bytes: 64 << 10,
    };
    let app = router(sink, config, metrics.clone());
    let answer = http_testing::request(app, method, path, headers, body).await;
    let (product, retry_after) = (
        answer.header("x-elastic-product").map(str::to_owned),
        answer.header("retry-after").map(str::to_owned),
    );
    let (status, bytes) = (answer.status, answer.body);
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8");
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).expect("the answer is JSON")
    };
    let answer = Answer {
        status,
        text,
        json,
        product,
        retry_after,
    };
    (answer, metrics)
}

async fn bulk(sink: &Arc<RecordingSink>, path: &str, body: &str) -> Answer {
    let headers = [("content-type", "application/x-ndjson")];
    send(
        Arc::clone(sink),
        Method::POST,
        path,
        &headers,
        body.as_bytes().to_vec(),
    )
    .await
    .0
}

/// Each item as `(action, status)`.
fn statuses(answer: &Answer) -> Vec<(String, u64)> {
    answer.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let (action, result) = item
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("one action");
            (action.clone(), result["status"].as_u64().expect("status"))
        })
        .collect()
}

fn field<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

const FLUENT_BIT_DOC: &str = r#"{"@timestamp":"2026-11-22T04:01:04.123Z","log":"GET /health 200","stream":"stdout","kubernetes":{"pod_name":"web-7d9f","namespace_name":"shop"}}"#;

#[tokio::test]
async fn fluent_bit_bodies_are_written_with_or_without_type_names_and_gzip() {
    for action in [
        r#"{"create":{"_index":"fluent-bit"}}"#,
        r#"{"create":{"_index":"fluent-bit","_type":"_doc"}}"#,
    ] {
        let sink = Arc::new(RecordingSink::default());
        let body = format!("{action}\n{FLUENT_BIT_DOC}\n{action}\n{FLUENT_BIT_DOC}\n");
        for (encoding, payload) in [
            (None, body.as_bytes().to_vec()),
            (Some("gzip"), gzip(body.as_bytes())),
        ] {
            let mut headers = vec![
                ("content-type", "application/x-ndjson"),
                ("user-agent", "Fluent-Bit"),
            ];
            headers.extend(encoding.map(|e| ("content-encoding", e)));
            let (answer, metrics) = send(
                Arc::clone(&sink),
                Method::POST,
                "/elasticsearch/_bulk",
                &headers,
                payload,
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.json["errors"], false);
            assert_eq!(
                statuses(&answer),
                [("create".to_owned(), 201), ("create".to_owned(), 201)]
            );
            assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
            let counters = metrics.snapshot();
            let es = counters
                .iter()
                .find(|c| c.protocol == Protocol::ElasticsearchBulk)
                .expect("counters");
            assert_eq!((es.items, es.rejected), (2, 0));
        }
        let written = sink.written();
        assert_eq!(written.len(), 4);
        let record = &written[0];
        assert_eq!(record.raw, FLUENT_BIT_DOC, "the document is kept exactly");
        assert_eq!(record.timestamp, UnixNanos(1_795_320_064_123_000_000));
        assert_eq!(record.message, "GET /health 200");
        assert_eq!(record.service, None, "the index is not the service");
        assert_eq!(
            field(record, "_index"),
            Some(&Value::Str("fluent-bit".into()))
        );
        assert_eq!(field(record, "_id"), None);
        assert!(!record.raw_holds_fields, "_index is not in the document");
        assert_eq!(
            field(record, "kubernetes.pod_name"),
            Some(&Value::Str("web-7d9f".into()))
        );
    }
}

#[tokio::test]
async fn the_index_comes_from_the_action_then_the_path_then_default() {
    let sink = Arc::new(RecordingSink::default());
    let body = concat!(
        "{\"index\":{\"_index\":\"app-logs\",\"_id\":\"given-1\"}}\n",
        "{\"message\":\"one\",\"service\":\"cart\"}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"two\"}\n",
        "{\"index\":{\"_id\":42}}\n",
        "{\"message\":\"three\"}\n",
    );
    let answer = bulk(&sink, "/elasticsearch/web/_bulk", body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let items = answer.json["items"].as_array().expect("items");
    let results: Vec<&serde_json::Value> = items
        .iter()
        .map(|item| {
            item.as_object()
                .and_then(|o| o.values().next())
                .expect("one")
        })
        .collect();
    assert_eq!(results[0]["_index"], "app-logs");
    assert_eq!(results[0]["_id"], "given-1");
    assert_eq!(results[1]["_index"], "web");
    assert_eq!(results[2]["_index"], "web");
    assert_eq!(results[2]["_id"], "42", "a number id is spelled out");
    let generated = results[1]["_id"].as_str().expect("generated id");
    assert_eq!(generated.len(), 20);
    assert!(
        generated
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let seq: Vec<u64> = results
        .iter()
        .map(|r| r["_seq_no"].as_u64().expect("seq"))
        .collect();
    assert!(seq.windows(2).all(|w| w[0] < w[1]), "{seq:?}");

    let written = sink.written();
    assert_eq!(written[0].service.as_deref(), Some("cart"));
    assert_eq!(
        field(&written[0], "_index"),
        Some(&Value::Str("app-logs".into()))
    );
    assert_eq!(
        field(&written[0], "_id"),
        Some(&Value::Str("given-1".into()))
    );
    assert_eq!(
        field(&written[1], "_index"),
        Some(&Value::Str("web".into()))
    );
    assert_eq!(
        field(&written[1], "_id"),
        None,
        "generated ids are not stored"
    );

    let answer = bulk(&sink, "/_bulk", "{\"index\":{}}\n{\"msg\":\"x\"}").await;
    assert_eq!(answer.json["items"][0]["index"]["_index"], "default");
    let answer = bulk(
        &sink,
        "/metrics-7/_bulk",
        "{\"create\":{}}\n{\"msg\":\"x\"}",
    )
    .await;
    assert_eq!(answer.json["items"][0]["create"]["_index"], "metrics-7");

    // A second batch gets other ids: they are unique per item, not per request.
    let again = bulk(&sink, "/elasticsearch/web/_bulk", body).await;
    assert_ne!(again.json["items"][1]["create"]["_id"], generated);
}

#[tokio::test]
async fn update_and_delete_fail_alone_and_consume_their_lines() {
    let sink = Arc::new(RecordingSink::default());
    let body = concat!(
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"first\"}\n",
        "{\"update\":{\"_index\":\"a\",\"_id\":\"7\"}}\n",
        "{\"doc\":{\"message\":\"changed\"}}\n",
        "{\"delete\":{\"_index\":\"a\",\"_id\":\"8\"}}\n",
        "{\"create\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"last\"}\n",
    );
    let answer = bulk(&sink, "/_bulk", body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["errors"], true);
    assert_eq!(
        statuses(&answer),
        [
            ("index".to_owned(), 201),
            ("update".to_owned(), 400),
            ("delete".to_owned(), 400),
            ("create".to_owned(), 201)
        ]
    );
    for (position, action) in [(1, "update"), (2, "delete")] {
        let result = &answer.json["items"][position][action];
        assert_eq!(result["error"]["type"], "illegal_argument_exception");
        let reason = result["error"]["reason"].as_str().expect("reason");
        assert!(reason.contains(&format!("\"{action}\"")), "{reason}");
        assert_eq!(result["_id"], if action == "update" { "7" } else { "8" });
    }
    let messages: Vec<String> = sink.written().into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["first", "last"]);
}

#[tokio::test]
async fn an_unreadable_action_line_refuses_the_whole_request() {
    let cases = [
        (
            "{\"index\":{},\"create\":{}}",
            "exactly one action but found 2 keys",
        ),
        ("{}", "exactly one action but found 0 keys"),
        ("[\"index\"]", "expected an object"),
        ("{\"upsert\":{}}", "but found \"upsert\""),
        ("index please", "not valid JSON"),
        ("{\"index\":\"logs\"}", "must be an object but is a string"),
        (
            "{\"index\":{\"_index\":{\"a\":1}}}",
            "simple value for field \"_index\"",
        ),
    ];
    for (action, expected) in cases {
        let sink = Arc::new(RecordingSink::default());
        let body = format!("{{\"index\":{{}}}}\n{{\"msg\":\"ok\"}}\n{action}\n{{\"msg\":\"x\"}}\n");
        let answer = bulk(&sink, "/_bulk", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{action}");
        let reason = answer.json["error"]["reason"].as_str().expect("reason");
        assert!(reason.contains("line 3"), "{reason}");
        assert!(reason.contains(expected), "{action}: {reason}");
        assert_eq!(
            answer.json,
            json!({
                "error": {
                    "root_cause": [{"type": "illegal_argument_exception", "reason": reason}],
                    "type": "illegal_argument_exception",
                    "reason": reason
                },
                "status": 400
            })
        );
        assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
        assert!(
            sink.written().is_empty(),
            "nothing of a refused request is written"
        );
    }
    let sink = Arc::new(RecordingSink::default());
    let answer = bulk(
        &sink,
        "/_bulk",
        "{\"index\":{}}\n{\"msg\":\"ok\"}\n{\"create\":{}}\n\n",
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json["error"]["reason"]
            .as_str()
            .expect("reason")
            .contains("\"create\" action on line 3 has no source line")
    );
}

#[tokio::test]
async fn bad_documents_fail_alone_with_their_reason() {
    let sink = Arc::new(RecordingSink {
        refuse_message: Some("ancient"),
        ..RecordingSink::default()
    });
    let deep = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    let mut body = Vec::new();
    let mut item = |source: &[u8]| {
        body.extend_from_slice(b"{\"create\":{\"_index\":\"x\"}}\n");
        body.extend_from_slice(source);
        body.push(b'\n');
    };
    item(b"{\"msg\":\"ok 1\"}");
    item(b"{not json}");
    item(b"{\"msg\":\"\xff\xfe\"}");
    item(format!("{{\"msg\":\"{}\"}}", "x".repeat(2000)).as_bytes());
    item(deep.as_bytes());
    item(b"[1,2]");
    item(b"{\"msg\":\"ancient\"}");
    item(b"{\"msg\":\"ok 2\"}");
    let (answer, metrics) = send(Arc::clone(&sink), Method::POST, "/_bulk", &[], body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["errors"], true);
    let failures: Vec<(u64, String, String)> = answer.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let result = &item["create"];
            (
                result["status"].as_u64().expect("status"),
                result["error"]["type"].as_str().unwrap_or("").to_owned(),
                result["error"]["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected: [(u64, &str, &str); 8] = [
        (201, "", ""),
        (
            400,
            "document_parsing_exception",
            "the line is not valid JSON",
        ),
        (
            400,
            "document_parsing_exception",
            "the line is not valid UTF-8",
        ),
        (
            400,
            "document_parsing_exception",
            "bytes, over the limit of 1024 bytes",
        ),
        (
            400,
            "document_parsing_exception",
            "nests deeper than 32 levels",
        ),
        (400, "document_parsing_exception", "not an object"),
        (
            400,
            "illegal_argument_exception",
            "older than logs.retention",
        ),
        (201, "", ""),
    ];
    for (got, want) in failures.iter().zip(expected) {
        assert_eq!((got.0, got.1.as_str()), (want.0, want.1), "{got:?}");
        assert!(got.2.contains(want.2), "{got:?} should say {:?}", want.2);
    }
    let messages: Vec<String> = sink.written().into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["ok 1", "ok 2"]);
    let es = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::ElasticsearchBulk)
        .expect("counters");
    assert_eq!((es.items, es.rejected), (2, 6));
}

#[tokio::test]
async fn blank_lines_crlf_and_a_missing_final_newline_are_accepted() {
    let sink = Arc::new(RecordingSink::default());
    let body = "\n\r\n{\"index\":{}}\r\n\n  \n{\"msg\":\"a\"}\r\n{\"index\":{}}\n{\"msg\":\"b\"}";
    let answer = bulk(&sink, "/_bulk", body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(statuses(&answer).len(), 2);
    let raws: Vec<String> = sink.written().into_iter().map(|r| r.raw).collect();
    assert_eq!(raws, ["{\"msg\":\"a\"}", "{\"msg\":\"b\"}"]);
    let answer = bulk(&sink, "/_bulk", "").await;
    assert_eq!(
        answer.text,
        format!(
            "{{\"took\":{},\"errors\":false,\"items\":[]}}",
            answer.json["took"]
        )
    );
}

#[tokio::test]
async fn responses_have_elasticsearch_shape_exactly() {
    let sink = Arc::new(RecordingSink::default());
    let body = concat!(
        "{\"create\":{\"_index\":\"logs\",\"_id\":\"a1\"}}\n",
        "{\"msg\":\"ok\"}\n",
        "{\"create\":{\"_index\":\"logs\",\"_id\":\"a2\"}}\n",
        "{\"msg\":\n",
    );
    let answer = bulk(&sink, "/_bulk", body).await;
    let seq_no = answer.json["items"][0]["create"]["_seq_no"].clone();
    let took = answer.json["took"].clone();
    let reason = answer.json["items"][1]["create"]["error"]["reason"].clone();
    let expected = format!(
        concat!(
            "{{\"took\":{},\"errors\":true,\"items\":[",
            "{{\"create\":{{\"_index\":\"logs\",\"_id\":\"a1\",\"_version\":1,\"result\":\"created\",",
            "\"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\"_seq_no\":{},",
            "\"_primary_term\":1,\"status\":201}}}},",
            "{{\"create\":{{\"_index\":\"logs\",\"_id\":\"a2\",\"status\":400,",
            "\"error\":{{\"type\":\"document_parsing_exception\",\"reason\":{}}}}}}}]}}"
        ),
        took, seq_no, reason
    );
    assert_eq!(answer.text, expected);
    assert!(reason.as_str().expect("reason").contains("not valid JSON"));

    // A success-only answer starts as Fluent Bit's fallback check expects.
    let answer = bulk(&sink, "/_bulk", "{\"create\":{}}\n{\"msg\":\"ok\"}\n").await;
    assert!(
        answer
            .text
            .contains("\"errors\":false,\"items\":[{\"create\":{"),
        "{}",
        answer.text
    );
    assert!(answer.text.starts_with("{\"took\":"));
}

#[tokio::test]
async fn a_store_that_is_behind_asks_the_shipper_to_retry() {
    let body = b"{\"create\":{}}\n{\"msg\":\"x\"}\n".to_vec();
    for (kind, status, error_type) in [
        (
            ErrorKind::TooManyRequests,
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
        ),
        (
            ErrorKind::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_shards_exception",
        ),
    ] {
        let sink = Arc::new(RecordingSink {
            fail: Some(kind),
            ..RecordingSink::default()
        });
        let (answer, _) = send(sink, Method::POST, "/_bulk", &[], body.clone()).await;
        assert_eq!(answer.status, status);
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
        let reason = "nothing was written: the indexing queue is full";
        assert_eq!(
            answer.json,
            json!({
                "error": {
                    "root_cause": [{"type": error_type, "reason": reason}],
                    "type": error_type,
                    "reason": reason
                },
                "status": status.as_u16()
            })
        );
    }
    let failing = Arc::new(RecordingSink {
        fail: Some(ErrorKind::Internal),
        ..RecordingSink::default()
    });
    let (answer, _) = send(failing, Method::POST, "/_bulk", &[], body).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.retry_after, None);
}

#[tokio::test]
async fn media_types_codings_and_bounds() {
    let sink = Arc::new(RecordingSink::default());
    let body = b"{\"index\":{}}\n{\"msg\":\"x\"}\n".to_vec();
    for content_type in [
        "application/json; charset=UTF-8",
        "application/x-ndjson",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
    ] {
        let (answer, _) = send(
            Arc::clone(&sink),
            Method::POST,
            "/_bulk",
            &[("content-type", content_type)],
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{content_type}");
    }
    let (answer, _) = send(
        Arc::clone(&sink),
        Method::POST,
        "/_bulk",
        &[("content-type", "text/plain")],
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.json["status"], 415);
    assert_eq!(answer.json["error"]["type"], "media_type_header_exception");
    assert!(
        answer.json["error"]["reason"]
            .as_str()
            .expect("reason")
            .contains("[text/plain]")
    );
    let (answer, _) = send(
        Arc::clone(&sink),
        Method::POST,
        "/_bulk",
        &[("content-encoding", "br")],
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bomb = zstd::stream::encode_all(&vec![b' '; 1 << 20][..], 3).expect("zstd");
    let (answer, _) = send(
        Arc::clone(&sink),
        Method::POST,
        "/_bulk",
        &[("content-encoding", "zstd")],
        bomb,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json["error"]["type"], "content_too_long_exception");
    let (answer, _) = send(
        Arc::clone(&sink),
        Method::POST,
        "/_bulk",
        &[("content-encoding", "gzip")],
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"]["type"], "illegal_argument_exception");
    assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(sink.written().len(), 3);
}

#[tokio::test]
async fn shippers_find_an_elasticsearch_under_the_prefix() {
    let sink = Arc::new(RecordingSink::default());
    let get = |path: &'static str| {
        let sink = Arc::clone(&sink);
        async move { send(sink, Method::GET, path, &[], Vec::new()).await.0 }
    };
    for path in ["/elasticsearch", "/elasticsearch/"] {
        let answer = get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
        assert_eq!(answer.json["version"]["number"], "8.11.0");
        assert_eq!(answer.json["version"]["build_flavor"], "default");
        assert_eq!(answer.json["tagline"], "You Know, for Search");
        for key in [
            "lucene_version",
            "minimum_wire_compatibility_version",
            "minimum_index_compatibility_version",
        ] {
            assert!(answer.json["version"][key].is_string(), "{key}");
        }
        for key in ["name", "cluster_name", "cluster_uuid"] {
            assert!(answer.json[key].is_string(), "{key}");
        }
    }
    let (head, _) = send(
        Arc::clone(&sink),
        Method::HEAD,
        "/elasticsearch",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.text.is_empty());
    assert_eq!(head.product.as_deref(), Some("Elasticsearch"));

    let health = get("/elasticsearch/_cluster/health").await;
    assert_eq!(
        (health.status, &health.json["status"]),
        (StatusCode::OK, &json!("green"))
    );
    let license = get("/elasticsearch/_license").await;
    assert_eq!(license.json["license"]["type"], "basic");
    assert_eq!(license.json["license"]["status"], "active");
    let policy = get("/elasticsearch/_ilm/policy/filebeat").await;
    assert_eq!(policy.status, StatusCode::OK);
    assert!(policy.json["filebeat"].is_object());

    let (template, _) = send(
        Arc::clone(&sink),
        Method::HEAD,
        "/elasticsearch/_index_template/filebeat-8.15.0",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(
        template.status,
        StatusCode::OK,
        "the template exists: not loaded"
    );
    let (put, _) = send(
        Arc::clone(&sink),
        Method::PUT,
        "/elasticsearch/_index_template/filebeat-8.15.0",
        &[("content-type", "application/json")],
        b"{\"index_patterns\":[\"filebeat-*\"]}".to_vec(),
    )
    .await;
    assert_eq!(put.json, json!({"acknowledged": true}));

    let unknown = get("/elasticsearch/_nodes/http").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.product.as_deref(), Some("Elasticsearch"));
    assert!(
        unknown.json["error"]["reason"]
            .as_str()
            .expect("reason")
            .contains("[/elasticsearch/_nodes/http] and method [GET]")
    );
    let (wrong_method, _) = send(
        Arc::clone(&sink),
        Method::GET,
        "/elasticsearch/_bulk",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    let (wrong_method, _) = send(
        Arc::clone(&sink),
        Method::GET,
        "/elasticsearch/web/_bulk",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(sink.written().is_empty());
}
