//! Label matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.
//!
//! As in Prometheus, a series without the label has the empty value for it, regular
//! expressions are fully anchored, and common regex shapes are answered without running
//! the regex engine (`.*`, `.+`, literal alternations such as `a|b|c`).

use std::collections::HashSet;
use std::fmt;

use regex::Regex;

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// How a regex is answered.
#[derive(Debug, Clone)]
enum RegexKind {
    /// `.*`: everything, including the empty value.
    Any,
    /// `.+`: every non-empty value.
    NonEmpty,
    /// `a|b|c` of plain literals.
    Literals(HashSet<String>),
    Engine(Regex),
}

/// One compiled matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<RegexKind>,
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, Error> {
        let (name, value) = (name.into(), value.into());
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(compile(&value).map_err(|reason| Error::InvalidMatcher {
                    name: name.clone(),
                    op: op.as_str(),
                    value: value.clone(),
                    reason,
                })?)
            }
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (empty for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex_matches(value),
            MatchOp::NotRegex => !self.regex_matches(value),
        }
    }

    fn regex_matches(&self, value: &str) -> bool {
        match &self.regex {
            Some(RegexKind::Any) => true,
            Some(RegexKind::NonEmpty) => !value.is_empty(),
            Some(RegexKind::Literals(set)) => set.contains(value),
            Some(RegexKind::Engine(regex)) => regex.is_match(value),
            None => false,
        }
    }

    /// For `=` and literal alternations: exactly the values that can match, so the
    /// index can look them up instead of scanning every value.
    pub(crate) fn literal_values(&self) -> Option<Vec<&str>> {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => Some(vec![self.value.as_str()]),
            (MatchOp::Regex, Some(RegexKind::Literals(set))) => {
                Some(set.iter().map(String::as_str).collect())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

fn compile(pattern: &str) -> Result<RegexKind, String> {
    match pattern {
        ".*" => return Ok(RegexKind::Any),
        ".+" => return Ok(RegexKind::NonEmpty),
        _ => {}
    }
    let is_plain = |part: &str| {
        part.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '/' | ' ' | '@' | ','))
    };
    if !pattern.is_empty() && pattern.split('|').all(is_plain) {
        return Ok(RegexKind::Literals(
            pattern.split('|').map(str::to_owned).collect(),
        ));
    }
    regex::RegexBuilder::new(&format!("^(?s:{pattern})$"))
        .size_limit(1 << 22)
        .build()
        .map(RegexKind::Engine)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(op: MatchOp, value: &str) -> Matcher {
        Matcher::new(op, "job", value).expect("valid matcher")
    }

    #[test]
    fn regexes_are_anchored_and_fast_paths_agree_with_the_engine() {
        let cases = [
            (".*", vec![("", true), ("api", true)]),
            (".+", vec![("", false), ("api", true)]),
            (
                "api|web",
                vec![("api", true), ("web", true), ("apis", false), ("", false)],
            ),
            ("a.i", vec![("api", true), ("xapi", false), ("apix", false)]),
            ("|api", vec![("", true), ("api", true)]),
            ("(?i)API", vec![("api", true)]),
            ("a\nb|c", vec![("a\nb", true)]),
        ];
        for (pattern, expectations) in cases {
            let fast = matcher(MatchOp::Regex, pattern);
            let engine = Regex::new(&format!("^(?s:{pattern})$")).expect("regex");
            for (value, expected) in expectations {
                assert_eq!(fast.matches(value), expected, "{pattern} ~ {value:?}");
                assert_eq!(
                    engine.is_match(value),
                    expected,
                    "engine {pattern} ~ {value:?}"
                );
                assert_eq!(
                    matcher(MatchOp::NotRegex, pattern).matches(value),
                    !expected
                );
            }
        }
    }

    #[test]
    fn bad_regex_names_the_matcher() {
        let err = Matcher::new(MatchOp::Regex, "job", "(").expect_err("invalid");
        assert!(
            err.to_string().starts_with(r#"invalid matcher job=~"(": "#),
            "{err}"
        );
    }
}
