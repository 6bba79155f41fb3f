//! Services, their span names, and the kinds each name was seen with: what the service
//! and operation pickers list, kept by the head and in every block's footer.

use std::collections::BTreeMap;

use model::{Span, SpanKind};

use crate::codec;

/// A set of span kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    pub fn insert(&mut self, kind: SpanKind) {
        self.0 |= 1 << codec::kind_code(kind);
    }

    pub fn contains(self, kind: SpanKind) -> bool {
        self.0 & (1 << codec::kind_code(kind)) != 0
    }

    /// In OTLP's order (unspecified, internal, server, client, producer, consumer).
    pub fn iter(self) -> impl Iterator<Item = SpanKind> {
        (0..6u8)
            .filter(move |code| self.0 & (1 << code) != 0)
            .filter_map(|code| codec::kind_from_code(code).ok())
    }

    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// Unknown bits are dropped.
    pub(crate) fn from_bits(bits: u8) -> Self {
        Kinds(bits & 0b11_1111)
    }
}

/// Span names by service, each with the kinds it was seen with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations(BTreeMap<String, BTreeMap<String, Kinds>>);

impl Operations {
    pub fn record(&mut self, span: &Span) {
        self.add(&span.service, &span.name, {
            let mut kinds = Kinds::default();
            kinds.insert(span.kind);
            kinds
        });
    }

    pub(crate) fn add(&mut self, service: &str, name: &str, kinds: Kinds) {
        // Lookups first: almost every span repeats a known operation.
        if let Some(seen) = self
            .0
            .get_mut(service)
            .and_then(|names| names.get_mut(name))
        {
            seen.0 |= kinds.0;
            return;
        }
        self.0
            .entry(service.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default()
            .0 |= kinds.0;
    }

    pub fn merge(&mut self, other: &Operations) {
        for (service, names) in &other.0 {
            for (name, kinds) in names {
                self.add(service, name, *kinds);
            }
        }
    }

    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The span names of `service` with their kinds, sorted by name; `None` for a
    /// service without spans.
    pub fn of(&self, service: &str) -> Option<&BTreeMap<String, Kinds>> {
        self.0.get(service)
    }

    pub fn contains(&self, service: &str, name: Option<&str>) -> bool {
        self.0
            .get(service)
            .is_some_and(|names| name.is_none_or(|name| names.contains_key(name)))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Kinds)> {
        self.0.iter().flat_map(|(service, names)| {
            names
                .iter()
                .map(move |(name, kinds)| (service.as_str(), name.as_str(), *kinds))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::span;

    #[test]
    fn names_collect_their_kinds_per_service() {
        let mut operations = Operations::default();
        let server = span(1, 1, None, 0);
        let client = span(1, 2, Some(1), 0);
        let mut client_named_like_server = client.clone();
        client_named_like_server.name = server.name.clone();
        operations.record(&server);
        operations.record(&client);
        operations.record(&client_named_like_server);
        let names = operations.of("svc-1").expect("service");
        let kinds: Vec<SpanKind> = names["GET /1"].iter().collect();
        assert_eq!(kinds, vec![SpanKind::Server, SpanKind::Client]);
        assert_eq!(
            names["GET /2"].iter().collect::<Vec<_>>(),
            vec![SpanKind::Client]
        );
        assert!(operations.contains("svc-1", Some("GET /2")));
        assert!(!operations.contains("svc-1", Some("GET /3")));
        assert!(!operations.contains("svc-2", None));
        let mut merged = Operations::default();
        merged.merge(&operations);
        assert_eq!(merged, operations);
        assert_eq!(Kinds::from_bits(names["GET /1"].bits()), names["GET /1"]);
    }
}
