//! The systemd units in `deploy/systemd/`: `systemd-analyze verify` must print nothing (with
//! `ExecStart` pointed at the built binary), `systemd-analyze security --offline=yes` must rate the
//! cspguard services "OK" with an exposure of at most 2.0, and the units must keep the settings the
//! deployment relies on. Without `systemd-analyze` the tool checks print
//! "skipped: systemd-analyze not installed" (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_EXPOSURE: f64 = 2.0;

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(units_dir().join(name))
        .unwrap_or_else(|e| panic!("cannot read deploy/systemd/{name}: {e}"))
}

fn have_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Copy the units to a temp dir with ExecStart pointed at the binary under test.
fn staged_units() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_cspguard");
    for entry in std::fs::read_dir(units_dir()).expect("deploy/systemd exists") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().expect("file name").to_owned();
        let text = std::fs::read_to_string(&path).expect("unit text");
        let text = text.replace("/usr/bin/cspguard", bin);
        std::fs::write(dir.path().join(name), text).expect("write unit");
    }
    dir
}

/// `key=value` lines of a unit (comments skipped).
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn values<'a>(s: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    s.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn systemd_analyze_verify_prints_nothing() {
    if !have_systemd_analyze() {
        println!("skipped: systemd-analyze not installed");
        return;
    }
    let dir = staged_units();
    // Templates are verified through an instance name.
    let units = [
        "cspguard.service",
        "cspguard.timer",
        "cspguard@acme.service",
        "cspguard@acme.timer",
        "cspguard-failure@cspguard.service.service",
    ];
    let out = Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args(["verify", "--man=no"])
        .args(units.iter().map(|u| format!("./{u}")))
        .output()
        .expect("run systemd-analyze verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify complained (exit {:?}):\n{text}",
        out.status.code()
    );
}

/// The overall exposure and its rating from `systemd-analyze security` output.
fn exposure(output: &str) -> Option<(f64, String)> {
    let line = output
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let rest = line.rsplit_once(": ")?.1;
    let mut parts = rest.split_whitespace();
    let value = parts.next()?.parse().ok()?;
    Some((value, parts.next()?.to_owned()))
}

#[test]
fn the_cspguard_services_are_hardened_to_an_ok_exposure() {
    if !have_systemd_analyze() {
        println!("skipped: systemd-analyze not installed");
        return;
    }
    let dir = staged_units();
    for unit in ["cspguard.service", "cspguard@acme.service"] {
        let out = Command::new("systemd-analyze")
            .current_dir(dir.path())
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("./{unit}"))
            .output()
            .expect("run systemd-analyze security");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (level, rating) = exposure(&text).unwrap_or_else(|| {
            panic!(
                "no overall exposure for {unit}:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            level <= MAX_EXPOSURE && rating == "OK",
            "{unit}: exposure {level} {rating}, want <= {MAX_EXPOSURE} OK:\n{text}"
        );
    }
}

#[test]
fn services_run_cspguard_oneshot_with_credentials_state_and_hardening() {
    for (unit, config, state, creds) in [
        (
            "cspguard.service",
            "/etc/cspguard/cspguard.toml",
            "cspguard",
            "/etc/cspguard/credentials/",
        ),
        (
            "cspguard@.service",
            "/etc/cspguard/%i.toml",
            "cspguard-%i",
            "/etc/cspguard/credentials/%i/",
        ),
    ] {
        let s = settings(&read(unit));
        assert_eq!(values(&s, "Type"), ["oneshot"], "{unit}");
        assert_eq!(
            values(&s, "ExecStart"),
            [format!("/usr/bin/cspguard --config {config} run").as_str()],
            "{unit}"
        );
        assert_eq!(values(&s, "StateDirectory"), [state], "{unit}");
        assert_eq!(values(&s, "DynamicUser"), ["yes"], "{unit}");
        let creds_loaded = values(&s, "LoadCredential");
        for name in ["client_secret", "refresh_token", "smtp_password"] {
            let want = format!("{name}:{creds}{name}");
            assert!(
                creds_loaded.contains(&want.as_str()),
                "{unit}: no LoadCredential={want}"
            );
        }
        for (key, want) in [
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("NoNewPrivileges", "yes"),
            ("PrivateTmp", "yes"),
            ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
            ("SystemCallFilter", "@system-service"),
            ("SuccessExitStatus", "3"),
            // The dynamic user can read the (secret-free) config; see README "systemd".
            ("ConfigurationDirectoryMode", "0755"),
        ] {
            assert!(
                values(&s, key).contains(&want),
                "{unit}: {key}={want} missing"
            );
        }
        assert!(
            values(&s, "OnFailure")
                .iter()
                .any(|v| v.starts_with("cspguard-failure@")),
            "{unit}: no OnFailure= to the failure-mail unit"
        );
    }
}

#[test]
fn the_failure_mail_unit_is_skipped_until_configured() {
    let s = settings(&read("cspguard-failure@.service"));
    assert_eq!(
        values(&s, "ConditionPathExists"),
        ["/etc/cspguard/failure-mail.env"]
    );
    assert_eq!(
        values(&s, "ConditionFileIsExecutable"),
        ["/usr/sbin/sendmail"]
    );
}

#[test]
fn timers_are_hourly_persistent_and_randomized() {
    for (timer, service) in [
        ("cspguard.timer", "cspguard.service"),
        ("cspguard@.timer", "cspguard@%i.service"),
    ] {
        let s = settings(&read(timer));
        assert_eq!(values(&s, "OnCalendar"), ["hourly"], "{timer}");
        assert_eq!(values(&s, "Persistent"), ["true"], "{timer}");
        assert_eq!(values(&s, "Unit"), [service], "{timer}");
        assert_eq!(values(&s, "WantedBy"), ["timers.target"], "{timer}");
        assert!(
            !values(&s, "RandomizedDelaySec").is_empty(),
            "{timer}: no RandomizedDelaySec"
        );
    }
}

#[test]
fn exposure_parser_reads_the_summary_line() {
    let out = "✓ UMask= ...\n\n→ Overall exposure level for cspguard.service: 1.2 OK 🙂\n";
    assert_eq!(exposure(out), Some((1.2, "OK".to_owned())));
    assert_eq!(exposure("nothing"), None);
}
