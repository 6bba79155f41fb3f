//! The read path: search with a cursor, the volume histogram, top values of a keyword
//! field, and every line of one trace or correlation id.
//!
//! A search opens only the partitions that overlap its time range, runs the same query
//! in each, and merges by `(timestamp, seq)`, which orders lines totally and stably: a
//! cursor is the `(timestamp, seq)` of the last line returned.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, PoisonError};

use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Collector, Count, HistogramCollector, SegmentCollector, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::Value as _;
use tantivy::{DocId, Order, Score, SegmentReader, TantivyDocument, Term};

use crate::Error;
use crate::query::{self, QueryError};
use crate::schema::Fields;
use crate::store::{LogStore, Partition};
use crate::stored_filter::{self, ReadBudget};

/// Most lines one search returns.
pub const MAX_LIMIT: usize = 10_000;
/// Most buckets of a histogram.
pub const MAX_BUCKETS: usize = 11_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first.
    Backward,
    /// Oldest first.
    Forward,
}

/// Where the previous page stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: i64,
    pub seq: u64,
}

impl Cursor {
    /// `"<timestamp>-<seq>"`, opaque to clients.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.timestamp, self.seq)
    }

    pub fn decode(text: &str) -> Result<Cursor, QueryError> {
        let bad = || QueryError(format!("invalid cursor {text:?}"));
        let (timestamp, seq) = text.rsplit_once('-').ok_or_else(bad)?;
        Ok(Cursor {
            timestamp: timestamp.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    pub query: &'a str,
    /// Nanoseconds, inclusive.
    pub start: i64,
    /// Nanoseconds, exclusive.
    pub end: i64,
    pub direction: Direction,
    pub limit: usize,
    /// Continue after this line (from a previous page's `next`).
    pub after: Option<Cursor>,
}

/// One line found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub timestamp: i64,
    pub seq: u64,
    pub level: String,
    pub service: Option<String>,
    pub host: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The line exactly as it arrived.
    pub line: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    /// Lines matching the query in the time range (regardless of the cursor).
    pub total: u64,
    /// The cursor of the next page, when there may be one.
    pub next: Option<Cursor>,
}

/// The keyword fields whose top values can be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopField {
    Level,
    Service,
    Host,
}

impl TopField {
    pub fn parse(name: &str) -> Option<TopField> {
        match name {
            "level" => Some(TopField::Level),
            "service" => Some(TopField::Service),
            "host" => Some(TopField::Host),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TopField::Level => "level",
            TopField::Service => "service",
            TopField::Host => "host",
        }
    }
}

pub(crate) fn time_range(fields: &Fields, start: i64, end: i64) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_i64(fields.ts, start)),
        Bound::Excluded(Term::from_field_i64(fields.ts, end)),
    ))
}

/// Lines strictly after `cursor` in `direction`.
pub(crate) fn after_cursor(
    fields: &Fields,
    cursor: Cursor,
    direction: Direction,
) -> Box<dyn Query> {
    let ts = |bound: Bound<i64>| bound.map(|v| Term::from_field_i64(fields.ts, v));
    let seq = |bound: Bound<u64>| bound.map(|v| Term::from_field_u64(fields.seq, v));
    let (beyond_ts, same_ts_seq) = match direction {
        Direction::Backward => (
            RangeQuery::new(Bound::Unbounded, ts(Bound::Excluded(cursor.timestamp))),
            RangeQuery::new(Bound::Unbounded, seq(Bound::Excluded(cursor.seq))),
        ),
        Direction::Forward => (
            RangeQuery::new(ts(Bound::Excluded(cursor.timestamp)), Bound::Unbounded),
            RangeQuery::new(seq(Bound::Excluded(cursor.seq)), Bound::Unbounded),
        ),
    };
    let same_ts = RangeQuery::new(
        ts(Bound::Included(cursor.timestamp)),
        ts(Bound::Included(cursor.timestamp)),
    );
    Box::new(BooleanQuery::union(vec![
        Box::new(beyond_ts),
        Box::new(BooleanQuery::intersection(vec![
            Box::new(same_ts),
            Box::new(same_ts_seq),
        ])),
    ]))
}

pub(crate) fn all_of(queries: Vec<Box<dyn Query>>) -> BooleanQuery {
    BooleanQuery::new(queries.into_iter().map(|q| (Occur::Must, q)).collect())
}

pub(crate) fn text(doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<String> {
    doc.get_first(field)
        .and_then(|v| v.as_str().map(str::to_owned))
}

fn hit(fields: &Fields, doc: &TantivyDocument) -> Hit {
    Hit {
        timestamp: doc
            .get_first(fields.ts)
            .and_then(|v| v.as_i64())
            .unwrap_or_default(),
        seq: doc
            .get_first(fields.seq)
            .and_then(|v| v.as_u64())
            .unwrap_or_default(),
        level: text(doc, fields.level).unwrap_or_else(|| "unknown".to_owned()),
        service: text(doc, fields.service),
        host: text(doc, fields.host),
        trace_id: text(doc, fields.trace_id),
        span_id: text(doc, fields.span_id),
        correlation_id: text(doc, fields.correlation_id),
        line: text(doc, fields.raw).unwrap_or_default(),
    }
}

pub(crate) fn search_error(
    partition: &Partition,
) -> impl FnOnce(tantivy::TantivyError) -> Error + '_ {
    move |err| match err {
        tantivy::TantivyError::InvalidArgument(message)
            if message.starts_with(stored_filter::OVER_BUDGET) =>
        {
            Error::FilterTooBroad(message[stored_filter::OVER_BUDGET.len()..].to_owned())
        }
        source => Error::Index {
            action: "cannot search log partition",
            path: partition.dir.clone(),
            source,
        },
    }
}

impl LogStore {
    pub(crate) fn partitions_between(&self, start: i64, end: i64) -> Vec<Arc<Partition>> {
        self.shared
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|p| p.start < end && p.end > start)
            .cloned()
            .collect()
    }

    /// Lines matching `request.query` in its time range, in its direction, at most its
    /// limit, with the total count and the cursor of the next page.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchResult, Error> {
        let fields = self.shared.fields;
        let parsed = query::parse(request.query)?;
        let budget = ReadBudget::new(self.shared.options.max_filtered_lines);
        let limit = request.limit.clamp(1, MAX_LIMIT);
        let order = match request.direction {
            Direction::Backward => Order::Desc,
            Direction::Forward => Order::Asc,
        };
        let mut partitions = self.partitions_between(request.start, request.end);
        if request.direction == Direction::Backward {
            partitions.reverse();
        }
        let top = || {
            TopDocs::with_limit(limit).order_by((
                (SortByStaticFastValue::<i64>::for_field("ts"), order),
                (SortByStaticFastValue::<u64>::for_field("seq"), order),
            ))
        };
        let mut result = SearchResult::default();
        let mut hits: Vec<Hit> = Vec::new();
        for partition in &partitions {
            let scope = || vec![time_range(&fields, request.start, request.end)];
            let matching = query::compile(&parsed, &fields, &partition.policy, scope(), &budget)?;
            let searcher = partition.reader.searcher();
            // Partitions do not overlap in time: once a page is full, later partitions
            // (in the direction of the search) cannot hold lines that belong on it.
            let found = match request.after {
                _ if hits.len() >= limit => {
                    result.total += searcher
                        .search(&matching, &Count)
                        .map_err(search_error(partition))?
                        as u64;
                    continue;
                }
                Some(cursor) => {
                    result.total += searcher
                        .search(&matching, &Count)
                        .map_err(search_error(partition))?
                        as u64;
                    let mut scope = scope();
                    scope.push(after_cursor(&fields, cursor, request.direction));
                    let page = query::compile(&parsed, &fields, &partition.policy, scope, &budget)?;
                    searcher
                        .search(&page, &top())
                        .map_err(search_error(partition))?
                }
                None => {
                    // One pass for the count and the page: a clause on a field without
                    // terms reads lines, and should read them once.
                    let (count, found) = searcher
                        .search(&matching, &(Count, top()))
                        .map_err(search_error(partition))?;
                    result.total += count as u64;
                    found
                }
            };
            for (_, address) in found {
                let doc: TantivyDocument =
                    searcher.doc(address).map_err(search_error(partition))?;
                hits.push(hit(&fields, &doc));
            }
        }
        hits.sort_by_key(|h| (h.timestamp, h.seq));
        if request.direction == Direction::Backward {
            hits.reverse();
        }
        hits.truncate(limit);
        let more = request.after.is_some() || result.total > limit as u64;
        if hits.len() == limit && more {
            result.next = hits.last().map(|h| Cursor {
                timestamp: h.timestamp,
                seq: h.seq,
            });
        }
        result.hits = hits;
        Ok(result)
    }

    /// Lines matching `query_text` numbered `from_seq..below_seq` (append order), oldest
    /// number first, at most `limit`: what live tail streams. Pass
    /// [`LogStore::searchable_below`] as `below_seq` so no line is skipped while it is
    /// still being indexed.
    pub fn lines_numbered(
        &self,
        query_text: &str,
        from_seq: u64,
        below_seq: u64,
        limit: usize,
    ) -> Result<Vec<Hit>, Error> {
        if from_seq >= below_seq {
            return Ok(Vec::new());
        }
        let fields = self.shared.fields;
        let parsed = query::parse(query_text)?;
        let budget = ReadBudget::new(self.shared.options.max_filtered_lines);
        let numbers = || -> Box<dyn Query> {
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(fields.seq, from_seq)),
                Bound::Excluded(Term::from_field_u64(fields.seq, below_seq)),
            ))
        };
        let limit = limit.clamp(1, MAX_LIMIT);
        let top = TopDocs::with_limit(limit).order_by_fast_field::<u64>("seq", Order::Asc);
        let mut hits = Vec::new();
        for partition in self.partitions_between(i64::MIN, i64::MAX) {
            let numbered = query::compile(
                &parsed,
                &fields,
                &partition.policy,
                vec![numbers()],
                &budget,
            )?;
            let searcher = partition.reader.searcher();
            let found = searcher
                .search(&numbered, &top)
                .map_err(search_error(&partition))?;
            for (_, address) in found {
                let doc: TantivyDocument =
                    searcher.doc(address).map_err(search_error(&partition))?;
                hits.push(hit(&fields, &doc));
            }
        }
        hits.sort_by_key(|h| h.seq);
        hits.truncate(limit);
        Ok(hits)
    }

    /// Every line of one request: its trace id (32 hex digits) or correlation id, oldest
    /// first, across services.
    pub fn lines_of(
        &self,
        id: &str,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<SearchResult, Error> {
        let id = id.trim();
        if id.is_empty() || id.len() > 256 {
            return Err(Error::Query(QueryError(
                "an id must have 1 to 256 characters".into(),
            )));
        }
        let quoted = id.replace('\\', "\\\\").replace('"', "\\\"");
        let query = format!("trace_id:\"{quoted}\" OR correlation_id:\"{quoted}\"");
        self.search(&SearchRequest {
            query: &query,
            start,
            end,
            direction: Direction::Forward,
            limit,
            after: None,
        })
    }

    /// Matching lines counted in `buckets` buckets of `step` nanoseconds from `start`.
    pub fn histogram(
        &self,
        query_text: &str,
        start: i64,
        step: i64,
        buckets: usize,
    ) -> Result<Vec<u64>, Error> {
        if step <= 0 || buckets == 0 || buckets > MAX_BUCKETS {
            return Err(Error::Query(QueryError(format!(
                "a histogram needs a positive step and 1 to {MAX_BUCKETS} buckets"
            ))));
        }
        let end = step
            .checked_mul(buckets as i64)
            .and_then(|span| start.checked_add(span))
            .ok_or_else(|| Error::Query(QueryError("the histogram's range overflows".into())))?;
        let fields = self.shared.fields;
        let parsed = query::parse(query_text)?;
        let budget = ReadBudget::new(self.shared.options.max_filtered_lines);
        let mut counts = vec![0u64; buckets];
        for partition in self.partitions_between(start, end) {
            let scope = vec![time_range(&fields, start, end)];
            let matching = query::compile(&parsed, &fields, &partition.policy, scope, &budget)?;
            let searcher = partition.reader.searcher();
            let collector =
                HistogramCollector::new::<i64>("ts".to_owned(), start, step as u64, buckets);
            let found = searcher
                .search(&matching, &collector)
                .map_err(search_error(&partition))?;
            for (total, count) in counts.iter_mut().zip(found) {
                *total += count;
            }
        }
        Ok(counts)
    }

    /// The most frequent values of a keyword field among matching lines, most frequent
    /// first (ties by value), at most `limit`.
    pub fn top_values(
        &self,
        query_text: &str,
        start: i64,
        end: i64,
        field: TopField,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, Error> {
        let fields = self.shared.fields;
        let parsed = query::parse(query_text)?;
        let budget = ReadBudget::new(self.shared.options.max_filtered_lines);
        let mut counts: HashMap<String, u64> = HashMap::new();
        for partition in self.partitions_between(start, end) {
            let scope = vec![time_range(&fields, start, end)];
            let matching = query::compile(&parsed, &fields, &partition.policy, scope, &budget)?;
            let searcher = partition.reader.searcher();
            let found = searcher
                .search(
                    &matching,
                    &ValueCounts {
                        field: field.name(),
                    },
                )
                .map_err(search_error(&partition))?;
            for (value, count) in found {
                *counts.entry(value).or_default() += count;
            }
        }
        let mut top: Vec<(String, u64)> = counts.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(limit);
        Ok(top)
    }
}

/// Counts the values of a fast keyword field among the matching documents.
struct ValueCounts {
    field: &'static str,
}

struct SegmentValueCounts {
    column: Option<StrColumn>,
    counts: Vec<u64>,
}

impl Collector for ValueCounts {
    type Fruit = HashMap<String, u64>;
    type Child = SegmentValueCounts;

    fn for_segment(
        &self,
        _segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentValueCounts> {
        let column = reader.fast_fields().str(self.field)?;
        let terms = column.as_ref().map_or(0, |c| c.num_terms());
        Ok(SegmentValueCounts {
            column,
            counts: vec![0; terms],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<HashMap<String, u64>>,
    ) -> tantivy::Result<HashMap<String, u64>> {
        let mut merged = HashMap::new();
        for fruit in fruits {
            for (value, count) in fruit {
                *merged.entry(value).or_default() += count;
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentValueCounts {
    type Fruit = HashMap<String, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(column) = &self.column {
            for ord in column.term_ords(doc) {
                if let Some(count) = self.counts.get_mut(ord as usize) {
                    *count += 1;
                }
            }
        }
    }

    fn harvest(self) -> HashMap<String, u64> {
        let mut out = HashMap::new();
        let Some(column) = &self.column else {
            return out;
        };
        let mut value = String::new();
        for (ord, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            value.clear();
            if column.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                *out.entry(value.clone()).or_default() += count;
            }
        }
        out
    }
}
