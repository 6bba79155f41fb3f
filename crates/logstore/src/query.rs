//! The log search language, a subset of Lucene's query syntax, and its translation into
//! Tantivy queries.
//!
//! ```text
//! timeout                      a word of the message
//! "connection refused"         a phrase of the message
//! time*                        a wildcard word of the message (* and ?)
//! service:checkout             a keyword field: level, service, host, trace_id,
//!                              span_id, correlation_id (level:warning means warn)
//! service:check*               a wildcard on a keyword field
//! http.status:500              any other field, by dotted path: numbers match numbers
//! user.name:"Ann Lee"          (and their text), true/false booleans, the rest text
//! duration_ms:[100 TO 500]     numeric ranges, [ ] inclusive, { } exclusive, * open
//! duration_ms:>=100            comparisons >, >=, <, <=
//! a AND b, a OR b, NOT a, -a   boolean operators; juxtaposition means AND
//! service:(cart OR checkout)   a field applied to a group
//! *                            every line
//! ```
//!
//! A field without index terms in a partition (see `field_policy.rs`) is matched on the
//! stored values of the lines the rest of the query selects, with the same answer, but
//! for one difference: a JSON line's values are its own keys, so the keys the normalizer
//! read as the timestamp, level, service, host, ids or message match there by their
//! names (`levelname:INFO`), where index terms hold only what normalization left.
//!
//! Every query is bounded: its length, its nesting and its number of clauses.

use std::ops::Bound;
use std::sync::Arc;

use model::Severity;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query,
    RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use crate::field_policy::FieldPolicy;
use crate::schema::{Fields, KEYWORD_FIELDS, MAX_KEYWORD_LEN, text_tokens};
use crate::stored_filter::{Matcher, ReadBudget, StoredFieldQuery};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 16 << 10;
/// Deepest nesting of parentheses and NOTs.
pub const MAX_DEPTH: usize = 64;
/// Most terms, phrases and ranges in one query.
pub const MAX_CLAUSES: usize = 1024;

/// Why a query string was refused; the message names the problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn error<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(message.into()))
}

/// What a clause searches.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Message,
    /// One of [`KEYWORD_FIELDS`].
    Keyword(&'static str),
    /// A dotted path among the line's other fields.
    Field(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Word(String),
    Phrase(String),
    Wildcard(String),
    Range {
        lower: Bound<f64>,
        upper: Bound<f64>,
    },
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Match(Target, Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word, with whether it holds an unescaped `*` or `?`, and the field name
    /// when it was written `name:` (then the text is what followed the colon).
    Word {
        text: String,
        wildcard: bool,
        field: Option<String>,
    },
    Quoted(String),
    Open,
    Close,
    RangeOpen(bool),
    RangeClose(bool),
    And,
    Or,
    Not,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | '[' | ']' | '{' | '}')
}

fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
}

fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' | ')' | '[' | ']' | '{' | '}' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::RangeOpen(true),
                    '{' => Token::RangeOpen(false),
                    ']' => Token::RangeClose(true),
                    _ => Token::RangeClose(false),
                });
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, escaped)) => text.push(escaped),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => text.push(c),
                    }
                }
                if !closed {
                    return error(format!("unterminated quote starting at byte {at}"));
                }
                tokens.push(Token::Quoted(text));
            }
            '-' | '!' if negates(&chars) => {
                chars.next();
                tokens.push(Token::Not);
            }
            '+' => {
                // "+term": required, which is what juxtaposition means anyway.
                chars.next();
            }
            _ => {
                let mut text = String::new();
                let mut wildcard = false;
                let mut field = None;
                while let Some(&(_, c)) = chars.peek() {
                    if is_delimiter(c) {
                        break;
                    }
                    chars.next();
                    match c {
                        '\\' => match chars.next() {
                            Some((_, escaped)) => text.push(escaped),
                            None => return error("the query ends with a lone backslash"),
                        },
                        ':' if field.is_none() && is_field_name(&text) => {
                            field = Some(std::mem::take(&mut text));
                        }
                        '*' | '?' => {
                            wildcard = true;
                            text.push(c);
                        }
                        _ => text.push(c),
                    }
                }
                tokens.push(match (text.as_str(), &field) {
                    ("AND" | "&&", None) => Token::And,
                    ("OR" | "||", None) => Token::Or,
                    ("NOT", None) => Token::Not,
                    _ => Token::Word {
                        text,
                        wildcard,
                        field,
                    },
                });
            }
        }
    }
    Ok(tokens)
}

/// A `-` or `!` negates when a word follows it directly (`-debug`), not alone.
fn negates(chars: &std::iter::Peekable<std::str::CharIndices<'_>>) -> bool {
    let mut ahead = chars.clone();
    ahead.next();
    ahead.peek().is_some_and(|&(_, next)| !next.is_whitespace())
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    clauses: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn or(&mut self, field: Option<&str>, depth: usize) -> Result<Node, QueryError> {
        let mut alternatives = vec![self.and(field, depth)?];
        while self.peek() == Some(&Token::Or) {
            self.next();
            alternatives.push(self.and(field, depth)?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Node::Or(alternatives)
        })
    }

    fn and(&mut self, field: Option<&str>, depth: usize) -> Result<Node, QueryError> {
        let mut parts = vec![self.unary(field, depth)?];
        loop {
            match self.peek() {
                None | Some(Token::Or | Token::Close) => break,
                Some(Token::And) => {
                    self.next();
                    parts.push(self.unary(field, depth)?);
                }
                Some(_) => parts.push(self.unary(field, depth)?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::And(parts)
        })
    }

    fn unary(&mut self, field: Option<&str>, depth: usize) -> Result<Node, QueryError> {
        if depth > MAX_DEPTH {
            return error(format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        match self.next() {
            Some(Token::Not) => Ok(Node::Not(Box::new(self.unary(field, depth + 1)?))),
            Some(Token::Open) => {
                let inner = self.or(field, depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => error("a parenthesis is not closed"),
                }
            }
            Some(Token::Quoted(text)) => self.clause(field, Value::Phrase(text)),
            Some(Token::Word {
                text,
                wildcard,
                field: Some(name),
            }) => {
                if field.is_some() {
                    return error(format!(
                        "field {name:?} inside a group that already names a field"
                    ));
                }
                if !text.is_empty() {
                    return self.field_value(&name, text, wildcard);
                }
                match self.peek() {
                    Some(Token::Open) => {
                        self.next();
                        let inner = self.or(Some(&name), depth + 1)?;
                        match self.next() {
                            Some(Token::Close) => Ok(inner),
                            _ => error("a parenthesis is not closed"),
                        }
                    }
                    Some(Token::Quoted(_)) => {
                        let Some(Token::Quoted(text)) = self.next() else {
                            unreachable!("peeked a quoted string")
                        };
                        self.clause(Some(&name), Value::Phrase(text))
                    }
                    Some(Token::RangeOpen(inclusive)) => {
                        let inclusive = *inclusive;
                        self.next();
                        let range = self.range(&name, inclusive)?;
                        self.clause(Some(&name), range)
                    }
                    _ => error(format!("field {name:?} has no value after its colon")),
                }
            }
            Some(Token::Word { text, wildcard, .. }) => {
                if text == "*" {
                    return Ok(Node::All);
                }
                let value = if wildcard {
                    Value::Wildcard(text)
                } else {
                    Value::Word(text)
                };
                self.clause(field, value)
            }
            Some(Token::And | Token::Or) => error("AND and OR need a clause on each side"),
            Some(Token::Close) => error("a closing parenthesis has no opening one"),
            Some(Token::RangeOpen(_) | Token::RangeClose(_)) => {
                error("a range needs a field: write duration_ms:[100 TO 500]")
            }
            None => error("the query ends where a clause was expected"),
        }
    }

    fn field_value(
        &mut self,
        name: &str,
        text: String,
        wildcard: bool,
    ) -> Result<Node, QueryError> {
        for (operator, lower_inclusive) in [(">=", true), (">", false)] {
            if let Some(bound) = text.strip_prefix(operator) {
                let value = number(name, bound)?;
                let lower = if lower_inclusive {
                    Bound::Included(value)
                } else {
                    Bound::Excluded(value)
                };
                return self.clause(
                    Some(name),
                    Value::Range {
                        lower,
                        upper: Bound::Unbounded,
                    },
                );
            }
        }
        for (operator, upper_inclusive) in [("<=", true), ("<", false)] {
            if let Some(bound) = text.strip_prefix(operator) {
                let value = number(name, bound)?;
                let upper = if upper_inclusive {
                    Bound::Included(value)
                } else {
                    Bound::Excluded(value)
                };
                return self.clause(
                    Some(name),
                    Value::Range {
                        lower: Bound::Unbounded,
                        upper,
                    },
                );
            }
        }
        let value = if wildcard {
            Value::Wildcard(text)
        } else {
            Value::Word(text)
        };
        self.clause(Some(name), value)
    }

    fn range(&mut self, name: &str, lower_inclusive: bool) -> Result<Value, QueryError> {
        let bound = |parser: &mut Parser| match parser.next() {
            Some(Token::Word {
                text, field: None, ..
            }) => Ok(text),
            _ => error(format!("the range of {name:?} is not [low TO high]")),
        };
        let low = bound(self)?;
        if bound(self)? != "TO" {
            return error(format!("the range of {name:?} needs TO between its bounds"));
        }
        let high = bound(self)?;
        let Some(Token::RangeClose(upper_inclusive)) = self.next() else {
            return error(format!("the range of {name:?} is not closed with ] or }}"));
        };
        let make = |text: &str, inclusive: bool| -> Result<Bound<f64>, QueryError> {
            if text == "*" {
                return Ok(Bound::Unbounded);
            }
            let value = number(name, text)?;
            Ok(if inclusive {
                Bound::Included(value)
            } else {
                Bound::Excluded(value)
            })
        };
        Ok(Value::Range {
            lower: make(&low, lower_inclusive)?,
            upper: make(&high, upper_inclusive)?,
        })
    }

    fn clause(&mut self, field: Option<&str>, value: Value) -> Result<Node, QueryError> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return error(format!("the query has more than {MAX_CLAUSES} clauses"));
        }
        let target = match field {
            None | Some("message" | "msg") => Target::Message,
            Some(name) => match KEYWORD_FIELDS.iter().find(|&&known| known == name) {
                Some(&known) => Target::Keyword(known),
                None => Target::Field(name.to_owned()),
            },
        };
        match (&target, &value) {
            (Target::Message | Target::Keyword(_), Value::Range { .. }) => {
                return error(format!(
                    "ranges apply to numeric fields, not to {}",
                    field.unwrap_or("the message")
                ));
            }
            (Target::Field(name), Value::Wildcard(_)) => {
                return error(format!(
                    "wildcards apply to the message and to {}; not to {name:?}",
                    KEYWORD_FIELDS.join(", ")
                ));
            }
            _ => {}
        }
        Ok(Node::Match(target, value))
    }
}

fn number(name: &str, text: &str) -> Result<f64, QueryError> {
    text.parse::<f64>()
        .ok()
        .filter(|value| !value.is_nan())
        .ok_or_else(|| QueryError(format!("the bound {text:?} of {name:?} is not a number")))
}

/// Parses a query string. Blank means every line.
pub fn parse(input: &str) -> Result<Node, QueryError> {
    if input.len() > MAX_QUERY_LEN {
        return error(format!("the query is longer than {MAX_QUERY_LEN} bytes"));
    }
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Ok(Node::All);
    }
    let mut parser = Parser {
        tokens,
        position: 0,
        clauses: 0,
    };
    let node = parser.or(None, 0)?;
    match parser.peek() {
        None => Ok(node),
        Some(Token::Close) => error("a closing parenthesis has no opening one"),
        Some(_) => error("the query has something left over after its end"),
    }
}

/// The regular expression of a `*`/`?` wildcard.
fn wildcard_regex(pattern: &str) -> String {
    let mut regex = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            _ => {
                let mut buffer = [0u8; 4];
                regex.push_str(&regex_escape(c.encode_utf8(&mut buffer)));
            }
        }
    }
    regex
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

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
        let mut parts = vec![superset(node, fields, policy)?];
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
) -> Result<Box<dyn Query>, QueryError> {
    if !filters(node, policy) {
        let exact = Compiler {
            fields,
            policy,
            candidates: None,
            budget: &ReadBudget::new(0),
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
                        clauses.push((Occur::MustNot, superset(inner, fields, policy)?));
                    }
                    other => clauses.push((Occur::Must, superset(other, fields, policy)?)),
                }
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Node::Or(alternatives) => Box::new(BooleanQuery::union(
            alternatives
                .iter()
                .map(|node| superset(node, fields, policy))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        _ => Box::new(AllQuery),
    })
}

fn all_of(parts: Vec<Box<dyn Query>>) -> BooleanQuery {
    BooleanQuery::new(parts.into_iter().map(|q| (Occur::Must, q)).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Node {
        Node::Match(Target::Message, Value::Word(text.into()))
    }

    #[test]
    fn terms_phrases_and_boolean_operators() {
        assert_eq!(parse("").expect("parses"), Node::All);
        assert_eq!(parse("  *  ").expect("parses"), Node::All);
        assert_eq!(parse("timeout").expect("parses"), word("timeout"));
        assert_eq!(
            parse("timeout retrying").expect("parses"),
            Node::And(vec![word("timeout"), word("retrying")])
        );
        assert_eq!(
            parse("a OR b AND c").expect("parses"),
            Node::Or(vec![word("a"), Node::And(vec![word("b"), word("c")])])
        );
        assert_eq!(
            parse("NOT a -b").expect("parses"),
            Node::And(vec![
                Node::Not(Box::new(word("a"))),
                Node::Not(Box::new(word("b")))
            ])
        );
        assert_eq!(
            parse(r#""connection \"refused\"""#).expect("parses"),
            Node::Match(
                Target::Message,
                Value::Phrase("connection \"refused\"".into())
            )
        );
        assert_eq!(
            parse("(a OR b) c").expect("parses"),
            Node::And(vec![Node::Or(vec![word("a"), word("b")]), word("c")])
        );
        assert_eq!(
            parse("time*").expect("parses"),
            Node::Match(Target::Message, Value::Wildcard("time*".into()))
        );
        assert_eq!(
            parse("a - b").expect("parses"),
            Node::And(vec![word("a"), word("-"), word("b")])
        );
    }

    #[test]
    fn fields_values_ranges_and_groups() {
        assert_eq!(
            parse("service:checkout").expect("parses"),
            Node::Match(Target::Keyword("service"), Value::Word("checkout".into()))
        );
        assert_eq!(
            parse("http.status:500").expect("parses"),
            Node::Match(
                Target::Field("http.status".into()),
                Value::Word("500".into())
            )
        );
        assert_eq!(
            parse(r#"user.name:"Ann Lee""#).expect("parses"),
            Node::Match(
                Target::Field("user.name".into()),
                Value::Phrase("Ann Lee".into())
            )
        );
        assert_eq!(
            parse("duration_ms:[100 TO 500}").expect("parses"),
            Node::Match(
                Target::Field("duration_ms".into()),
                Value::Range {
                    lower: Bound::Included(100.0),
                    upper: Bound::Excluded(500.0)
                }
            )
        );
        assert_eq!(
            parse("duration_ms:>=1.5").expect("parses"),
            Node::Match(
                Target::Field("duration_ms".into()),
                Value::Range {
                    lower: Bound::Included(1.5),
                    upper: Bound::Unbounded
                }
            )
        );
        assert_eq!(
            parse("duration_ms:[* TO 10]").expect("parses"),
            Node::Match(
                Target::Field("duration_ms".into()),
                Value::Range {
                    lower: Bound::Unbounded,
                    upper: Bound::Included(10.0)
                }
            )
        );
        assert_eq!(
            parse("service:(cart OR checkout)").expect("parses"),
            Node::Or(vec![
                Node::Match(Target::Keyword("service"), Value::Word("cart".into())),
                Node::Match(Target::Keyword("service"), Value::Word("checkout".into())),
            ])
        );
        // A colon inside a value, and an escaped one in a bare word.
        assert_eq!(
            parse("host:db-1:5432").expect("parses"),
            Node::Match(Target::Keyword("host"), Value::Word("db-1:5432".into()))
        );
        assert_eq!(parse(r"a\:b").expect("parses"), word("a:b"));
        // A colon after something that is not a field name is part of the word.
        assert_eq!(parse("12:30").expect("parses"), word("12:30"));
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        let cases = [
            ("\"open", "unterminated quote"),
            ("(a OR b", "not closed"),
            ("a)", "no opening"),
            ("OR a", "each side"),
            ("service:", "no value"),
            ("latency:[1 TO]", "not [low TO high]"),
            ("latency:[1 2 3]", "needs TO"),
            ("latency:[a TO 3]", "not a number"),
            ("latency:>x", "not a number"),
            ("service:[1 TO 2]", "ranges apply to numeric fields"),
            ("user.name:an*", "wildcards apply"),
            ("[1 TO 2]", "needs a field"),
            ("a\\", "lone backslash"),
            ("service:(host:a)", "already names a field"),
        ];
        for (query, expected) in cases {
            let err = parse(query).expect_err(query);
            assert!(err.0.contains(expected), "{query}: {}", err.0);
        }
        let deep = "(".repeat(100) + "a" + &")".repeat(100);
        assert!(parse(&deep).expect_err("deep").0.contains("nests deeper"));
        let wide = vec!["a"; MAX_CLAUSES + 1].join(" ");
        assert!(parse(&wide).expect_err("wide").0.contains("clauses"));
        assert!(
            parse(&"a".repeat(MAX_QUERY_LEN + 1))
                .expect_err("long")
                .0
                .contains("longer")
        );
    }

    #[test]
    fn wildcards_become_anchored_regexes() {
        assert_eq!(wildcard_regex("check*"), "check.*");
        assert_eq!(wildcard_regex("a.b?c"), "a\\.b.c");
        assert_eq!(wildcard_regex("/api/(x)"), "/api/\\(x\\)");
    }
}
