//! Postings: for each label pair, the sorted ids of the series that have it; and
//! [`select`], which turns a list of matchers into the ids of the matching series.
//!
//! The head ([`MemPostings`]) and every block implement [`IndexReader`], so one selection
//! algorithm serves both and is checked against a brute-force reference.

use std::collections::HashMap;

use crate::matcher::Matcher;

/// What [`select`] needs from an index. Ids are sorted ascending in every list.
pub(crate) trait IndexReader {
    /// Every value label `name` takes (any order).
    fn label_values(&self, name: &str) -> Vec<&str>;
    /// The sorted ids of series with `name="value"`; empty if none.
    fn postings(&self, name: &str, value: &str) -> &[u64];
    /// Every id, sorted.
    fn all_postings(&self) -> Vec<u64>;
}

/// Ids of the series matching every matcher, sorted.
///
/// A matcher that matches the empty value also matches series without the label, so it
/// is applied by removing the series whose value fails it; every other matcher narrows
/// the candidates to the union of its matching values' postings.
pub(crate) fn select(index: &impl IndexReader, matchers: &[Matcher]) -> Vec<u64> {
    let mut candidates: Option<Vec<u64>> = None;
    let mut exclusions: Vec<Vec<u64>> = Vec::new();
    for matcher in matchers {
        if matcher.matches("") {
            let failing: Vec<&[u64]> = index
                .label_values(&matcher.name)
                .into_iter()
                .filter(|value| !matcher.matches(value))
                .map(|value| index.postings(&matcher.name, value))
                .collect();
            exclusions.push(union(&failing));
        } else {
            let lists: Vec<&[u64]> = match matcher.literal_values() {
                Some(values) => values
                    .into_iter()
                    .map(|value| index.postings(&matcher.name, value))
                    .collect(),
                None => index
                    .label_values(&matcher.name)
                    .into_iter()
                    .filter(|value| matcher.matches(value))
                    .map(|value| index.postings(&matcher.name, value))
                    .collect(),
            };
            let matching = union(&lists);
            candidates = Some(match candidates {
                None => matching,
                Some(previous) => intersect(&previous, &matching),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
    }
    let mut result = candidates.unwrap_or_else(|| index.all_postings());
    for excluded in &exclusions {
        result = difference(&result, excluded);
    }
    result
}

pub(crate) fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

pub(crate) fn difference(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j >= b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

pub(crate) fn union(lists: &[&[u64]]) -> Vec<u64> {
    match lists {
        [] => Vec::new(),
        [only] => only.to_vec(),
        _ => {
            let mut out: Vec<u64> = lists.iter().flat_map(|list| list.iter().copied()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// The head's in-memory postings.
#[derive(Debug, Default)]
pub(crate) struct MemPostings {
    by_label: HashMap<String, HashMap<String, Vec<u64>>>,
    all: Vec<u64>,
}

fn insert_sorted(list: &mut Vec<u64>, id: u64) {
    // Ids are allocated in increasing order, so this is almost always a push.
    match list.last() {
        Some(&last) if last >= id => {
            if let Err(position) = list.binary_search(&id) {
                list.insert(position, id);
            }
        }
        _ => list.push(id),
    }
}

impl MemPostings {
    pub(crate) fn add<'a>(
        &mut self,
        id: u64,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        for (name, value) in labels {
            let values = match self.by_label.get_mut(name) {
                Some(values) => values,
                None => self.by_label.entry(name.to_owned()).or_default(),
            };
            let list = match values.get_mut(value) {
                Some(list) => list,
                None => values.entry(value.to_owned()).or_default(),
            };
            insert_sorted(list, id);
        }
        insert_sorted(&mut self.all, id);
    }

    /// Removes `ids` (sorted) from every list, dropping lists and names left empty.
    pub(crate) fn remove(&mut self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        self.by_label.retain(|_, values| {
            values.retain(|_, list| {
                *list = difference(list, ids);
                !list.is_empty()
            });
            !values.is_empty()
        });
        self.all = difference(&self.all, ids);
    }

    /// Number of distinct values per label name, and series per label pair.
    pub(crate) fn label_stats(&self) -> impl Iterator<Item = (&str, &HashMap<String, Vec<u64>>)> {
        self.by_label
            .iter()
            .map(|(name, values)| (name.as_str(), values))
    }
}

impl IndexReader for MemPostings {
    fn label_values(&self, name: &str) -> Vec<&str> {
        self.by_label
            .get(name)
            .map(|values| values.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn postings(&self, name: &str, value: &str) -> &[u64] {
        self.by_label
            .get(name)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    fn all_postings(&self) -> Vec<u64> {
        self.all.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatchOp;
    use proptest::prelude::*;

    fn series_strategy() -> impl Strategy<Value = Vec<Vec<(String, String)>>> {
        // Up to 40 series over 4 label names with 4 values each; names sorted by BTreeMap.
        let labels = proptest::collection::btree_map(0usize..4, 0usize..4, 0..4);
        proptest::collection::vec(labels, 1..40).prop_map(|series| {
            series
                .into_iter()
                .map(|labels| {
                    labels
                        .into_iter()
                        .map(|(name, value)| (format!("l{name}"), format!("v{value}")))
                        .collect()
                })
                .collect()
        })
    }

    fn matcher_strategy() -> impl Strategy<Value = Matcher> {
        let ops = prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::Regex),
            Just(MatchOp::NotRegex)
        ];
        let values = prop_oneof![
            Just("v0".to_owned()),
            Just("v1".to_owned()),
            Just(String::new()),
            Just("v0|v2".to_owned()),
            Just("v.*".to_owned()),
            Just(".*".to_owned()),
            Just(".+".to_owned()),
            Just("|v3".to_owned()),
            Just("v[12]".to_owned()),
        ];
        (ops, 0usize..5, values).prop_map(|(op, name, value)| {
            Matcher::new(op, format!("l{name}"), value).expect("valid matcher")
        })
    }

    proptest! {
        #[test]
        fn select_agrees_with_brute_force(
            series in series_strategy(),
            matchers in proptest::collection::vec(matcher_strategy(), 0..4),
            removed in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut postings = MemPostings::default();
            for (id, labels) in series.iter().enumerate() {
                postings.add(id as u64, labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            }
            let removed_ids: Vec<u64> =
                (0..series.len() as u64).filter(|&id| removed[id as usize]).collect();
            postings.remove(&removed_ids);
            let expected: Vec<u64> = series
                .iter()
                .enumerate()
                .filter(|(id, _)| !removed[*id])
                .filter(|(_, labels)| {
                    matchers.iter().all(|matcher| {
                        let value = labels
                            .iter()
                            .find(|(name, _)| *name == matcher.name)
                            .map_or("", |(_, value)| value.as_str());
                        matcher.matches(value)
                    })
                })
                .map(|(id, _)| id as u64)
                .collect();
            prop_assert_eq!(select(&postings, &matchers), expected);
        }
    }
}
