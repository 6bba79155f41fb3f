//! The `sightline` binary's library: the composition root.
//!
//! Owns: the command line ([`cli`]), the configuration file and its reference
//! ([`config`]), the data directory's layout, lock and format version ([`datadir`]),
//! Sightline's own logging ([`logging`]), and [`serve`], which opens the stores, builds
//! the API from `api`, implements the handler traits `ingest` declares over the stores,
//! binds the listeners and shuts everything down in order.
//!
//! Must not know: protocol decoding, storage formats, query semantics. If a function
//! here does more than read configuration and connect crates, it belongs in one of them.
//!
//! Start reading at [`cli::main`], then [`serve::run`].

pub mod build_info;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod logging;
pub mod serve;
pub mod stores;

mod ui_assets;
