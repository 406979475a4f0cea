//! `loop.notify.command`: told once at the end of a run, with the run's summary on stdin;
//! its failure is a warning, never the run's.

use std::path::Path;

use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::Value;

use crate::fake_agent;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A notify command that keeps what it was given in `dir`: stdin in `summary.json`, and
/// one line per call in `calls` with `HEW_RUN_ID`.
fn recording_notify(dir: &Path) -> String {
    format!(
        "[loop.notify]\ncommand = \"\"\"cat > '{0}/summary.json' && echo \"$HEW_RUN_ID\" >> '{0}/calls'\"\"\"\n",
        dir.display()
    )
}

fn summary_json(repo: &TestRepo, run_id: &str) -> Value {
    let out = repo
        .hew()
        .args(["loop", "summary", "--run-id", run_id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("summary --json is JSON")
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_notify_command_gets_the_runs_summary_json() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let got = tempfile::tempdir().unwrap();
    repo.use_agent("claude", fake_agent(), &recording_notify(got.path()));
    let ids = repo.create_tasks(2);
    let out = repo.hew().args(["loop", "-j", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );

    let run_id = repo.run_record()["run_id"].as_str().unwrap().to_owned();
    assert_eq!(
        calls(got.path()),
        vec![run_id.clone()],
        "told once, with HEW_RUN_ID"
    );
    let sent: Value =
        serde_json::from_slice(&std::fs::read(got.path().join("summary.json")).unwrap())
            .expect("the notify command got valid JSON");
    assert_eq!(sent, summary_json(&repo, &run_id));
    assert_eq!(sent["run_id"], run_id.as_str());
    assert_eq!(sent["stop_reason"], "ready_empty");
    assert_eq!(sent["outcomes"]["closed"], ids.len());
}

#[test]
fn a_failing_notify_is_a_warning_and_the_exit_code_stays() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.notify]\ncommand = \"echo 'curl: (22) The requested URL returned error: 500' >&2; exit 22\"\n",
    );
    let id = repo.create_task(NewTask::new("work"));
    let out = repo.hew().args(["loop"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "warning: loop.notify.command exited with 22: curl: (22) The requested URL returned error: 500"
        ),
        "{stderr}"
    );
    assert_eq!(repo.show(&id)["status"], "closed");

    // A program that is not there, and one that outlives its timeout: warnings too.
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.notify]\ncommand = \"no-such-notifier --send\"\n",
    );
    let out = repo.hew().args(["loop"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: loop.notify.command exited with 127"),
        "{stderr}"
    );

    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.notify]\ncommand = \"sleep 600\"\ntimeout = \"1s\"\n",
    );
    let out = repo.hew().args(["loop"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "warning: loop.notify.command did not finish within loop.notify.timeout (1s)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_failed_run_is_told_too_and_a_dry_run_is_not() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let got = tempfile::tempdir().unwrap();
    repo.use_agent(
        "claude",
        Path::new("/nonexistent/claude"),
        &recording_notify(got.path()),
    );
    repo.create_task(NewTask::new("work"));

    let dry = repo.hew().args(["loop", "--dry-run"]).output().unwrap();
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(calls(got.path()).is_empty(), "a dry run is not told");

    let out = repo.hew().args(["loop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let run_id = repo.run_record()["run_id"].as_str().unwrap().to_owned();
    assert_eq!(calls(got.path()), vec![run_id.clone()]);
    let sent: Value =
        serde_json::from_slice(&std::fs::read(got.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(sent["stop_reason"], "environment");
    assert_eq!(sent, summary_json(&repo, &run_id));
}
