//! The merge queue: the target only ever moves to a commit the verify command passed on,
//! with the work of tasks that pass alone but break the build together.

use std::path::Path;
use std::process::{Command, Stdio};

use hew_tests::{NewTask, TestRepo, git, require_tracker, wait_for_file};
use serde_json::{Value, json};

use crate::fake_agent;

/// A build that can break: every `call NAME` line under `callers/` needs a `def NAME` line
/// in `lib.txt`.
const CHECK: &str = "#!/bin/sh\nfor name in $(cat callers/* 2>/dev/null | sed -n 's/^call //p'); do\n  grep -qx \"def $name\" lib.txt || { echo \"undefined: $name\"; exit 1; }\ndone\n";

/// Commits the project whose build `check.sh` checks, with `f` defined and called once;
/// returns the commit.
fn project(repo: &TestRepo) -> String {
    let root = repo.path();
    std::fs::write(root.join("check.sh"), CHECK).unwrap();
    std::fs::write(root.join("lib.txt"), "def f\n").unwrap();
    std::fs::create_dir_all(root.join("callers")).unwrap();
    std::fs::write(root.join("callers/a.txt"), "call f\n").unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "a project with a build"]);
    git(root, &["rev-parse", "HEAD"])
}

/// The verify command: logs the commit it runs on to `log`, then checks the build.
fn verify_config(log: &Path, before: &str) -> String {
    format!(
        "[loop.verify]\ncommand = \"git rev-parse HEAD >> '{}'; {before} sh check.sh\"\n[loop.retry]\nmax = 0\n",
        log.display()
    )
}

/// Every commit `main` pointed at since `base` is one the verify command ran on (listed in
/// `log`), and every first-parent commit after `base` builds. Returns the latter.
fn assert_main_green(repo: &TestRepo, base: &str, log: &Path) -> Vec<String> {
    let root = repo.path();
    let tested = std::fs::read_to_string(log).unwrap_or_default();
    let moves = git(root, &["log", "-g", "--format=%H", "refs/heads/main"]);
    for commit in moves.lines().take_while(|c| *c != base) {
        assert!(
            tested.lines().any(|l| l == commit),
            "main moved to {commit}, which the verify command never ran on:\n{tested}"
        );
    }
    let commits: Vec<String> = git(
        root,
        &["rev-list", "--first-parent", &format!("{base}..main")],
    )
    .lines()
    .map(str::to_owned)
    .collect();
    let scratch = tempfile::tempdir().unwrap();
    for commit in &commits {
        let at = scratch.path().join(&commit[..10]);
        git(
            root,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                at.to_str().unwrap(),
                commit,
            ],
        );
        let out = Command::new("sh")
            .arg("check.sh")
            .current_dir(&at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "main's commit {commit} does not build: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        git(
            root,
            &["worktree", "remove", "--force", at.to_str().unwrap()],
        );
    }
    commits
}

fn iteration<'a>(iters: &'a [Value], id: &str) -> &'a Value {
    iters
        .iter()
        .find(|i| i["task_id"] == id)
        .unwrap_or_else(|| panic!("no iteration for {id}: {iters:#?}"))
}

fn is_ancestor(repo: &TestRepo, ancestor: &str, of: &str) -> bool {
    Command::new("git")
        .args(["merge-base", "--is-ancestor", ancestor, of])
        .current_dir(repo.path())
        .status()
        .unwrap()
        .success()
}

#[test]
fn work_that_passes_alone_but_breaks_the_build_together_never_reaches_main() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let base = project(&repo);
    let log = repo.path().join(".git").join("tested.log");
    repo.use_agent("claude", fake_agent(), &verify_config(&log, ""));
    let rename = repo.create_task(NewTask::new("rename f to g"));
    let caller = repo.create_task(NewTask::new("call f from b"));
    let broken = repo.create_task(NewTask::new("call h, defined nowhere"));
    repo.scenario(&json!({ "tasks": {
        rename.clone(): { "files": { "lib.txt": "def g\n", "callers/a.txt": "call g\n" } },
        caller.clone(): { "files": { "callers/b.txt": "call f\n" } },
        broken.clone(): { "files": { "callers/c.txt": "call h\n" } }
    }}));
    let out = repo.hew().args(["loop", "-j", "3"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let landed = assert_main_green(&repo, &base, &log);
    let iters = repo.iterations();
    let (r, c) = (iteration(&iters, &rename), iteration(&iters, &caller));
    // Whichever landed first, the other breaks the build on top of it.
    let (first, second, second_id) = if r["outcome"] == "closed" {
        (r, c, &caller)
    } else {
        (c, r, &rename)
    };
    assert_eq!(first["outcome"], "closed", "{first:#}");
    assert_eq!(second["outcome"], "verify_failed", "{second:#}");
    let first_merge = first["merge_commit"].as_str().unwrap();
    assert!(landed.iter().any(|c| c == first_merge) || is_ancestor(&repo, first_merge, "main"));
    let tested_at = second["tested_at"]
        .as_str()
        .expect("the failed test names its commit");
    assert!(
        is_ancestor(&repo, first_merge, tested_at),
        "the second task was tested against the commit with the first: {second:#}"
    );
    assert!(
        second["verify"]["output_tail"]
            .as_str()
            .unwrap()
            .contains("undefined")
    );
    assert!(
        second["kept_branch"].is_string(),
        "its work is kept: {second:#}"
    );
    let comments = repo.show(second_id)["comments"].to_string();
    assert!(
        comments.contains("undefined"),
        "the failure is in its comments: {comments}"
    );
    assert_eq!(repo.show(second_id)["status"], "open");

    // The summary names, per task, the commit its work was tested at.
    let out = repo
        .hew()
        .args(["loop", "summary", "--json", "--tasks"])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = summary["tasks"].as_array().unwrap();
    let row = rows.iter().find(|t| t["iter"] == first["number"]).unwrap();
    assert_eq!(row["tested_at"], first["tested_at"], "{row:#}");
    assert!(first["tested_at"].is_string());

    let b = iteration(&iters, &broken);
    assert_eq!(b["outcome"], "verify_failed", "{b:#}");
    assert!(
        repo.file_on("main", "callers/c.txt").is_none(),
        "a broken build reached main"
    );
    assert_eq!(repo.show(&broken)["status"], "open");
}

#[test]
fn a_failing_batch_is_split_until_its_culprits_are_found_and_the_rest_lands() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let base = project(&repo);
    let log = repo.path().join(".git").join("tested.log");
    repo.use_agent("claude", fake_agent(), &verify_config(&log, ""));
    let ids = repo.create_tasks(8);
    let culprits = [&ids[2], &ids[5]];
    let mut tasks = serde_json::Map::new();
    for (n, id) in ids.iter().enumerate() {
        let call = if culprits.contains(&id) {
            "nowhere"
        } else {
            "f"
        };
        tasks.insert(
            id.clone(),
            json!({ "files": { format!("callers/t{n}.txt"): format!("call {call}\n") } }),
        );
    }
    repo.scenario(&json!({ "tasks": tasks }));
    let out = repo.hew().args(["loop", "-j", "8"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_main_green(&repo, &base, &log);
    let iters = repo.iterations();
    for (n, id) in ids.iter().enumerate() {
        let it = iteration(&iters, id);
        let on_main = repo.file_on("main", &format!("callers/t{n}.txt")).is_some();
        if culprits.contains(&id) {
            assert_eq!(it["outcome"], "verify_failed", "{it:#}");
            assert!(!on_main, "culprit {id} reached main");
        } else {
            assert_eq!(it["outcome"], "closed", "{it:#}");
            assert!(on_main, "{id} did not land");
            assert_eq!(repo.show(id)["status"], "closed");
            let tested_at = it["tested_at"]
                .as_str()
                .expect("a landed task names its test");
            assert!(is_ancestor(&repo, tested_at, "main"));
        }
    }
}

#[test]
fn a_run_killed_while_the_queue_verifies_leaves_main_where_it_was_and_the_next_run_finishes() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let base = project(&repo);
    let git_dir = repo.path().join(".git");
    let log = git_dir.join("tested.log");
    let (started, go_on) = (git_dir.join("verifying"), git_dir.join("go-on"));
    // The first test hangs until the test has killed hew.
    let hold = format!(
        "if [ ! -e '{}' ]; then touch '{}'; sleep 617; fi;",
        go_on.display(),
        started.display()
    );
    repo.use_agent("claude", fake_agent(), &verify_config(&log, &hold));
    let ids = repo.create_tasks(3);
    let mut tasks = serde_json::Map::new();
    for (n, id) in ids.iter().enumerate() {
        tasks.insert(
            id.clone(),
            json!({ "files": { format!("callers/t{n}.txt"): "call f\n" } }),
        );
    }
    repo.scenario(&json!({ "tasks": tasks }));

    let mut hew = repo
        .hew_std()
        .args(["loop", "-j", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, "the queue never verified");
    hew.kill().unwrap(); // SIGKILL, mid-test
    hew.wait().unwrap();

    assert_eq!(
        git(repo.path(), &["rev-parse", "main"]),
        base,
        "main moved untested"
    );
    for id in &ids {
        assert_ne!(
            repo.show(id)["status"],
            "closed",
            "{id} closed before its work landed"
        );
    }

    std::fs::write(&go_on, "").unwrap();
    let out = repo.hew().args(["loop", "-j", "3"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let landed = assert_main_green(&repo, &base, &log);
    assert!(!landed.is_empty());
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(repo.show(id)["status"], "closed", "{id}");
        assert!(repo.file_on("main", &format!("callers/t{n}.txt")).is_some());
    }
    let hanging = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"617"))
    });
    assert!(!hanging, "the dead run's verify command was left running");
}

#[test]
fn a_run_killed_after_its_work_landed_but_before_it_closed_the_task_has_it_closed_not_redone() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("lands, then hew dies"));
    let marks = tempfile::tempdir().unwrap();
    let (hold, closing) = (marks.path().join("hold"), marks.path().join("closing"));
    std::fs::write(&hold, "").unwrap();
    // hew's close of the task hangs, after the merge landed, until the test lets go.
    let tracker = hew_tests::LoggedTracker::new(&format!(
        "if [ \"$1\" = close ] && [ -e '{0}' ]; then touch '{1}'; while [ -e '{0}' ]; do sleep 0.05; done; exit 1; fi",
        hold.display(),
        closing.display()
    ));
    let mut hew = repo
        .hew_std()
        .args(["loop", "-j", "1"])
        .env("HEW_TRACKER_COMMAND", &tracker.script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&closing, "hew never closed the task");
    hew.kill().unwrap();
    hew.wait().unwrap();
    std::fs::remove_file(&hold).unwrap();
    assert!(
        repo.file_on("main", &format!("{id}.txt")).is_some(),
        "the work landed"
    );
    assert_eq!(repo.show(&id)["status"], "in_progress");

    let out = repo.hew().args(["loop", "-j", "1"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "closed task(s) whose work had landed before their run stopped: {id}"
        )),
        "{stdout}"
    );
    assert_eq!(repo.show(&id)["status"], "closed");
    // The killed run wrote no record for it, and the next one did not run it again.
    let ran = repo.all_iterations();
    assert!(
        ran.iter().all(|i| i["task_id"] != id.as_str()),
        "the task ran again: {ran:#?}"
    );
    let merges = git(
        repo.path(),
        &["log", "--first-parent", "--format=%s", "main"],
    );
    let of_task = merges
        .lines()
        .filter(|s| s.starts_with(&format!("Merge hew/{id} ")))
        .count();
    assert_eq!(of_task, 1, "{merges}");
}
