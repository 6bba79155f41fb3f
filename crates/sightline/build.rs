//! Records what is being built (git revision, branch, commit date, compiler) and embeds
//! the web UI's built files from `ui/dist` when they exist.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let repo_root = manifest_dir.join("../..");
    record_git(&repo_root);
    record_rustc();
    embed_ui(&repo_root.join("ui"));
}

fn run(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn record_git(repo_root: &Path) {
    let git = |args: &[&str]| run("git", args, repo_root);
    let revision = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = git(&[
        "log",
        "-1",
        "--format=%cd",
        "--date=format-local:%Y%m%d-%H:%M:%S",
    ])
    .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SIGHTLINE_BUILD_REVISION={revision}");
    println!("cargo:rustc-env=SIGHTLINE_BUILD_BRANCH={branch}");
    println!("cargo:rustc-env=SIGHTLINE_BUILD_DATE={date}");

    // Rebuild when HEAD moves: HEAD itself, the branch ref it names, packed refs.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        let head = git_dir.join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        let head_ref = std::fs::read_to_string(&head).unwrap_or_default();
        if let Some(ref_name) = head_ref.trim().strip_prefix("ref: ") {
            let ref_path = git_dir.join(ref_name);
            if ref_path.exists() {
                println!("cargo:rerun-if-changed={}", ref_path.display());
            } else if let Some(parent) = ref_path.parent().filter(|dir| dir.exists()) {
                println!("cargo:rerun-if-changed={}", parent.display());
            }
        }
        let packed = git_dir.join("packed-refs");
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
}

fn record_rustc() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = run(&rustc, &["--version"], Path::new(".")).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SIGHTLINE_BUILD_RUSTC={version}");
}

fn embed_ui(ui_dir: &Path) {
    let dist = ui_dir.join("dist");
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect_files(&dist, &dist, &mut files);
        files.sort();
        println!("cargo:rerun-if-changed={}", dist.display());
    } else if ui_dir.exists() {
        // No build yet: watch the UI directory so that a later `npm run build` is seen.
        println!("cargo:rerun-if-changed={}", ui_dir.display());
    }
    let mut code = String::from("pub(crate) static UI_ASSETS: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        let _ = writeln!(
            code,
            "    ({relative:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        );
    }
    code.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(err) = std::fs::write(out_dir.join("ui_assets.rs"), code) {
        panic!("cannot write ui_assets.rs: {err}");
    }
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative.to_string_lossy().replace('\\', "/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((relative, absolute));
        }
    }
}
