//! Read-only commands never write, and `cspguard doctor` catches what breaks a service, both
//! through the binary (these are properties of the process):
//! - `status`, `history`, `plan`, `snapshot`, `doctor` and `templates check|preview` run against
//!   a fresh directory leave its tree exactly as it was (no state directory, no empty database,
//!   no lock file) and say what is missing; after a run, `status` and `history` leave the state
//!   database byte for byte as it was and no `-wal`/`-shm` file behind;
//! - doctor FAILs a token endpoint that is down (a closed loopback port) or answers 503 (a tiny
//!   loopback server), a receivables glob that matches nothing, and, run as an unprivileged user
//!   (`setpriv` when the tests run as root, where chmod stops nothing), an unreadable config,
//!   credential file and templates directory and an unwritable metrics directory, naming the
//!   file and the user.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use support::cli::{self, Output};
use support::config::{Secret, quote, quote_path, set_mode};
use support::noon_today;
use support::world::{UNREACHABLE, World};

/// Every entry under `root`: relative path to (kind and mode, size, FNV-1a of the content).
fn tree(root: &Path) -> BTreeMap<PathBuf, (String, u64, u64)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let mode = meta.permissions().mode();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if meta.is_dir() {
                pending.push(path);
                out.insert(rel, (format!("dir {mode:o}"), 0, 0));
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                out.insert(rel, (format!("file {mode:o}"), meta.len(), hash));
            }
        }
    }
    out
}

/// The names under `root` only (for commands that may change the database's content).
fn names(root: &Path) -> Vec<PathBuf> {
    tree(root).into_keys().collect()
}

fn line<'a>(out: &'a Output, prefix: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line:\n{}", out.show()))
}

/// A simulator world with App+User, receivables, metrics and a templates directory; nothing
/// under the state path yet.
async fn fresh_world(now: Timestamp) -> World {
    World::builder()
        .customers(12)
        .clock(now)
        .receivables("customer_id,invoice_id,amount,currency,due_date,status\n")
        .configure(|c, dir| {
            let templates = dir.join("templates");
            std::fs::create_dir_all(templates.join("en")).expect("templates");
            c.metrics_textfile(&dir.join("metrics").join("cspguard.prom"))
                .set("templates", "dir", &quote_path(&templates));
        })
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_leave_the_directory_tree_unchanged() {
    let now = noon_today();
    let w = fresh_world(now).await;
    let before = tree(w.dir());
    let state = w.state_path().display().to_string();
    let html = w.dir().join("preview.html");
    let commands: &[&[&str]] = &[
        &["status"],
        &["history", "--format", "json"],
        &["plan"],
        &["plan", "--format", "json"],
        &["snapshot", "--format", "json"],
        &["doctor"],
        &["templates", "check"],
        &["templates", "preview", "reminder-1"],
    ];
    for args in commands {
        let out = w.cli(now, args).await;
        assert_eq!(
            tree(w.dir()),
            before,
            "{args:?} changed the tree\n{}",
            out.show()
        );
        let says_missing = format!("no state database at {state} yet");
        match args[0] {
            "status" | "history" => {
                assert_eq!(out.code, Some(1), "{args:?}\n{}", out.show());
                assert!(out.stderr.contains(&says_missing), "{}", out.show());
                assert!(
                    out.stderr.contains("first `cspguard run`"),
                    "{}",
                    out.show()
                );
            }
            "plan" | "snapshot" => {
                assert!(out.stderr.contains("not used"), "{args:?}\n{}", out.show());
                assert!(matches!(out.code, Some(0 | 3)), "{args:?}\n{}", out.show());
            }
            "doctor" => {
                assert_eq!(out.code, Some(0), "{}", out.show());
                assert!(line(&out, "PASS  state file").contains(&says_missing));
                assert!(line(&out, "PASS  state directory").contains("does not exist yet"));
                assert!(line(&out, "SKIP  Partner Center App+User").contains("none at"));
                assert!(line(&out, "PASS  metrics directory").contains("creates it"));
            }
            _ => assert_eq!(out.code, Some(0), "{args:?}\n{}", out.show()),
        }
    }
    // `--html` is output the operator asked for: the only file a read-only command writes.
    let html_arg = html.display().to_string();
    let out = w
        .cli(
            now,
            &["templates", "preview", "final-notice", "--html", &html_arg],
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.show());
    let mut expected = before.clone();
    expected.extend(
        tree(w.dir())
            .into_iter()
            .filter(|(p, _)| p == Path::new("preview.html")),
    );
    assert_eq!(
        tree(w.dir()),
        expected,
        "preview --html wrote more than its file"
    );

    // After a run: status and history change nothing, not even SQLite's -wal/-shm files.
    w.run_binary(now, &["--dry-run"]).await;
    let after_run = tree(w.dir());
    assert!(
        w.state_path().exists(),
        "the run created the state database"
    );
    for args in [&["status"][..], &["history"]] {
        let out = w.cli(now, args).await;
        assert_eq!(out.code, Some(0), "{args:?}\n{}", out.show());
        assert_eq!(tree(w.dir()), after_run, "{args:?} changed the tree");
    }
    // Plan, snapshot and doctor may store a rotated refresh token, but create no file.
    let names_after_run = names(w.dir());
    for args in [&["plan"][..], &["snapshot"], &["doctor"]] {
        let out = w.cli(now, args).await;
        assert!(matches!(out.code, Some(0 | 3)), "{args:?}\n{}", out.show());
        assert!(!out.stderr.contains("not used"), "{args:?}\n{}", out.show());
        assert_eq!(names(w.dir()), names_after_run, "{args:?} created a file");
    }
    w.shutdown().await;
}

/// Answers every request with `503 Service Unavailable` until dropped.
struct Failing503 {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Failing503 {
    async fn start() -> Failing503 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut seen = 0;
                    // Read the request head (bounded by the buffer), then answer.
                    while seen < buf.len() {
                        match conn.read(&mut buf[seen..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen += n,
                        }
                        if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let answer = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                                  connection: close\r\n\r\n";
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        Failing503 { url, task }
    }
}

impl Drop for Failing503 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_a_down_or_failing_token_endpoint_and_an_empty_receivables_glob() {
    let now = noon_today();
    let mut w = World::offline(UNREACHABLE, &Secret::inline("s3cret-doctor"), None);
    let import = w.dir().join("import");
    std::fs::create_dir(&import).expect("import dir");
    let pattern = import.join("*.csv").display().to_string();
    w.configure(|c| {
        c.set("receivables", "path", &quote(&pattern));
    });
    let before = tree(w.dir());

    let out = w.cli(now, &["doctor"]).await;
    assert_eq!(out.code, Some(1), "{}", out.show());
    let token = line(&out, "FAIL  token endpoint");
    assert!(token.contains("127.0.0.1:9"), "{}", out.show());
    assert!(line(&out, "SKIP  Partner Center app-only").contains("no token"));
    let receivables = line(&out, "FAIL  receivables");
    assert!(receivables.contains(&pattern), "{receivables}");
    assert!(receivables.contains("matches no file"), "{receivables}");
    assert_eq!(tree(w.dir()), before, "doctor changed the tree");

    // A matching export turns the receivables check green.
    std::fs::write(import.join("ar.csv"), "customer_id\n").expect("export");
    let out = w.cli(now, &["doctor"]).await;
    assert!(
        line(&out, "PASS  receivables").contains("1 file(s)"),
        "{}",
        out.show()
    );

    // An identity service that answers 503: FAIL, not a pass with a failing API call.
    let server = Failing503::start().await;
    w.configure(|c| {
        c.set("partner_center", "authority", &quote(&server.url));
    });
    let out = w.cli(now, &["doctor"]).await;
    assert_eq!(out.code, Some(1), "{}", out.show());
    let token = line(&out, "FAIL  token endpoint");
    assert!(token.contains("503"), "{}", out.show());
    assert!(
        !out.both().contains("s3cret-doctor"),
        "the secret is echoed"
    );
    drop(server);
}

/// Runs the binary as an unprivileged user: through `setpriv` as uid/gid 65534 when this test
/// runs as root (chmod does not stop root), else directly.
fn unprivileged(args: &[String]) -> Output {
    let me = cspguard::doctor::User::current();
    let mut cmd = if me.uid == 0 {
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "THESE TESTS RUN AS ROOT AND setpriv IS MISSING: cannot run doctor as an \
                     unprivileged user, so unreadable files cannot be tested; install util-linux"
                )
            });
        let mut c = std::process::Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_cspguard"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_cspguard"))
    };
    for name in [
        "RUST_LOG",
        "CSPGUARD_CONFIG",
        "CREDENTIALS_DIRECTORY",
        "JOURNAL_STREAM",
    ] {
        cmd.env_remove(name);
    }
    let out = cmd.args(args).output().expect("run cspguard");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The uid doctor runs as in [`unprivileged`].
fn unprivileged_uid() -> u32 {
    match cspguard::doctor::User::current().uid {
        0 => 65534,
        uid => uid,
    }
}

/// The line starting with `prefix`; it must name the unprivileged user.
fn names_user(out: &Output, prefix: &str) -> String {
    let l = line(out, prefix).to_owned();
    let uid = format!("uid {}", unprivileged_uid());
    assert!(l.contains(&uid), "{prefix} does not name {uid}:\n{l}");
    l
}

#[test]
fn doctor_as_an_unprivileged_user_names_what_it_cannot_read_or_write() {
    let mut w = World::offline(UNREACHABLE, &Secret::inline("unused"), None);
    let dir = w.dir().to_path_buf();
    set_mode(&dir, 0o755);
    let credential = dir.join("client_secret");
    std::fs::write(&credential, "s3cret").expect("credential");
    set_mode(&credential, 0o000);
    let templates = dir.join("templates");
    std::fs::create_dir_all(templates.join("en")).expect("templates");
    let template = templates.join("en").join("reminder-1.txt");
    std::fs::write(&template, "{{ customer_name }}").expect("template");
    set_mode(&template, 0o000);
    let metrics = dir.join("metrics");
    std::fs::create_dir(&metrics).expect("metrics");
    set_mode(&metrics, 0o555);
    w.configure(|c| {
        c.remove("partner_center", "client_secret")
            .set(
                "partner_center",
                "client_secret_file",
                &quote_path(&credential),
            )
            .set("templates", "dir", &quote_path(&templates))
            .metrics_textfile(&metrics.join("cspguard.prom"));
    });
    set_mode(&w.config_path(), 0o644);
    let config = w.config_path().display().to_string();
    let args = cli::args(&["--config", &config, "doctor"]);

    let out = unprivileged(&args);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let l = names_user(&out, "FAIL  secret client_secret");
    let path = credential.display().to_string();
    assert!(l.contains(&path) && l.contains("LoadCredential="), "{l}");
    let l = names_user(&out, "FAIL  templates");
    assert!(l.contains(&template.display().to_string()), "{l}");
    let l = names_user(&out, "FAIL  metrics directory");
    let path = metrics.display().to_string();
    assert!(l.contains(&path) && l.contains("ReadWritePaths="), "{l}");
    if cspguard::doctor::User::current().uid == 0 {
        // Root owns the directory the state directory would be created in.
        let l = names_user(&out, "FAIL  state directory");
        assert!(l.contains("StateDirectory="), "{l}");
    }

    // The config itself unreadable: FAIL naming the file and the user, the rest skipped.
    set_mode(&w.config_path(), 0o000);
    let out = unprivileged(&args);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let l = names_user(&out, "FAIL  config");
    assert!(
        l.contains(&config) && l.contains("Permission denied"),
        "{l}"
    );
    assert!(l.contains("readable by the user cspguard runs as"), "{l}");
    assert!(
        out.stdout.contains("SKIP  everything else"),
        "{}",
        out.show()
    );
    // Let the temporary directory be removed.
    set_mode(&metrics, 0o755);
}
