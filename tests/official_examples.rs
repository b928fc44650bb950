//! Every official example in `../shared/pc-fixtures/` and `../shared/graph-fixtures/` is
//! recognised by its SHAPE (keys, `attributes.objectType`, `@odata.type`, its items' keys), never
//! by its file name, and decoded with the project's matching model. A file no shape matches, or
//! one its model cannot decode, is reported by name at the end (all of them, one line each), so
//! a new example is checked as soon as it is dropped in. `CSPGUARD_SHARED_DIR` points elsewhere
//! than `../shared` (e.g. from a worktree); without either the test says it skipped.

mod support;

use std::path::{Path, PathBuf};

use support::shapes::{self, Shape};

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CSPGUARD_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
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

#[test]
fn every_official_example_is_recognised_by_shape_and_decodes() {
    let Some(shared) = shared_dir() else {
        println!("skipped: ../shared not found (set CSPGUARD_SHARED_DIR)");
        return;
    };
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for sub in ["pc-fixtures", "graph-fixtures"] {
        for path in json_files(&shared.join(sub)) {
            let name = format!(
                "{sub}/{}",
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
fn shapes_do_not_depend_on_names_and_unknown_documents_are_reported() {
    let alert = serde_json::json!({"value": [{"id": "a", "alertType": "x", "status": "active"}]});
    assert_eq!(shapes::classify(&alert), Shape::GraphSecurityAlerts);
    let pascal = serde_json::json!({"Id": "s", "Status": "suspended", "Quantity": 1});
    assert_eq!(shapes::classify(&pascal), Shape::Subscription);
    let op = serde_json::json!({
        "@odata.type": "#microsoft.graph.partners.billing.failedOperation",
        "id": "o", "status": "failed"
    });
    assert_eq!(shapes::classify(&op), Shape::GraphBillingOperation);
    let odd = serde_json::json!({"something": "new"});
    assert_eq!(shapes::classify(&odd), Shape::Unknown);
    assert!(shapes::check(Shape::Unknown, b"{}").is_err());
    // A recognised shape whose content the model refuses is reported, not a panic.
    let bad = br#"{"value": [{"id": "a", "alertType": "x", "lastObservedDateTime": "soon"}]}"#;
    assert!(shapes::check(Shape::GraphSecurityAlerts, bad).is_err());
}
