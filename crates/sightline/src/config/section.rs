//! `config_section!`: declares one `[section]` of the configuration file.
//!
//! Each key is written once, with its `///` documentation, type and default; the macro
//! emits the serde struct (unknown keys rejected), its `Default`, and the list of keys
//! with their docs. The reference file `deploy/sightline.example.toml` and the
//! environment variable names are generated from that list, so they cannot drift.

/// One documented key of a section.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    pub name: &'static str,
    /// The key's `///` lines, each ending in `\n`, each starting with a space.
    pub doc: &'static str,
}

/// Implemented by every section struct.
pub trait Section {
    /// The section's own `///` lines.
    const DOC: &'static str;
    const KEYS: &'static [KeyDoc];
}

macro_rules! config_section {
    (
        $(#[doc = $section_doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $key_doc:literal])*
                pub $key:ident: $ty:ty = $default:expr,
            )*
        }
    ) => {
        $(#[doc = $section_doc])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[doc = $key_doc])*
                pub $key: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($key: $default,)*
                }
            }
        }

        impl $crate::config::section::Section for $name {
            const DOC: &'static str = concat!($($section_doc, "\n"),*);
            const KEYS: &'static [$crate::config::section::KeyDoc] = &[
                $(
                    $crate::config::section::KeyDoc {
                        name: stringify!($key),
                        doc: concat!($($key_doc, "\n"),*),
                    },
                )*
            ];
        }
    };
}

pub(crate) use config_section;
