//! Which of a line's other fields get index terms. Terms make `field:value` a lookup but
//! cost about two fifths of the indexing CPU of a JSON-log load (`benches/README.md`), so
//! by default only the fields an operator names are indexed (`logs.indexed_fields`, and
//! the Loki stream labels of `logs.label_fields`); every other field is kept in the
//! document store and matched by reading the lines the rest of a query leaves
//! (`stored_filter.rs`), as Loki matches everything but its labels.
//!
//! A partition keeps the policy it was created with (its `FIELDS` file), so a changed
//! setting applies from the next partition on and a query never expects terms a
//! partition does not have. A partition without the file indexes every field.

use std::path::Path;

use crate::Error;

/// The name of a partition's policy file.
pub const FILE: &str = "FIELDS";

/// Field paths that get index terms: exact dotted paths, prefixes (`attributes.*`), or
/// everything (`*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPolicy {
    all: bool,
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl FieldPolicy {
    /// Every field indexed (as partitions made before the setting existed).
    pub fn all() -> Self {
        FieldPolicy {
            all: true,
            ..FieldPolicy::default()
        }
    }

    /// From patterns: a path, a path ending in `*` (every path it starts), or `*`.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let mut policy = FieldPolicy::default();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            match pattern.strip_suffix('*') {
                Some("") => policy.all = true,
                Some(prefix) => policy.prefixes.push(prefix.to_owned()),
                None if !pattern.is_empty() => policy.exact.push(pattern.to_owned()),
                None => {}
            }
        }
        policy.exact.sort();
        policy.exact.dedup();
        policy.prefixes.sort();
        policy.prefixes.dedup();
        policy
    }

    /// Whether `path` gets index terms.
    pub fn indexes(&self, path: &str) -> bool {
        self.all
            || self
                .exact
                .binary_search_by(|p| p.as_str().cmp(path))
                .is_ok()
            || self.prefixes.iter().any(|prefix| path.starts_with(prefix))
    }

    /// Whether every field is indexed (nothing needs to be kept for filtering).
    pub fn indexes_all(&self) -> bool {
        self.all
    }

    /// Whether no field is indexed.
    pub fn indexes_none(&self) -> bool {
        !self.all && self.exact.is_empty() && self.prefixes.is_empty()
    }

    fn patterns(&self) -> Vec<String> {
        if self.all {
            return vec!["*".to_owned()];
        }
        let prefixes = self.prefixes.iter().map(|prefix| format!("{prefix}*"));
        self.exact.iter().cloned().chain(prefixes).collect()
    }

    /// Writes the policy into a partition directory being created.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(FILE);
        let mut text = String::from("# field paths with index terms (logs.indexed_fields)\n");
        for pattern in self.patterns() {
            text.push_str(&pattern);
            text.push('\n');
        }
        std::fs::write(&path, text).map_err(Error::io("cannot write the field policy", &path))
    }

    /// The policy of a partition directory; one without a policy file indexes everything.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let patterns: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .collect();
                Ok(FieldPolicy::new(&patterns))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(FieldPolicy::all()),
            Err(err) => Err(Error::io("cannot read the field policy", &path)(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_prefixes_and_everything() {
        let policy = FieldPolicy::new(&["status", "attributes.*", " ", "status"]);
        assert!(policy.indexes("status"));
        assert!(policy.indexes("attributes.http.method"));
        assert!(!policy.indexes("status_code"));
        assert!(!policy.indexes("attributes"));
        assert!(!policy.indexes_all() && !policy.indexes_none());
        assert!(FieldPolicy::new(&["*"]).indexes("anything"));
        assert!(FieldPolicy::new::<&str>(&[]).indexes_none());
    }

    #[test]
    fn a_partition_keeps_its_policy() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            FieldPolicy::read(dir.path()).expect("read"),
            FieldPolicy::all(),
            "no file: everything is indexed"
        );
        for policy in [
            FieldPolicy::new(&["env", "k8s.*"]),
            FieldPolicy::new::<&str>(&[]),
            FieldPolicy::all(),
        ] {
            policy.write(dir.path()).expect("write");
            assert_eq!(FieldPolicy::read(dir.path()).expect("read"), policy);
        }
    }
}
