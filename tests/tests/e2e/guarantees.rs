//! What hew guarantees (docs/LOOP.md, "What hew guarantees"), held against agents and
//! users that misbehave: every agent commit stays reachable until merged, prune never
//! touches a live agent, and a task reopened after a run is claimable again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hew_tests::{NewTask, TestRepo, require_tracker, write_script};

/// Configures a shell script as the agent (runtime `command`), run with `sh` in the task's
/// worktree, `$HEW_TASK_ID` set.
fn script_agent(repo: &TestRepo, name: &str, body: &str) -> PathBuf {
    // In the repository's git dir: the test's own, outside the working tree.
    let path = repo.path().join(".git").join(name);
    write_script(&path, &format!("#!/bin/sh\nset -e\n{body}\n"));
    repo.write_project_config(&format!(
        "[loop.agent]\nruntime = \"command\"\ncommand = [\"{}\"]\ntimeout = \"2m\"\ngrace = \"2s\"\n",
        path.display()
    ));
    path
}

const COMMIT: &str = "echo work > \"work-$HEW_TASK_ID-$HEW_RUN_ID.txt\"\ngit add -A\ngit -c user.name=a -c user.email=a@example.invalid commit -q -m \"agent work\"";

fn rev(repo: &TestRepo, rev: &str) -> Option<String> {
    repo.git()
        .revparse_single(rev)
        .ok()
        .map(|o| o.id().to_string())
}

#[test]
fn a_commit_whose_worktree_the_agent_deleted_stays_on_its_branch() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    script_agent(&repo, "agent.sh", &format!("{COMMIT}\nrm -rf \"$PWD\""));
    let id = repo.create_task(NewTask::new("commit, then delete the worktree"));
    repo.hew().args(["loop", "-j", "1"]).output().unwrap();

    let it = &repo.iterations()[0];
    let branch = it["kept_branch"].as_str().unwrap_or_else(|| panic!("{it}"));
    assert_eq!(branch, format!("hew/{id}"));
    let kept = rev(&repo, branch).expect("the branch is there");
    let git = repo.git();
    let commit = git.find_commit(kept.parse().unwrap()).unwrap();
    assert_eq!(commit.summary().unwrap(), Some("agent work"));
    let notes = it["notes"].to_string();
    assert!(notes.contains(branch), "{notes}");
    assert_ne!(repo.show(&id)["status"], "closed");
}

#[test]
fn a_commit_made_on_a_detached_head_is_kept_on_a_branch_and_named() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    script_agent(
        &repo,
        "agent.sh",
        &format!(
            "branch=$(git symbolic-ref --short HEAD)\ngit checkout -q --detach\n{COMMIT}\ngit checkout -q \"$branch\""
        ),
    );
    let id = repo.create_task(NewTask::new("commit on a detached head"));
    repo.hew().args(["loop", "-j", "1"]).output().unwrap();

    let it = &repo.iterations()[0];
    let off = format!("hew/{id}-off-1");
    let notes = it["notes"].to_string();
    assert!(notes.contains(&off), "{notes}");
    let kept = rev(&repo, &off).expect("the commit is kept on a branch");
    let git = repo.git();
    let commit = git.find_commit(kept.parse().unwrap()).unwrap();
    assert_eq!(commit.summary().unwrap(), Some("agent work"));
}

/// Starts `hew loop -j 1` (`hew`, set up by the test) and kills it with SIGKILL once
/// `ready` says so (within a generous bound, or fails saying `never`).
fn kill_hew_once(mut hew: std::process::Command, never: &str, ready: impl Fn() -> bool) {
    let mut child = hew
        .args(["loop", "-j", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{never}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Whether a live process has `arg` among its arguments.
fn with_argument(arg: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
    })
}

/// Live processes whose working directory is `dir` or below.
fn working_in(dir: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(&dir).then_some(pid)
        })
        .collect()
}

#[test]
fn prune_after_a_killed_run_stops_its_agents_before_it_removes_their_worktrees() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let started = repo.path().join(".git").join("started");
    script_agent(
        &repo,
        "agent.sh",
        &format!("pwd > \"{}\"\nexec sleep 600", started.display()),
    );
    let id = repo.create_task(NewTask::new("a long job"));
    kill_hew_once(repo.hew_std(), "the agent never started", || {
        started.exists()
    });
    let worktree = PathBuf::from(std::fs::read_to_string(&started).unwrap().trim());
    assert!(
        !working_in(&worktree).is_empty(),
        "the orphaned agent is still running"
    );

    let out = repo
        .hew()
        .args(["loop", "prune", "--apply"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("stopped orphaned agent"), "{stdout}");
    assert!(working_in(&worktree).is_empty(), "{stdout}");
    let task = repo.show(&id);
    assert_eq!(
        (task["status"].as_str(), task["assignee"].as_str()),
        (Some("open"), None)
    );
}

#[test]
fn prune_keeps_an_idle_worktree_a_process_works_in_and_names_it() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    script_agent(&repo, "agent.sh", COMMIT);
    repo.create_task(NewTask::new("quick"));
    repo.hew().args(["loop", "-j", "1"]).assert().success();
    let idle = repo.idle_pool();
    assert_eq!(idle.len(), 1, "{idle:?}");
    // Someone's shell (or an agent hew no longer knows) works in it.
    let mut user = std::process::Command::new("sleep")
        .arg("600")
        .current_dir(&idle[0])
        .spawn()
        .unwrap();

    let out = repo
        .hew()
        .args(["loop", "prune", "--apply"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        idle[0].join(".git").exists(),
        "removed under a live process:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("process {} works there", user.id())),
        "{stdout}"
    );
    user.kill().unwrap();
    user.wait().unwrap();
    repo.hew()
        .args(["loop", "prune", "--apply"])
        .assert()
        .success();
    assert!(!idle[0].exists(), "removed once nobody works there");
}

#[test]
fn a_task_reopened_after_a_run_closed_it_runs_again() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    script_agent(&repo, "agent.sh", COMMIT);
    let id = repo.create_task(NewTask::new("done, then reopened"));
    repo.hew().args(["loop", "-j", "1"]).assert().success();
    assert_eq!(repo.show(&id)["status"], "closed");

    let reopened = repo.tracker(&["reopen", &id]);
    assert!(reopened.status.success(), "{reopened:?}");
    let task = repo.show(&id);
    assert_eq!(task["status"], "open");
    // br leaves the run that closed it as the assignee.
    let stale = task["assignee"].as_str().unwrap_or_default().to_owned();
    assert!(stale.starts_with("hew/"), "{task}");

    repo.hew().args(["loop", "-j", "1"]).assert().success();
    assert_eq!(repo.show(&id)["status"], "closed");
    // The second run's iteration: the later one (run ids made in one second sort at random).
    let last = repo
        .all_iterations()
        .into_iter()
        .max_by_key(|i| i["started_at"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    assert_eq!(last["outcome"], "closed", "{last}");
    let notes = last["notes"].to_string();
    assert!(
        notes.contains("took over") && notes.contains(&stale),
        "{notes}"
    );
}

#[test]
fn recovery_right_after_a_kill_releases_a_claim_still_on_its_way() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    script_agent(&repo, "agent.sh", COMMIT);
    let id = repo.create_task(NewTask::new("claimed as hew died"));
    // The claim reaches the tracker 3 s after hew sent it.
    let tracker = hew_tests::LoggedTracker::new("case \"$*\" in *--claim*) sleep 3;; esac");
    let mut hew = repo.hew_std();
    hew.env("HEW_TRACKER_COMMAND", &tracker.script);
    kill_hew_once(hew, "hew never claimed", || {
        tracker.calls().contains("--claim")
    });

    let out = repo.hew().args(["loop", "recover"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Whatever recovery did, the claim has landed by now or lands after this: wait for it.
    let run = repo.run_record();
    let actor = format!(
        "hew/{}@{}/{}/{}",
        run["host"].as_str().unwrap(),
        run["machine"].as_str().unwrap(),
        run["pid"],
        run["run_id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while with_argument(&actor) {
        assert!(Instant::now() < deadline, "the claim never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    let task = repo.show(&id);
    assert_eq!(
        (task["status"].as_str(), task["assignee"].as_str()),
        (Some("open"), None),
        "{stdout}"
    );
}
