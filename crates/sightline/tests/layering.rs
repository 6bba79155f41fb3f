//! The crate graph follows the layer table in ARCHITECTURE.md: every dependency between
//! workspace crates points to a strictly lower layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Parses the rows `| <layer> | crate, crate |` that follow the `layers:` marker.
fn layers_from_architecture(text: &str) -> BTreeMap<String, usize> {
    let table = text
        .split_once("<!-- layers:")
        .map(|(_, rest)| rest)
        .expect("ARCHITECTURE.md has a <!-- layers: ... --> marker before the layer table");
    let mut layers = BTreeMap::new();
    for line in table.lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some(layer) = cells.first().and_then(|cell| cell.parse::<usize>().ok()) else {
            continue; // header or separator row
        };
        for name in cells[1]
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let previous = layers.insert(name.to_owned(), layer);
            assert!(
                previous.is_none(),
                "{name} is listed twice in ARCHITECTURE.md"
            );
        }
    }
    layers
}

/// Edges `(from, to)` between workspace packages, of every dependency kind.
fn workspace_edges() -> (Vec<String>, Vec<(String, String)>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages array");
    let names: Vec<String> = packages
        .iter()
        .map(|package| package["name"].as_str().expect("name").to_owned())
        .collect();
    let mut edges = Vec::new();
    for package in packages {
        let from = package["name"].as_str().expect("name");
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let to = dependency["name"].as_str().expect("dependency name");
            if names.iter().any(|name| name == to) {
                edges.push((from.to_owned(), to.to_owned()));
            }
        }
    }
    (names, edges)
}

/// Every rule the graph breaks, as sentences.
fn violations(
    layers: &BTreeMap<String, usize>,
    packages: &[String],
    edges: &[(String, String)],
) -> Vec<String> {
    let mut found = Vec::new();
    for package in packages {
        if !layers.contains_key(package) {
            found.push(format!(
                "crate {package} is missing from the layer table in ARCHITECTURE.md"
            ));
        }
    }
    for (from, to) in edges {
        if let (Some(&from_layer), Some(&to_layer)) = (layers.get(from), layers.get(to))
            && to_layer >= from_layer
        {
            found.push(format!(
                "{from} (layer {from_layer}) depends on {to} (layer {to_layer}); dependencies must point to a lower layer"
            ));
        }
    }
    found
}

#[test]
fn crate_graph_follows_the_layers_in_architecture_md() {
    let text = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("read ARCHITECTURE.md");
    let layers = layers_from_architecture(&text);
    let (packages, edges) = workspace_edges();
    assert!(
        !edges.is_empty(),
        "expected dependencies between workspace crates"
    );
    let found = violations(&layers, &packages, &edges);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_upward_sideways_and_unlisted_edges() {
    let layers = layers_from_architecture(
        "<!-- layers: -->\n| layer | crates |\n|---|---|\n| 0 | model |\n| 1 | ingest, tsdb |\n| 2 | api |\n\nprose",
    );
    let packages = ["model", "ingest", "tsdb", "api", "stray"]
        .map(String::from)
        .to_vec();
    let edge = |from: &str, to: &str| (from.to_owned(), to.to_owned());
    let found = violations(
        &layers,
        &packages,
        &[
            edge("api", "model"),
            edge("model", "api"),
            edge("ingest", "tsdb"),
        ],
    );
    assert_eq!(
        found,
        [
            "crate stray is missing from the layer table in ARCHITECTURE.md",
            "model (layer 0) depends on api (layer 2); dependencies must point to a lower layer",
            "ingest (layer 1) depends on tsdb (layer 1); dependencies must point to a lower layer",
        ]
    );
}
