//! Handles to stores that open after the server starts listening.
//!
//! The HTTP port opens first so `/-/ready` can answer 503 while stores replay their
//! write-ahead logs; routes that need a store answer 503 ("still opening") until the
//! composition root fills its slot.

use std::sync::{Arc, OnceLock};

use model::ErrorKind;

use crate::ApiError;

/// A store that may not be open yet. Clones share the slot.
#[derive(Debug)]
pub struct StoreSlot<T> {
    name: &'static str,
    slot: Arc<OnceLock<Arc<T>>>,
}

impl<T> Clone for StoreSlot<T> {
    fn clone(&self) -> Self {
        StoreSlot {
            name: self.name,
            slot: Arc::clone(&self.slot),
        }
    }
}

impl<T> StoreSlot<T> {
    pub fn new(name: &'static str) -> Self {
        StoreSlot {
            name,
            slot: Arc::new(OnceLock::new()),
        }
    }

    /// Fills the slot; a second call is ignored.
    pub fn set(&self, store: Arc<T>) {
        let _ = self.slot.set(store);
    }

    pub fn get(&self) -> Option<Arc<T>> {
        self.slot.get().cloned()
    }

    /// The store, or the 503 that says it is still opening.
    pub fn ready(&self) -> Result<Arc<T>, ApiError> {
        self.get().ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "the {} is still opening (replaying its write-ahead log); retry shortly",
                    self.name
                ),
            )
        })
    }
}
