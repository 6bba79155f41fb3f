//! Request bodies of the HTTP ingest endpoints: `Content-Encoding` (gzip, zstd,
//! deflate) undone within a bound, so a small compressed body cannot expand without
//! limit (a "zip bomb" is refused with 413 once it passes the bound, before more is
//! allocated).

use std::borrow::Cow;
use std::io::Read;

use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};

/// A body's content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
    Deflate,
}

/// Why a body cannot be read; the status says whose fault it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    pub status: StatusCode,
    /// Short identifier for reject counters.
    pub reason: &'static str,
    pub message: String,
}

/// The media type of a request's `Content-Type`, lowercase and without parameters
/// (empty when there is none), and the header as it was sent, for messages.
pub fn media_type(headers: &HeaderMap) -> (String, String) {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return (String::new(), String::new());
    };
    let Ok(text) = value.to_str() else {
        return ("?".to_owned(), "?".to_owned());
    };
    let media_type = text.split(';').next().unwrap_or("").trim();
    (media_type.to_ascii_lowercase(), text.to_owned())
}

/// The `Content-Encoding` of a request, or a 415 naming what is accepted.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, BodyError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match text.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "zstd" => Ok(Encoding::Zstd),
        "deflate" => Ok(Encoding::Deflate),
        _ => Err(BodyError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: "unsupported_encoding",
            message: format!(
                "unsupported Content-Encoding {text:?}: use gzip, zstd, deflate or none"
            ),
        }),
    }
}

fn read_bounded(reader: impl Read, max_bytes: usize, what: &str) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|err| BodyError {
            status: StatusCode::BAD_REQUEST,
            reason: "bad_compression",
            message: format!("the body is not valid {what}: {err}"),
        })?;
    if out.len() > max_bytes {
        return Err(BodyError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "too_large",
            message: format!(
                "the body decompresses to more than {max_bytes} bytes (logs.max_decompressed_size)"
            ),
        });
    }
    Ok(out)
}

/// The body with its content coding undone, at most `max_bytes` long.
pub fn decode(
    body: &[u8],
    encoding: Encoding,
    max_bytes: usize,
) -> Result<Cow<'_, [u8]>, BodyError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > max_bytes {
                return Err(BodyError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    reason: "too_large",
                    message: format!("the body is more than {max_bytes} bytes"),
                });
            }
            Ok(Cow::Borrowed(body))
        }
        Encoding::Gzip => {
            read_bounded(flate2::read::MultiGzDecoder::new(body), max_bytes, "gzip").map(Cow::Owned)
        }
        Encoding::Deflate => read_bounded(
            flate2::read::ZlibDecoder::new(body),
            max_bytes,
            "deflate (zlib)",
        )
        .map(Cow::Owned),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(body).map_err(|err| BodyError {
                status: StatusCode::BAD_REQUEST,
                reason: "bad_compression",
                message: format!("the body is not valid zstd: {err}"),
            })?;
            read_bounded(decoder, max_bytes, "zstd").map(Cow::Owned)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn every_coding_round_trips_within_the_bound() {
        let data = b"{\"msg\":\"hello\"}\n".repeat(100);
        let zstd = zstd::stream::encode_all(&data[..], 3).expect("zstd");
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&data).expect("zlib");
        let zlib = zlib.finish().expect("zlib");
        for (encoding, body) in [
            (Encoding::Identity, data.clone()),
            (Encoding::Gzip, gzip(&data)),
            (Encoding::Zstd, zstd),
            (Encoding::Deflate, zlib),
        ] {
            assert_eq!(
                decode(&body, encoding, data.len())
                    .expect("decodes")
                    .as_ref(),
                &data[..],
                "{encoding:?}"
            );
            let err = decode(&body, encoding, data.len() - 1).expect_err("over the bound");
            assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE, "{encoding:?}");
        }
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_bound() {
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        let err = decode(&bomb, Encoding::Gzip, 1 << 20).expect_err("bomb");
        assert_eq!(
            (err.status, err.reason),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        );
    }

    #[test]
    fn garbage_and_unknown_codings_are_client_errors() {
        let err = decode(b"not gzip", Encoding::Gzip, 1024).expect_err("garbage");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = decode(b"not zstd", Encoding::Zstd, 1024).expect_err("garbage");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, "br".parse().expect("header"));
        assert_eq!(
            encoding(&headers).expect_err("br").status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        headers.insert(CONTENT_ENCODING, "GZIP".parse().expect("header"));
        assert_eq!(encoding(&headers), Ok(Encoding::Gzip));
    }
}
