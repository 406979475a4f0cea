//! `CliTracker` against the real tracker binary: `br` by default, or the one named by
//! `HEW_TEST_TRACKER` (e.g. `bd`). Each test makes its own repository and database.
//!
//! When the tracker is not on PATH the tests print a note and pass, unless
//! `HEW_REQUIRE_BR` is set (CI sets it), in which case they fail.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hew_core::tracker::{CliTracker, ReadyQuery, TaskId, Tracker, TrackerError};
use tempfile::TempDir;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh git repository with an initialized tracker database.
struct Repo {
    dir: TempDir,
    program: String,
}

impl Repo {
    /// `None` (after printing why) when the tracker is missing and not required.
    fn new() -> Option<Self> {
        let program = std::env::var("HEW_TEST_TRACKER").unwrap_or_else(|_| "br".into());
        if !on_path(&program) {
            let required = std::env::var_os("HEW_REQUIRE_BR").is_some_and(|v| !v.is_empty());
            assert!(
                !required,
                "HEW_REQUIRE_BR is set but `{program}` is not on PATH"
            );
            eprintln!("note: `{program}` not on PATH, skipping (set HEW_REQUIRE_BR=1 to fail)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .status();
        assert!(git.unwrap().success(), "git init failed");
        let repo = Self { dir, program };
        repo.run(&["init", "--prefix", "demo"]);
        Some(repo)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tracker(&self) -> CliTracker {
        let tracker = CliTracker::new(&self.program, self.path().to_owned(), TIMEOUT);
        // Discovery from the working directory is what the tests exercise; only pin the
        // database when the environment would otherwise point elsewhere.
        if std::env::var_os("BEADS_DIR").is_some() {
            tracker.with_env("BEADS_DIR", self.path().join(".beads").to_string_lossy())
        } else {
            tracker
        }
    }

    /// Runs the tracker directly (setup and checks that bypass the adapter).
    fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).current_dir(self.path());
        if std::env::var_os("BEADS_DIR").is_some() {
            cmd.env("BEADS_DIR", self.path().join(".beads"));
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{} {args:?}: {stdout}{stderr}",
            self.program
        );
        stdout
    }

    /// Creates a task and returns its id.
    fn create(&self, title: &str, priority: u8, issue_type: &str) -> TaskId {
        let p = priority.to_string();
        let out = self.run(&["create", title, "-p", &p, "-t", issue_type, "--json"]);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let record = if value.is_array() { &value[0] } else { &value };
        TaskId::parse(record["id"].as_str().unwrap()).unwrap()
    }

    /// The raw `show --json` record, for fields `Task` does not carry.
    fn raw(&self, id: &TaskId) -> serde_json::Value {
        let value: serde_json::Value =
            serde_json::from_str(&self.run(&["show", id.as_str(), "--json"])).unwrap();
        if value.is_array() {
            value[0].clone()
        } else {
            value
        }
    }
}

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn ids(tasks: &[hew_core::tracker::Task]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

fn query(limit: usize) -> ReadyQuery {
    ReadyQuery {
        limit,
        ..ReadyQuery::default()
    }
}

#[tokio::test]
async fn ready_lists_unblocked_tasks_in_priority_order_with_labels() {
    let Some(repo) = Repo::new() else { return };
    let low = repo.create("low", 3, "task");
    let top = repo.create("top", 0, "bug");
    let mid = repo.create("mid", 1, "feature");
    let blocked = repo.create("blocked", 0, "task");
    repo.run(&["dep", "add", blocked.as_str(), low.as_str()]);
    repo.run(&["label", "add", mid.as_str(), "model:opus"]);
    repo.run(&["label", "add", mid.as_str(), "backend"]);

    let ready = repo.tracker().ready(&query(10)).await.unwrap();
    assert_eq!(ids(&ready), [top.as_str(), mid.as_str(), low.as_str()]);
    let mid_task = &ready[1];
    let mut labels = mid_task.labels().to_vec();
    labels.sort();
    assert_eq!(labels, ["backend", "model:opus"]);
    assert_eq!(mid_task.priority, Some(1));
    assert_eq!(mid_task.issue_type, "feature");
    assert_eq!(mid_task.status, "open");

    let first_two = repo.tracker().ready(&query(2)).await.unwrap();
    assert_eq!(ids(&first_two), [top.as_str(), mid.as_str()]);
}

#[tokio::test]
async fn ready_filters_by_labels_type_and_parent() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let a = repo.create("a", 1, "task");
    let b = repo.create("b", 2, "bug");
    repo.run(&["label", "add", a.as_str(), "backend"]);
    repo.run(&["label", "add", a.as_str(), "model:opus"]);
    repo.run(&["label", "add", b.as_str(), "backend"]);

    let by_label = ReadyQuery {
        labels: vec!["backend".into()],
        ..query(10)
    };
    assert_eq!(
        ids(&tracker.ready(&by_label).await.unwrap()),
        [a.as_str(), b.as_str()]
    );
    let both = ReadyQuery {
        labels: vec!["backend".into(), "model:opus".into()],
        ..query(10)
    };
    assert_eq!(ids(&tracker.ready(&both).await.unwrap()), [a.as_str()]);
    let bugs = ReadyQuery {
        issue_type: Some("bug".into()),
        ..query(10)
    };
    assert_eq!(ids(&tracker.ready(&bugs).await.unwrap()), [b.as_str()]);

    let epic = repo.create("epic", 1, "epic");
    let out = repo.run(&[
        "create",
        "child",
        "-p",
        "3",
        "--parent",
        epic.as_str(),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let child = if value.is_array() {
        &value[0]["id"]
    } else {
        &value["id"]
    };
    let under = ReadyQuery {
        parent: Some(epic),
        ..query(10)
    };
    let children = tracker.ready(&under).await.unwrap();
    assert_eq!(ids(&children), [child.as_str().unwrap()]);

    let nowhere = ReadyQuery {
        parent: Some(TaskId::parse("demo-zzz9").unwrap()),
        ..query(10)
    };
    let err = tracker.ready(&nowhere).await.unwrap_err();
    assert!(matches!(err, TrackerError::NotFound { .. }), "{err:?}");

    let hostile = ReadyQuery {
        labels: vec!["--all".into()],
        ..query(10)
    };
    let err = tracker.ready(&hostile).await.unwrap_err();
    assert!(matches!(err, TrackerError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn a_claim_succeeds_once_and_release_makes_it_claimable_again() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let id = repo.create("work", 1, "task");

    let task = tracker.claim(&id, "hew/host/run-1/w1").await.unwrap();
    assert_eq!(task.id, id.as_str());
    assert_eq!(task.assignee.as_deref(), Some("hew/host/run-1/w1"));
    assert!(
        tracker.ready(&query(10)).await.unwrap().is_empty(),
        "a claimed task is not ready"
    );

    let err = tracker.claim(&id, "hew/host/run-1/w2").await.unwrap_err();
    let TrackerError::AlreadyClaimed {
        id: refused,
        command,
        detail,
    } = &err
    else {
        panic!("expected AlreadyClaimed, got {err:?}");
    };
    assert_eq!(refused, id.as_str());
    assert!(
        command.contains("--claim") && command.contains("w2"),
        "{command}"
    );
    assert!(detail.contains("w1"), "{detail}");

    tracker.release(&id).await.unwrap();
    let shown = tracker.show(&id).await.unwrap();
    assert_eq!(shown.status, "open");
    assert_eq!(shown.assignee.as_deref().unwrap_or(""), "");
    assert_eq!(
        ids(&tracker.ready(&query(10)).await.unwrap()),
        [id.as_str()]
    );

    let task = tracker.claim(&id, "hew/host/run-1/w2").await.unwrap();
    assert_eq!(task.assignee.as_deref(), Some("hew/host/run-1/w2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_have_exactly_one_winner() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let id = repo.create("contested", 1, "task");
    let (a, b, c, d) = tokio::join!(
        tracker.claim(&id, "w1"),
        tracker.claim(&id, "w2"),
        tracker.claim(&id, "w3"),
        tracker.claim(&id, "w4"),
    );
    let results = [a, b, c, d];
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(err) = result {
            assert!(
                matches!(err, TrackerError::AlreadyClaimed { .. }),
                "{err:?}"
            );
        }
    }
    let holder = winners[0].assignee.clone();
    assert_eq!(tracker.show(&id).await.unwrap().assignee, holder);
    // The holder claiming again is not a conflict.
    tracker
        .claim(&id, holder.as_deref().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_blocked_task_cannot_be_claimed() {
    let Some(repo) = Repo::new() else { return };
    let blocker = repo.create("blocker", 2, "task");
    let blocked = repo.create("blocked", 0, "task");
    repo.run(&["dep", "add", blocked.as_str(), blocker.as_str()]);
    let err = repo.tracker().claim(&blocked, "w1").await.unwrap_err();
    assert!(
        matches!(err, TrackerError::AlreadyClaimed { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_deleted_task_cannot_be_claimed_and_a_missing_one_is_not_found() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let gone = repo.create("deleted", 1, "task");
    repo.run(&["delete", gone.as_str(), "--json"]);
    let err = tracker.claim(&gone, "w1").await.unwrap_err();
    assert!(
        matches!(err, TrackerError::AlreadyClaimed { .. }),
        "{err:?}"
    );
    let never = TaskId::parse("demo-nope").unwrap();
    let err = tracker.claim(&never, "w1").await.unwrap_err();
    assert!(matches!(err, TrackerError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn close_takes_a_reason_starting_with_a_dash() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let id = repo.create("finish me", 1, "task");
    tracker
        .close(&id, "--force -- done; see `x`")
        .await
        .unwrap();
    let raw = repo.raw(&id);
    assert_eq!(raw["status"], "closed");
    assert_eq!(raw["close_reason"], "--force -- done; see `x`");

    // Closing again is skipped by the tracker: an error, not a silent success.
    let err = tracker.close(&id, "again").await.unwrap_err();
    assert!(matches!(err, TrackerError::Failed { .. }), "{err:?}");
    assert!(err.to_string().contains("already closed"), "{err}");
}

#[tokio::test]
async fn closing_a_blocked_task_is_an_error() {
    let Some(repo) = Repo::new() else { return };
    let blocker = repo.create("blocker", 2, "task");
    let blocked = repo.create("blocked", 0, "task");
    repo.run(&["dep", "add", blocked.as_str(), blocker.as_str()]);
    let err = repo.tracker().close(&blocked, "done").await.unwrap_err();
    assert!(matches!(err, TrackerError::Failed { .. }), "{err:?}");
    assert!(err.to_string().contains("blocked"), "{err}");
    assert_eq!(repo.raw(&blocked)["status"], "open");
}

#[tokio::test]
async fn labels_are_added_and_removed() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let id = repo.create("labelled", 2, "task");
    assert_eq!(tracker.show(&id).await.unwrap().labels, Some(vec![]));

    tracker.add_label(&id, "hew:retry-1").await.unwrap();
    tracker.add_label(&id, "hew:retry-1").await.unwrap();
    assert_eq!(tracker.show(&id).await.unwrap().labels(), ["hew:retry-1"]);
    tracker.remove_label(&id, "hew:retry-1").await.unwrap();
    assert!(tracker.show(&id).await.unwrap().labels().is_empty());
    tracker.remove_label(&id, "hew:retry-1").await.unwrap();

    for hostile in ["--json", "a b", "x;rm"] {
        let err = tracker.add_label(&id, hostile).await.unwrap_err();
        assert!(
            matches!(err, TrackerError::Invalid(_)),
            "{hostile}: {err:?}"
        );
    }
}

#[tokio::test]
async fn comments_keep_text_starting_with_a_dash() {
    let Some(repo) = Repo::new() else { return };
    let id = repo.create("commented", 2, "task");
    let text = "--json -x: attempt 1 failed\nsecond line";
    repo.tracker().add_comment(&id, text).await.unwrap();
    let comments = &repo.raw(&id)["comments"];
    assert_eq!(comments[0]["text"], text, "{comments}");
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let Some(repo) = Repo::new() else { return };
    let tracker = repo.tracker();
    let ghost = TaskId::parse("demo-zzz9").unwrap();
    let err = tracker.show(&ghost).await.unwrap_err();
    let TrackerError::NotFound { id, command, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(id, "demo-zzz9");
    assert!(command.ends_with("show demo-zzz9 --json"), "{command}");
    for err in [
        tracker.claim(&ghost, "w1").await.unwrap_err(),
        tracker.close(&ghost, "x").await.unwrap_err(),
        tracker.add_label(&ghost, "l").await.unwrap_err(),
        tracker.add_comment(&ghost, "c").await.unwrap_err(),
    ] {
        assert!(matches!(err, TrackerError::NotFound { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_directory_without_a_database_says_so() {
    let Some(repo) = Repo::new() else { return };
    if std::env::var_os("BEADS_DIR").is_some() {
        eprintln!("note: BEADS_DIR is set, so every directory has a database; skipping");
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let tracker = CliTracker::new(&repo.program, empty.path().to_owned(), TIMEOUT);
    let err = tracker.ready(&query(5)).await.unwrap_err();
    assert!(
        matches!(err, TrackerError::NotInitialized { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn in_progress_lists_claimed_tasks_with_their_assignee() {
    let Some(repo) = Repo::new() else { return };
    let a = repo.create("a", 2, "task");
    let b = repo.create("b", 2, "task");
    let tracker = repo.tracker();
    assert!(tracker.in_progress().await.unwrap().is_empty());
    tracker.claim(&a, "hew/host/1/run/w1").await.unwrap();
    let claimed = tracker.in_progress().await.unwrap();
    assert_eq!(ids(&claimed), [a.as_str()]);
    assert_eq!(claimed[0].assignee.as_deref(), Some("hew/host/1/run/w1"));
    assert!(!ids(&claimed).contains(&b.as_str()));
}
