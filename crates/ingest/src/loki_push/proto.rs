//! prost types generated from `proto/loki/` (committed; see `generated_code_is_current`).
//! Used by tests and the `loki_push` fuzz target as the reference decoder and as an
//! encoder.

#![allow(clippy::all, unreachable_pub, missing_debug_implementations)]

pub mod logproto {
    include!("proto/logproto.rs");
}

pub mod google {
    pub mod protobuf {
        include!("proto/google.protobuf.rs");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// expect-test style: regenerating from `proto/loki/` must give the committed files.
    #[test]
    fn generated_code_is_current() {
        let out = tempfile::tempdir().expect("tempdir");
        let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/loki");
        prost_build::Config::new()
            .out_dir(out.path())
            // The Timestamp comes from proto/loki/google/protobuf/, not prost-types.
            .compile_well_known_types()
            .compile_protos(&[proto_dir.join("push.proto")], &[&proto_dir])
            .expect("protoc must be installed (tests/setup installs Debian's protobuf-compiler)");
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/loki_push/proto");
        for file in ["logproto.rs", "google.protobuf.rs"] {
            let generated = std::fs::read_to_string(out.path().join(file)).expect("generated");
            let path = committed.join(file);
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::create_dir_all(&committed).expect("mkdir");
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
