//! Selecting lines by stream labels and line filters, the way Loki's stream selectors
//! and line filters select them, over the log store's index.
//!
//! A [`Label`] is one of the keyword fields (`service`, `level`, `host`) or any other
//! field of the line by its dotted path. A [`LabelMatcher`] tests a label's value (`=`,
//! `!=`, `=~`, `!~`; a line without the label has the empty value, as in Loki). In each
//! partition a matcher becomes the set of index terms it accepts, read from the term
//! dictionaries, so a regular expression runs once per distinct value rather than once
//! per line; a matcher that accepts the empty value becomes "every line without a term
//! it rejects". [`LineFilter`]s test the raw line, so they run on stored lines after the
//! index has narrowed the candidates, and every scan that reads lines is bounded.
//!
//! A label's value per line ([`LabelColumn`]): keywords from their fast columns, other
//! fields by un-inverting the field's postings once per segment (no document is read).

use std::collections::{BTreeMap, HashMap};

use regex::{Regex, RegexBuilder};
use tantivy::columnar::StrColumn;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption, Type, ValueBytes};
use tantivy::{DocId, DocSet as _, Searcher, SegmentReader, TERMINATED, Term};

use crate::query::QueryError;
use crate::schema::Fields;
use crate::search::time_range;

/// Compiled size limit of one regular expression, so a query cannot ask for a huge
/// automaton.
const MAX_REGEX_SIZE: usize = 2 << 20;

/// A label a stream selector can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Service,
    Level,
    Host,
    /// Any other field of the line, by its dotted path (`k8s.namespace.name`).
    Field(String),
}

impl Label {
    fn keyword(&self, fields: &Fields) -> Option<(Field, &'static str)> {
        match self {
            Label::Service => Some((fields.service, "service")),
            Label::Level => Some((fields.level, "level")),
            Label::Host => Some((fields.host, "host")),
            Label::Field(_) => None,
        }
    }
}

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A regular expression in RE2 syntax, as Loki takes them.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str()
    }
}

impl Pattern {
    /// For a label matcher: the whole value must match, and `.` matches a newline too
    /// (`=~"api|web"` is `^(?s:api|web)$`), as Prometheus and Loki anchor them.
    pub fn whole(source: &str) -> Result<Pattern, QueryError> {
        Pattern::compile(source, &format!("^(?s:{source})$"))
    }

    /// For a line filter: a match anywhere in the line.
    pub fn anywhere(source: &str) -> Result<Pattern, QueryError> {
        Pattern::compile(source, source)
    }

    fn compile(source: &str, pattern: &str) -> Result<Pattern, QueryError> {
        let regex = RegexBuilder::new(pattern)
            .size_limit(MAX_REGEX_SIZE)
            .build()
            .map_err(|err| {
                let reason = match &err {
                    regex::Error::Syntax(text) => text
                        .lines()
                        .rev()
                        .find(|line| !line.trim().is_empty())
                        .map(|line| line.trim().trim_start_matches("error: ").to_owned())
                        .unwrap_or_else(|| text.clone()),
                    regex::Error::CompiledTooBig(limit) => {
                        format!("it compiles to more than {limit} bytes")
                    }
                    other => other.to_string(),
                };
                QueryError(format!("invalid regular expression {source:?}: {reason}"))
            })?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// A test of one label's value; a line without the label has the empty value.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMatcher {
    pub label: Label,
    pub op: MatchOp,
    pub value: String,
    pattern: Option<Pattern>,
}

impl LabelMatcher {
    pub fn new(
        label: Label,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<LabelMatcher, QueryError> {
        let value = value.into();
        let pattern = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Pattern::whole(&value)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(LabelMatcher {
            label,
            op,
            value,
            pattern,
        })
    }

    /// Whether a line whose label has `value` (empty when it has none) passes.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.pattern) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(pattern)) => pattern.is_match(value),
            (MatchOp::NotRegex, Some(pattern)) => !pattern.is_match(value),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

/// A test of the raw line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineFilter {
    /// `|= "text"`: the line contains the text (case-sensitive; empty matches all).
    Contains(String),
    /// `!= "text"`
    NotContains(String),
    /// `|~ "re"`: the expression matches somewhere in the line.
    Matches(Pattern),
    /// `!~ "re"`
    NotMatches(Pattern),
}

impl LineFilter {
    pub fn accepts(&self, line: &str) -> bool {
        match self {
            LineFilter::Contains(text) => line.contains(text.as_str()),
            LineFilter::NotContains(text) => !line.contains(text.as_str()),
            LineFilter::Matches(pattern) => pattern.is_match(line),
            LineFilter::NotMatches(pattern) => !pattern.is_match(line),
        }
    }
}

/// Label matchers (all must pass) and line filters (all must pass).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub matchers: Vec<LabelMatcher>,
    pub line_filters: Vec<LineFilter>,
}

impl Selection {
    pub fn accepts_line(&self, line: &str) -> bool {
        self.line_filters.iter().all(|filter| filter.accepts(line))
    }

    /// Whether selecting needs the stored lines (the index answers the rest).
    pub fn reads_lines(&self) -> bool {
        !self.line_filters.is_empty()
    }
}

/// The text of a value in the `fields` JSON index (`[type code][payload]`), as a label
/// value: strings as they are, numbers and booleans as they print.
fn json_value_text(bytes: &[u8]) -> Option<String> {
    let typ = Type::from_code(*bytes.first()?)?;
    let value = ValueBytes::wrap(bytes);
    match typ {
        Type::Str => value.as_str().map(str::to_owned),
        Type::I64 => value.as_i64().map(|v| v.to_string()),
        Type::U64 => value.as_u64().map(|v| v.to_string()),
        Type::F64 => value.as_f64().map(|v| v.to_string()),
        Type::Bool => value.as_bool().map(|v| v.to_string()),
        _ => None,
    }
}

/// The term dictionary bounds of one JSON path: every term of the path starts with the
/// path and its end marker (`\0`); the upper bound replaces the marker with `\x01`.
fn json_path_bounds(fields: &Fields, path: &str) -> (Term, Vec<u8>, Vec<u8>) {
    let prefix = Term::from_field_json_path(fields.fields, path, true);
    let lower = prefix.serialized_value_bytes().to_vec();
    let mut upper = lower.clone();
    if let Some(last) = upper.last_mut() {
        *last += 1;
    }
    (prefix, lower, upper)
}

/// Every distinct value of `label` in one segment, with the term that indexes it and the
/// segment's term information (for reading its postings).
fn segment_terms(
    segment: &SegmentReader,
    fields: &Fields,
    label: &Label,
    each: &mut dyn FnMut(String, Term, &tantivy::postings::TermInfo),
) -> tantivy::Result<()> {
    match (label.keyword(fields), label) {
        (Some((field, _)), _) => {
            let index = segment.inverted_index(field)?;
            let mut stream = index.terms().stream()?;
            while let Some((key, info)) = stream.next() {
                if let Ok(text) = std::str::from_utf8(key) {
                    each(text.to_owned(), Term::from_field_text(field, text), info);
                }
            }
        }
        (None, Label::Field(path)) => {
            let index = segment.inverted_index(fields.fields)?;
            let (prefix, lower, upper) = json_path_bounds(fields, path);
            let mut stream = index.terms().range().ge(&lower).lt(&upper).into_stream()?;
            while let Some((key, info)) = stream.next() {
                let value = &key[lower.len()..];
                if let Some(text) = json_value_text(value) {
                    let mut term = prefix.clone();
                    term.append_bytes(value);
                    each(text, term, info);
                }
            }
        }
        (None, _) => {}
    }
    Ok(())
}

/// Every distinct value of `label` in a partition's index, with its terms (a field's
/// value may be indexed as text and as a number).
pub(crate) fn label_terms(
    searcher: &Searcher,
    fields: &Fields,
    label: &Label,
) -> tantivy::Result<BTreeMap<String, Vec<Term>>> {
    let mut values: BTreeMap<String, Vec<Term>> = BTreeMap::new();
    for segment in searcher.segment_readers() {
        segment_terms(segment, fields, label, &mut |text, term, _| {
            let terms = values.entry(text).or_default();
            if !terms.contains(&term) {
                terms.push(term);
            }
        })?;
    }
    Ok(values)
}

/// What one matcher requires of a partition's lines.
enum Clause {
    Everything,
    Nothing,
    Must(Box<dyn Query>),
    MustNot(Box<dyn Query>),
}

fn matcher_clause(
    searcher: &Searcher,
    fields: &Fields,
    matcher: &LabelMatcher,
) -> tantivy::Result<Clause> {
    if let (Some((field, _)), MatchOp::Equal) = (matcher.label.keyword(fields), matcher.op)
        && !matcher.value.is_empty()
    {
        return Ok(Clause::Must(Box::new(TermQuery::new(
            Term::from_field_text(field, &matcher.value),
            IndexRecordOption::Basic,
        ))));
    }
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (text, terms) in label_terms(searcher, fields, &matcher.label)? {
        if matcher.matches(&text) {
            accepted.extend(terms);
        } else {
            rejected.extend(terms);
        }
    }
    Ok(if matcher.matches("") {
        if rejected.is_empty() {
            Clause::Everything
        } else {
            Clause::MustNot(Box::new(TermSetQuery::new(rejected)))
        }
    } else if accepted.is_empty() {
        Clause::Nothing
    } else {
        Clause::Must(Box::new(TermSetQuery::new(accepted)))
    })
}

/// The query of a partition's lines that the selection's matchers accept, with
/// timestamps in `[lower, upper)`; `None` when no line of the partition can pass.
pub(crate) fn partition_query(
    searcher: &Searcher,
    fields: &Fields,
    selection: &Selection,
    lower: i64,
    upper: i64,
) -> tantivy::Result<Option<Box<dyn Query>>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, time_range(fields, lower, upper))];
    for matcher in &selection.matchers {
        match matcher_clause(searcher, fields, matcher)? {
            Clause::Everything => {}
            Clause::Nothing => return Ok(None),
            Clause::Must(query) => clauses.push((Occur::Must, query)),
            Clause::MustNot(query) => clauses.push((Occur::MustNot, query)),
        }
    }
    Ok(Some(Box::new(BooleanQuery::new(clauses))))
}

/// The values of one label for the documents of one segment.
pub(crate) enum LabelColumn {
    Keyword(Option<StrColumn>),
    /// A field's postings un-inverted: `doc_values[doc]` is one more than the index of
    /// the document's value in `values`, or 0 when it has none.
    Field {
        values: Vec<String>,
        doc_values: Vec<u32>,
    },
}

impl LabelColumn {
    pub(crate) fn open(
        segment: &SegmentReader,
        fields: &Fields,
        label: &Label,
    ) -> tantivy::Result<LabelColumn> {
        if let Some((_, name)) = label.keyword(fields) {
            return Ok(LabelColumn::Keyword(segment.fast_fields().str(name)?));
        }
        let mut values: Vec<String> = Vec::new();
        let mut numbers: HashMap<String, u32> = HashMap::new();
        let mut doc_values = vec![0u32; segment.max_doc() as usize];
        let index = segment.inverted_index(fields.fields)?;
        let mut failure = None;
        segment_terms(segment, fields, label, &mut |text, _, info| {
            if failure.is_some() {
                return;
            }
            let next = values.len() as u32 + 1;
            let number = *numbers.entry(text).or_insert_with_key(|text| {
                values.push(text.clone());
                next
            });
            match index.read_postings_from_terminfo(info, IndexRecordOption::Basic) {
                Ok(mut postings) => {
                    let mut doc = postings.doc();
                    while doc != TERMINATED {
                        if let Some(slot) = doc_values.get_mut(doc as usize) {
                            *slot = number;
                        }
                        doc = postings.advance();
                    }
                }
                Err(err) => failure = Some(err),
            }
        })?;
        if let Some(err) = failure {
            return Err(err.into());
        }
        Ok(LabelColumn::Field { values, doc_values })
    }

    /// A number for the document's value, equal for equal values within the segment;
    /// `None` when the document has no value.
    pub(crate) fn ordinal(&self, doc: DocId) -> Option<u64> {
        match self {
            LabelColumn::Keyword(column) => column.as_ref()?.term_ords(doc).next(),
            LabelColumn::Field { doc_values, .. } => match doc_values.get(doc as usize) {
                Some(&number) if number > 0 => Some(u64::from(number)),
                _ => None,
            },
        }
    }

    /// The value an ordinal stands for.
    pub(crate) fn text(&self, ordinal: u64) -> Option<String> {
        match self {
            LabelColumn::Keyword(column) => {
                let mut text = String::new();
                column
                    .as_ref()?
                    .ord_to_str(ordinal, &mut text)
                    .ok()?
                    .then_some(text)
            }
            LabelColumn::Field { values, .. } => values
                .get(usize::try_from(ordinal).ok()?.checked_sub(1)?)
                .cloned(),
        }
    }

    /// The document's value.
    pub(crate) fn value(&self, doc: DocId) -> Option<String> {
        self.text(self.ordinal(doc)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_treat_a_missing_label_as_empty() {
        let matcher =
            |op, value: &str| LabelMatcher::new(Label::Host, op, value).expect("valid matcher");
        assert!(matcher(MatchOp::Equal, "").matches(""));
        assert!(!matcher(MatchOp::Equal, "a").matches(""));
        assert!(matcher(MatchOp::NotEqual, "a").matches(""));
        assert!(matcher(MatchOp::Regex, ".*").matches(""));
        assert!(!matcher(MatchOp::Regex, ".+").matches(""));
        assert!(matcher(MatchOp::Regex, "api|").matches(""));
        // Label regexes are anchored: they must match the whole value.
        assert!(matcher(MatchOp::Regex, "api|web").matches("web"));
        assert!(!matcher(MatchOp::Regex, "api").matches("api-2"));
        assert!(matcher(MatchOp::NotRegex, "api").matches("api-2"));
        assert!(matcher(MatchOp::Regex, "a.b").matches("a\nb"));
    }

    #[test]
    fn line_filters_match_substrings_and_unanchored_regexes() {
        let line = r#"{"level":"error","msg":"Timeout after 30s"}"#;
        assert!(LineFilter::Contains("Timeout".into()).accepts(line));
        assert!(!LineFilter::Contains("timeout".into()).accepts(line));
        assert!(LineFilter::Contains(String::new()).accepts(line));
        assert!(LineFilter::NotContains("debug".into()).accepts(line));
        let pattern = Pattern::anywhere(r"\d+s").expect("valid");
        assert!(LineFilter::Matches(pattern.clone()).accepts(line));
        assert!(!LineFilter::NotMatches(pattern).accepts(line));
        let case_blind = Pattern::anywhere("(?i)timeout").expect("valid");
        assert!(LineFilter::Matches(case_blind).accepts(line));
    }

    #[test]
    fn bad_regexes_name_the_expression_and_the_reason() {
        assert_eq!(
            Pattern::anywhere("(a").expect_err("unclosed").0,
            r#"invalid regular expression "(a": unclosed group"#
        );
        assert_eq!(
            LabelMatcher::new(Label::Service, MatchOp::Regex, "a{2,1}")
                .expect_err("bad repetition")
                .0,
            r#"invalid regular expression "a{2,1}": invalid repetition count range, the start must be <= the end"#
        );
    }

    #[test]
    fn json_index_values_read_as_label_text() {
        let mut term = Term::from_field_json_path(Field::from_field_id(0), "a", true);
        let path_len = term.serialized_value_bytes().len();
        term.append_type_and_fast_value(-42i64);
        assert_eq!(
            json_value_text(&term.serialized_value_bytes()[path_len..]),
            Some("-42".to_owned())
        );
        let mut term = Term::from_field_json_path(Field::from_field_id(0), "a", true);
        term.append_type_and_fast_value(12.5f64);
        assert_eq!(
            json_value_text(&term.serialized_value_bytes()[path_len..]),
            Some("12.5".to_owned())
        );
        let mut term = Term::from_field_json_path(Field::from_field_id(0), "a", true);
        term.append_type_and_str("prod");
        assert_eq!(
            json_value_text(&term.serialized_value_bytes()[path_len..]),
            Some("prod".to_owned())
        );
    }
}
