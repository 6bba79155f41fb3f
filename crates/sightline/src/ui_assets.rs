//! The web UI's built files, embedded by `build.rs` when `ui/dist` existed at build time.

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// The embedded UI, or [`api::UiAssets::NotBuilt`] when the binary was built without it.
pub(crate) fn embedded() -> api::UiAssets {
    if UI_ASSETS.is_empty() {
        api::UiAssets::NotBuilt
    } else {
        api::UiAssets::Embedded(UI_ASSETS)
    }
}
