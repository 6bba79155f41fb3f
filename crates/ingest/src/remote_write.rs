//! Prometheus remote-write 1.0 and 2.0 at `POST /api/v1/write`.

pub mod decode;
pub mod handler;

#[cfg(test)]
pub(crate) mod proto;

pub use handler::{RemoteWriteConfig, router};

#[cfg(test)]
mod tests;
