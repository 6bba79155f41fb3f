//! Serving the web UI's built assets, embedded in the binary or read from a directory.
//!
//! The UI is a single-page app with hash routes, so the server only maps paths to files:
//! `/` is `index.html`, everything else is the file of that name. Vite names the files
//! under `assets/` by content hash, so those are cached for good; `index.html` never is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use model::ErrorKind;

use crate::{ApiContext, ApiError};

/// Where the UI's files come from.
#[derive(Debug, Clone)]
pub enum UiAssets {
    /// Built into the binary: `(path relative to the build output, contents)`.
    Embedded(&'static [(&'static str, &'static [u8])]),
    /// Read from this directory on each request (the `http.ui_dir` setting).
    Directory(PathBuf),
    /// Neither: `/` answers a page that says how to build the UI.
    NotBuilt,
}

const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sightline</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>Sightline is running</h1>
<p>This binary was built without its web UI. The API works: try
<a href="/api/v1/status/buildinfo">/api/v1/status/buildinfo</a> or
<a href="/metrics">/metrics</a>.</p>
<p>To get the UI, build it and then rebuild the server, from the repository root:</p>
<pre>npm ci --prefix ui &amp;&amp; npm run build --prefix ui
cargo build --release -p sightline</pre>
<p>or point <code>http.ui_dir</code> at a built <code>ui/dist</code> directory.</p>
</body></html>
"#;

/// Fallback handler: UI files for `GET`, a JSON 404 for everything else.
pub(crate) async fn serve(
    State(context): State<Arc<ApiContext>>,
    method: Method,
    uri: Uri,
) -> Response {
    let path = uri.path();
    let is_api_path = path == "/api" || path.starts_with("/api/");
    if is_api_path || (method != Method::GET && method != Method::HEAD) {
        return ApiError::new(ErrorKind::NotFound, format!("no endpoint {method} {path}"))
            .into_response();
    }
    let relative = match path.trim_start_matches('/') {
        "" => "index.html",
        relative => relative,
    };
    if !is_safe_relative_path(relative) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let contents = match &context.ui {
        UiAssets::Embedded(files) => files
            .iter()
            .find(|(name, _)| *name == relative)
            .map(|(_, bytes)| Bytes::from_static(bytes)),
        UiAssets::Directory(dir) => tokio::fs::read(dir.join(relative))
            .await
            .ok()
            .map(Bytes::from),
        UiAssets::NotBuilt if relative == "index.html" => {
            return Html(NOT_BUILT_PAGE).into_response();
        }
        UiAssets::NotBuilt => None,
    };
    match contents {
        Some(bytes) => (
            [
                (CONTENT_TYPE, content_type(relative)),
                (CACHE_CONTROL, cache_control(relative)),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// A path of plain names only: no `..`, no `.`, no empty segment, no backslash.
fn is_safe_relative_path(relative: &str) -> bool {
    !relative.contains('\\')
        && relative
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
        && Path::new(relative).is_relative()
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn cache_control(path: &str) -> &'static str {
    if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    static FILES: &[(&str, &[u8])] = &[
        ("index.html", b"<html>app</html>"),
        ("assets/index-abc.js", b"console.log(1)"),
    ];

    async fn get(ui: UiAssets, method: Method, path: &str) -> (StatusCode, String, String) {
        let mut context = test_support::context();
        context.ui = ui;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = crate::router(context)
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn serves_embedded_files_with_their_types() {
        let (status, content_type, body) = get(UiAssets::Embedded(FILES), Method::GET, "/").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "<html>app</html>")
        );
        assert_eq!(content_type, "text/html; charset=utf-8");
        let (status, content_type, _) = get(
            UiAssets::Embedded(FILES),
            Method::GET,
            "/assets/index-abc.js",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/javascript"));
        let (status, _, _) = get(UiAssets::Embedded(FILES), Method::GET, "/nope.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn serves_a_directory_without_escaping_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let dist = root.path().join("dist");
        std::fs::create_dir(&dist).expect("mkdir");
        std::fs::write(dist.join("index.html"), "from disk").expect("write");
        std::fs::write(root.path().join("secret.txt"), "secret").expect("write");
        let ui = UiAssets::Directory(dist);
        let (status, _, body) = get(ui.clone(), Method::GET, "/").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "from disk"));
        for escape in ["/../secret.txt", "/./index.html", "//etc/passwd"] {
            let (status, _, body) = get(ui.clone(), Method::GET, escape).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{escape}: {body}");
        }
    }

    #[tokio::test]
    async fn without_a_ui_the_root_says_how_to_build_it() {
        let (status, _, body) = get(UiAssets::NotBuilt, Method::GET, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("npm run build --prefix ui"), "{body}");
    }

    #[tokio::test]
    async fn unknown_api_paths_and_methods_get_json_404s() {
        let (status, _, body) = get(UiAssets::NotBuilt, Method::GET, "/api/v1/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no endpoint GET /api/v1/nope"), "{body}");
        let (status, _, body) = get(UiAssets::NotBuilt, Method::POST, "/v1/profiles").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(r#""errorType":"not_found""#), "{body}");
    }
}
