//! Several hew processes on one repository and tracker: every task runs exactly once, and
//! their merges never step on each other.

use std::collections::BTreeMap;
use std::process::Stdio;

use hew_tests::{TestRepo, require_tracker};
use serde_json::json;

#[test]
fn three_runners_share_thirty_tasks_and_run_each_exactly_once() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", crate::fake_agent(), "");
    repo.scenario(&json!({ "default": { "sleep_ms": 150 } }));
    let ids = repo.create_tasks(30);

    let runners: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = repo.hew_std();
            cmd.args(["loop", "-j", "2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().expect("start hew")
        })
        .collect();
    for r in runners {
        let out = r.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a runner failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Count agent runs per task over every run's records.
    let mut runs_per_task: BTreeMap<String, usize> = BTreeMap::new();
    for it in repo.all_iterations() {
        assert_eq!(it["outcome"], "closed", "{it:#}");
        *runs_per_task
            .entry(it["task_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let runs = std::fs::read_dir(repo.path().join(".hew/loop"))
        .unwrap()
        .count();
    assert_eq!(runs, 3, "three runs");
    assert_eq!(runs_per_task.len(), 30, "{runs_per_task:?}");
    assert!(
        runs_per_task.values().all(|n| *n == 1),
        "a task ran twice: {runs_per_task:?}"
    );
    for id in &ids {
        assert_eq!(repo.show(id)["status"], "closed");
        assert!(
            repo.file_on("main", &format!("{id}.txt")).is_some(),
            "{id}'s work is not on main"
        );
    }
}
