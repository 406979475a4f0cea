//! `hew loop --dry-run`: the ready tasks the loop would take, with each task's model and
//! the rule that chose it, read from a real `br` tracker.

use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::Value;

const ROUTING: &str = r#"
# routing used by the dry-run tests
[loop.model]
default = "haiku"
by_priority = { P0 = "opus" }
by_type = { bug = "sonnet" }
"#;

fn dry_run_json(repo: &TestRepo) -> Vec<Value> {
    dry_run_doc(repo)["tasks"].as_array().unwrap().clone()
}

fn dry_run_doc(repo: &TestRepo) -> Value {
    let out = repo
        .hew()
        .args(["loop", "--dry-run", "--json"])
        .assert()
        .success();
    let stdout = &out.get_output().stdout;
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(stdout)))
}

/// `(id, model, rule)` of each listed task, in the listed order.
fn routes(rows: &[Value]) -> Vec<(String, Option<String>, String)> {
    rows.iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["model"].as_str().map(str::to_owned),
                r["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn lists_exactly_the_ready_non_epic_tasks_with_model_and_rule() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.write_project_config(ROUTING);
    let tagged = repo.create_task(
        NewTask::new("tagged").description("Heavy refactor.\n<!--  hew:model = opus-tag -->\n"),
    );
    let labelled =
        repo.create_task(NewTask::new("labelled").labels(&["backend", "model:label-model"]));
    let urgent = repo.create_task(NewTask::new("urgent").priority(0));
    let bug = repo.create_task(NewTask::new("a bug").issue_type("bug"));
    let plain = repo.create_task(NewTask::new("plain").priority(3));
    let epic = repo.create_task(NewTask::new("an epic").priority(1).issue_type("epic"));
    let blocked = repo.create_task(NewTask::new("blocked").priority(1));
    repo.block(&blocked, &urgent);

    let rows = dry_run_json(&repo);
    let mut got = routes(&rows);
    // Priority order first: P0, then the P2s (in the tracker's order), then P3.
    let priorities: Vec<u64> = rows
        .iter()
        .map(|r| r["priority"].as_u64().unwrap())
        .collect();
    assert!(
        priorities.is_sorted(),
        "not in priority order: {priorities:?}"
    );
    assert_eq!(got[0].0, urgent, "the P0 task comes first");
    got.sort();
    let mut want = vec![
        (tagged, Some("opus-tag".into()), "tag".to_owned()),
        (
            labelled.clone(),
            Some("label-model".into()),
            "label".to_owned(),
        ),
        (urgent, Some("opus".into()), "priority".to_owned()),
        (bug, Some("sonnet".into()), "type".to_owned()),
        (plain, Some("haiku".into()), "default".to_owned()),
    ];
    want.sort();
    assert_eq!(
        got, want,
        "epic {epic} and blocked {blocked} must not be listed"
    );

    let row = rows.iter().find(|r| r["id"] == labelled.as_str()).unwrap();
    assert_eq!(row["title"], "labelled");
    assert_eq!(row["issue_type"], "task");
    assert_eq!(row["priority"], 2);
    let mut labels: Vec<&str> = row["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["backend", "model:label-model"]);
}

#[test]
fn without_routing_config_the_model_is_null_and_the_rule_none() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let id = repo.create_task(NewTask::new("plain"));
    let rows = dry_run_json(&repo);
    assert_eq!(routes(&rows), vec![(id, None, "none".to_owned())]);
}

#[test]
fn a_blocked_task_is_listed_once_its_blocker_is_closed() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let blocker = repo.create_task(NewTask::new("blocker"));
    let blocked = repo.create_task(NewTask::new("blocked"));
    repo.block(&blocked, &blocker);
    let ids = |rows: Vec<Value>| {
        rows.iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(dry_run_json(&repo)), std::slice::from_ref(&blocker));
    repo.tracker(&["close", &blocker, "--reason", "done"]);
    assert_eq!(ids(dry_run_json(&repo)), [blocked]);
}

#[test]
fn filters_and_forced_model_apply() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.write_project_config(ROUTING);
    let bug = repo.create_task(NewTask::new("a bug").issue_type("bug").labels(&["backend"]));
    repo.create_task(NewTask::new("a task").labels(&["frontend"]));
    let out = repo
        .hew()
        .args([
            "loop",
            "--dry-run",
            "--json",
            "--label",
            "backend",
            "--model",
            "opus",
        ])
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        routes(doc["tasks"].as_array().unwrap()),
        vec![(bug, Some("opus".into()), "flag".to_owned())]
    );
}

#[test]
fn human_output_names_model_rule_and_skipped_epics() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.write_project_config(ROUTING);
    let urgent = repo.create_task(NewTask::new("urgent work").priority(0));
    let epic = repo.create_task(NewTask::new("big epic").issue_type("epic"));
    let out = repo.hew().args(["loop", "--dry-run"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&urgent))
        .unwrap_or_else(|| panic!("{stdout}"));
    for word in ["P0", "opus", "priority", "urgent work"] {
        assert!(line.contains(word), "{word} missing from {line:?}");
    }
    assert!(stdout.contains(&format!("{epic} (epic)")), "{stdout}");
}

#[test]
fn nothing_ready_says_so() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let out = repo.hew().args(["loop", "--dry-run"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("Nothing to run"));
    let rows = dry_run_json(&repo);
    assert!(rows.is_empty());
}

#[test]
fn a_hostile_filter_never_reaches_the_tracker() {
    let repo = TestRepo::new();
    for args in [
        ["--label=-rf"],
        ["--parent=../x"],
        ["--label=a b"],
        ["--type=a\nb"],
    ] {
        let out = repo
            .hew()
            .args(["loop", "--dry-run"])
            .args(args)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr);
        assert!(stderr.starts_with("error: invalid"), "{stderr}");
    }
}
