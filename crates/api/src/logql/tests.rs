//! The parser, data-driven: accepted queries and their trees, refused queries and their
//! exact messages.

use super::*;

fn matcher(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher {
        name: name.into(),
        op,
        value: value.into(),
    }
}

fn filter(op: FilterOp, text: &str) -> LineFilter {
    LineFilter {
        op,
        text: text.into(),
    }
}

fn log(matchers: Vec<Matcher>, filters: Vec<LineFilter>) -> LogQuery {
    LogQuery { matchers, filters }
}

fn service(value: &str) -> Matcher {
    matcher("service", MatchOp::Equal, value)
}

const MINUTE: i64 = 60_000_000_000;

fn count(query: LogQuery, range: i64) -> Expr {
    Expr::Range(RangeAggregation {
        function: RangeFunction::CountOverTime,
        query,
        range,
    })
}

fn check(input: &str, expected: Expr) {
    assert_eq!(parse(input), Ok(expected), "{input}");
}

fn check_error(input: &str, expected: &str) {
    match parse(input) {
        Ok(expr) => panic!("{input} parsed as {expr:?}"),
        Err(err) => assert_eq!(err.to_string(), expected, "{input}"),
    }
}

#[test]
fn stream_selectors_and_line_filters() {
    check(
        r#"{service="api"}"#,
        Expr::Log(log(vec![service("api")], vec![])),
    );
    check(
        r#"{ service = "api" , level=~"warn|error", host!="db-1", env!~`dev.*`, }"#,
        Expr::Log(log(
            vec![
                service("api"),
                matcher("level", MatchOp::Regex, "warn|error"),
                matcher("host", MatchOp::NotEqual, "db-1"),
                matcher("env", MatchOp::NotRegex, "dev.*"),
            ],
            vec![],
        )),
    );
    check(
        r#"{service="api"} |= "timeout" != `debug` |~ "\\d{3}ms" !~ "(?i)health""#,
        Expr::Log(log(
            vec![service("api")],
            vec![
                filter(FilterOp::Contains, "timeout"),
                filter(FilterOp::NotContains, "debug"),
                filter(FilterOp::Matches, r"\d{3}ms"),
                filter(FilterOp::NotMatches, "(?i)health"),
            ],
        )),
    );
    // Go escapes in double quotes; backticks are raw.
    check(
        r#"{service="a\"b\\c\u00e9\x41\101\t"} |= `C:\temp\n`"#,
        Expr::Log(log(
            vec![service("a\"b\\céAA\t")],
            vec![filter(FilterOp::Contains, r"C:\temp\n")],
        )),
    );
    // The stages Grafana adds are accepted and do nothing.
    check(
        r#"{service="api"} | drop __error__ |= "x" | drop __error__, __error_details__"#,
        Expr::Log(log(
            vec![service("api")],
            vec![filter(FilterOp::Contains, "x")],
        )),
    );
    // Comments run to the end of the line.
    check(
        "# errors only\n{service=\"api\"} # the API\n|= \"error\"",
        Expr::Log(log(
            vec![service("api")],
            vec![filter(FilterOp::Contains, "error")],
        )),
    );
}

#[test]
fn metric_queries() {
    // Grafana's log-volume query, exactly as it sends it.
    check(
        r#"sum by (level, detected_level) (count_over_time({service="api"} | drop __error__[1m]))"#,
        Expr::Aggregate(VectorAggregation {
            op: AggregationOp::Sum,
            grouping: Grouping::By(vec!["level".into(), "detected_level".into()]),
            inner: Box::new(count(log(vec![service("api")], vec![]), MINUTE)),
        }),
    );
    check(
        r#"sum(rate({service="api"} |= "error" [15s])) by (host)"#,
        Expr::Aggregate(VectorAggregation {
            op: AggregationOp::Sum,
            grouping: Grouping::By(vec!["host".into()]),
            inner: Box::new(Expr::Range(RangeAggregation {
                function: RangeFunction::Rate,
                query: log(
                    vec![service("api")],
                    vec![filter(FilterOp::Contains, "error")],
                ),
                range: MINUTE / 4,
            })),
        }),
    );
    check(
        r#"count_over_time({service="api"}[1h30m] |= "x")"#,
        count(
            log(vec![service("api")], vec![filter(FilterOp::Contains, "x")]),
            90 * MINUTE,
        ),
    );
    check(
        r#"avg without (host) (bytes_over_time(({service="api"})[500ms]))"#,
        Expr::Aggregate(VectorAggregation {
            op: AggregationOp::Avg,
            grouping: Grouping::Without(vec!["host".into()]),
            inner: Box::new(Expr::Range(RangeAggregation {
                function: RangeFunction::BytesOverTime,
                query: log(vec![service("api")], vec![]),
                range: 500_000_000,
            })),
        }),
    );
    check(
        r#"max(bytes_rate({service="api"}[1m]))"#,
        Expr::Aggregate(VectorAggregation {
            op: AggregationOp::Max,
            grouping: Grouping::By(vec![]),
            inner: Box::new(Expr::Range(RangeAggregation {
                function: RangeFunction::BytesRate,
                query: log(vec![service("api")], vec![]),
                range: MINUTE,
            })),
        }),
    );
}

#[test]
fn literals_and_binary_operators() {
    // Grafana's health check.
    check(
        "vector(1)+vector(1)",
        Expr::Binary {
            op: BinaryOp::Add,
            lhs: Box::new(Expr::Vector(1.0)),
            rhs: Box::new(Expr::Vector(1.0)),
        },
    );
    // * binds tighter than +; operators are left-associative.
    check(
        "1 + 2 * -3 - 4 / .5",
        Expr::Binary {
            op: BinaryOp::Sub,
            lhs: Box::new(Expr::Binary {
                op: BinaryOp::Add,
                lhs: Box::new(Expr::Number(1.0)),
                rhs: Box::new(Expr::Binary {
                    op: BinaryOp::Mul,
                    lhs: Box::new(Expr::Number(2.0)),
                    rhs: Box::new(Expr::Number(-3.0)),
                }),
            }),
            rhs: Box::new(Expr::Binary {
                op: BinaryOp::Div,
                lhs: Box::new(Expr::Number(4.0)),
                rhs: Box::new(Expr::Number(0.5)),
            }),
        },
    );
    check(
        r#"(1 + 1e3) * sum(count_over_time({service="api"}[1m]))"#,
        Expr::Binary {
            op: BinaryOp::Mul,
            lhs: Box::new(Expr::Binary {
                op: BinaryOp::Add,
                lhs: Box::new(Expr::Number(1.0)),
                rhs: Box::new(Expr::Number(1000.0)),
            }),
            rhs: Box::new(Expr::Aggregate(VectorAggregation {
                op: AggregationOp::Sum,
                grouping: Grouping::By(vec![]),
                inner: Box::new(count(log(vec![service("api")], vec![]), MINUTE)),
            })),
        },
    );
    check("vector(-2.5)", Expr::Vector(-2.5));
}

#[test]
fn unsupported_constructs_are_named() {
    let stages = "a pipeline may hold line filters (|= != |~ !~) and | drop __error__";
    let cases = [
        (
            r#"{service="api"} | json"#,
            format!("parse error at line 1, col 19: the json parser is not supported; {stages}"),
        ),
        (
            r#"{service="api"} | logfmt | level="error""#,
            format!("parse error at line 1, col 19: the logfmt parser is not supported; {stages}"),
        ),
        (
            r#"{service="api"} | status >= 500"#,
            format!(
                "parse error at line 1, col 19: a label filter expression (| status ...) is not supported; {stages}"
            ),
        ),
        (
            r#"{service="api"} | line_format "{{.msg}}""#,
            format!("parse error at line 1, col 19: the line_format stage is not supported; {stages}"),
        ),
        (
            r#"{service="api"} |> "<_> error <_>""#,
            format!(
                "parse error at line 1, col 17: a pattern line filter (|> or !>) is not supported; {stages}"
            ),
        ),
        (
            r#"{service="api"} |= "a" or "b""#,
            "parse error at line 1, col 24: or between line filters is not supported; chain |~ \"a|b\" instead"
                .to_owned(),
        ),
        (
            r#"{service="api"} |= ip("10.0.0.0/8")"#,
            format!("parse error at line 1, col 20: ip() line filters are not supported; {stages}"),
        ),
        (
            r#"{service="api"} | drop level"#,
            "parse error at line 1, col 24: drop level is not supported; drop takes __error__ and __error_details__ only, which Sightline never sets"
                .to_owned(),
        ),
        (
            r#"sum_over_time({service="api"} | unwrap bytes [1m])"#,
            "parse error at line 1, col 1: the sum_over_time range aggregation is not supported; use count_over_time, rate, bytes_over_time or bytes_rate"
                .to_owned(),
        ),
        (
            r#"topk(3, count_over_time({service="api"}[1m]))"#,
            "parse error at line 1, col 1: the topk aggregation is not supported; use sum, count, min, max or avg"
                .to_owned(),
        ),
        (
            r#"count_over_time({service="api"}[5m] offset 1h)"#,
            "parse error at line 1, col 37: the offset modifier is not supported; shift the query's time range instead"
                .to_owned(),
        ),
        (
            r#"count_over_time({service="api"}[5m:1m])"#,
            "parse error at line 1, col 32: the subquery [5m:1m] is not supported; use count_over_time, rate, bytes_over_time or bytes_rate"
                .to_owned(),
        ),
        (
            r#"count_over_time({service="api"}[1m]) > 10"#,
            "parse error at line 1, col 38: the > operator is not supported; the binary operators are + - * /"
                .to_owned(),
        ),
        (
            r#"sum(rate({a="b"}[1m])) / on(host) sum(rate({a="c"}[1m]))"#,
            "parse error at line 1, col 26: the on modifier is not supported; series are matched on all their labels"
                .to_owned(),
        ),
        (
            r#"label_replace(rate({a="b"}[1m]), "x", "$1", "a", "(.*)")"#,
            "parse error at line 1, col 1: the function label_replace is not supported; see the supported LogQL in docs/loki-api.md"
                .to_owned(),
        ),
        (
            "vector(1) and vector(1)",
            "parse error at line 1, col 11: the and operator is not supported; the binary operators are + - * /"
                .to_owned(),
        ),
    ];
    for (input, expected) in cases {
        check_error(input, &expected);
    }
}

#[test]
fn malformed_queries_say_what_and_where() {
    let cases = [
        ("", "parse error at line 1, col 1: the query is empty"),
        (
            "{}",
            "parse error at line 1, col 2: a stream selector needs at least one label matcher, as in {service=\"api\"}",
        ),
        (
            r#"{service="api""#,
            "parse error at line 1, col 15: unexpected the end of the query in a stream selector, expected , or }",
        ),
        (
            r#"{service=api}"#,
            "parse error at line 1, col 10: label service needs a quoted value",
        ),
        (
            r#"{service=="api"}"#,
            "parse error at line 1, col 9: unexpected == after label service, expected =, !=, =~ or !~",
        ),
        (
            r#"{service="api} |= "x""#,
            "parse error at line 1, col 21: a string is not closed with \"",
        ),
        (
            r#"{service=~"(api"}"#,
            "parse error at line 1, col 11: invalid regular expression \"(api\": unclosed group",
        ),
        (
            "{service=\"api\"}\n  |~ \"[a-\"",
            "parse error at line 2, col 6: invalid regular expression \"[a-\": unclosed character class",
        ),
        (
            r#"{service="api"} |= 5"#,
            "parse error at line 1, col 20: a line filter needs a quoted string, not 5",
        ),
        (
            r#"count_over_time({service="api"})"#,
            "parse error at line 1, col 32: count_over_time needs a range after its log query, as in [5m], not )",
        ),
        (
            r#"count_over_time({service="api"}[$__auto])"#,
            "parse error at line 1, col 32: the variable $__auto must be replaced before the query is sent (Grafana does this)",
        ),
        (
            r#"rate({service="api"}[5x])"#,
            "parse error at line 1, col 21: invalid range [5x]: duration \"5x\" is not valid: unknown or missing unit; use ms, s, m, h, d, w or y",
        ),
        (
            r#"count_over_time({service="api"}[1m]) by (host)"#,
            "parse error at line 1, col 38: grouping is not allowed for count_over_time; group with sum by (...)",
        ),
        (
            r#"sum({service="api"})"#,
            "parse error at line 1, col 5: sum needs a metric query such as count_over_time({...}[1m]), not a log query",
        ),
        (
            "sum(1)",
            "parse error at line 1, col 5: sum needs a metric query, not a number",
        ),
        (
            r#"{service="api"} + 1"#,
            "parse error at line 1, col 17: a log query cannot be an operand of a binary operator; use a range aggregation such as count_over_time({...}[1m])",
        ),
        (
            "vector(x)",
            "parse error at line 1, col 8: vector() takes a number, not x",
        ),
        (
            "(1 + 2",
            "parse error at line 1, col 7: unexpected the end of the query in a parenthesized expression, expected )",
        ),
        (
            "1 + 2)",
            "parse error at line 1, col 6: a closing parenthesis has no opening one",
        ),
        (
            "foo",
            "parse error at line 1, col 1: unexpected identifier foo",
        ),
        (
            r#"{service="api"} @"#,
            "parse error at line 1, col 17: unexpected character '@'",
        ),
        (
            r#"sum by (level (count_over_time({a="b"}[1m]))"#,
            "parse error at line 1, col 15: unexpected ( in a grouping, expected , or )",
        ),
    ];
    for (input, expected) in cases {
        check_error(input, expected);
    }
    let long = format!("{{service=\"{}\"}}", "a".repeat(MAX_QUERY_LEN));
    check_error(
        &long,
        &format!("parse error at line 1, col 1: the query is longer than {MAX_QUERY_LEN} bytes"),
    );
    let deep = "(".repeat(100) + "1" + &")".repeat(100);
    check_error(
        &deep,
        "parse error at line 1, col 66: the query nests deeper than 64 levels",
    );
}
