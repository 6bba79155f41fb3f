//! Renders the reference configuration file, `deploy/sightline.example.toml`, from the
//! key declarations: every key with its documentation, environment variable and default.

use std::fmt::Write as _;

use super::Config;
use super::load::env_var_name;

/// The full reference file.
pub fn render() -> String {
    let defaults = toml::Value::try_from(Config::default()).unwrap_or_else(|err| {
        // Config's fields are plain values: serializing them cannot fail.
        unreachable!("default configuration does not serialize: {err}")
    });
    let mut out = String::from(
        "# Sightline configuration reference: every key, with its default.\n\
         #\n\
         # Generated from the key documentation in crates/sightline/src/config.rs; a test\n\
         # fails when this file and the code disagree. Regenerate with:\n\
         #   UPDATE_EXPECT=1 cargo test -p sightline config::example\n\
         #\n\
         # Use: sightline --config sightline.toml. A file needs only the keys it changes.\n\
         # Each key can also be set by its environment variable, or on the command line\n\
         # with --set section.key=value. Flags beat environment variables, which beat\n\
         # the file. Check a file with: sightline check-config sightline.toml\n",
    );
    for section in Config::SECTIONS {
        out.push('\n');
        push_comment(&mut out, section.doc);
        let _ = writeln!(out, "[{}]", section.name);
        for key in section.keys {
            push_comment(&mut out, key.doc);
            let _ = writeln!(out, "# env: {}", env_var_name(section.name, key.name));
            let value = defaults
                .get(section.name)
                .and_then(|values| values.get(key.name))
                .map_or_else(String::new, ToString::to_string);
            let _ = writeln!(out, "{} = {value}", key.name);
        }
    }
    out
}

fn push_comment(out: &mut String, doc: &str) {
    for line in doc.lines() {
        let _ = writeln!(out, "#{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn example_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/sightline.example.toml")
    }

    /// expect-test style: the committed file must equal what the code renders.
    #[test]
    fn reference_file_is_current() {
        let rendered = render();
        let path = example_path();
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, &rendered).expect("write reference file");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == rendered,
            "{} is out of date; regenerate it with UPDATE_EXPECT=1 cargo test -p sightline config::example",
            path.display()
        );
    }

    #[test]
    fn reference_file_loads_to_the_defaults() {
        let config = crate::config::load(Some(&example_path()), &[]).expect("reference file loads");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn every_key_is_documented() {
        for section in Config::SECTIONS {
            assert!(
                !section.doc.trim().is_empty(),
                "[{}] has no doc",
                section.name
            );
            for key in section.keys {
                assert!(
                    !key.doc.trim().is_empty(),
                    "{}.{} has no doc",
                    section.name,
                    key.name
                );
            }
        }
    }

    #[test]
    fn environment_variable_names_are_unique() {
        let mut names: Vec<String> = Config::SECTIONS
            .iter()
            .flat_map(|section| {
                section
                    .keys
                    .iter()
                    .map(|key| env_var_name(section.name, key.name))
            })
            .collect();
        let n_keys = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n_keys);
    }
}
