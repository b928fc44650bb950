//! Whole-run bounds end to end (issue 15): a Partner Center that accepts connections and never
//! answers cannot hold the run lock; the run stops at `[run] deadline_secs`, is recorded as
//! failed with why, releases the lock and exits 1 with a clear error.

mod support;

use jiff::Timestamp;
use support::config::Secret;
use support::world::World;
use tokio::net::TcpListener;

/// A loopback server that accepts every connection and never sends a byte.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_deadline_is_recorded_failed_and_releases_the_lock() {
    let url = silent_server().await;
    let mut w = World::offline(&url, &Secret::inline("deadline-client-secret"), None);
    w.configure(|c| {
        c.set("run", "deadline_secs", "1");
    });
    let now = Timestamp::now();

    let out = w.run(now, &[], 1).await;
    assert!(out.stderr.contains("deadline of 1 s"), "{}", out.show());

    let runs = w.ledger().recent_runs(5).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_deref(), Some("failed"));
    assert!(runs[0].finished_at.is_some());
    assert!(
        runs[0].errors[0].contains("deadline"),
        "{:?}",
        runs[0].errors
    );

    // The lock was released: the next run gets as far as its own deadline (not exit 75).
    w.run(now, &[], 1).await;
    let status = w.cli(now, &["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.show());
    assert!(!status.stdout.contains("(unfinished)"), "{}", status.stdout);
    assert_eq!(
        status.stdout.matches("failed").count(),
        2,
        "{}",
        status.stdout
    );
}
