//! prost types generated from `proto/opentelemetry/` (committed; see
//! `generated_code_is_current`). Tests and fuzz targets use them as the reference
//! decoder and to encode request bodies; the request path never does.

// Tests use only some of the generated types.
#![allow(clippy::all, dead_code, unreachable_pub, missing_debug_implementations)]

/// The module tree mirrors the protobuf packages: the generated code refers to other
/// packages by relative paths (`super::super::common::v1::KeyValue`).
pub mod opentelemetry {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                include!("proto/opentelemetry.proto.common.v1.rs");
            }
        }
        pub mod resource {
            pub mod v1 {
                include!("proto/opentelemetry.proto.resource.v1.rs");
            }
        }
        pub mod logs {
            pub mod v1 {
                include!("proto/opentelemetry.proto.logs.v1.rs");
            }
        }
        pub mod trace {
            pub mod v1 {
                include!("proto/opentelemetry.proto.trace.v1.rs");
            }
        }
        pub mod collector {
            pub mod logs {
                pub mod v1 {
                    include!("proto/opentelemetry.proto.collector.logs.v1.rs");
                }
            }
            pub mod trace {
                pub mod v1 {
                    include!("proto/opentelemetry.proto.collector.trace.v1.rs");
                }
            }
        }
    }
}

pub use opentelemetry::proto::collector::logs::v1 as logs_service;
pub use opentelemetry::proto::collector::trace::v1 as trace_service;
pub use opentelemetry::proto::common::v1 as common;
pub use opentelemetry::proto::logs::v1 as logs;
pub use opentelemetry::proto::resource::v1 as resource;
pub use opentelemetry::proto::trace::v1 as trace;

/// The generated files, one per protobuf package.
const GENERATED: [&str; 6] = [
    "opentelemetry.proto.common.v1.rs",
    "opentelemetry.proto.resource.v1.rs",
    "opentelemetry.proto.logs.v1.rs",
    "opentelemetry.proto.trace.v1.rs",
    "opentelemetry.proto.collector.logs.v1.rs",
    "opentelemetry.proto.collector.trace.v1.rs",
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// expect-test style: regenerating from `proto/` must give the committed files.
    #[test]
    fn generated_code_is_current() {
        let out = tempfile::tempdir().expect("tempdir");
        let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
        prost_build::Config::new()
            .out_dir(out.path())
            .compile_protos(
                &[
                    proto_dir.join("opentelemetry/proto/collector/logs/v1/logs_service.proto"),
                    proto_dir.join("opentelemetry/proto/collector/trace/v1/trace_service.proto"),
                ],
                &[&proto_dir],
            )
            .expect("protoc must be installed (tests/setup installs Debian's protobuf-compiler)");
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/otlp/proto");
        for file in super::GENERATED {
            let generated = std::fs::read_to_string(out.path().join(file)).expect("generated");
            let path = committed.join(file);
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::write(&path, &generated).expect("write");
                continue;
            }
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                current == generated,
                "{} is stale; regenerate with UPDATE_EXPECT=1 cargo test -p ingest otlp::proto",
                path.display()
            );
        }
    }
}
