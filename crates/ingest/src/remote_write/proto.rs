//! prost types generated from `proto/` (committed; see `generated_code_is_current`).
//! Used by tests and fuzz targets as the reference decoder and as an encoder.

#![allow(clippy::all, unreachable_pub, missing_debug_implementations)]

pub mod prometheus {
    include!("proto/prometheus.rs");
}

pub mod v2 {
    include!("proto/io.prometheus.write.v2.rs");
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// expect-test style: regenerating from `proto/` must give the committed files.
    #[test]
    fn generated_code_is_current() {
        let out = tempfile::tempdir().expect("tempdir");
        let proto_dir = repo().join("proto");
        prost_build::Config::new()
            .out_dir(out.path())
            .compile_protos(
                &[
                    proto_dir.join("prometheus/remote.proto"),
                    proto_dir.join("io/prometheus/write/v2/types.proto"),
                ],
                &[&proto_dir],
            )
            .expect("protoc must be installed (tests/setup installs Debian's protobuf-compiler)");
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/remote_write/proto");
        for file in ["prometheus.rs", "io.prometheus.write.v2.rs"] {
            let generated = std::fs::read_to_string(out.path().join(file)).expect("generated");
            let path = committed.join(file);
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::write(&path, &generated).expect("write");
                continue;
            }
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                current == generated,
                "{} is stale; regenerate with UPDATE_EXPECT=1 cargo test -p ingest proto",
                path.display()
            );
        }
    }
}
