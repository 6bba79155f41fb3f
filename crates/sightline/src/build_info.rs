//! What was built, from the values `build.rs` records at compile time.

/// `sightline --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `sightline --version`, long form.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nrevision: ",
    env!("SIGHTLINE_BUILD_REVISION"),
    "\nbranch: ",
    env!("SIGHTLINE_BUILD_BRANCH"),
    "\ncommit date: ",
    env!("SIGHTLINE_BUILD_DATE"),
    "\ncompiler: ",
    env!("SIGHTLINE_BUILD_RUSTC"),
);

pub fn build_info() -> api::BuildInfo {
    api::BuildInfo {
        version: VERSION.to_owned(),
        revision: env!("SIGHTLINE_BUILD_REVISION").to_owned(),
        branch: env!("SIGHTLINE_BUILD_BRANCH").to_owned(),
        build_date: env!("SIGHTLINE_BUILD_DATE").to_owned(),
        rustc_version: env!("SIGHTLINE_BUILD_RUSTC").to_owned(),
    }
}
