//! LogQL, the subset Sightline answers: what Grafana's Loki data source sends.
//!
//! ```text
//! {service="api", level=~"warn|error", host!="db-1", env!~"dev.*"}   stream selector
//!   |= "timeout"  != "debug"  |~ `\d{3}ms`  !~ "(?i)health"          line filters
//!   | drop __error__, __error_details__                             accepted, no-op
//! count_over_time(<log query> [5m])   rate(...)   bytes_over_time(...)   bytes_rate(...)
//! sum|count|min|max|avg [by|without (label, ...)] (<metric query>)   (grouping before or after)
//! <metric> + - * / <metric or number>     vector(1)     1.5     ( ... )
//! ```
//!
//! Everything else (parsers such as `| json`, label filters, `line_format`, `unwrap`,
//! `topk`, `offset`, comparison operators, ...) is refused with a parse error that names
//! the construct, in Loki's shape: `parse error at line 1, col 19: ...`.
//!
//! The parser checks what it can without the store: syntax, regular expressions,
//! ranges. Which labels exist is decided when the query is translated (`loki_api`).

mod lex;
#[cfg(test)]
mod tests;

use std::fmt;

use lex::{Lexer, Tok, Token, position};
use logstore::{MatchOp, Pattern};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 16 << 10;
/// Deepest nesting of parentheses, aggregations and operators.
const MAX_DEPTH: usize = 64;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: the lines of the selected streams.
    Log(LogQuery),
    /// `count_over_time({...}[5m])` and its siblings.
    Range(RangeAggregation),
    /// `sum by (level) (...)` and its siblings.
    Aggregate(VectorAggregation),
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// A number: a scalar.
    Number(f64),
    /// `vector(n)`: one series without labels, `n` at every step.
    Vector(f64),
}

impl Expr {
    fn is_log(&self) -> bool {
        matches!(self, Expr::Log(_))
    }
}

/// A stream selector and the line filters after it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    pub matchers: Vec<Matcher>,
    pub filters: Vec<LineFilter>,
}

/// `name op "value"` inside a stream selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Matches,
    /// `!~`
    NotMatches,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: FilterOp,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
}

impl RangeFunction {
    pub fn name(self) -> &'static str {
        match self {
            RangeFunction::CountOverTime => "count_over_time",
            RangeFunction::Rate => "rate",
            RangeFunction::BytesOverTime => "bytes_over_time",
            RangeFunction::BytesRate => "bytes_rate",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    pub function: RangeFunction,
    pub query: LogQuery,
    /// The window, in nanoseconds.
    pub range: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregationOp {
    Sum,
    Count,
    Min,
    Max,
    Avg,
}

impl AggregationOp {
    pub fn name(self) -> &'static str {
        match self {
            AggregationOp::Sum => "sum",
            AggregationOp::Count => "count",
            AggregationOp::Min => "min",
            AggregationOp::Max => "max",
            AggregationOp::Avg => "avg",
        }
    }
}

/// Which labels an aggregation keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Only these (none: one series of everything).
    By(Vec<String>),
    /// All but these.
    Without(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    pub op: AggregationOp,
    pub grouping: Grouping,
    pub inner: Box<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn apply(self, lhs: f64, rhs: f64) -> f64 {
        match self {
            BinaryOp::Add => lhs + rhs,
            BinaryOp::Sub => lhs - rhs,
            BinaryOp::Mul => lhs * rhs,
            BinaryOp::Div => lhs / rhs,
        }
    }
}

/// Why a query was refused, with where (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a query.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    if input.len() > MAX_QUERY_LEN {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: format!("the query is longer than {MAX_QUERY_LEN} bytes"),
        });
    }
    let tokens = Lexer { input, at: 0 }.tokens()?;
    let mut parser = Parser {
        input,
        tokens,
        position: 0,
    };
    if parser.peek() == &Tok::End {
        return Err(parser.error_here("the query is empty"));
    }
    let expr = parser.binary(0, 0)?;
    match parser.peek() {
        Tok::End => Ok(expr),
        Tok::RParen => Err(parser.error_here("a closing parenthesis has no opening one")),
        other => {
            let message = format!("unexpected {other} after the end of the query");
            Err(parser.error_here(message))
        }
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    position: usize,
}

const SUPPORTED_STAGES: &str =
    "a pipeline may hold line filters (|= != |~ !~) and | drop __error__";
const SUPPORTED_RANGE_FUNCTIONS: &str = "use count_over_time, rate, bytes_over_time or bytes_rate";
const SUPPORTED_AGGREGATIONS: &str = "use sum, count, min, max or avg";
const SUPPORTED_OPERATORS: &str = "the binary operators are + - * /";

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.position.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.position + ahead).min(self.tokens.len() - 1)].tok
    }

    fn next(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.position < self.tokens.len() - 1 {
            self.position += 1;
        }
        tok
    }

    fn error_at(&self, token: usize, message: impl Into<String>) -> ParseError {
        let at = self.tokens[token.min(self.tokens.len() - 1)].at;
        let (line, column) = position(self.input, at);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.position, message)
    }

    fn unsupported(&self, what: &str, hint: &str) -> ParseError {
        self.error_here(format!("{what} is not supported; {hint}"))
    }

    fn expect(&mut self, wanted: &Tok, context: &str) -> Result<(), ParseError> {
        if self.peek() == wanted {
            self.next();
            return Ok(());
        }
        let message = format!("unexpected {} {context}, expected {wanted}", self.peek());
        Err(self.error_here(message))
    }

    fn binary(&mut self, min_precedence: u8, depth: usize) -> Result<Expr, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here(format!("the query nests deeper than {MAX_DEPTH} levels")));
        }
        let mut lhs = self.unary(depth)?;
        loop {
            let (op, precedence) = match self.peek() {
                Tok::Op("+") => (BinaryOp::Add, 1),
                Tok::Op("-") => (BinaryOp::Sub, 1),
                Tok::Op("*") => (BinaryOp::Mul, 2),
                Tok::Op("/") => (BinaryOp::Div, 2),
                Tok::Op(op @ ("%" | "^" | "==" | "!=" | ">" | "<" | ">=" | "<=")) => {
                    let what = format!("the {op} operator");
                    return Err(self.unsupported(&what, SUPPORTED_OPERATORS));
                }
                Tok::Ident(word) if matches!(word.as_str(), "and" | "or" | "unless") => {
                    let what = format!("the {word} operator");
                    return Err(self.unsupported(&what, SUPPORTED_OPERATORS));
                }
                _ => return Ok(lhs),
            };
            if precedence < min_precedence {
                return Ok(lhs);
            }
            let operator_position = self.position;
            self.next();
            if let Tok::Ident(word) = self.peek()
                && matches!(
                    word.as_str(),
                    "bool" | "on" | "ignoring" | "group_left" | "group_right"
                )
            {
                let what = format!("the {word} modifier");
                return Err(self.unsupported(&what, "series are matched on all their labels"));
            }
            let rhs = self.binary(precedence + 1, depth + 1)?;
            if lhs.is_log() || rhs.is_log() {
                return Err(self.error_at(
                    operator_position,
                    "a log query cannot be an operand of a binary operator; use a range aggregation such as count_over_time({...}[1m])",
                ));
            }
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        if self.peek() == &Tok::Op("-") {
            self.next();
            let here = self.position;
            return match self.next() {
                Tok::Number(value) => Ok(Expr::Number(-value)),
                _ => Err(self.error_at(here, "a unary minus applies to numbers only")),
            };
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        match self.peek().clone() {
            Tok::Number(value) => {
                self.next();
                Ok(Expr::Number(value))
            }
            Tok::LParen => {
                self.next();
                let inner = self.binary(0, depth + 1)?;
                self.expect(&Tok::RParen, "in a parenthesized expression")?;
                if let Tok::Range(_) = self.peek() {
                    return Err(
                        self.unsupported("a range after a parenthesis", SUPPORTED_RANGE_FUNCTIONS)
                    );
                }
                Ok(inner)
            }
            Tok::LBrace => Ok(Expr::Log(self.log_query()?)),
            Tok::Ident(name) => self.call(&name, depth),
            Tok::Unit(text) => Err(self.error_here(format!(
                "unexpected {text}: durations and byte sizes belong in label filters, which are not supported"
            ))),
            other => Err(self.error_here(format!("unexpected {other}"))),
        }
    }

    fn call(&mut self, name: &str, depth: usize) -> Result<Expr, ParseError> {
        let range_function = match name {
            "count_over_time" => Some(RangeFunction::CountOverTime),
            "rate" => Some(RangeFunction::Rate),
            "bytes_over_time" => Some(RangeFunction::BytesOverTime),
            "bytes_rate" => Some(RangeFunction::BytesRate),
            _ => None,
        };
        if let Some(function) = range_function {
            self.next();
            return self.range_aggregation(function);
        }
        let aggregation = match name {
            "sum" => Some(AggregationOp::Sum),
            "count" => Some(AggregationOp::Count),
            "min" => Some(AggregationOp::Min),
            "max" => Some(AggregationOp::Max),
            "avg" => Some(AggregationOp::Avg),
            _ => None,
        };
        if let Some(op) = aggregation {
            self.next();
            return self.vector_aggregation(op, depth);
        }
        match name {
            "vector" => {
                self.next();
                self.expect(&Tok::LParen, "after vector")?;
                let negative = self.peek() == &Tok::Op("-");
                if negative {
                    self.next();
                }
                let Tok::Number(value) = self.peek().clone() else {
                    let message = format!("vector() takes a number, not {}", self.peek());
                    return Err(self.error_here(message));
                };
                self.next();
                self.expect(&Tok::RParen, "in vector()")?;
                Ok(Expr::Vector(if negative { -value } else { value }))
            }
            "avg_over_time" | "sum_over_time" | "min_over_time" | "max_over_time"
            | "stddev_over_time" | "stdvar_over_time" | "quantile_over_time"
            | "first_over_time" | "last_over_time" | "absent_over_time" | "rate_counter" => {
                let what = format!("the {name} range aggregation");
                Err(self.unsupported(&what, SUPPORTED_RANGE_FUNCTIONS))
            }
            "topk" | "bottomk" | "stddev" | "stdvar" | "sort" | "sort_desc" | "approx_topk"
            | "count_values" | "quantile" | "group" => {
                let what = format!("the {name} aggregation");
                Err(self.unsupported(&what, SUPPORTED_AGGREGATIONS))
            }
            _ if self.peek_at(1) == &Tok::LParen => {
                let what = format!("the function {name}");
                Err(self.unsupported(&what, "see the supported LogQL in docs/loki-api.md"))
            }
            _ => Err(self.error_here(format!("unexpected identifier {name}"))),
        }
    }

    fn range_aggregation(&mut self, function: RangeFunction) -> Result<Expr, ParseError> {
        let name = function.name();
        self.expect(&Tok::LParen, &format!("after {name}"))?;
        let mut query = if self.peek() == &Tok::LParen {
            self.next();
            let query = self.log_query()?;
            self.expect(&Tok::RParen, "after a parenthesized log query")?;
            query
        } else if self.peek() == &Tok::LBrace {
            self.log_query()?
        } else {
            let message = format!(
                "{name} takes a log query and a range, as in {name}({{service=\"api\"}}[5m]), not {}",
                self.peek()
            );
            return Err(self.error_here(message));
        };
        let Tok::Range(text) = self.peek().clone() else {
            let message = format!(
                "{name} needs a range after its log query, as in [5m], not {}",
                self.peek()
            );
            return Err(self.error_here(message));
        };
        let range = self.range(&text)?;
        self.next();
        // Loki also takes the pipeline after the range: {...}[5m] |= "x".
        let after = self.pipeline()?;
        query.filters.extend(after);
        if let Tok::Ident(word) = self.peek()
            && word == "offset"
        {
            return Err(self.unsupported(
                "the offset modifier",
                "shift the query's time range instead",
            ));
        }
        self.expect(&Tok::RParen, &format!("in {name}"))?;
        if let Tok::Ident(word) = self.peek()
            && matches!(word.as_str(), "by" | "without")
        {
            let message = format!("grouping is not allowed for {name}; group with sum by (...)");
            return Err(self.error_here(message));
        }
        Ok(Expr::Range(RangeAggregation {
            function,
            query,
            range,
        }))
    }

    /// The duration between `[` and `]`, in nanoseconds.
    fn range(&self, text: &str) -> Result<i64, ParseError> {
        if text.contains(':') {
            return Err(
                self.unsupported(&format!("the subquery [{text}]"), SUPPORTED_RANGE_FUNCTIONS)
            );
        }
        if text.starts_with('$') {
            return Err(self.error_here(format!(
                "the variable {text} must be replaced before the query is sent (Grafana does this)"
            )));
        }
        let duration = model::time::parse_duration(text)
            .map_err(|err| self.error_here(format!("invalid range [{text}]: {err}")))?;
        match i64::try_from(duration.as_nanos()) {
            Ok(nanos) if nanos > 0 => Ok(nanos),
            _ => Err(self.error_here(format!(
                "invalid range [{text}]: it must be positive and at most 292 years"
            ))),
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = match self.peek() {
            Tok::Ident(word) if word == "by" => false,
            Tok::Ident(word) if word == "without" => true,
            _ => return Ok(None),
        };
        self.next();
        self.expect(&Tok::LParen, "after by or without")?;
        let mut labels = Vec::new();
        loop {
            let here = self.position;
            match self.next() {
                Tok::RParen => break,
                Tok::Ident(name) => {
                    labels.push(name);
                    let here = self.position;
                    match self.next() {
                        Tok::Comma => {}
                        Tok::RParen => break,
                        other => {
                            return Err(self.error_at(
                                here,
                                format!("unexpected {other} in a grouping, expected , or )"),
                            ));
                        }
                    }
                }
                other => {
                    return Err(self.error_at(
                        here,
                        format!("unexpected {other} in a grouping, expected a label name"),
                    ));
                }
            }
        }
        Ok(Some(if without {
            Grouping::Without(labels)
        } else {
            Grouping::By(labels)
        }))
    }

    fn vector_aggregation(&mut self, op: AggregationOp, depth: usize) -> Result<Expr, ParseError> {
        let before = self.grouping()?;
        self.expect(&Tok::LParen, &format!("after {}", op.name()))?;
        let inner_position = self.position;
        let inner = self.binary(0, depth + 1)?;
        self.expect(&Tok::RParen, &format!("in {}", op.name()))?;
        let after = if before.is_none() {
            self.grouping()?
        } else {
            None
        };
        match inner {
            Expr::Log(_) => Err(self.error_at(
                inner_position,
                format!(
                    "{} needs a metric query such as count_over_time({{...}}[1m]), not a log query",
                    op.name()
                ),
            )),
            Expr::Number(_) => Err(self.error_at(
                inner_position,
                format!("{} needs a metric query, not a number", op.name()),
            )),
            inner => Ok(Expr::Aggregate(VectorAggregation {
                op,
                grouping: before.or(after).unwrap_or(Grouping::By(Vec::new())),
                inner: Box::new(inner),
            })),
        }
    }

    fn log_query(&mut self) -> Result<LogQuery, ParseError> {
        self.expect(&Tok::LBrace, "where a stream selector starts")?;
        let mut matchers = Vec::new();
        loop {
            let here = self.position;
            let name = match self.next() {
                Tok::RBrace if !matchers.is_empty() => break,
                Tok::RBrace => {
                    return Err(self.error_at(
                        here,
                        "a stream selector needs at least one label matcher, as in {service=\"api\"}",
                    ));
                }
                Tok::Ident(name) => name,
                other => {
                    return Err(self.error_at(
                        here,
                        format!("unexpected {other} in a stream selector, expected a label name"),
                    ));
                }
            };
            let here = self.position;
            let op = match self.next() {
                Tok::Op("=") => MatchOp::Equal,
                Tok::Op("!=") => MatchOp::NotEqual,
                Tok::Op("=~") => MatchOp::Regex,
                Tok::Op("!~") => MatchOp::NotRegex,
                other => {
                    return Err(self.error_at(
                        here,
                        format!("unexpected {other} after label {name}, expected =, !=, =~ or !~"),
                    ));
                }
            };
            let value_position = self.position;
            let Tok::Str(value) = self.next() else {
                return Err(
                    self.error_at(value_position, format!("label {name} needs a quoted value"))
                );
            };
            if matches!(op, MatchOp::Regex | MatchOp::NotRegex) {
                Pattern::whole(&value).map_err(|err| self.error_at(value_position, err.0))?;
            }
            matchers.push(Matcher { name, op, value });
            let here = self.position;
            match self.next() {
                Tok::Comma => {}
                Tok::RBrace => break,
                other => {
                    return Err(self.error_at(
                        here,
                        format!("unexpected {other} in a stream selector, expected , or }}"),
                    ));
                }
            }
        }
        let filters = self.pipeline()?;
        Ok(LogQuery { matchers, filters })
    }

    fn pipeline(&mut self) -> Result<Vec<LineFilter>, ParseError> {
        let mut filters = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Op("|=") => FilterOp::Contains,
                Tok::Op("!=") => FilterOp::NotContains,
                Tok::Op("|~") => FilterOp::Matches,
                Tok::Op("!~") => FilterOp::NotMatches,
                Tok::Op("|>" | "!>") => {
                    return Err(
                        self.unsupported("a pattern line filter (|> or !>)", SUPPORTED_STAGES)
                    );
                }
                Tok::Op("|") => {
                    self.next();
                    self.stage()?;
                    continue;
                }
                _ => return Ok(filters),
            };
            self.next();
            let text_position = self.position;
            let text = match self.next() {
                Tok::Str(text) => text,
                Tok::Ident(name) if name == "ip" => {
                    return Err(self.error_at(
                        text_position,
                        format!("ip() line filters are not supported; {SUPPORTED_STAGES}"),
                    ));
                }
                other => {
                    return Err(self.error_at(
                        text_position,
                        format!("a line filter needs a quoted string, not {other}"),
                    ));
                }
            };
            if matches!(op, FilterOp::Matches | FilterOp::NotMatches) {
                Pattern::anywhere(&text).map_err(|err| self.error_at(text_position, err.0))?;
            }
            filters.push(LineFilter { op, text });
            if let Tok::Ident(word) = self.peek()
                && word == "or"
            {
                return Err(self.unsupported("or between line filters", "chain |~ \"a|b\" instead"));
            }
        }
    }

    /// A stage after `|`: only `drop __error__[, __error_details__]` is accepted.
    fn stage(&mut self) -> Result<(), ParseError> {
        let name = match self.peek() {
            Tok::Ident(name) => name.clone(),
            Tok::LParen => {
                return Err(self.unsupported("a label filter expression", SUPPORTED_STAGES));
            }
            other => {
                let message = format!("unexpected {other} after |, expected a pipeline stage");
                return Err(self.error_here(message));
            }
        };
        match name.as_str() {
            "drop" => {
                self.next();
                loop {
                    let Tok::Ident(label) = self.peek().clone() else {
                        let message =
                            format!("unexpected {} in drop, expected a label name", self.peek());
                        return Err(self.error_here(message));
                    };
                    if !matches!(label.as_str(), "__error__" | "__error_details__") {
                        return Err(self.unsupported(
                            &format!("drop {label}"),
                            "drop takes __error__ and __error_details__ only, which Sightline never sets",
                        ));
                    }
                    self.next();
                    if let Tok::Op("=" | "!=" | "=~" | "!~") = self.peek() {
                        return Err(self.unsupported("drop with a matcher", SUPPORTED_STAGES));
                    }
                    if self.peek() != &Tok::Comma {
                        return Ok(());
                    }
                    self.next();
                }
            }
            "json" | "logfmt" | "regexp" | "pattern" | "unpack" => {
                Err(self.unsupported(&format!("the {name} parser"), SUPPORTED_STAGES))
            }
            "line_format" | "label_format" | "decolorize" | "keep" | "unwrap" | "distinct" => {
                Err(self.unsupported(&format!("the {name} stage"), SUPPORTED_STAGES))
            }
            _ => Err(self.unsupported(
                &format!("a label filter expression (| {name} ...)"),
                SUPPORTED_STAGES,
            )),
        }
    }
}
