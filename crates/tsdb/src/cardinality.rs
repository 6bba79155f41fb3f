//! Cardinality statistics of the head, as Prometheus's `/api/v1/status/tsdb` reports them:
//! which metrics and labels create the most series.

use crate::db::Db;

/// A name and a count, sorted by count descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCount {
    pub name: String,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_bytes: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardinalityStats {
    pub head: HeadStats,
    pub series_count_by_metric_name: Vec<NameCount>,
    pub label_value_count_by_label_name: Vec<NameCount>,
    pub memory_in_bytes_by_label_name: Vec<NameCount>,
    pub series_count_by_label_value_pair: Vec<NameCount>,
}

fn top(mut counts: Vec<NameCount>, limit: usize) -> Vec<NameCount> {
    counts.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    counts.truncate(limit);
    counts
}

impl Db {
    /// The top `limit` entries of each statistic.
    pub fn cardinality(&self, limit: usize) -> CardinalityStats {
        let head = self.head();
        let (by_metric, by_label_name, memory_by_label, by_pair, n_pairs) =
            head.with_postings(|postings| {
                let mut by_metric = Vec::new();
                let mut by_label_name = Vec::new();
                let mut memory_by_label = Vec::new();
                let mut by_pair = Vec::new();
                let mut n_pairs = 0u64;
                for (name, values) in postings.label_stats() {
                    n_pairs += values.len() as u64;
                    by_label_name.push(NameCount {
                        name: name.to_owned(),
                        value: values.len() as u64,
                    });
                    let bytes: usize = values
                        .iter()
                        .map(|(value, refs)| value.len() * refs.len())
                        .sum();
                    memory_by_label.push(NameCount {
                        name: name.to_owned(),
                        value: bytes as u64,
                    });
                    for (value, refs) in values {
                        if name == model::labels::METRIC_NAME {
                            by_metric.push(NameCount {
                                name: value.clone(),
                                value: refs.len() as u64,
                            });
                        }
                        by_pair.push(NameCount {
                            name: format!("{name}={value}"),
                            value: refs.len() as u64,
                        });
                    }
                }
                (by_metric, by_label_name, memory_by_label, by_pair, n_pairs)
            });
        let range = head.time_range();
        CardinalityStats {
            head: HeadStats {
                num_series: head.n_series() as u64,
                num_label_pairs: n_pairs,
                chunk_bytes: head.chunk_bytes() as u64,
                min_time: range.map(|(min, _)| min),
                max_time: range.map(|(_, max)| max),
            },
            series_count_by_metric_name: top(by_metric, limit),
            label_value_count_by_label_name: top(by_label_name, limit),
            memory_in_bytes_by_label_name: top(memory_by_label, limit),
            series_count_by_label_value_pair: top(by_pair, limit),
        }
    }

    /// Metadata of every metric family seen, by name.
    pub fn metadata(&self) -> std::collections::HashMap<String, crate::head::Metadata> {
        self.head().metadata()
    }
}
