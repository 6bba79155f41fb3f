//! `field:value` and ranges on fields without index terms: the lines a query's indexed
//! part leaves (its candidates) are read from the document store and their kept field
//! values compared, as Loki filters everything but its labels.
//!
//! Correctness rests on the candidates being a superset of the whole query's answer
//! (`query::superset`): a filter only ever answers for candidate lines. The work is
//! bounded the same way: a filter is never the clause an intersection is driven by (its
//! cost says so), and each candidate line is read at most once, in order.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use tantivy::index::SegmentId;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::document::ReferenceValueLeaf;
use tantivy::schema::{Field, Value as _};
use tantivy::store::StoreReader;
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyDocument, TantivyError};

/// What a kept field value must be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Matcher {
    /// A word or phrase: equal text; unquoted, also an equal number or boolean (the same
    /// alternatives an indexed field's terms give).
    Text { text: String, quoted: bool },
    /// A number within bounds.
    Range {
        lower: Bound<f64>,
        upper: Bound<f64>,
    },
}

impl Matcher {
    fn matches(&self, value: &ReferenceValueLeaf<'_>) -> bool {
        match self {
            Matcher::Text { text, quoted } => match *value {
                ReferenceValueLeaf::Str(found) => found == text,
                _ if *quoted => false,
                ReferenceValueLeaf::Bool(flag) => text == if flag { "true" } else { "false" },
                ReferenceValueLeaf::I64(int) => match text.parse::<i64>() {
                    Ok(wanted) => wanted == int,
                    Err(_) => float_equals(text, int as f64),
                },
                ReferenceValueLeaf::U64(int) => match text.parse::<u64>() {
                    Ok(wanted) => wanted == int,
                    Err(_) => float_equals(text, int as f64),
                },
                ReferenceValueLeaf::F64(float) => float_equals(text, float),
                _ => false,
            },
            Matcher::Range { lower, upper } => {
                let number = match *value {
                    ReferenceValueLeaf::I64(int) => int as f64,
                    ReferenceValueLeaf::U64(int) => int as f64,
                    ReferenceValueLeaf::F64(float) => float,
                    _ => return false,
                };
                let above = match lower {
                    Bound::Included(bound) => number >= *bound,
                    Bound::Excluded(bound) => number > *bound,
                    Bound::Unbounded => true,
                };
                let below = match upper {
                    Bound::Included(bound) => number <= *bound,
                    Bound::Excluded(bound) => number < *bound,
                    Bound::Unbounded => true,
                };
                above && below
            }
        }
    }
}

fn float_equals(text: &str, value: f64) -> bool {
    text.parse::<f64>()
        .is_ok_and(|wanted| wanted.is_finite() && wanted == value)
}

/// How many candidate lines the stored-value filters of one search may read, across its
/// partitions and segments (`logs.max_filtered_lines`).
#[derive(Debug)]
pub struct ReadBudget {
    limit: u64,
    left: AtomicU64,
    /// Segments already charged: every filter of one search has the same candidates in a
    /// segment (a page after a cursor, fewer), so a segment is charged once.
    charged: Mutex<HashSet<SegmentId>>,
}

impl ReadBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(ReadBudget {
            limit,
            left: AtomicU64::new(limit),
            charged: Mutex::new(HashSet::new()),
        })
    }

    fn take(&self, segment: SegmentId, lines: u64) -> bool {
        let first = self
            .charged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(segment);
        !first
            || self
                .left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    left.checked_sub(lines)
                })
                .is_ok()
    }
}

/// Starts the message of the Tantivy error a filter over its budget fails with, so the
/// search can tell it from a broken index (`search::search_error`).
pub(crate) const OVER_BUDGET: &str = "sightline-filter-over-budget: ";

/// Lines among `candidates` whose kept value at `path` matches.
#[derive(Debug)]
pub(crate) struct StoredFieldQuery {
    field: Field,
    raw: Field,
    path: String,
    matcher: Matcher,
    candidates: Box<dyn Query>,
    budget: Arc<ReadBudget>,
}

impl StoredFieldQuery {
    /// `fields` are the kept-values field and the raw-line field.
    pub(crate) fn new(
        (field, raw): (Field, Field),
        path: &str,
        matcher: Matcher,
        candidates: Box<dyn Query>,
        budget: Arc<ReadBudget>,
    ) -> Self {
        StoredFieldQuery {
            field,
            raw,
            path: path.to_owned(),
            matcher,
            candidates,
            budget,
        }
    }
}

impl Clone for StoredFieldQuery {
    fn clone(&self) -> Self {
        StoredFieldQuery {
            field: self.field,
            raw: self.raw,
            path: self.path.clone(),
            matcher: self.matcher.clone(),
            candidates: self.candidates.box_clone(),
            budget: Arc::clone(&self.budget),
        }
    }
}

impl Query for StoredFieldQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(StoredFieldWeight {
            field: self.field,
            raw: self.raw,
            path: self.path.clone(),
            matcher: self.matcher.clone(),
            candidates: self.candidates.weight(enable_scoring)?,
            budget: Arc::clone(&self.budget),
        }))
    }
}

struct StoredFieldWeight {
    field: Field,
    raw: Field,
    path: String,
    matcher: Matcher,
    candidates: Box<dyn Weight>,
    budget: Arc<ReadBudget>,
}

/// Document-store blocks kept decompressed per segment: candidates come in order, so
/// each block is read once.
const CACHED_BLOCKS: usize = 2;

impl Weight for StoredFieldWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut candidates = self.candidates.scorer(reader, 1.0)?;
        let mut docs = Vec::new();
        let mut doc = candidates.doc();
        while doc != TERMINATED {
            docs.push(doc);
            doc = candidates.advance();
        }
        if !self.budget.take(reader.segment_id(), docs.len() as u64) {
            return Err(TantivyError::InvalidArgument(format!(
                "{OVER_BUDGET}the query would read the stored values of more than {} lines to match {:?}, a field without index terms (logs.max_filtered_lines); narrow the time range, add a service, level, trace id or words of the message, or index the field (logs.indexed_fields)",
                self.budget.limit, self.path
            )));
        }
        let mut scorer = StoredFieldScorer {
            docs,
            position: 0,
            store: reader.get_store_reader(CACHED_BLOCKS)?,
            field: self.field,
            raw: self.raw,
            path: self.path.clone(),
            matcher: self.matcher.clone(),
        };
        scorer.position = scorer.first_match_from(0);
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("stored field value matches", 1.0))
    }
}

struct StoredFieldScorer {
    /// The candidates of this segment, in order.
    docs: Vec<DocId>,
    /// Index into `docs` of the current document; `docs.len()` when done.
    position: usize,
    store: StoreReader,
    field: Field,
    raw: Field,
    path: String,
    matcher: Matcher,
}

/// Whether the JSON line `raw` can hold a value at `path` that `matcher` accepts, from
/// its text alone (most lines are ruled out without being parsed). Without a backslash
/// in the line every key and string is written literally, so the path's last key (or
/// the end of a dotted key) must appear, and so must a text that is neither a number
/// nor a boolean (numbers have several spellings: `5e2`, `500.0`).
fn may_hold(raw: &str, path: &str, matcher: &Matcher) -> bool {
    if raw.contains('\\') {
        return true;
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    if !raw.contains(last) {
        return false;
    }
    match matcher {
        // Arrays are compared in their compact JSON form, which the line may space out.
        Matcher::Text { text, .. }
            if text.parse::<f64>().is_err()
                && text != "true"
                && text != "false"
                && !text.starts_with('[') =>
        {
            raw.contains(text.as_str())
        }
        _ => true,
    }
}

/// Calls `found` with every value at the dotted `path` of the JSON object line `raw`.
fn values_in_line(raw: &str, path: &str, found: &mut dyn FnMut(&serde_json::Value)) {
    let mut values = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    let seed = PathSeed {
        path,
        found: &mut |value| values.push(value.clone()),
    };
    if seed.deserialize(&mut deserializer).is_ok() {
        values.iter().for_each(found);
        return;
    }
    // Escaped keys, or a non-object where the path goes on: read the whole line.
    if let Ok(line) = serde_json::from_str::<serde_json::Value>(raw) {
        visit_path(&line, path, found);
    }
}

/// Reads a JSON object line, materializing only the values at `path` and skipping the
/// rest unparsed; keys are borrowed from the line (one with escapes is an error, and the
/// caller falls back to [`visit_path`]).
struct PathSeed<'p, 'f> {
    path: &'p str,
    found: &'f mut dyn FnMut(&serde_json::Value),
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PathSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == self.path {
                let value: serde_json::Value = map.next_value()?;
                (self.found)(&value);
            } else if let Some(rest) = self
                .path
                .strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('.'))
            {
                map.next_value_seed(PathSeed {
                    path: rest,
                    found: &mut *self.found,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Calls `found` with every value of `object` at the dotted `path`: keys may hold dots
/// themselves (`resource` > `service.name`), so every split of the path is tried.
fn visit_path(value: &serde_json::Value, path: &str, found: &mut dyn FnMut(&serde_json::Value)) {
    let serde_json::Value::Object(object) = value else {
        return;
    };
    for (key, inner) in object {
        if key == path {
            found(inner);
        } else if let Some(rest) = path
            .strip_prefix(key.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
        {
            visit_path(inner, rest, found);
        }
    }
}

impl StoredFieldScorer {
    fn matches(&self, doc: DocId) -> bool {
        let document: TantivyDocument = match self.store.get(doc) {
            Ok(document) => document,
            Err(err) => {
                // A line that cannot be read cannot be shown either; say so, do not fail
                // the whole search.
                tracing::warn!(doc, "cannot read a stored log line to match a field: {err}");
                return false;
            }
        };
        let mut kept = document
            .get_all(self.field)
            .filter_map(|value| value.as_object())
            .peekable();
        if kept.peek().is_some() {
            return kept.flatten().any(|(key, value)| {
                key == self.path
                    && value
                        .as_leaf()
                        .is_some_and(|leaf| self.matcher.matches(&leaf))
            });
        }
        // No kept values: the fields are the raw JSON line's own (`raw_holds_fields`).
        let Some(raw) = document
            .get_first(self.raw)
            .and_then(|value| value.as_str())
        else {
            return false;
        };
        if !raw.trim_start().starts_with('{') || !may_hold(raw, &self.path, &self.matcher) {
            return false;
        }
        let mut found = false;
        values_in_line(raw, &self.path, &mut |value| {
            found = found || self.matches_json(value);
        });
        found
    }

    fn matches_json(&self, value: &serde_json::Value) -> bool {
        use serde_json::Value as Json;
        let leaf = match value {
            Json::String(text) => ReferenceValueLeaf::Str(text),
            Json::Bool(flag) => ReferenceValueLeaf::Bool(*flag),
            Json::Number(number) => match (number.as_i64(), number.as_f64()) {
                (Some(int), _) => ReferenceValueLeaf::I64(int),
                (None, Some(float)) => ReferenceValueLeaf::F64(float),
                (None, None) => return false,
            },
            // Fields keep arrays as their JSON text.
            Json::Array(_) => {
                let text = value.to_string();
                return self.matcher.matches(&ReferenceValueLeaf::Str(&text));
            }
            Json::Null | Json::Object(_) => return false,
        };
        self.matcher.matches(&leaf)
    }

    /// The index of the first matching candidate at or after `index`.
    fn first_match_from(&self, index: usize) -> usize {
        let mut index = index;
        while index < self.docs.len() && !self.matches(self.docs[index]) {
            index += 1;
        }
        index
    }

    /// The index of the first candidate at or after `target`, from the current one.
    fn candidate_at_or_after(&self, target: DocId) -> usize {
        let rest = &self.docs[self.position.min(self.docs.len())..];
        self.position + rest.partition_point(|&doc| doc < target)
    }
}

impl DocSet for StoredFieldScorer {
    fn advance(&mut self) -> DocId {
        self.position = self.first_match_from(self.position + 1);
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc() >= target {
            return self.doc();
        }
        self.position = self.first_match_from(self.candidate_at_or_after(target));
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.position).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        self.docs.len().saturating_sub(self.position) as u32
    }

    fn cost(&self) -> u64 {
        // Reading a line costs far more than stepping through postings: never lead.
        (self.docs.len() as u64 + 1).saturating_mul(1_000)
    }
}

impl Scorer for StoredFieldScorer {
    fn score(&mut self) -> Score {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(raw: &str, path: &str) -> Vec<String> {
        let mut found = Vec::new();
        values_in_line(raw, path, &mut |value| found.push(value.to_string()));
        found
    }

    #[test]
    fn a_path_finds_values_whatever_the_keys_hold() {
        let raw = r#"{"a":{"b.c":1,"b":{"c":2}},"a.b":{"c":3},"x":[1,{"y":2}],"a.b.c":"4"}"#;
        assert_eq!(values(raw, "a.b.c"), ["1", "2", "3", "\"4\""]);
        assert_eq!(values(raw, "x"), ["[1,{\"y\":2}]"]);
        assert!(
            values(raw, "x.y").is_empty(),
            "arrays are values, not paths"
        );
        // An escaped key, and a number where the path goes on, take the slow way.
        assert_eq!(values(r#"{"st\u0061tus":503}"#, "status"), ["503"]);
        assert_eq!(
            values(r#"{"http":5,"http.status":503}"#, "http.status"),
            ["503"]
        );
        assert!(values("{not json", "a").is_empty());
    }

    #[test]
    fn lines_are_ruled_out_only_when_they_cannot_match() {
        let text = |text: &str| Matcher::Text {
            text: text.to_owned(),
            quoted: false,
        };
        let raw = r#"{"http":{"status":503},"user":"ann"}"#;
        assert!(may_hold(raw, "http.status", &text("503")));
        assert!(
            may_hold(raw, "http.status", &text("5.03e2")),
            "numbers are parsed"
        );
        assert!(!may_hold(raw, "http.code", &text("503")), "no such key");
        assert!(may_hold(raw, "user", &text("ann")));
        assert!(!may_hold(raw, "user", &text("bob")));
        assert!(
            may_hold(r#"{"user":"b\u006fb"}"#, "user", &text("bob")),
            "escapes"
        );
        let range = Matcher::Range {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        };
        assert!(may_hold(raw, "http.status", &range));
        let spaced = r#"{"tags": ["a", "b"]}"#;
        assert!(
            may_hold(spaced, "tags", &text(r#"["a","b"]"#)),
            "arrays are parsed"
        );
    }

    #[test]
    fn matchers_compare_as_terms_would() {
        let text = |text: &str, quoted| Matcher::Text {
            text: text.to_owned(),
            quoted,
        };
        assert!(text("200", false).matches(&ReferenceValueLeaf::I64(200)));
        assert!(text("200", false).matches(&ReferenceValueLeaf::Str("200")));
        assert!(!text("200", true).matches(&ReferenceValueLeaf::I64(200)));
        assert!(text("12.5", false).matches(&ReferenceValueLeaf::F64(12.5)));
        assert!(text("340.0", false).matches(&ReferenceValueLeaf::I64(340)));
        assert!(text("true", false).matches(&ReferenceValueLeaf::Bool(true)));
        assert!(!text("true", true).matches(&ReferenceValueLeaf::Bool(true)));
        let range = Matcher::Range {
            lower: Bound::Excluded(10.0),
            upper: Bound::Included(340.0),
        };
        assert!(range.matches(&ReferenceValueLeaf::I64(340)));
        assert!(!range.matches(&ReferenceValueLeaf::F64(10.0)));
        assert!(!range.matches(&ReferenceValueLeaf::Str("20")));
    }
}
