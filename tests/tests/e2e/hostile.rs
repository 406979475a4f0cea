//! Broken and hostile input end to end: agents printing garbage, a 10 MB line or nothing,
//! and repositories hew cannot run in. Each gets an honest outcome or a clear message, and
//! nothing is left inconsistent.

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::json;

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn garbage_or_a_huge_line_from_the_agent_still_gives_honest_records() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let garbage = repo.create_task(NewTask::new("garbage"));
    let huge = repo.create_task(NewTask::new("huge line"));
    repo.scenario(&json!({ "tasks": {
        garbage.clone(): { "garbage": true },
        huge.clone(): { "big_line_bytes": 10_000_000 },
    }}));
    let out = repo.hew().args(["loop", "-j", "2"]).assert();
    assert!(out.get_output().status.success(), "{}", stderr(&out));
    let iters = repo.iterations();
    let by_id = |id: &str| iters.iter().find(|i| i["task_id"] == id).unwrap().clone();
    for id in [&garbage, &huge] {
        let it = by_id(id);
        assert_eq!(it["outcome"], "closed", "{it:#}");
        assert_eq!(
            it["usage"]["source"], "result",
            "the result after the noise still counts: {it:#}"
        );
    }
    let run = repo.run_record()["run_id"].as_str().unwrap().to_owned();
    let raw = repo.path().join(format!(
        ".hew/loop/{run}/iters/{}.agent.jsonl",
        by_id(&huge)["number"]
    ));
    assert!(
        std::fs::metadata(raw).unwrap().len() > 10_000_000,
        "the huge line is kept whole on disk"
    );
}

#[test]
fn an_agent_that_prints_nothing_has_unknown_usage_not_zero() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_task(NewTask::new("silent"));
    let out = repo
        .hew()
        .env("FAKE_AGENT_FORMAT", "none")
        .args(["loop"])
        .assert();
    assert!(out.get_output().status.success(), "{}", stderr(&out));
    let it = &repo.iterations()[0];
    assert_eq!(it["outcome"], "closed");
    assert_eq!(it["usage"]["source"], "unknown", "{it:#}");
    // No tokens at all: the reason is the missing usage, not a missing price.
    for said in [
        String::from_utf8_lossy(&out.get_output().stdout).into_owned(),
        String::from_utf8_lossy(
            &repo
                .hew()
                .args(["loop", "summary"])
                .assert()
                .success()
                .get_output()
                .stdout,
        )
        .into_owned(),
    ] {
        assert!(said.contains("printed no usage"), "{said}");
        assert!(!said.contains("without a price"), "{said}");
    }
}

#[test]
fn a_detached_head_is_refused_with_the_fix() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let git = repo.git();
    let head = git.head().unwrap().target().unwrap();
    git.set_head_detached(head).unwrap();
    repo.create_task(NewTask::new("work"));
    let out = repo.hew().args(["loop"]).assert().code(5);
    let err = stderr(&out);
    assert!(err.contains("detached") && err.contains("--into"), "{err}");
    assert_eq!(
        repo.tracker_json(&["list", "--status", "in_progress"])["issues"]
            .as_array()
            .map_or(0, Vec::len),
        0
    );
}

#[test]
fn an_empty_repository_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    git2::Repository::init(dir.path()).unwrap();
    let out = assert_cmd::Command::new(hew_tests::hew_bin())
        .current_dir(dir.path())
        .env("HEW_TRACKER_COMMAND", "br")
        .args(["loop"])
        .assert()
        .code(5);
    let err = stderr(&out);
    assert!(err.contains("commit"), "{err}");
}
