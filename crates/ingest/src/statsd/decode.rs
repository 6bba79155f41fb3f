//! StatsD lines: `name:value|type[|@rate][|#tag:value,...]`, several per datagram.
//!
//! Types: `c` counter, `g` gauge (a leading `+`/`-` makes it a delta), `ms` timer,
//! `h`/`d` histogram and distribution, `s` set. DogStatsD extras: `#` tags, `c:`
//! container id (kept as a `container_id` tag), `T` timestamp, `e:`/`card:` origin
//! fields; unknown extra fields are ignored, as the Datadog agent does. The multi-value
//! forms `name:1|c:2|c` (Etsy) and `name:1:2:3|ms` (DogStatsD 1.1) are accepted.
//!
//! A bad line is refused with a reason and never affects its neighbours.

/// What a line asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind<'a> {
    Counter,
    Gauge {
        delta: bool,
    },
    /// Milliseconds.
    Timer,
    Histogram,
    Distribution,
    /// A set member (the raw value text).
    Set(&'a str),
}

impl Kind<'_> {
    /// The type letter(s), for cache keys and messages.
    pub fn code(&self) -> &'static str {
        match self {
            Kind::Counter => "c",
            Kind::Gauge { .. } => "g",
            Kind::Timer => "ms",
            Kind::Histogram => "h",
            Kind::Distribution => "d",
            Kind::Set(_) => "s",
        }
    }
}

/// One metric event, borrowing from the datagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub name: &'a str,
    pub kind: Kind<'a>,
    /// The value (0 for sets).
    pub value: f64,
    /// In (0, 1]: the fraction of events the client sent.
    pub sample_rate: f64,
    /// The raw tag section after `#` (empty without tags), for cache keys.
    pub tags_raw: &'a str,
    /// Container id from `|c:`, if any.
    pub container_id: Option<&'a str>,
}

/// Why a line (or one value of a multi-value line) was refused; the reason names are
/// the `reason` label of `sightline_ingest_rejected_total{protocol="statsd"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// No `:`, or an empty name.
    MalformedLine,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// No `|type` after the value.
    MissingType,
    UnknownType,
    /// The value is not a number (or not finite).
    BadValue,
    /// A sample rate that is not a number in (0, 1].
    BadSampleRate,
    /// An empty `|` field.
    EmptyField,
    /// A multi-value line of a type that cannot have several values.
    MultiValueType,
}

impl LineError {
    pub fn reason(self) -> &'static str {
        match self {
            LineError::MalformedLine => "malformed_line",
            LineError::InvalidUtf8 => "invalid_utf8",
            LineError::MissingType => "missing_type",
            LineError::UnknownType => "unknown_type",
            LineError::BadValue => "malformed_value",
            LineError::BadSampleRate => "invalid_sample_rate",
            LineError::EmptyField => "malformed_component",
            LineError::MultiValueType => "invalid_multi_value_type",
        }
    }
}

/// Parses every line of a datagram (or of a TCP chunk of whole lines), appending the
/// events to `events` and calling `reject` for each refused line or value. Returns the
/// number of non-empty lines.
pub fn parse_lines<'a>(
    payload: &'a [u8],
    events: &mut Vec<Event<'a>>,
    reject: &mut dyn FnMut(LineError, &'a [u8]),
) -> usize {
    let mut n_lines = 0;
    for raw in payload.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        n_lines += 1;
        match std::str::from_utf8(raw) {
            Ok(line) => parse_line(line, events, reject),
            Err(_) => reject(LineError::InvalidUtf8, raw),
        }
    }
    n_lines
}

fn parse_line<'a>(
    line: &'a str,
    events: &mut Vec<Event<'a>>,
    reject: &mut dyn FnMut(LineError, &'a [u8]),
) {
    let Some((name, rest)) = line.split_once(':') else {
        return reject(LineError::MalformedLine, line.as_bytes());
    };
    if name.is_empty() {
        return reject(LineError::MalformedLine, line.as_bytes());
    }
    // DogStatsD 1.1 packs values: `name:1:2:3|ms|...` (the `:`s come before the first `|`).
    let first_pipe = rest.find('|').unwrap_or(rest.len());
    if rest[..first_pipe].contains(':') {
        let (values, suffix) = rest.split_at(first_pipe);
        let start = events.len();
        for value in values.split(':') {
            match parse_sample(name, value, suffix) {
                Ok(event) => events.push(event),
                Err(err) => reject(err, line.as_bytes()),
            }
        }
        if events[start..].iter().any(|event| {
            matches!(
                event.kind,
                Kind::Counter | Kind::Gauge { .. } | Kind::Set(_)
            )
        }) {
            events.truncate(start);
            reject(LineError::MultiValueType, line.as_bytes());
        }
        return;
    }
    // Etsy's multi-metric form `name:1|c:2|ms`: every `:`-separated piece is a
    // `value|type`. (A DogStatsD `|c:<container id>` piece is not, so it stays one sample.)
    let is_multi_metric = !rest.contains("|#")
        && rest.contains(':')
        && rest.split(':').all(|piece| {
            piece.contains('|')
                && piece
                    .split('|')
                    .next()
                    .is_some_and(|value| value.parse::<f64>().is_ok())
        });
    if is_multi_metric {
        for sample in rest.split(':') {
            let (value, suffix) = sample.split_at(sample.find('|').unwrap_or(sample.len()));
            match parse_sample(name, value, suffix) {
                Ok(event) => events.push(event),
                Err(err) => reject(err, line.as_bytes()),
            }
        }
        return;
    }
    let (value, suffix) = rest.split_at(first_pipe);
    match parse_sample(name, value, suffix) {
        Ok(event) => events.push(event),
        Err(err) => reject(err, line.as_bytes()),
    }
}

/// `value` and `|type|@rate|#tags...` of one sample.
fn parse_sample<'a>(
    name: &'a str,
    value_text: &'a str,
    suffix: &'a str,
) -> Result<Event<'a>, LineError> {
    let mut fields = suffix.split('|');
    let _empty_before_first_pipe = fields.next();
    let type_code = fields.next().ok_or(LineError::MissingType)?;
    let kind = match type_code {
        "c" => Kind::Counter,
        "g" => Kind::Gauge {
            delta: value_text.starts_with('+') || value_text.starts_with('-'),
        },
        "ms" => Kind::Timer,
        "h" => Kind::Histogram,
        "d" => Kind::Distribution,
        "s" => Kind::Set(value_text),
        "" => return Err(LineError::MissingType),
        _ => return Err(LineError::UnknownType),
    };
    let value = match kind {
        Kind::Set(member) => {
            if member.is_empty() {
                return Err(LineError::BadValue);
            }
            0.0
        }
        _ => value_text
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or(LineError::BadValue)?,
    };
    let mut event = Event {
        name,
        kind,
        value,
        sample_rate: 1.0,
        tags_raw: "",
        container_id: None,
    };
    for field in fields {
        if field.is_empty() {
            return Err(LineError::EmptyField);
        }
        if let Some(rate) = field.strip_prefix('@') {
            event.sample_rate = rate
                .parse::<f64>()
                .ok()
                .filter(|rate| *rate > 0.0 && *rate <= 1.0)
                .ok_or(LineError::BadSampleRate)?;
        } else if let Some(tags) = field.strip_prefix('#') {
            event.tags_raw = tags;
        } else if let Some(container) = field.strip_prefix("c:") {
            event.container_id = Some(container);
        }
        // `T<timestamp>`, `e:`, `card:` and future fields: accepted and ignored.
    }
    Ok(event)
}

/// The DogStatsD tags of a raw tag section: `k:v` pairs split at the first `:`; a
/// leading `#` on a tag is dropped; tags without a value are skipped (counted by the
/// caller through the returned count).
pub fn parse_tags(raw: &str) -> (Vec<(&str, &str)>, usize) {
    let mut tags = Vec::new();
    let mut skipped = 0;
    for tag in raw.split(',').filter(|tag| !tag.is_empty()) {
        let tag = tag.strip_prefix('#').unwrap_or(tag);
        match tag.split_once(':') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => tags.push((key, value)),
            _ => skipped += 1,
        }
    }
    (tags, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(payload: &str) -> (Vec<Event<'_>>, Vec<(&'static str, String)>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        parse_lines(payload.as_bytes(), &mut events, &mut |err, line| {
            errors.push((err.reason(), String::from_utf8_lossy(line).into_owned()));
        });
        (events, errors)
    }

    #[test]
    fn every_type_with_rates_and_tags() {
        let (events, errors) = parse(
            "simplebank-demo.market.place_order_stock_exchange:72.8|ms\n\
             hits:3|c|@0.1|#env:prod,#region:eu\n\
             temp:-2.5|g\n\
             temp:21|g|T1700000000\n\
             size:512|h\n\
             lat:0.25|d|#k:v|c:abc123|card:low\n\
             users:alice|s\r\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let summary: Vec<(&str, &str, f64, f64, &str)> = events
            .iter()
            .map(|e| (e.name, e.kind.code(), e.value, e.sample_rate, e.tags_raw))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "simplebank-demo.market.place_order_stock_exchange",
                    "ms",
                    72.8,
                    1.0,
                    ""
                ),
                ("hits", "c", 3.0, 0.1, "env:prod,#region:eu"),
                ("temp", "g", -2.5, 1.0, ""),
                ("temp", "g", 21.0, 1.0, ""),
                ("size", "h", 512.0, 1.0, ""),
                ("lat", "d", 0.25, 1.0, "k:v"),
                ("users", "s", 0.0, 1.0, ""),
            ]
        );
        assert_eq!(events[2].kind, Kind::Gauge { delta: true });
        assert_eq!(events[3].kind, Kind::Gauge { delta: false });
        assert_eq!(events[5].container_id, Some("abc123"));
        assert_eq!(events[6].kind, Kind::Set("alice"));
    }

    #[test]
    fn bad_lines_are_refused_with_reasons_and_neighbours_survive() {
        let (events, errors) = parse(
            "ok:1|c\nnocolon\n:1|c\nx:1\nx:1|q\nx:abc|c\nx:1|c|@0\nx:1|c|@2\nx:1|c|@-1\nx:1|c|\nx:inf|g\nx:1:2|c\nalso_ok:2|c",
        );
        assert_eq!(
            events.iter().map(|e| e.name).collect::<Vec<_>>(),
            ["ok", "also_ok"]
        );
        let reasons: Vec<&str> = errors.iter().map(|(reason, _)| *reason).collect();
        assert_eq!(
            reasons,
            [
                "malformed_line",
                "malformed_line",
                "missing_type",
                "unknown_type",
                "malformed_value",
                "invalid_sample_rate",
                "invalid_sample_rate",
                "invalid_sample_rate",
                "malformed_component",
                "malformed_value",
                "invalid_multi_value_type"
            ]
        );
        let mut events = Vec::new();
        let mut bad = Vec::new();
        parse_lines(b"ok:1|c\n\xff\xfe:1|c", &mut events, &mut |err, _| {
            bad.push(err)
        });
        assert_eq!((events.len(), bad), (1, vec![LineError::InvalidUtf8]));
    }

    #[test]
    fn multi_value_forms() {
        let (events, errors) = parse("t:1:2:3|ms|@0.5|#a:b\nlegacy:1|c:2|c:5|ms");
        assert!(errors.is_empty(), "{errors:?}");
        let summary: Vec<(&str, f64, f64)> = events
            .iter()
            .map(|e| (e.kind.code(), e.value, e.sample_rate))
            .collect();
        assert_eq!(
            summary,
            [
                ("ms", 1.0, 0.5),
                ("ms", 2.0, 0.5),
                ("ms", 3.0, 0.5),
                ("c", 1.0, 1.0),
                ("c", 2.0, 1.0),
                ("ms", 5.0, 1.0)
            ]
        );
    }

    #[test]
    fn tags_split_at_the_first_colon_and_skip_valueless_ones() {
        assert_eq!(
            parse_tags("env:prod,url:http://x,#k:v,novalue,:v,k:,"),
            (vec![("env", "prod"), ("url", "http://x"), ("k", "v")], 3)
        );
    }
}
