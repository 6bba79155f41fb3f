//! Reading lines as streams: the lines a [`Selection`] picks with the values of chosen
//! labels ([`LogStore::select_lines`]), lines grouped by label values with their counts
//! and bytes ([`LogStore::groups`]), and the values each label has
//! ([`LogStore::label_values`]).
//!
//! Every function opens only the partitions that overlap its time range and builds each
//! partition's query from that partition's own term dictionaries (`select`). A scan that
//! reads stored lines (to apply line filters) is bounded by `max_scanned`: past it the
//! query is refused as too broad rather than left running. Scans that need only the
//! index (label matchers, counts, bytes, label values) read fast columns and postings.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{EnableScoring, Query};
use tantivy::schema::Value as _;
use tantivy::{Order, Searcher, TantivyDocument};

use crate::Error;
use crate::schema::Fields;
use crate::search::{
    Cursor, Direction, MAX_LIMIT, after_cursor, all_of, search_error, text, time_range,
};
use crate::select::{Label, LabelColumn, Selection, label_terms, partition_query};
use crate::store::{LogStore, Partition};

/// First page of candidates read per partition when line filters decide what matches;
/// pages grow fourfold up to [`MAX_PAGE`].
const FIRST_PAGE: usize = 256;
const MAX_PAGE: usize = 65_536;
/// Stored-document blocks a scan keeps decompressed per segment.
const STORE_CACHE_BLOCKS: usize = 64;

/// Which lines to read as streams.
#[derive(Debug, Clone)]
pub struct LinesRequest<'a> {
    pub selection: &'a Selection,
    /// Nanoseconds, inclusive.
    pub start: i64,
    /// Nanoseconds, exclusive.
    pub end: i64,
    pub direction: Direction,
    /// Most lines returned, across all streams.
    pub limit: usize,
    /// The labels whose values each line comes with, in this order.
    pub labels: &'a [Label],
    /// Most stored lines read to apply line filters before the query is refused.
    pub max_scanned: u64,
}

/// One line with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamLine {
    pub timestamp: i64,
    pub seq: u64,
    /// The values of the request's labels, `None` where the line has none.
    pub labels: Vec<Option<String>>,
    /// The line exactly as it arrived.
    pub line: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinesResult {
    /// In the request's direction, at most its limit.
    pub lines: Vec<StreamLine>,
    /// Lines read (candidates of the label matchers), and their bytes.
    pub scanned_lines: u64,
    pub scanned_bytes: u64,
}

/// Which lines to group, and by what.
#[derive(Debug, Clone)]
pub struct GroupsRequest<'a> {
    pub selection: &'a Selection,
    /// Nanoseconds, inclusive.
    pub start: i64,
    /// Nanoseconds, exclusive.
    pub end: i64,
    pub labels: &'a [Label],
    pub max_scanned: u64,
    /// Most distinct groups before the query is refused.
    pub max_groups: usize,
}

/// The lines that share the values of the grouping labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub labels: Vec<Option<String>>,
    pub lines: u64,
    /// Sum of the lines' raw sizes.
    pub bytes: u64,
}

/// One partition's query for a selection, ready to run.
pub(crate) struct Planned {
    pub(crate) partition: Arc<Partition>,
    pub(crate) searcher: Searcher,
    pub(crate) query: Box<dyn Query>,
}

/// Assigns group numbers to the distinct values of some labels as a scan meets them.
pub(crate) struct Grouper<'a> {
    labels: &'a [Label],
    max_groups: usize,
    keys: Vec<Vec<Option<String>>>,
    numbers: HashMap<Vec<Option<String>>, usize>,
}

/// The ordinal of "no value" in a segment's group key.
const NO_VALUE: u64 = u64::MAX;

impl<'a> Grouper<'a> {
    pub(crate) fn new(labels: &'a [Label], max_groups: usize) -> Self {
        Grouper {
            labels,
            max_groups,
            keys: Vec::new(),
            numbers: HashMap::new(),
        }
    }

    /// The label values of each group, by group number.
    pub(crate) fn into_keys(self) -> Vec<Vec<Option<String>>> {
        self.keys
    }

    /// Visits every line of one partition that the selection accepts: `visit(group,
    /// timestamp, size)`.
    pub(crate) fn scan(
        &mut self,
        fields: &Fields,
        planned: &Planned,
        selection: &Selection,
        visit: &mut dyn FnMut(usize, i64, u64),
    ) -> Result<(), Error> {
        let index_error = || search_error(&planned.partition);
        let searcher = &planned.searcher;
        let weight = planned
            .query
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(index_error())?;
        for segment in searcher.segment_readers() {
            let labels = self.labels;
            // Opened at the segment's first matching line: un-inverting a field reads
            // its postings, which a segment without matches need not pay for.
            let mut columns: Option<Vec<LabelColumn>> = None;
            let timestamps = segment.fast_fields().i64("ts").map_err(index_error())?;
            let sizes = segment.fast_fields().u64("size").map_err(index_error())?;
            let store = if selection.reads_lines() {
                Some(
                    segment
                        .get_store_reader(STORE_CACHE_BLOCKS)
                        .map_err(|err| index_error()(err.into()))?,
                )
            } else {
                None
            };
            let alive = segment.alive_bitset();
            let mut segment_groups: HashMap<Vec<u64>, usize> = HashMap::new();
            let mut key: Vec<u64> = Vec::with_capacity(labels.len());
            let mut failure: Option<Error> = None;
            weight
                .for_each_no_score(segment, &mut |docs| {
                    for &doc in docs {
                        if failure.is_some() {
                            return;
                        }
                        if alive.is_some_and(|alive| alive.is_deleted(doc)) {
                            continue;
                        }
                        if let Some(store) = &store {
                            match store.get::<TantivyDocument>(doc) {
                                Ok(stored) => {
                                    let line = stored
                                        .get_first(fields.raw)
                                        .and_then(|value| value.as_str())
                                        .unwrap_or_default();
                                    if !selection.accepts_line(line) {
                                        continue;
                                    }
                                }
                                Err(err) => {
                                    failure = Some(index_error()(err));
                                    return;
                                }
                            }
                        }
                        if columns.is_none() {
                            let opened = labels
                                .iter()
                                .map(|label| LabelColumn::open(segment, fields, label))
                                .collect::<tantivy::Result<Vec<_>>>();
                            match opened {
                                Ok(opened) => columns = Some(opened),
                                Err(err) => {
                                    failure = Some(index_error()(err));
                                    return;
                                }
                            }
                        }
                        let Some(columns) = columns.as_ref() else {
                            return;
                        };
                        key.clear();
                        key.extend(
                            columns
                                .iter()
                                .map(|column| column.ordinal(doc).unwrap_or(NO_VALUE)),
                        );
                        let group = match segment_groups.get(key.as_slice()) {
                            Some(&group) => group,
                            None => {
                                let values: Vec<Option<String>> = columns
                                    .iter()
                                    .zip(&key)
                                    .map(|(column, &ordinal)| {
                                        (ordinal != NO_VALUE)
                                            .then(|| column.text(ordinal))
                                            .flatten()
                                    })
                                    .collect();
                                let group = match self.numbers.get(&values) {
                                    Some(&group) => group,
                                    None if self.keys.len() >= self.max_groups => {
                                        failure = Some(Error::TooManySeries {
                                            limit: self.max_groups,
                                        });
                                        return;
                                    }
                                    None => {
                                        self.keys.push(values.clone());
                                        self.numbers.insert(values, self.keys.len() - 1);
                                        self.keys.len() - 1
                                    }
                                };
                                segment_groups.insert(key.clone(), group);
                                group
                            }
                        };
                        visit(
                            group,
                            timestamps.first(doc).unwrap_or_default(),
                            sizes.first(doc).unwrap_or_default(),
                        );
                    }
                })
                .map_err(index_error())?;
            if let Some(err) = failure {
                return Err(err);
            }
        }
        Ok(())
    }
}

impl LogStore {
    /// Each overlapping partition's query for the selection and `[lower, upper)`, oldest
    /// partition first; partitions where nothing can match are left out.
    pub(crate) fn plan(
        &self,
        selection: &Selection,
        lower: i64,
        upper: i64,
    ) -> Result<Vec<Planned>, Error> {
        let fields = self.shared.fields;
        let mut planned = Vec::new();
        for partition in self.partitions_between(lower, upper) {
            let searcher = partition.reader.searcher();
            let query = partition_query(&searcher, &fields, selection, lower, upper)
                .map_err(search_error(&partition))?;
            if let Some(query) = query {
                planned.push(Planned {
                    partition,
                    searcher,
                    query,
                });
            }
        }
        Ok(planned)
    }

    /// The lines `request.selection` picks in its time range, in its direction, at most
    /// its limit, each with the values of `request.labels`.
    pub fn select_lines(&self, request: &LinesRequest<'_>) -> Result<LinesResult, Error> {
        let fields = self.shared.fields;
        let limit = request.limit.clamp(1, MAX_LIMIT);
        let reads_lines = request.selection.reads_lines();
        let order = match request.direction {
            Direction::Backward => Order::Desc,
            Direction::Forward => Order::Asc,
        };
        let mut planned = self.plan(request.selection, request.start, request.end)?;
        // Partitions do not overlap in time: walking them in the direction of the query
        // walks the lines in order.
        if request.direction == Direction::Backward {
            planned.reverse();
        }
        let mut result = LinesResult::default();
        'partitions: for part in &planned {
            let mut columns: HashMap<u32, Vec<LabelColumn>> = HashMap::new();
            let mut after: Option<Cursor> = None;
            let mut page = (limit * 2).clamp(FIRST_PAGE, MAX_PAGE);
            loop {
                let wanted = if reads_lines {
                    page
                } else {
                    limit - result.lines.len()
                };
                let query: Box<dyn Query> = match after {
                    Some(cursor) => Box::new(all_of(vec![
                        part.query.box_clone(),
                        after_cursor(&fields, cursor, request.direction),
                    ])),
                    None => part.query.box_clone(),
                };
                let top = TopDocs::with_limit(wanted).order_by((
                    (SortByStaticFastValue::<i64>::for_field("ts"), order),
                    (SortByStaticFastValue::<u64>::for_field("seq"), order),
                ));
                let found = part
                    .searcher
                    .search(&query, &top)
                    .map_err(search_error(&part.partition))?;
                let n_found = found.len();
                for (_, address) in found {
                    if reads_lines && result.scanned_lines >= request.max_scanned {
                        return Err(Error::TooBroad {
                            limit: request.max_scanned,
                        });
                    }
                    let doc: TantivyDocument = part
                        .searcher
                        .doc(address)
                        .map_err(search_error(&part.partition))?;
                    let line = text(&doc, fields.raw).unwrap_or_default();
                    let timestamp = doc
                        .get_first(fields.ts)
                        .and_then(|v| v.as_i64())
                        .unwrap_or_default();
                    let seq = doc
                        .get_first(fields.seq)
                        .and_then(|v| v.as_u64())
                        .unwrap_or_default();
                    result.scanned_lines += 1;
                    result.scanned_bytes += line.len() as u64;
                    after = Some(Cursor { timestamp, seq });
                    if !request.selection.accepts_line(&line) {
                        continue;
                    }
                    let segment_columns = match columns.entry(address.segment_ord) {
                        Entry::Occupied(entry) => entry.into_mut(),
                        Entry::Vacant(entry) => {
                            let segment = part.searcher.segment_reader(address.segment_ord);
                            entry.insert(
                                request
                                    .labels
                                    .iter()
                                    .map(|label| LabelColumn::open(segment, &fields, label))
                                    .collect::<tantivy::Result<Vec<_>>>()
                                    .map_err(search_error(&part.partition))?,
                            )
                        }
                    };
                    result.lines.push(StreamLine {
                        timestamp,
                        seq,
                        labels: segment_columns
                            .iter()
                            .map(|column| column.value(address.doc_id))
                            .collect(),
                        line,
                    });
                    if result.lines.len() >= limit {
                        break 'partitions;
                    }
                }
                if !reads_lines || n_found < wanted {
                    break;
                }
                page = (page * 4).min(MAX_PAGE);
            }
        }
        Ok(result)
    }

    /// The lines `request.selection` picks in its time range, grouped by the values of
    /// `request.labels`, in the order the groups were met.
    pub fn groups(&self, request: &GroupsRequest<'_>) -> Result<Vec<Group>, Error> {
        let fields = self.shared.fields;
        let planned = self.plan(request.selection, request.start, request.end)?;
        check_budget(&planned, request.selection, request.max_scanned)?;
        let mut grouper = Grouper::new(request.labels, request.max_groups);
        let mut totals: Vec<(u64, u64)> = Vec::new();
        for part in &planned {
            grouper.scan(&fields, part, request.selection, &mut |group, _, size| {
                if group >= totals.len() {
                    totals.resize(group + 1, (0, 0));
                }
                totals[group].0 += 1;
                totals[group].1 += size;
            })?;
        }
        let keys = grouper.into_keys();
        totals.resize(keys.len(), (0, 0));
        Ok(keys
            .into_iter()
            .zip(totals)
            .map(|(labels, (lines, bytes))| Group {
                labels,
                lines,
                bytes,
            })
            .collect())
    }

    /// The distinct values of each label among the lines of `[start, end)`, by label.
    /// Partitions wholly inside the range are answered from their term dictionaries;
    /// the partitions at its edges are scanned.
    pub fn label_values(
        &self,
        labels: &[Label],
        start: i64,
        end: i64,
    ) -> Result<Vec<BTreeSet<String>>, Error> {
        let fields = self.shared.fields;
        let mut values = vec![BTreeSet::new(); labels.len()];
        for partition in self.partitions_between(start, end) {
            let searcher = partition.reader.searcher();
            if start <= partition.start && partition.end <= end {
                for (label, found) in labels.iter().zip(values.iter_mut()) {
                    let terms =
                        label_terms(&searcher, &fields, label).map_err(search_error(&partition))?;
                    found.extend(terms.into_keys().filter(|value| !value.is_empty()));
                }
                continue;
            }
            let part = Planned {
                query: time_range(&fields, start, end),
                partition,
                searcher,
            };
            for (label, found) in labels.iter().zip(values.iter_mut()) {
                let one = std::slice::from_ref(label);
                let mut grouper = Grouper::new(one, usize::MAX);
                grouper.scan(&fields, &part, &Selection::default(), &mut |_, _, _| {})?;
                found.extend(
                    grouper
                        .into_keys()
                        .into_iter()
                        .filter_map(|mut key| key.pop().flatten())
                        .filter(|value| !value.is_empty()),
                );
            }
        }
        Ok(values)
    }
}

/// Refuses a scan that would read more than `max_scanned` stored lines to apply line
/// filters, before it reads any.
pub(crate) fn check_budget(
    planned: &[Planned],
    selection: &Selection,
    max_scanned: u64,
) -> Result<(), Error> {
    if !selection.reads_lines() {
        return Ok(());
    }
    let mut candidates = 0u64;
    for part in planned {
        candidates += part
            .searcher
            .search(&part.query, &Count)
            .map_err(search_error(&part.partition))? as u64;
        if candidates > max_scanned {
            return Err(Error::TooBroad { limit: max_scanned });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
