//! Parameters as `jaeger-query` reads them: `/api/traces` search (times in Unix
//! microseconds, Go durations, tags as a JSON object or logfmt, `tag=key:value`,
//! `traceID=`), and the millisecond times of `/api/dependencies`.

use std::collections::BTreeMap;

use model::{ErrorKind, TraceId, UnixNanos};
use tracestore::SearchQuery;

use crate::{ApiError, params};

/// Traces a search returns without `limit` (Jaeger's default). Larger limits are cut to
/// [`crate::traces_api::MAX_LIMIT`] rather than refused: the Jaeger UI offers up to 1500.
const DEFAULT_LIMIT: usize = 100;
/// The window of a search without `start` or `lookback` (Jaeger's default).
const DEFAULT_LOOKBACK_NANOS: i64 = 2 * 24 * 3_600 * 1_000_000_000;

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

/// What `/api/traces` asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum TracesRequest {
    /// `traceID=` was given: these traces, whatever the other parameters say.
    ByIds(Vec<TraceId>),
    Search(SearchQuery),
}

/// A non-empty parameter, trimmed.
pub(crate) fn text<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params::last(pairs, name)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// An integer time parameter in units of `unit_nanos`, as nanoseconds.
pub(crate) fn integer_time(
    pairs: &[(String, String)],
    name: &str,
    unit_nanos: i64,
    unit_name: &str,
) -> Result<Option<i64>, ApiError> {
    text(pairs, name)
        .map(|text| {
            text.parse::<i64>()
                .ok()
                .and_then(|value| value.checked_mul(unit_nanos))
                .ok_or_else(|| {
                    bad(format!(
                        "invalid parameter {name:?}: cannot parse {text:?} as Unix {unit_name}"
                    ))
                })
        })
        .transpose()
}

/// `/api/traces` parameters. `now` is in nanoseconds.
pub(crate) fn traces_request(
    pairs: &[(String, String)],
    now: i64,
) -> Result<TracesRequest, ApiError> {
    let trace_ids = params::all(pairs, "traceID")
        .into_iter()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            TraceId::from_hex(id)
                .map_err(|err| bad(format!("invalid parameter \"traceID\": {err}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !trace_ids.is_empty() {
        return Ok(TracesRequest::ByIds(trace_ids));
    }
    let end = integer_time(pairs, "end", 1_000, "microseconds")?.unwrap_or(now);
    let start = match integer_time(pairs, "start", 1_000, "microseconds")? {
        Some(start) => start,
        None => {
            // The Jaeger UI sends `lookback=1h` beside start and end, Grafana
            // `lookback=custom`; only a duration without `start` sets the window.
            let lookback = match text(pairs, "lookback").filter(|text| *text != "custom") {
                Some(text) => {
                    i64::try_from(params::parse_trace_duration("lookback", text)?.as_nanos())
                        .unwrap_or(i64::MAX)
                }
                None => DEFAULT_LOOKBACK_NANOS,
            };
            end.saturating_sub(lookback)
        }
    };
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": it is before \"start\"".to_owned()
        ));
    }
    let limit = match text(pairs, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n >= 1 => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(crate::traces_api::MAX_LIMIT),
            _ => {
                return Err(bad(format!(
                    "invalid parameter \"limit\": {text:?} is not a positive whole number"
                )));
            }
        },
    };
    let mut query = SearchQuery::in_range(UnixNanos(start), UnixNanos(end), limit);
    query.service = text(pairs, "service").map(str::to_owned);
    query.span_name = text(pairs, "operation").map(str::to_owned);
    let duration = |name: &str| {
        text(pairs, name)
            .map(|text| {
                params::parse_trace_duration(name, text)
                    .map(|duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
            })
            .transpose()
    };
    query.min_duration_nanos = duration("minDuration")?;
    query.max_duration_nanos = duration("maxDuration")?;
    if let (Some(min), Some(max)) = (query.min_duration_nanos, query.max_duration_nanos)
        && max < min
    {
        return Err(bad(
            "invalid parameter \"maxDuration\": it is less than \"minDuration\"".to_owned(),
        ));
    }
    query.attributes = tags(pairs)?.into_iter().collect();
    Ok(TracesRequest::Search(query))
}

/// `tag=key:value` (repeatable) and `tags=` (a JSON object, or logfmt `key=value`
/// pairs), merged as Jaeger merges them: a later value for a key replaces an earlier.
fn tags(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut tags = BTreeMap::new();
    for tag in params::all(pairs, "tag") {
        let Some((key, value)) = tag.split_once(':').filter(|(key, _)| !key.is_empty()) else {
            return Err(bad(format!(
                "invalid parameter \"tag\": {tag:?} is not key:value"
            )));
        };
        tags.insert(key.to_owned(), value.to_owned());
    }
    for text in params::all(pairs, "tags") {
        let text = text.trim();
        if text.starts_with('{') {
            tags.extend(json_tags(text)?);
        } else {
            tags.extend(logfmt_tags(text)?);
        }
    }
    Ok(tags)
}

/// `{"http.status_code":"500","error":"true"}`; numbers and booleans are taken as their
/// text too.
fn json_tags(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|err| {
            bad(format!(
                "invalid parameter \"tags\": {text:?} is not a JSON object of strings: {err}"
            ))
        })?;
    object
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                _ => {
                    return Err(bad(format!(
                        "invalid parameter \"tags\": the value of {key:?} is not a string"
                    )));
                }
            };
            Ok((key, value))
        })
        .collect()
}

/// `http.status_code=500 error=true msg="a b"`: logfmt as the Jaeger UI and Grafana's
/// tag field take it. A bare key is a flag (`error` means `error=true`).
fn logfmt_tags(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = |reason: &str| {
        bad(format!(
            "invalid parameter \"tags\": {text:?} is neither a JSON object nor logfmt key=value pairs: {reason}"
        ))
    };
    let mut tags = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(tags);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=' && *c != '"') {
            key.push(c);
        }
        if key.is_empty() {
            return Err(invalid("a key is missing"));
        }
        if chars.next_if_eq(&'=').is_none() {
            tags.push((key, "true".to_owned()));
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err(invalid("a quoted value is not closed")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(escaped) => value.push(escaped),
                        None => return Err(invalid("a quoted value is not closed")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        tags.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_283_910_000_000_000;

    fn search(query: &str) -> Result<SearchQuery, ApiError> {
        match traces_request(&params::pairs(Some(query)), NOW)? {
            TracesRequest::Search(search) => Ok(search),
            TracesRequest::ByIds(ids) => panic!("expected a search, got ids {ids:?}"),
        }
    }

    fn attributes(query: &str) -> Vec<(String, String)> {
        search(query).expect(query).attributes
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_grafana_search_reads_whole() {
        let query = search(
            "service=checkout&operation=GET%20%2Fcart&tags=%7B%22http.status_code%22%3A%22500%22%7D\
             &minDuration=1.2s&maxDuration=5s&limit=20&start=1795283000000000&end=1795283910000000&lookback=custom",
        )
        .expect("query");
        let mut expected = SearchQuery::in_range(
            UnixNanos(1_795_283_000_000_000_000),
            UnixNanos(1_795_283_910_000_000_000),
            20,
        );
        expected.service = Some("checkout".into());
        expected.span_name = Some("GET /cart".into());
        expected.min_duration_nanos = Some(1_200_000_000);
        expected.max_duration_nanos = Some(5_000_000_000);
        expected.attributes = vec![("http.status_code".into(), "500".into())];
        assert_eq!(query, expected);
    }

    #[test]
    fn windows_default_as_jaeger_defaults_them() {
        let two_days = search("service=a").expect("query");
        assert_eq!(two_days.end, UnixNanos(NOW));
        assert_eq!(two_days.start, UnixNanos(NOW - 2 * 86_400 * 1_000_000_000));
        assert_eq!(two_days.limit, 100);
        let hour = search("service=a&lookback=1h").expect("query");
        assert_eq!(hour.start, UnixNanos(NOW - 3_600 * 1_000_000_000));
        let ui = search("service=a&lookback=2d&start=1000&end=2000&limit=1500").expect("query");
        assert_eq!(
            (ui.start, ui.end),
            (UnixNanos(1_000_000), UnixNanos(2_000_000))
        );
        assert_eq!(ui.limit, crate::traces_api::MAX_LIMIT);
    }

    #[test]
    fn tags_come_as_json_logfmt_or_tag_params() {
        assert_eq!(
            attributes("tags=%7B%22error%22%3Atrue%2C%22http.status_code%22%3A500%7D"),
            [
                ("error".into(), "true".into()),
                ("http.status_code".into(), "500".into())
            ]
        );
        assert_eq!(
            attributes("tags=http.status_code%3D500%20msg%3D%22a%20%5C%22b%5C%22%22%20error"),
            [
                ("error".into(), "true".into()),
                ("http.status_code".into(), "500".into()),
                ("msg".into(), "a \"b\"".into()),
            ]
        );
        assert_eq!(
            attributes("tag=http.url:http://x/y&tag=k:1&tags=%7B%22k%22%3A%222%22%7D"),
            [
                ("http.url".into(), "http://x/y".into()),
                ("k".into(), "2".into())
            ]
        );
    }

    #[test]
    fn trace_ids_take_precedence_over_a_search() {
        let request = traces_request(
            &pairs(&[
                ("traceID", "a3ce929d0e0e4736"),
                ("traceID", "4BF92F3577B34DA6A3CE929D0E0E4736"),
                ("service", "ignored"),
            ]),
            NOW,
        )
        .expect("request");
        assert_eq!(
            request,
            TracesRequest::ByIds(vec![
                TraceId::from_hex("0000000000000000a3ce929d0e0e4736").expect("id"),
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("id"),
            ])
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            (
                "start=yesterday",
                "invalid parameter \"start\": cannot parse \"yesterday\" as Unix microseconds",
            ),
            ("end=99999999999999999999", "invalid parameter \"end\""),
            (
                "start=2000&end=1000",
                "invalid parameter \"end\": it is before \"start\"",
            ),
            ("lookback=soon", "invalid parameter \"lookback\""),
            (
                "limit=0",
                "invalid parameter \"limit\": \"0\" is not a positive whole number",
            ),
            ("limit=ten", "invalid parameter \"limit\""),
            ("minDuration=15", "invalid parameter \"minDuration\""),
            (
                "minDuration=2s&maxDuration=1s",
                "invalid parameter \"maxDuration\": it is less than \"minDuration\"",
            ),
            (
                "tag=novalue",
                "invalid parameter \"tag\": \"novalue\" is not key:value",
            ),
            ("tags=%7B%22a%22%3A", "invalid parameter \"tags\""),
            (
                "tags=%7B%22a%22%3A%5B1%5D%7D",
                "invalid parameter \"tags\": the value of \"a\" is not a string",
            ),
            ("tags=a%3D%22open", "invalid parameter \"tags\""),
            ("tags=%3Dv", "invalid parameter \"tags\""),
            (
                "traceID=xyz",
                "invalid parameter \"traceID\": trace id \"xyz\" is not valid",
            ),
        ];
        for (query, message) in cases {
            let err = traces_request(&params::pairs(Some(query)), NOW).expect_err(query);
            assert_eq!(err.kind, ErrorKind::BadData, "{query}");
            assert!(err.message.starts_with(message), "{query}: {}", err.message);
        }
    }
}
