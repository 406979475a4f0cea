//! `loop.worktree.setup`: a command that prepares a worktree before its agent, run when the
//! worktree is made and when a watched file changed since, and a failure of it that leaves
//! the task untouched and stops the run.

use std::path::Path;
use std::process::Command;

use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::{Value, json};

use crate::fake_agent;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `files` on `main` and commits them, as a person would between runs.
fn commit_on_main(repo: &TestRepo, files: &[(&str, &str)], message: &str) {
    for (path, content) in files {
        std::fs::write(repo.path().join(path), content).unwrap();
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    let mut add = vec!["add", "--"];
    add.extend(files.iter().map(|(p, _)| *p));
    git(&add);
    git(&["commit", "-q", "-m", message]);
}

/// The lines the setup command logged: `<slot> <task id>`.
fn setup_log(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The setups of worker slots (`<slot> <task>`), in order.
fn worker_setups(log: &Path) -> Vec<String> {
    setup_log(log)
        .into_iter()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(_, task)| !task.trim().is_empty())
        })
        .collect()
}

/// The slots of the merge queue's setups: no task, the slot after the workers'.
fn queue_setups(log: &Path) -> Vec<String> {
    setup_log(log)
        .into_iter()
        .filter_map(|l| {
            let (slot, task) = l.split_once(' ')?;
            task.trim().is_empty().then(|| slot.to_owned())
        })
        .collect()
}

/// The project: a `.gitignore` keeping the setup's output out of git, a lock file, and a
/// setup that installs the tool the verify command runs (and logs each run outside the
/// repository).
fn project(repo: &TestRepo, log: &Path, extra: &str) {
    commit_on_main(
        repo,
        &[(".gitignore", "tools/\n"), ("deps.lock", "v1\n")],
        "project files",
    );
    let setup = format!(
        "echo \"$HEW_SLOT $HEW_TASK_ID\" >> '{}' && mkdir -p tools && \
         printf '#!/bin/sh\\ntest -f \"$1\"\\n' > tools/check && chmod +x tools/check",
        log.display()
    );
    repo.use_agent(
        "claude",
        fake_agent(),
        &format!(
            "[loop.worktree]\nsetup = \"\"\"{setup}\"\"\"\nsetup_when_changed = [\"deps.lock\"]\n\
             [loop.verify]\ncommand = \"./tools/check README.md\"\n{extra}"
        ),
    );
}

fn run_loop_ok(repo: &TestRepo, args: &[&str]) {
    let out = repo.hew().arg("loop").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hew loop failed ({:?}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn last_iterations(repo: &TestRepo, id: &str) -> Value {
    repo.all_iterations()
        .into_iter()
        .find(|i| i["task_id"] == id)
        .unwrap_or_else(|| panic!("no iteration of {id}"))
}

#[test]
fn setup_installs_what_verify_needs_and_reruns_only_when_a_watched_file_changes() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("setup.log");
    project(&repo, &log, "");

    // Run 1: two tasks on one slot. The worktree is made once, set up once; both tasks'
    // verify runs the tool the setup installed, and both land.
    let first = repo.create_tasks(2);
    run_loop_ok(&repo, &["-j", "1"]);
    for id in &first {
        assert_eq!(repo.show(id)["status"], "closed", "{id}");
        let it = last_iterations(&repo, id);
        assert_eq!(it["outcome"], "closed");
        assert_eq!(it["verify"]["passed"], true);
    }
    let lines = worker_setups(&log);
    assert_eq!(lines.len(), 1, "{lines:?}");
    // The merge queue verifies in a worktree of its own, set up as well, with the slot
    // after the workers'.
    assert_eq!(queue_setups(&log), ["2"]);
    assert_eq!(lines[0], format!("1 {}", first[0]));
    let it = last_iterations(&repo, &first[0]);
    assert_eq!(it["setup"]["passed"], true);
    assert_eq!(it["setup"]["reason"], "the worktree has not been set up");
    assert!(last_iterations(&repo, &first[1]).get("setup").is_none());
    let notes = it["notes"].to_string();
    assert!(!notes.contains("the setup left files"), "{notes}");
    // The tool is ignored: no agent committed it, the target does not have it.
    assert_eq!(repo.file_on("main", "tools/check"), None);

    // Run 2, nothing watched changed: the warm worktree is not set up again.
    let second = repo.create_task(NewTask::new("second run"));
    run_loop_ok(&repo, &["-j", "1"]);
    assert_eq!(repo.show(&second)["status"], "closed");
    assert_eq!(worker_setups(&log).len(), 1, "{:?}", setup_log(&log));
    assert_eq!(queue_setups(&log), ["2"]);

    // Run 3, the lock file changed on the target: set up again, before the agent.
    commit_on_main(&repo, &[("deps.lock", "v2\n")], "bump deps");
    let third = repo.create_task(NewTask::new("after the bump"));
    run_loop_ok(&repo, &["-j", "1"]);
    assert_eq!(repo.show(&third)["status"], "closed");
    let lines = worker_setups(&log);
    assert_eq!(lines, [format!("1 {}", first[0]), format!("1 {third}")]);
    assert_eq!(queue_setups(&log), ["2", "2"]);
    assert_eq!(
        last_iterations(&repo, &third)["setup"]["reason"],
        "`deps.lock` changed since the last setup"
    );

    // The agent sees its slot too.
    let slots: Vec<Value> = repo
        .agent_records()
        .iter()
        .map(|r| r["env"]["HEW_SLOT"].clone())
        .collect();
    assert_eq!(slots, vec![json!("1"); 4]);
}

#[test]
fn each_slot_is_set_up_once_with_its_own_number() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("setup.log");
    project(&repo, &log, "");
    let ids = repo.create_tasks(4);
    run_loop_ok(&repo, &["-j", "2"]);
    for id in &ids {
        assert_eq!(repo.show(id)["status"], "closed", "{id}");
    }
    let mut slots: Vec<String> = worker_setups(&log)
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    slots.sort();
    assert_eq!(slots, ["1", "2"]);
    assert_eq!(queue_setups(&log), ["3"]);
}

#[test]
fn a_failing_setup_leaves_the_task_untouched_and_stops_the_run_after_the_breaker() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.worktree]\nsetup = \"echo 'npm ERR! could not resolve registry'; exit 3\"\n\
         [loop.retry]\ncircuit_breaker = 2\n",
    );
    let id = repo.create_task(NewTask::new("never reached"));
    let before = repo.show(&id);

    let out = repo.hew().args(["loop", "-j", "1"]).output().unwrap();
    let stderr = text(&out.stderr);
    // The environment's exit code, the failure, and what to fix.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the worktree setup failed"), "{stderr}");
    assert!(
        stderr.contains("hint: fix the command of `loop.worktree.setup`"),
        "{stderr}"
    );
    assert!(stderr.contains("no task was touched"), "{stderr}");
    let run = repo.run_record();
    assert_eq!(run["stop_reason"], "environment");

    // Tried as often as the breaker says, never by an agent.
    let iters = repo.iterations();
    assert_eq!(iters.len(), 2);
    for it in &iters {
        assert_eq!(it["setup"]["passed"], false);
        assert_eq!(it["setup"]["exit_code"], 3);
        let tail = it["setup"]["output_tail"].as_str().unwrap();
        assert!(
            tail.contains("npm ERR! could not resolve registry"),
            "{tail}"
        );
    }
    assert!(repo.agent_records().is_empty());

    // The task is as it was: open, unassigned, no label, no comment.
    let after = repo.show(&id);
    assert_eq!(after["status"], "open");
    assert!(after["assignee"].as_str().unwrap_or("").is_empty());
    for field in ["labels", "comments", "comment_count", "status", "priority"] {
        assert_eq!(after.get(field), before.get(field), "{field}");
    }
    assert!(
        repo.branches("hew/").is_empty(),
        "{:?}",
        repo.branches("hew/")
    );
}
