//! A byte-bounded cache of decompressed block pages, shared by every block.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

type Key = (u64, u32);

#[derive(Debug, Default)]
struct Inner {
    pages: HashMap<Key, Arc<Vec<u8>>>,
    /// Insertion order; the oldest page is evicted first.
    order: VecDeque<Key>,
    bytes: usize,
}

#[derive(Debug)]
pub struct PageCache {
    capacity_bytes: usize,
    inner: Mutex<Inner>,
}

impl PageCache {
    pub fn new(capacity_bytes: usize) -> Self {
        PageCache {
            capacity_bytes,
            inner: Mutex::default(),
        }
    }

    pub fn get(&self, block_uid: u64, page: u32) -> Option<Arc<Vec<u8>>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.pages.get(&(block_uid, page)).cloned()
    }

    pub fn insert(&self, block_uid: u64, page: u32, bytes: Arc<Vec<u8>>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (block_uid, page);
        if inner.pages.contains_key(&key) {
            return;
        }
        inner.bytes += bytes.len();
        inner.pages.insert(key, bytes);
        inner.order.push_back(key);
        while inner.bytes > self.capacity_bytes {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.pages.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
    }

    /// Drops a block's pages (it was deleted).
    pub fn forget_block(&self, block_uid: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut freed = 0;
        inner.pages.retain(|&(uid, _), bytes| {
            let keep = uid != block_uid;
            if !keep {
                freed += bytes.len();
            }
            keep
        });
        inner.order.retain(|&(uid, _)| uid != block_uid);
        inner.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_pages_past_capacity() {
        let cache = PageCache::new(10);
        cache.insert(1, 0, Arc::new(vec![0; 6]));
        cache.insert(1, 1, Arc::new(vec![0; 6]));
        assert!(cache.get(1, 0).is_none());
        assert!(cache.get(1, 1).is_some());
        cache.forget_block(1);
        assert!(cache.get(1, 1).is_none());
    }
}
