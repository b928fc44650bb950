//! Architecture rules checked on the source text, so that a change which breaks them fails CI
//! instead of waiting for a reviewer:
//! - the pure policy core (`src/policy/`) names no I/O or presentation module and no `anyhow`;
//! - the money module depends on nothing else in the crate;
//! - the snapshot does not write into the plan (no `plan` <-> `snapshot` circle).

use std::fs;
use std::path::{Path, PathBuf};

/// Modules the policies must not reach: I/O edges, presentation, the run's glue and the CLI.
const FORBIDDEN_IN_POLICY: &[&str] = &[
    "crate::notices",
    "crate::execute",
    "crate::enforce",
    "crate::ledger::store",
    "crate::observe",
    "crate::planning",
    "crate::collect",
    "crate::config",
    "crate::secrets",
    "crate::credentials",
    "crate::digest",
    "crate::cli",
    "crate::app",
    "crate::commands",
    "crate::pc::client",
    "crate::pc::transport",
    "crate::pc::auth",
    "anyhow",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Every `(file:line, needle)` where a file mentions one of `needles`.
fn mentions(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in files {
        let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (n, line) in text.lines().enumerate() {
            for needle in needles {
                if line.contains(needle) {
                    hits.push(format!("{}:{}: {needle}", f.display(), n + 1));
                }
            }
        }
    }
    hits
}

#[test]
fn the_policy_core_imports_no_io_or_presentation_module() {
    let mut files = Vec::new();
    rust_files(&src().join("policy"), &mut files);
    assert!(
        files.len() > 5,
        "src/policy/ should hold the policies: {files:?}"
    );
    let hits = mentions(&files, FORBIDDEN_IN_POLICY);
    assert!(
        hits.is_empty(),
        "src/policy/ must stay pure (format money with crate::money, read the ledger through \
         LedgerView):\n{}",
        hits.join("\n")
    );
}

#[test]
fn money_depends_on_nothing_else_in_the_crate() {
    let files = vec![src().join("money.rs")];
    let hits = mentions(&files, &["crate::", "super::super"]);
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_snapshot_does_not_write_into_the_plan() {
    let files = vec![src().join("snapshot.rs")];
    let hits = mentions(&files, &["crate::plan"]);
    assert!(
        hits.is_empty(),
        "snapshot.rs must not use the plan (plan's rendering reads the snapshot):\n{}",
        hits.join("\n")
    );
}
