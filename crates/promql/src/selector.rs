//! Series selectors, as `match[]` parameters carry them: `up{job="api"}`,
//! `{__name__=~"http_.*", code!="200"}`, `{job="a" or job="b"}`.

use promql_parser::label::MatchOp as ParserOp;
use promql_parser::parser::{self, Expr, VectorSelector};
use tsdb::{MatchOp, Matcher};

use crate::Error;

/// Parses a selector into alternatives, each a list of matchers that must all hold
/// (Prometheus 3's `or` inside braces gives more than one). Like Prometheus, every
/// alternative needs a matcher that does not match the empty value, so a selector cannot
/// ask for every series by accident.
pub fn parse_selector(input: &str) -> Result<Vec<Vec<Matcher>>, Error> {
    let invalid = |reason: String| Error::InvalidSelector {
        input: input.to_owned(),
        reason,
    };
    let expr = parser::parse(input).map_err(invalid)?;
    let Expr::VectorSelector(selector) = expr else {
        return Err(invalid(
            "expected a series selector such as up{job=\"api\"}".to_owned(),
        ));
    };
    selector_matchers(&selector).map_err(invalid)
}

/// The matcher alternatives of a parsed selector: the metric name becomes a
/// `__name__` matcher, and every alternative must have a matcher that does not match
/// the empty value.
pub(crate) fn selector_matchers(selector: &VectorSelector) -> Result<Vec<Vec<Matcher>>, String> {
    let mut groups = vec![selector.matchers.matchers.clone()];
    groups.extend(selector.matchers.or_matchers.iter().cloned());
    groups.retain(|group| !group.is_empty() || selector.name.is_some());
    let mut alternatives = Vec::new();
    for group in groups {
        let mut matchers = Vec::with_capacity(group.len() + 1);
        if let Some(name) = &selector.name
            && !group.iter().any(|m| m.name == model::labels::METRIC_NAME)
        {
            matchers.push(Matcher::equal(model::labels::METRIC_NAME, name.as_str()));
        }
        for matcher in group {
            let op = match matcher.op {
                ParserOp::Equal => MatchOp::Equal,
                ParserOp::NotEqual => MatchOp::NotEqual,
                ParserOp::Re(_) => MatchOp::Regex,
                ParserOp::NotRe(_) => MatchOp::NotRegex,
            };
            matchers.push(
                Matcher::new(op, matcher.name, matcher.value).map_err(|err| err.to_string())?,
            );
        }
        if matchers.iter().all(|matcher| matcher.matches("")) {
            return Err(
                "it must contain at least one matcher that does not match the empty string"
                    .to_owned(),
            );
        }
        alternatives.push(matchers);
    }
    if alternatives.is_empty() {
        return Err("it has no matchers".to_owned());
    }
    Ok(alternatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(input: &str) -> Result<Vec<Vec<String>>, String> {
        parse_selector(input)
            .map(|alternatives| {
                alternatives
                    .into_iter()
                    .map(|group| group.iter().map(ToString::to_string).collect())
                    .collect()
            })
            .map_err(|err| err.to_string())
    }

    #[test]
    fn selectors_become_matchers() {
        assert_eq!(shown(r#"up"#), Ok(vec![vec![r#"__name__="up""#.into()]]));
        assert_eq!(
            shown(r#"http_requests_total{code=~"5..", job!="api"}"#),
            Ok(vec![vec![
                r#"__name__="http_requests_total""#.into(),
                r#"code=~"5..""#.into(),
                r#"job!="api""#.into()
            ]])
        );
        assert_eq!(
            shown(r#"{job="a" or job="b"}"#),
            Ok(vec![vec![r#"job="a""#.into()], vec![r#"job="b""#.into()]])
        );
    }

    #[test]
    fn bad_selectors_are_named() {
        let err = shown(r#"{job=~".*"}"#).expect_err("matches everything");
        assert!(err.contains("non-empty matcher"), "{err}");
        let err =
            shown(r#"{job="a" or job=~".*"}"#).expect_err("one alternative matches everything");
        assert!(
            err.contains("at least one matcher that does not match the empty string"),
            "{err}"
        );
        let err = shown("rate(up[5m])").expect_err("not a selector");
        assert!(
            err.starts_with(
                r#"invalid series selector "rate(up[5m])": expected a series selector"#
            ),
            "{err}"
        );
        assert!(shown("up{").is_err());
    }
}
