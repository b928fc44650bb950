//! Every official example in `../shared/pc-fixtures/` and `../shared/graph-fixtures/` is
//! recognised by its SHAPE (keys, `attributes.objectType`, `@odata.type`, its items' keys), never
//! by its file name, and decoded with the project's matching model. A file no shape matches, or
//! one its model cannot decode, is reported by name at the end (all of them, one line each), so
//! a new example is checked as soon as it is dropped in.
//!
//! Two places are checked: the copies kept in the repository (`tests/fixtures/official/`, so the
//! test runs on any clone) and, when present, the live `../shared/` (or `CSPGUARD_SHARED_DIR`),
//! where new examples arrive. A live folder that is missing is said on stderr, not skipped
//! silently; a live file that differs from its kept copy is reported so the copy is refreshed.

mod support;

use std::path::{Path, PathBuf};

use support::shapes::{self, Shape};

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CSPGUARD_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    // A `../shared` without the examples' folders is some other directory, not the live one.
    let has_examples = ["pc-fixtures", "graph-fixtures"]
        .iter()
        .any(|sub| dir.join(sub).is_dir());
    has_examples.then_some(dir)
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
}

/// The verdict on one file: its shape and what was decoded, or the problem.
fn verdict(path: &Path) -> Result<(Shape, String), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    match shapes::classify(&value) {
        Shape::Unknown => {
            Err("unknown shape: add it to tests/support/shapes.rs (classify and check)".to_owned())
        }
        shape => shapes::check(shape, &bytes)
            .map(|what| (shape, what))
            .map_err(|e| format!("recognised as {shape:?} but does not decode: {e}")),
    }
}

/// Check every example under `root` (its `pc-fixtures/` and `graph-fixtures/`); the shapes seen
/// and the problems found, each named `label/sub/file`.
fn check_tree(root: &Path, label: &str) -> (Vec<Shape>, Vec<String>) {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for sub in ["pc-fixtures", "graph-fixtures"] {
        let files = json_files(&root.join(sub));
        if files.is_empty() {
            problems.push(format!("{label}/{sub}: no examples found"));
        }
        for path in files {
            let name = format!(
                "{label}/{sub}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            match verdict(&path) {
                Ok((shape, what)) => {
                    println!("{name}: {shape:?} ({what})");
                    seen.push(shape);
                }
                Err(problem) => problems.push(format!("{name}: {problem}")),
            }
        }
    }
    (seen, problems)
}

fn kept_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official")
}

#[test]
fn every_official_example_is_recognised_by_shape_and_decodes() {
    let (seen, mut problems) = check_tree(&kept_dir(), "kept");
    match shared_dir() {
        Some(shared) => {
            let (_, live) = check_tree(&shared, "shared");
            problems.extend(live);
        }
        None => eprintln!(
            "NOTE: ../shared (or CSPGUARD_SHARED_DIR) not found: only the kept copies in \
             tests/fixtures/official/ were checked, not newly arrived examples"
        ),
    }
    assert!(
        problems.is_empty(),
        "official examples not understood:\n{}",
        problems.join("\n")
    );
    for expected in [
        Shape::GraphSecurityAlerts,
        Shape::FraudEvents,
        Shape::CustomersList,
    ] {
        assert!(seen.contains(&expected), "no {expected:?} example found");
    }
}

#[test]
fn kept_copies_match_the_live_examples() {
    let Some(shared) = shared_dir() else {
        eprintln!("NOTE: ../shared not found: the kept copies could not be compared with it");
        return;
    };
    let mut stale = Vec::new();
    for sub in ["pc-fixtures", "graph-fixtures"] {
        for live in json_files(&shared.join(sub)) {
            let name = live.file_name().unwrap_or_default().to_owned();
            let kept = kept_dir().join(sub).join(&name);
            if std::fs::read(&kept).ok() != std::fs::read(&live).ok() {
                stale.push(format!("{sub}/{}", name.to_string_lossy()));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "copy these new or changed official examples into tests/fixtures/official/: {}",
        stale.join(", ")
    );
}
