//! A tracker that is missing or misbehaves gets one clear error naming the problem and the
//! fix, and exit code 4, whether before a run starts or during one. Faults the real tracker
//! cannot produce use a stub script or a script in front of it.

use hew_tests::{LoggedTracker, NewTask, TestRepo, require_tracker, stub_tracker};

use crate::fake_agent;

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn missing_tracker_names_the_key_and_how_to_install() {
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", "hew-no-such-tracker")
        .args(["loop", "--dry-run"])
        .assert()
        .code(4);
    let stderr = stderr_of(&out);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("tracker.command"), "{stderr}");
    assert!(stderr.contains("hew-no-such-tracker"), "{stderr}");
    assert!(stderr.contains("cargo install beads_rust"), "{stderr}");
    assert!(out.get_output().stdout.is_empty());
}

#[test]
fn malformed_tracker_output_is_quoted_truncated() {
    let repo = TestRepo::new();
    let bin = tempfile::tempdir().unwrap();
    let stub = stub_tracker(
        bin.path(),
        "echo 'this is not json'; head -c 100000 /dev/zero | tr '\\0' x",
    );
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", &stub)
        .args(["loop", "--dry-run"])
        .assert()
        .code(4);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("this is not json"), "{stderr}");
    assert!(
        stderr.len() < 2000,
        "the excerpt must be truncated, got {} bytes",
        stderr.len()
    );
}

#[test]
fn tracker_failure_carries_its_message() {
    let repo = TestRepo::new();
    let bin = tempfile::tempdir().unwrap();
    let stub = stub_tracker(bin.path(), "echo 'database is locked' >&2; exit 2");
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", &stub)
        .args(["loop", "--dry-run"])
        .assert()
        .code(4);
    assert!(stderr_of(&out).contains("database is locked"));
}

#[test]
fn a_hanging_tracker_times_out() {
    let repo = TestRepo::new();
    let bin = tempfile::tempdir().unwrap();
    let stub = stub_tracker(bin.path(), "sleep 600");
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", &stub)
        .env("HEW_TRACKER_TIMEOUT", "1s")
        .args(["loop", "--dry-run"])
        .assert()
        .code(4);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("tracker.timeout"), "{stderr}");
}

#[test]
fn outside_a_git_repository_is_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new(hew_tests::hew_bin())
        .current_dir(dir.path())
        .args(["loop", "--dry-run"])
        .assert()
        .code(5);
    assert!(stderr_of(&out).contains("not in a git repository"));
}

#[test]
fn a_tracker_that_hangs_on_a_claim_stops_the_run_after_one_wait() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let a = repo.create_task(NewTask::new("a"));
    let b = repo.create_task(NewTask::new("b"));
    let tracker = LoggedTracker::new("case \"$*\" in *--claim*) sleep 600;; esac");
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", &tracker.script)
        .env("HEW_TRACKER_TIMEOUT", "1s")
        .args(["loop", "-j", "2"])
        .assert()
        .code(4);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        stderr_of(&out)
    );
    assert!(said.contains("tracker.timeout"), "{said}");
    // One claim for both slots, not that one and then one more per task.
    let calls = tracker.calls();
    assert_eq!(calls.matches("--claim").count(), 1, "{calls}");
    assert!(repo.iterations().is_empty());
    for id in [&a, &b] {
        assert_eq!(repo.show(id)["status"], "open", "{id}");
    }
}
