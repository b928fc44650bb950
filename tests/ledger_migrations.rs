//! Schema migrations (data-driven over every earlier version), refusal of newer schemas, and
//! clear errors for corrupt or unreadable state files with nothing executed.

use cspguard::ledger::schema::{MIGRATIONS, SCHEMA_VERSION, migrate_to};
use cspguard::ledger::{ActionStatus, Ledger, LedgerError, NewAction};
use jiff::Timestamp;
use serde_json::json;

fn now() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

fn user_version(path: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn smoke(l: &Ledger) {
    let a = l
        .insert_action(
            &NewAction {
                key: "k".into(),
                kind: "email".into(),
                customer: None,
                payload: json!({}),
                requires_approval: false,
                reason: "r".into(),
            },
            now(),
        )
        .unwrap();
    assert_eq!(a.status, ActionStatus::Planned);
    l.begin_run("dry-run", now()).unwrap();
}

#[test]
fn schema_version_matches_the_migration_list() {
    assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
    const { assert!(SCHEMA_VERSION >= 1) };
}

#[test]
fn opening_an_empty_file_migrates_to_the_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, b"").unwrap();
    let l = Ledger::open(&path).unwrap();
    assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
    smoke(&l);
    drop(l);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    // WAL mode is persistent in the file.
    let c = rusqlite::Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn every_earlier_version_migrates_to_the_latest() {
    for from in 0..SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            migrate_to(&c, &path, from).unwrap();
            let v: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, from);
        }
        let l = Ledger::open(&path).unwrap_or_else(|e| panic!("from v{from}: {e}"));
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION, "from v{from}");
        smoke(&l);
        drop(l);
        // Reopening is a no-op.
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.action_by_key("k").unwrap().unwrap().key, "k");
    }
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    match Ledger::open(&path) {
        Err(LedgerError::SchemaTooNew {
            found,
            supported,
            path: p,
        }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
            assert_eq!(p, path);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let msg = Ledger::open(&path).unwrap_err().to_string();
    assert!(
        msg.contains("newer cspguard") && msg.contains("state.db"),
        "{msg}"
    );
    assert_eq!(user_version(&path), SCHEMA_VERSION + 1);
}

#[test]
fn a_file_of_random_bytes_is_a_clear_corrupt_error_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut rng = fastrand::Rng::with_seed(7);
    let bytes: Vec<u8> = (0..8192).map(|_| rng.u8(..)).collect();
    std::fs::write(&path, &bytes).unwrap();
    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("backup") && msg.contains("nothing was executed"),
        "{msg}"
    );
    assert_eq!(err.exit(), cspguard::exit::Exit::Failed);
    // The file was not modified.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_directory_in_place_of_the_file_is_a_clear_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Ledger::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(
        matches!(
            err,
            LedgerError::Open { .. } | LedgerError::Corrupt { .. } | LedgerError::Sqlite { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn a_missing_parent_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("state.db");
    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn open_existing_refuses_to_create() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    assert!(matches!(
        Ledger::open_existing(&path),
        Err(LedgerError::Missing { .. })
    ));
    assert!(!path.exists());
}

#[test]
fn damaged_rows_give_data_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let l = Ledger::open(&path).unwrap();
        smoke(&l);
    }
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "UPDATE actions SET payload = 'not json', created_at = 'yesterday'",
            [],
        )
        .unwrap();
    }
    let l = Ledger::open(&path).unwrap();
    let err = l.action_by_key("k").unwrap_err();
    assert!(matches!(err, LedgerError::Data { .. }), "{err:?}");
    assert!(err.to_string().contains("state.db"), "{err}");
}

#[test]
fn open_read_only_never_creates_migrates_or_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    assert!(matches!(
        Ledger::open_read_only(&path),
        Err(LedgerError::Missing { .. })
    ));
    assert!(!path.exists());

    // An older schema is left for the next run to migrate.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        migrate_to(&c, &path, SCHEMA_VERSION - 1).unwrap();
    }
    match Ledger::open_read_only(&path) {
        Err(e @ LedgerError::SchemaOld { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("next `cspguard run` migrates it"), "{msg}");
        }
        other => panic!("expected SchemaOld, got {other:?}"),
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION - 1);

    // A current database reads, refuses writes, and leaves no -wal/-shm behind.
    drop(Ledger::open(&path).unwrap());
    let before = std::fs::read(&path).unwrap();
    let l = Ledger::open_read_only(&path).unwrap();
    assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(l.recent_runs(5).unwrap().is_empty());
    assert!(
        l.begin_run("dry-run", now()).is_err(),
        "a write went through"
    );
    drop(l);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["state.db"]);
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
}
