//! Label sets: the identity of a time series.
//!
//! A [`Labels`] is sorted by name, has no duplicate names and no empty values (in
//! Prometheus an empty value means "label absent", so it is dropped on construction).
//! The metric name is the label `__name__`.

use std::fmt;

use crate::Error;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A sorted set of labels with unique names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from labels that must already be sorted by name with no
    /// duplicates, as the remote-write protocol requires of its senders.
    pub fn from_sorted(labels: Vec<Label>) -> Result<Self, Error> {
        for pair in labels.windows(2) {
            let (previous, next) = (&pair[0], &pair[1]);
            if previous.name == next.name {
                return Err(Error::DuplicateLabelName {
                    name: next.name.clone(),
                });
            }
            if previous.name > next.name {
                return Err(Error::UnsortedLabelNames {
                    previous: previous.name.clone(),
                    next: next.name.clone(),
                });
            }
        }
        Ok(Labels(drop_empty_values(labels)))
    }

    /// Builds a label set from pairs in any order; duplicate names are an error.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self, Error>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(name, value)| Label::new(name, value))
            .collect();
        labels.sort();
        Self::from_sorted(labels)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|label| label.name.as_str().cmp(name))
            .ok()
            .map(|idx| self.0[idx].value.as_str())
    }

    /// The value of `__name__`, if the set has one.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The same set without the label `name`.
    pub fn without(&self, name: &str) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|label| label.name != name)
                .cloned()
                .collect(),
        )
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prometheus notation: `metric{a="1", b="2"}`, values quoted and escaped.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let others = self.0.iter().filter(|label| label.name != METRIC_NAME);
        for (idx, label) in others.enumerate() {
            if idx > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

fn drop_empty_values(mut labels: Vec<Label>) -> Vec<Label> {
    labels.retain(|label| !label.value.is_empty());
    labels
}

/// Checks a label name against Prometheus's classic rule `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn validate_label_name(name: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidLabelName {
        name: name.to_owned(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(first) if !(first.is_ascii_alphabetic() || first == '_') => {
            return Err(invalid("it must start with a letter or '_'"));
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid("only letters, digits and '_' are allowed"));
    }
    Ok(())
}

/// Checks a metric name against Prometheus's classic rule `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn validate_metric_name(name: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidMetricName {
        name: name.to_owned(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(first) if !(first.is_ascii_alphabetic() || first == '_' || first == ':') => {
            return Err(invalid("it must start with a letter, '_' or ':'"));
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(invalid("only letters, digits, '_' and ':' are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_and_drops_empty_values() {
        let labels = Labels::from_pairs([("job", "api"), ("__name__", "up"), ("zone", "")])
            .expect("valid labels");
        let names: Vec<&str> = labels.iter().map(|label| label.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job"]);
        assert_eq!(labels.metric_name(), Some("up"));
        assert_eq!(labels.get("zone"), None);
        assert_eq!(labels.to_string(), r#"up{job="api"}"#);
    }

    #[test]
    fn from_sorted_rejects_unsorted_and_duplicate_names() {
        let unsorted = vec![Label::new("b", "1"), Label::new("a", "2")];
        assert_eq!(
            Labels::from_sorted(unsorted),
            Err(Error::UnsortedLabelNames {
                previous: "b".into(),
                next: "a".into()
            })
        );
        let duplicate = vec![Label::new("a", "1"), Label::new("a", "2")];
        assert_eq!(
            Labels::from_sorted(duplicate),
            Err(Error::DuplicateLabelName { name: "a".into() })
        );
        assert!(Labels::from_pairs([("a", "1"), ("a", "2")]).is_err());
    }

    #[test]
    fn display_escapes_values() {
        let labels = Labels::from_pairs([("path", "/a\"b\n")]).expect("valid labels");
        assert_eq!(labels.to_string(), r#"{path="/a\"b\n"}"#);
    }

    #[test]
    fn name_rules() {
        for ok in ["a", "_a", "A_1", "__name__"] {
            assert!(validate_label_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a:b", "é"] {
            assert!(validate_label_name(bad).is_err(), "{bad}");
        }
        for ok in ["up", "a:b", ":x", "http_requests_total"] {
            assert!(validate_metric_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2xx", "a-b", "a.b"] {
            assert!(validate_metric_name(bad).is_err(), "{bad}");
        }
        let err = validate_label_name("2xx").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            r#"label name "2xx" is not valid: it must start with a letter or '_'"#
        );
    }
}
