//! The translation of a parsed query into a Tantivy query for one partition.

use std::ops::Bound;
use std::sync::Arc;

use model::Severity;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query,
    RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use super::{Node, QueryError, Target, Value, error, wildcard_regex};
use crate::field_policy::FieldPolicy;
use crate::schema::{Fields, MAX_KEYWORD_LEN, text_tokens};
use crate::search::all_of;
use crate::stored_filter::{Matcher, ReadBudget, StoredFieldQuery};

fn keyword_field(fields: &Fields, name: &str) -> Field {
    match name {
        "level" => fields.level,
        "service" => fields.service,
        "host" => fields.host,
        "trace_id" => fields.trace_id,
        "span_id" => fields.span_id,
        _ => fields.correlation_id,
    }
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

fn union(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.len() == 1 {
        return queries
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(EmptyQuery));
    }
    Box::new(BooleanQuery::union(queries))
}

fn message_query(fields: &Fields, text: &str) -> Result<Box<dyn Query>, QueryError> {
    let tokens = text_tokens(text);
    let terms: Vec<Term> = tokens
        .iter()
        .map(|token| Term::from_field_text(fields.message, token))
        .collect();
    match terms.len() {
        0 => error(format!("{text:?} has no word to search for")),
        1 => Ok(Box::new(TermQuery::new(
            terms
                .into_iter()
                .next()
                .unwrap_or_else(|| Term::from_field_text(fields.message, "")),
            IndexRecordOption::WithFreqs,
        ))),
        _ => Ok(Box::new(PhraseQuery::new(terms))),
    }
}

fn json_term(fields: &Fields, path: &str) -> Term {
    Term::from_field_json_path(fields.fields, path, true)
}

fn json_value_query(fields: &Fields, path: &str, text: &str, quoted: bool) -> Box<dyn Query> {
    let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
    if text.len() <= MAX_KEYWORD_LEN {
        let mut term = json_term(fields, path);
        term.append_type_and_str(text);
        alternatives.push(term_query(term));
    }
    if !quoted {
        match text {
            "true" | "false" => {
                let mut term = json_term(fields, path);
                term.append_type_and_fast_value(text == "true");
                alternatives.push(term_query(term));
            }
            _ => {
                if let Ok(int) = text.parse::<i64>() {
                    let mut term = json_term(fields, path);
                    term.append_type_and_fast_value(int);
                    alternatives.push(term_query(term));
                }
                if let Ok(float) = text.parse::<f64>()
                    && float.is_finite()
                {
                    let mut term = json_term(fields, path);
                    term.append_type_and_fast_value(float);
                    alternatives.push(term_query(term));
                    if float.fract() == 0.0 && float.abs() < 9.0e15 && text.parse::<i64>().is_err()
                    {
                        let mut term = json_term(fields, path);
                        term.append_type_and_fast_value(float as i64);
                        alternatives.push(term_query(term));
                    }
                }
            }
        }
    }
    if alternatives.is_empty() {
        return Box::new(EmptyQuery);
    }
    union(alternatives)
}

fn json_range_query(
    fields: &Fields,
    path: &str,
    lower: Bound<f64>,
    upper: Bound<f64>,
) -> Box<dyn Query> {
    // Integers and floats are separate terms: search both.
    let float_term = |value: f64| {
        let mut term = json_term(fields, path);
        term.append_type_and_fast_value(value);
        term
    };
    let int_term = |value: i64| {
        let mut term = json_term(fields, path);
        term.append_type_and_fast_value(value);
        term
    };
    let float_lower = match lower {
        Bound::Included(v) => Bound::Included(float_term(v)),
        Bound::Excluded(v) => Bound::Excluded(float_term(v)),
        Bound::Unbounded => Bound::Included(float_term(f64::NEG_INFINITY)),
    };
    let float_upper = match upper {
        Bound::Included(v) => Bound::Included(float_term(v)),
        Bound::Excluded(v) => Bound::Excluded(float_term(v)),
        Bound::Unbounded => Bound::Included(float_term(f64::INFINITY)),
    };
    // The smallest and largest integers inside the bounds.
    let int_low = match lower {
        Bound::Included(v) => v.ceil(),
        Bound::Excluded(v) => v.floor() + 1.0,
        Bound::Unbounded => i64::MIN as f64,
    };
    let int_high = match upper {
        Bound::Included(v) => v.floor(),
        Bound::Excluded(v) => v.ceil() - 1.0,
        Bound::Unbounded => i64::MAX as f64,
    };
    let mut alternatives: Vec<Box<dyn Query>> = vec![Box::new(InvertedIndexRangeQuery::new(
        float_lower,
        float_upper,
    ))];
    if int_low <= int_high {
        let clamp = |v: f64| v.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
        alternatives.push(Box::new(InvertedIndexRangeQuery::new(
            Bound::Included(int_term(clamp(int_low))),
            Bound::Included(int_term(clamp(int_high))),
        )));
    }
    union(alternatives)
}

/// The Tantivy query of a parsed query for one partition, restricted to `scope` (a time
/// range, a cursor). Clauses on fields the partition has no terms for read the stored
/// values of the lines the rest of the query leaves (`stored_filter.rs`).
pub fn compile(
    node: &Node,
    fields: &Fields,
    policy: &FieldPolicy,
    scope: Vec<Box<dyn Query>>,
    budget: &Arc<ReadBudget>,
) -> Result<Box<dyn Query>, QueryError> {
    let candidates = if filters(node, policy) {
        let mut parts = vec![superset(node, fields, policy, budget)?];
        parts.extend(scope.iter().map(|query| query.box_clone()));
        Some(all_of(parts))
    } else {
        None
    };
    let compiler = Compiler {
        fields,
        policy,
        candidates: candidates.as_ref(),
        budget,
    };
    let mut parts = vec![compiler.query(node)?];
    parts.extend(scope);
    Ok(Box::new(all_of(parts)))
}

/// Whether a clause of `node` names a field `policy` has no terms for.
fn filters(node: &Node, policy: &FieldPolicy) -> bool {
    match node {
        Node::All => false,
        Node::And(parts) | Node::Or(parts) => parts.iter().any(|part| filters(part, policy)),
        Node::Not(inner) => filters(inner, policy),
        Node::Match(Target::Field(path), _) => !policy.indexes(path),
        Node::Match(..) => false,
    }
}

/// A query matching at least every line `node` matches, from index terms alone: clauses
/// on unindexed fields, and negations of anything holding one, match everything.
fn superset(
    node: &Node,
    fields: &Fields,
    policy: &FieldPolicy,
    budget: &Arc<ReadBudget>,
) -> Result<Box<dyn Query>, QueryError> {
    if !filters(node, policy) {
        let exact = Compiler {
            fields,
            policy,
            candidates: None,
            budget,
        };
        return exact.query(node);
    }
    Ok(match node {
        Node::And(parts) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(AllQuery))];
            for part in parts {
                match part {
                    Node::Not(inner) if filters(inner, policy) => {}
                    Node::Not(inner) => {
                        clauses.push((Occur::MustNot, superset(inner, fields, policy, budget)?));
                    }
                    other => clauses.push((Occur::Must, superset(other, fields, policy, budget)?)),
                }
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Node::Or(alternatives) => Box::new(BooleanQuery::union(
            alternatives
                .iter()
                .map(|node| superset(node, fields, policy, budget))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        _ => Box::new(AllQuery),
    })
}

/// Translates clauses for one partition.
struct Compiler<'a> {
    fields: &'a Fields,
    policy: &'a FieldPolicy,
    /// The candidates of stored-value clauses (set when the query has any).
    candidates: Option<&'a BooleanQuery>,
    budget: &'a Arc<ReadBudget>,
}

impl Compiler<'_> {
    fn stored(&self, path: &str, matcher: Matcher) -> Box<dyn Query> {
        let candidates: Box<dyn Query> = match self.candidates {
            Some(candidates) => Box::new(candidates.clone()),
            None => Box::new(AllQuery),
        };
        Box::new(StoredFieldQuery::new(
            (self.fields.field_values, self.fields.raw),
            path,
            matcher,
            candidates,
            Arc::clone(self.budget),
        ))
    }

    fn query(&self, node: &Node) -> Result<Box<dyn Query>, QueryError> {
        let fields = self.fields;
        Ok(match node {
            Node::All => Box::new(AllQuery),
            Node::Or(alternatives) => {
                let queries = alternatives
                    .iter()
                    .map(|node| self.query(node))
                    .collect::<Result<Vec<_>, _>>()?;
                Box::new(BooleanQuery::union(queries))
            }
            Node::And(parts) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(parts.len());
                for part in parts {
                    match part {
                        Node::Not(inner) => clauses.push((Occur::MustNot, self.query(inner)?)),
                        other => clauses.push((Occur::Must, self.query(other)?)),
                    }
                }
                if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Node::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery)),
                (Occur::MustNot, self.query(inner)?),
            ])),
            Node::Match(Target::Message, Value::Word(text) | Value::Phrase(text)) => {
                message_query(fields, text)?
            }
            Node::Match(Target::Message, Value::Wildcard(pattern)) => {
                if pattern
                    .chars()
                    .any(|c| !(c.is_alphanumeric() || c == '*' || c == '?'))
                {
                    return error(format!(
                        "the wildcard {pattern:?} spans more than one word of the message"
                    ));
                }
                regex_query(&wildcard_regex(&pattern.to_lowercase()), fields.message)?
            }
            Node::Match(Target::Keyword(name), Value::Word(text) | Value::Phrase(text)) => {
                let field = keyword_field(fields, name);
                let value = match *name {
                    "level" => Severity::from_text(text).as_str().to_owned(),
                    "trace_id" | "span_id" => text.to_ascii_lowercase(),
                    _ => text.clone(),
                };
                term_query(Term::from_field_text(field, &value))
            }
            Node::Match(Target::Keyword(name), Value::Wildcard(pattern)) => {
                let pattern = match *name {
                    "level" | "trace_id" | "span_id" => pattern.to_ascii_lowercase(),
                    _ => pattern.clone(),
                };
                regex_query(&wildcard_regex(&pattern), keyword_field(fields, name))?
            }
            Node::Match(Target::Field(path), value) if !self.policy.indexes(path) => {
                let matcher = match value {
                    Value::Word(text) => Matcher::Text {
                        text: text.clone(),
                        quoted: false,
                    },
                    Value::Phrase(text) => Matcher::Text {
                        text: text.clone(),
                        quoted: true,
                    },
                    Value::Range { lower, upper } => Matcher::Range {
                        lower: *lower,
                        upper: *upper,
                    },
                    Value::Wildcard(_) => {
                        return error("this range or wildcard is not supported here");
                    }
                };
                self.stored(path, matcher)
            }
            Node::Match(Target::Field(path), Value::Word(text)) => {
                json_value_query(fields, path, text, false)
            }
            Node::Match(Target::Field(path), Value::Phrase(text)) => {
                json_value_query(fields, path, text, true)
            }
            Node::Match(Target::Field(path), Value::Range { lower, upper }) => {
                json_range_query(fields, path, *lower, *upper)
            }
            Node::Match(_, Value::Range { .. } | Value::Wildcard(_)) => {
                return error("this range or wildcard is not supported here");
            }
        })
    }
}

fn regex_query(pattern: &str, field: Field) -> Result<Box<dyn Query>, QueryError> {
    RegexQuery::from_pattern(pattern, field)
        .map(|query| Box::new(query) as Box<dyn Query>)
        .map_err(|err| QueryError(format!("cannot search the wildcard: {err}")))
}
