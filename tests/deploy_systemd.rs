//! The deployment test: `deploy/test/deploy-systemd.sh` boots a real systemd in a
//! `systemd-nspawn` container on a minimal Debian root, installs `target/debian/cspguard_*.deb`
//! as the README says and checks the service, the timer, the journal and the instances (see the
//! script for the list). It needs root, `systemd-nspawn` and `mmdebstrap`, and the package built
//! beforehand (`deploy/build-deb.sh`; this test never runs cargo: the outer `cargo test` holds
//! the build lock). Where it cannot run it prints "NOT RUN: <why>" and passes, except when `CI`
//! is set: then it fails, so CI cannot skip it silently.

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The newest `target/debian/cspguard_*.deb`.
fn built_package() -> Option<PathBuf> {
    let dir = manifest_dir().join("target/debian");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cspguard_") && n.ends_with(".deb"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// Why the test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("not Linux".to_owned());
    }
    if !is_root() {
        return Some("not root (systemd-nspawn needs root with CAP_SYS_ADMIN)".to_owned());
    }
    for (tool, package) in [
        ("systemd-nspawn", "systemd-container"),
        ("mmdebstrap", "mmdebstrap"),
        ("nsenter", "util-linux"),
    ] {
        if !have(tool) {
            return Some(format!("{tool} not installed (apt-get install {package})"));
        }
    }
    if built_package().is_none() {
        return Some("no target/debian/cspguard_*.deb (run deploy/build-deb.sh first)".to_owned());
    }
    None
}

#[test]
fn the_package_deploys_on_a_real_systemd_as_the_readme_says() {
    if let Some(why) = missing_prerequisite() {
        println!("\n!!!!!!!! NOT RUN: deployment test: {why} !!!!!!!!\n");
        eprintln!("NOT RUN: deployment test: {why}");
        assert!(
            std::env::var_os("CI").is_none(),
            "NOT RUN: deployment test: {why} (CI is set, so this is a failure)"
        );
        return;
    }
    let deb = built_package().expect("checked above");
    let out = Command::new("bash")
        .arg(manifest_dir().join("deploy/test/deploy-systemd.sh"))
        .arg(&deb)
        .arg(manifest_dir().join("target/deploy-cache"))
        .output()
        .expect("run deploy/test/deploy-systemd.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "deployment test failed ({:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
}

/// What the package ships besides the binary: `cspguard man` and `cspguard completions` work on
/// the real command definition.
#[test]
fn the_binary_writes_its_man_pages_and_completions() {
    let bin = env!("CARGO_BIN_EXE_cspguard");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(bin)
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .expect("run cspguard man");
    assert!(out.status.success(), "{out:?}");
    for page in [
        "cspguard.1",
        "cspguard-run.1",
        "cspguard-doctor.1",
        "cspguard-templates-check.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page} not written: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let top = Command::new(bin)
        .arg("man")
        .output()
        .expect("run cspguard man");
    assert!(String::from_utf8_lossy(&top.stdout).contains("cspguard"));
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef"),
        ("fish", "complete -c"),
    ] {
        let out = Command::new(bin)
            .args(["completions", shell])
            .output()
            .expect("run cspguard completions");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && script.contains(marker) && script.contains("doctor"),
            "{shell}: {script}"
        );
    }
}
