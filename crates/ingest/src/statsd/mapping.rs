//! Mapping rules, as statsd_exporter's mapping file has them: a glob over the
//! dot-separated StatsD name, where each `*` matches exactly one component (possibly
//! empty), and templates that use the matches (`$1` or `${1}`) in the Prometheus name and
//! labels. The first matching rule wins. Unmapped names are escaped into valid
//! Prometheus names.

/// Which StatsD types a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricClass {
    Counter,
    /// Gauges and sets.
    Gauge,
    /// Timers, histograms and distributions.
    Observer,
}

/// A rule as configured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappingRule {
    pub pattern: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// Only events of this class match; `None` matches every class.
    pub class: Option<MetricClass>,
    /// Matching events are discarded.
    pub drop: bool,
    /// Histogram buckets (seconds for timers) for this rule instead of the default ones.
    pub buckets: Option<Vec<f64>>,
}

/// A rule that cannot be used, naming the rule by its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping {index} ({pattern:?}): {message}")]
pub struct MappingError {
    pub index: usize,
    pub pattern: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Capture(usize),
}

#[derive(Debug, Clone)]
struct Template(Vec<Part>);

impl Template {
    fn parse(text: &str, n_captures: usize) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let (digits, after) = if let Some(inner) = rest.strip_prefix('{') {
                let close = inner
                    .find('}')
                    .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
                (&inner[..close], &inner[close + 1..])
            } else {
                let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                (&rest[..n], &rest[n..])
            };
            let capture: usize = digits.parse().map_err(|_| {
                format!("{text:?} has a $ that is not followed by a capture number")
            })?;
            if capture == 0 || capture > n_captures {
                return Err(format!(
                    "{text:?} refers to ${capture}, but the pattern has {n_captures} wildcard(s)"
                ));
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Capture(capture - 1));
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template(parts))
    }

    fn render(&self, captures: &[&str]) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.as_str(),
                Part::Capture(idx) => captures[*idx],
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct CompiledRule {
    /// `None` for a `*` component.
    components: Vec<Option<String>>,
    name: Template,
    labels: Vec<(String, Template)>,
    class: Option<MetricClass>,
    drop: bool,
    buckets: Option<Vec<f64>>,
}

/// The result of mapping one StatsD name.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<'m> {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub drop: bool,
    pub buckets: Option<&'m [f64]>,
}

/// Compiled mapping rules.
#[derive(Debug, Clone, Default)]
pub struct Mapper {
    rules: Vec<CompiledRule>,
}

fn valid_literal(component: &str) -> bool {
    !component.is_empty()
        && component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !component.contains("--")
}

impl Mapper {
    pub fn new(rules: &[MappingRule]) -> Result<Mapper, MappingError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let error = |message: String| MappingError {
                index,
                pattern: rule.pattern.clone(),
                message,
            };
            let mut components = Vec::new();
            for component in rule.pattern.split('.') {
                if component == "*" {
                    components.push(None);
                } else if valid_literal(component) {
                    components.push(Some(component.to_owned()));
                } else {
                    return Err(error(format!(
                        "component {component:?} must be * or letters, digits, '_' and single '-' (a * matches one whole dot-separated component)"
                    )));
                }
            }
            let n_captures = components.iter().filter(|c| c.is_none()).count();
            if rule.name.is_empty() && !rule.drop {
                return Err(error("it has no name".to_owned()));
            }
            let name = Template::parse(&rule.name, n_captures).map_err(&error)?;
            let mut labels = Vec::new();
            for (label, value) in &rule.labels {
                if model::labels::validate_label_name(label).is_err() {
                    return Err(error(format!("label name {label:?} is not valid")));
                }
                labels.push((
                    label.clone(),
                    Template::parse(value, n_captures).map_err(&error)?,
                ));
            }
            if let Some(buckets) = &rule.buckets {
                validate_buckets(buckets).map_err(&error)?;
            }
            compiled.push(CompiledRule {
                components,
                name,
                labels,
                class: rule.class,
                drop: rule.drop,
                buckets: rule.buckets.clone(),
            });
        }
        Ok(Mapper { rules: compiled })
    }

    /// The first rule matching `name` for `class`, applied; `None` when no rule matches.
    pub fn map(&self, name: &str, class: MetricClass) -> Option<Mapped<'_>> {
        let components: Vec<&str> = name.split('.').collect();
        for rule in &self.rules {
            if rule.components.len() != components.len()
                || rule.class.is_some_and(|only| only != class)
            {
                continue;
            }
            let mut captures = Vec::new();
            let matched = rule
                .components
                .iter()
                .zip(&components)
                .all(|(pattern, component)| match pattern {
                    None => {
                        captures.push(*component);
                        true
                    }
                    Some(literal) => literal == component,
                });
            if matched {
                return Some(Mapped {
                    name: rule.name.render(&captures),
                    labels: rule
                        .labels
                        .iter()
                        .map(|(label, value)| (label.clone(), value.render(&captures)))
                        .collect(),
                    drop: rule.drop,
                    buckets: rule.buckets.as_deref(),
                });
            }
        }
        None
    }
}

/// Bucket bounds must be finite and strictly increasing.
pub fn validate_buckets(buckets: &[f64]) -> Result<(), String> {
    if buckets.is_empty() {
        return Err("buckets must not be empty".to_owned());
    }
    if buckets.iter().any(|b| !b.is_finite()) || buckets.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(format!(
            "buckets {buckets:?} must be finite and strictly increasing (+Inf is implicit)"
        ));
    }
    Ok(())
}

/// A StatsD name as a Prometheus name, as statsd_exporter escapes it: characters other
/// than letters, digits and `_` become `_` (a run of `-` becomes one `_`), and a leading
/// digit gets a `_` in front.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    let mut previous_dash = false;
    for c in name.chars() {
        let dash = c == '-';
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !(dash && previous_dash) {
            out.push('_');
        }
        previous_dash = dash;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, name: &str, labels: &[(&str, &str)]) -> MappingRule {
        MappingRule {
            pattern: pattern.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn globs_capture_whole_components_and_first_rule_wins() {
        let mapper = Mapper::new(&[
            rule(
                "simplebank-demo.*.request_reservation",
                "request_reservation_seconds",
                &[("app", "$1")],
            ),
            rule(
                "simplebank-demo.*.*",
                "simplebank_${2}_seconds",
                &[("app", "${1}"), ("op", "$2")],
            ),
        ])
        .expect("valid rules");
        let mapped = mapper
            .map(
                "simplebank-demo.market.request_reservation",
                MetricClass::Observer,
            )
            .expect("match");
        assert_eq!(mapped.name, "request_reservation_seconds");
        assert_eq!(mapped.labels, [("app".to_owned(), "market".to_owned())]);
        let mapped = mapper
            .map("simplebank-demo.market.place_order", MetricClass::Observer)
            .expect("match");
        assert_eq!(mapped.name, "simplebank_place_order_seconds");
        assert_eq!(
            mapped.labels,
            [
                ("app".to_owned(), "market".to_owned()),
                ("op".to_owned(), "place_order".to_owned())
            ]
        );
        assert!(
            mapper
                .map(
                    "simplebank-demo.market.v2.place_order",
                    MetricClass::Observer
                )
                .is_none(),
            "* never spans dots"
        );
        let empty = mapper
            .map(
                "simplebank-demo..request_reservation",
                MetricClass::Observer,
            )
            .expect("empty component");
        assert_eq!(empty.labels[0].1, "");
    }

    #[test]
    fn class_restrictions_and_drop_rules() {
        let mapper = Mapper::new(&[
            MappingRule {
                class: Some(MetricClass::Counter),
                ..rule("app.*", "app_events", &[("kind", "$1")])
            },
            MappingRule {
                drop: true,
                ..rule("app.*", "", &[])
            },
        ])
        .expect("valid rules");
        assert_eq!(
            mapper
                .map("app.login", MetricClass::Counter)
                .map(|m| m.name),
            Some("app_events".into())
        );
        assert!(
            mapper
                .map("app.login", MetricClass::Gauge)
                .expect("drop rule")
                .drop
        );
    }

    #[test]
    fn bad_rules_are_named() {
        let cases = [
            (
                rule("a.b*.c", "x", &[]),
                r#"mapping 0 ("a.b*.c"): component "b*" must be *"#,
            ),
            (
                rule("a.*", "x_$2", &[]),
                r#"mapping 0 ("a.*"): "x_$2" refers to $2, but the pattern has 1 wildcard(s)"#,
            ),
            (rule("a.*", "", &[]), r#"mapping 0 ("a.*"): it has no name"#),
            (
                rule("a.*", "x", &[("bad-label", "1")]),
                r#"label name "bad-label" is not valid"#,
            ),
            (
                MappingRule {
                    buckets: Some(vec![1.0, 0.5]),
                    ..rule("a", "x", &[])
                },
                "strictly increasing",
            ),
        ];
        for (bad, message) in cases {
            let err = Mapper::new(&[bad]).expect_err(message).to_string();
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn unmapped_names_are_escaped_like_statsd_exporter() {
        let cases = [
            ("with--doubledash", "with_doubledash"),
            ("with---multiple-dashes", "with_multiple_dashes"),
            ("with.dot", "with_dot"),
            ("with😱emoji", "with_emoji"),
            ("with.*.multiple", "with___multiple"),
            ("test.web-server.foo.bar", "test_web_server_foo_bar"),
            ("0starts_with_digit", "_0starts_with_digit"),
            (
                "simplebank-demo.market.place_order_stock_exchange",
                "simplebank_demo_market_place_order_stock_exchange",
            ),
        ];
        for (input, output) in cases {
            assert_eq!(escape_name(input), output, "{input}");
        }
    }
}
