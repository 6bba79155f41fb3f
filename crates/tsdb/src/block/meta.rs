//! `meta.json`: what a block covers, how many series and samples it holds, and which
//! blocks it was compacted from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

pub const META_FILE: &str = "meta.json";
pub const META_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
    /// Oldest and newest sample timestamps actually held.
    pub data_min_time: i64,
    pub data_max_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// 1 for a block cut from the head; one more per compaction that made it.
    pub level: u32,
    /// Ids of the level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub version: u32,
    pub id: String,
    /// The time range the block covers: `[min_time, max_time)`, aligned.
    pub min_time: i64,
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
}

impl BlockMeta {
    pub fn read(dir: &Path) -> Result<BlockMeta, Error> {
        let path = dir.join(META_FILE);
        let text = std::fs::read(&path).map_err(Error::io("cannot read block meta", &path))?;
        let meta: BlockMeta = serde_json::from_slice(&text).map_err(|err| Error::Corrupt {
            path: path.clone(),
            detail: err.to_string(),
        })?;
        if meta.version > META_VERSION {
            return Err(Error::Corrupt {
                path,
                detail: format!(
                    "block format version {} is newer than this build reads ({META_VERSION})",
                    meta.version
                ),
            });
        }
        Ok(meta)
    }

    /// Whether the block holds data in `[mint, maxt]` (inclusive).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.stats.data_min_time <= maxt && mint <= self.stats.data_max_time
    }
}
