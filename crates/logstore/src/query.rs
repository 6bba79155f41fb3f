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

use crate::schema::KEYWORD_FIELDS;

mod translate;

pub use translate::compile;

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
