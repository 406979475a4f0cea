//! Durable retries: attempts are counted on the task with labels, survive restarts, end in
//! `hew:exhausted`; a retry may move to a stronger model; deterministic failures are not
//! retried and an authentication failure stops the run, leaving every task as it was.

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::json;

fn labels(repo: &TestRepo, id: &str) -> Vec<String> {
    let mut l: Vec<String> = repo.show(id)["labels"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    l.sort();
    l
}

#[test]
fn attempts_survive_restarts_and_end_exhausted() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("always fails"));
    repo.scenario(&json!({ "default": { "exit": 1, "commit": false } }));

    // Three separate invocations, one attempt each.
    // Each label replaces the one before.
    for (n, want) in [(1, vec!["hew:retry-1"]), (2, vec!["hew:retry-2"])] {
        repo.hew()
            .args(["loop", "--max-iters", "1"])
            .assert()
            .success();
        assert_eq!(labels(&repo, &id), want, "after invocation {n}");
    }
    repo.hew()
        .args(["loop", "--max-iters", "1"])
        .assert()
        .success();
    assert_eq!(labels(&repo, &id), ["hew:exhausted"]);
    let attempts: Vec<u64> = repo
        .all_iterations()
        .iter()
        .map(|i| i["attempt"].as_u64().unwrap())
        .collect();
    let mut sorted = attempts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [1, 2, 3],
        "the attempt number comes from the labels, not the run"
    );

    // A fourth run does not pick it again; the dry run says why.
    repo.hew().args(["loop"]).assert().success();
    assert_eq!(repo.all_iterations().len(), 3);
    let out = repo.hew().args(["loop", "--dry-run"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("hew:exhausted") && text.contains(&id),
        "{text}"
    );
    let comments = repo.show(&id)["comments"].to_string();
    assert!(
        comments.contains("not trying this task again"),
        "{comments}"
    );
}

#[test]
fn a_retry_escalates_the_model_and_success_strips_the_labels() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.model]\ndefault = \"haiku\"\nescalate = [\"sonnet\", \"opus\"]\n",
    );
    let id = repo.create_task(NewTask::new("flaky"));
    repo.scenario(&json!({ "default": { "succeed_on_attempt": 2 } }));
    repo.hew().args(["loop"]).assert().success();

    let iters = repo.iterations();
    let summary: Vec<(String, String, String)> = iters
        .iter()
        .map(|i| {
            (
                i["outcome"].as_str().unwrap().into(),
                i["model"].as_str().unwrap().into(),
                i["rule"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("agent_failed".into(), "haiku".into(), "default".into()),
            ("closed".into(), "sonnet".into(), "escalate".into())
        ]
    );
    let records = repo.agent_records();
    assert_eq!(records[1]["env"]["HEW_ATTEMPT"], "2");
    assert_eq!(records[1]["env"]["ANTHROPIC_MODEL"], "sonnet");
    assert_eq!(repo.show(&id)["status"], "closed");
    assert!(
        labels(&repo, &id).iter().all(|l| !l.starts_with("hew:")),
        "{:?}",
        labels(&repo, &id)
    );
}

#[test]
fn an_authentication_failure_stops_the_run_at_once() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let ids: Vec<String> = (0..3)
        .map(|i| repo.create_task(NewTask::new(&format!("t{i}"))))
        .collect();
    repo.scenario(&json!({ "default": { "error_result": "auth" } }));
    let out = repo.hew().args(["loop", "-j", "1"]).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();

    let run = repo.run_record();
    assert_eq!(run["stop_reason"], "auth", "{stdout}");
    let iters = repo.iterations();
    assert_eq!(iters.len(), 1, "no task starts after a 401");
    assert_eq!(
        (
            iters[0]["outcome"].as_str(),
            iters[0]["error_class"].as_str()
        ),
        (Some("agent_failed"), Some("auth"))
    );
    // Not the tasks' fault: every task is as it was, the one tried included.
    for id in &ids {
        assert!(labels(&repo, id).is_empty(), "{id} was labelled");
        assert_eq!(repo.show(id)["status"], "open", "{id}");
        let comments = repo.show(id)["comments"].to_string();
        assert!(!comments.contains("hew:"), "{id} was commented: {comments}");
    }
}

#[test]
fn rate_limits_are_retried_after_a_backoff_until_exhausted() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.retry]\nbackoff = \"100ms\"\n",
    );
    let id = repo.create_task(NewTask::new("limited"));
    repo.scenario(&json!({ "default": { "error_result": "rate_limit" } }));
    repo.hew().args(["loop"]).assert().success();

    let iters = repo.iterations();
    let classes: Vec<&str> = iters
        .iter()
        .map(|i| i["error_class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["rate_limit"; 3], "first attempt and two retries");
    // One label says where the task stands: each replaced the one before.
    assert_eq!(labels(&repo, &id), ["hew:exhausted"]);
    assert_eq!(repo.run_record()["stop_reason"], "ready_empty");
}

/// Three different tasks failing the same way in a row is the environment, not the
/// tasks: the run stops and names the failure that repeated.
#[test]
fn three_tasks_failing_the_same_way_in_a_row_stop_the_run() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "[loop.retry]\nbackoff = \"1h\"\n");
    let ids = repo.create_tasks(5);
    repo.scenario(&json!({ "default": { "error_result": "server" } }));
    let out = repo.hew().args(["loop", "-j", "1"]).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();

    let run = repo.run_record();
    assert_eq!(run["stop_reason"], "repeated_failure", "{stdout}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("3 different tasks in a row") && error.contains("Internal server error"),
        "{error}"
    );
    assert_eq!(
        repo.iterations().len(),
        3,
        "nothing starts after the third: {stdout}"
    );
    let untried = ids
        .iter()
        .filter(|id| !repo.show(id)["labels"].to_string().contains("hew:"))
        .count();
    assert_eq!(untried, 2, "two tasks never tried");
}
