//! Label rules every metrics protocol applies before a series reaches the store.

use model::labels::{METRIC_NAME, validate_label_name, validate_metric_name};

/// Limits on one series' labels. Zero means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    pub max_labels_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_labels_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
        }
    }
}

/// Why a label set is refused; the message does not repeat the series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelProblem {
    #[error("it has no __name__ label")]
    MissingName,
    #[error("{0}")]
    InvalidName(String),
    #[error("label names are not sorted: {previous:?} comes before {next:?}")]
    Unsorted { previous: String, next: String },
    #[error("label {0:?} appears more than once")]
    Duplicate(String),
    #[error("it has {count} labels, more than the limit of {limit}")]
    TooManyLabels { count: usize, limit: usize },
    #[error("label name {name:?} is {length} bytes long, over the limit of {limit}")]
    NameTooLong {
        name: String,
        length: usize,
        limit: usize,
    },
    #[error("the value of label {name:?} is {length} bytes long, over the limit of {limit}")]
    ValueTooLong {
        name: String,
        length: usize,
        limit: usize,
    },
}

impl LabelProblem {
    /// Short reason for the `reason` label of reject counters.
    pub fn reason(&self) -> &'static str {
        match self {
            LabelProblem::MissingName => "missing_metric_name",
            LabelProblem::InvalidName(_) => "invalid_label_name",
            LabelProblem::Unsorted { .. } => "unsorted_labels",
            LabelProblem::Duplicate(_) => "duplicate_label",
            LabelProblem::TooManyLabels { .. } => "max_labels_per_series",
            LabelProblem::NameTooLong { .. } => "max_label_name_length",
            LabelProblem::ValueTooLong { .. } => "max_label_value_length",
        }
    }
}

/// Checks a label set that must already be sorted by name. Labels with an empty value
/// must have been dropped by the caller (they mean "no such label").
pub fn check_labels(labels: &[(&str, &str)], limits: &LabelLimits) -> Result<(), LabelProblem> {
    if limits.max_labels_per_series > 0 && labels.len() > limits.max_labels_per_series {
        return Err(LabelProblem::TooManyLabels {
            count: labels.len(),
            limit: limits.max_labels_per_series,
        });
    }
    let mut has_name = false;
    for (idx, &(name, value)) in labels.iter().enumerate() {
        if idx > 0 {
            let previous = labels[idx - 1].0;
            if previous == name {
                return Err(LabelProblem::Duplicate(name.to_owned()));
            }
            if previous > name {
                return Err(LabelProblem::Unsorted {
                    previous: previous.to_owned(),
                    next: name.to_owned(),
                });
            }
        }
        if limits.max_label_name_length > 0 && name.len() > limits.max_label_name_length {
            return Err(LabelProblem::NameTooLong {
                name: name.chars().take(64).collect(),
                length: name.len(),
                limit: limits.max_label_name_length,
            });
        }
        if limits.max_label_value_length > 0 && value.len() > limits.max_label_value_length {
            return Err(LabelProblem::ValueTooLong {
                name: name.to_owned(),
                length: value.len(),
                limit: limits.max_label_value_length,
            });
        }
        if name == METRIC_NAME {
            has_name = true;
            validate_metric_name(value)
                .map_err(|err| LabelProblem::InvalidName(err.to_string()))?;
        } else {
            validate_label_name(name).map_err(|err| LabelProblem::InvalidName(err.to_string()))?;
        }
    }
    if !has_name {
        return Err(LabelProblem::MissingName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(labels: &[(&str, &str)]) -> Result<(), String> {
        let limits = LabelLimits {
            max_labels_per_series: 3,
            max_label_name_length: 8,
            max_label_value_length: 5,
        };
        check_labels(labels, &limits).map_err(|problem| problem.to_string())
    }

    #[test]
    fn label_rules() {
        assert_eq!(check(&[("__name__", "up"), ("job", "api")]), Ok(()));
        assert_eq!(
            check(&[("job", "api")]),
            Err("it has no __name__ label".into())
        );
        assert_eq!(
            check(&[("__name__", "2xx")]),
            Err(
                r#"metric name "2xx" is not valid: it must start with a letter, '_' or ':'"#.into()
            )
        );
        assert_eq!(
            check(&[("__name__", "up"), ("b-c", "1")]),
            Err(
                r#"label name "b-c" is not valid: only letters, digits and '_' are allowed"#.into()
            )
        );
        assert_eq!(
            check(&[("__name__", "up"), ("z", "1"), ("a", "2")]),
            Err(r#"label names are not sorted: "z" comes before "a""#.into())
        );
        assert_eq!(
            check(&[("__name__", "up"), ("a", "1"), ("a", "2")]),
            Err(r#"label "a" appears more than once"#.into())
        );
        assert_eq!(
            check(&[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "3")]),
            Err("it has 4 labels, more than the limit of 3".into())
        );
        assert_eq!(
            check(&[("__name__", "up"), ("a", "123456")]),
            Err(r#"the value of label "a" is 6 bytes long, over the limit of 5"#.into())
        );
        assert_eq!(
            check(&[("__name__", "up"), ("abcdefghi", "1")]),
            Err(r#"label name "abcdefghi" is 9 bytes long, over the limit of 8"#.into())
        );
    }
}
