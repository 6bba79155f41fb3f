//! The committed prost types of the OTLP protos, in the module tree their relative paths
//! expect: the reference decoder the protobuf fuzz targets compare with. Each target
//! includes this file with `#[path]`.

#![allow(clippy::all, dead_code)]

pub mod opentelemetry {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                include!("../src/otlp/proto/opentelemetry.proto.common.v1.rs");
            }
        }
        pub mod resource {
            pub mod v1 {
                include!("../src/otlp/proto/opentelemetry.proto.resource.v1.rs");
            }
        }
        pub mod logs {
            pub mod v1 {
                include!("../src/otlp/proto/opentelemetry.proto.logs.v1.rs");
            }
        }
        pub mod trace {
            pub mod v1 {
                include!("../src/otlp/proto/opentelemetry.proto.trace.v1.rs");
            }
        }
        pub mod collector {
            pub mod logs {
                pub mod v1 {
                    include!("../src/otlp/proto/opentelemetry.proto.collector.logs.v1.rs");
                }
            }
            pub mod trace {
                pub mod v1 {
                    include!("../src/otlp/proto/opentelemetry.proto.collector.trace.v1.rs");
                }
            }
        }
    }
}
