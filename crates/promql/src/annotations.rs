//! Warnings and informational notes a query collects while it runs; the API returns
//! them next to the result, as Prometheus does.

/// A note about a query's result that does not make it fail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Annotation {
    /// The result may be wrong or incomplete (for example, a quantile outside [0, 1]).
    Warning(String),
    /// The query may not do what was meant (for example, `rate` of a gauge).
    Info(String),
}

impl Annotation {
    pub fn message(&self) -> &str {
        match self {
            Annotation::Warning(message) | Annotation::Info(message) => message,
        }
    }
}

/// Distinct annotations, in the order first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations(Vec<Annotation>);

impl Annotations {
    pub fn warn(&mut self, message: impl Into<String>) {
        self.add(Annotation::Warning(format!(
            "PromQL warning: {}",
            message.into()
        )));
    }

    pub fn info(&mut self, message: impl Into<String>) {
        self.add(Annotation::Info(format!("PromQL info: {}", message.into())));
    }

    fn add(&mut self, annotation: Annotation) {
        if !self.0.contains(&annotation) {
            self.0.push(annotation);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.0.iter()
    }

    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|a| match a {
            Annotation::Warning(message) => Some(message.as_str()),
            Annotation::Info(_) => None,
        })
    }

    pub fn infos(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|a| match a {
            Annotation::Info(message) => Some(message.as_str()),
            Annotation::Warning(_) => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
