//! `hew loop prune`: what ended runs left behind is listed, and with `--apply` removed;
//! a live run's worktree and a branch with unmerged commits never are.

use std::path::{Path, PathBuf};

use hew_tests::TestRepo;
use serde_json::json;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn host() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

/// A pid no process has: a child that already exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Writes `.hew/loop/<run>/run.json` recorded as running under `pid` on this host.
fn record_run(repo: &TestRepo, run: &str, pid: u32) {
    let dir = repo.path().join(".hew/loop").join(run);
    std::fs::create_dir_all(dir.join("iters")).unwrap();
    let record = json!({
        "schema_version": 1, "run_id": run, "status": "running",
        "started_at": "2026-11-22T05:00:00.000Z", "host": host(), "pid": pid, "into": "main",
    });
    std::fs::write(dir.join("run.json"), record.to_string()).unwrap();
}

/// Holds run `run`'s lock, as its live hew does, until dropped.
fn hold_lock(repo: &TestRepo, run: &str) -> nix::fcntl::Flock<std::fs::File> {
    let path = repo.path().join(".hew/loop").join(run).join("lock");
    let file = std::fs::File::create(path).unwrap();
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap()
}

/// A task worktree of run `run`, slot 1, on a new branch `branch` at main's tip, where a
/// run puts it.
fn worktree(repo: &TestRepo, run: &str, branch: &str) -> PathBuf {
    let git = repo.git();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    let b = git.branch(branch, &head, false).unwrap();
    let path = repo.path().join(".git/hew/worktrees").join(run).join("w1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut opts = git2::WorktreeAddOptions::new();
    let reference = b.into_reference();
    opts.reference(Some(&reference));
    git.worktree(&format!("hew-{run}-w1"), &path, Some(&opts))
        .unwrap();
    path
}

/// A branch with one commit main does not have.
fn unmerged_branch(repo: &TestRepo, name: &str) {
    let git = repo.git();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    let sig = git.signature().unwrap();
    let tree = head.tree().unwrap();
    let commit = git
        .commit(None, &sig, &sig, "work not merged", &tree, &[&head])
        .unwrap();
    git.branch(name, &git.find_commit(commit).unwrap(), false)
        .unwrap();
}

fn prune(repo: &TestRepo, args: &[&str]) -> String {
    let out = repo.hew().args(["loop", "prune"]).args(args).assert();
    let o = out.get_output();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

fn has_worktree(repo: &TestRepo, name: &str) -> bool {
    repo.git()
        .worktrees()
        .unwrap()
        .iter()
        .flatten()
        .any(|n| n == Some(name))
}

#[test]
fn prune_lists_then_removes_only_what_is_safe() {
    let repo = TestRepo::new();
    let (dead, live) = ("20261122-050000-dead", "20261122-050000-live");
    record_run(&repo, dead, dead_pid());
    record_run(&repo, live, std::process::id());
    let live_lock = hold_lock(&repo, live);
    let dead_wt = worktree(&repo, dead, "hew/demo-a");
    let live_wt = worktree(&repo, live, "hew/demo-b");
    unmerged_branch(&repo, "hew/demo-c");
    let git = repo.git();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("hew/demo-d", &head, false).unwrap();

    // Dry run: lists, changes nothing; branches wait while a run is going.
    let listed = prune(&repo, &[]);
    assert!(
        listed.contains(&format!("would recover run {dead}")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "would remove worktree hew-{dead}-w1 at {}",
            dead_wt.display()
        )),
        "{listed}"
    );
    assert!(!listed.contains(&format!("hew-{live}-w1")), "{listed}");
    assert!(
        listed.contains("leaving branches alone while a run is running"),
        "{listed}"
    );
    assert!(listed.contains("dry run"), "{listed}");
    assert!(dead_wt.exists() && has_worktree(&repo, &format!("hew-{dead}-w1")));

    // Apply: the dead run's worktree goes, the live one's stays.
    prune(&repo, &["--apply"]);
    assert!(!dead_wt.exists());
    assert!(!has_worktree(&repo, &format!("hew-{dead}-w1")));
    assert!(live_wt.exists() && has_worktree(&repo, &format!("hew-{live}-w1")));
    assert_eq!(
        repo.branches("hew/"),
        ["hew/demo-a", "hew/demo-b", "hew/demo-c", "hew/demo-d"]
    );
    let dead_record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.path().join(".hew/loop").join(dead).join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(dead_record["status"], "crashed");

    // The live run ends: now its worktree and the merged branches go; unmerged work stays.
    drop(live_lock);
    let live_file = repo.path().join(".hew/loop").join(live).join("run.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&live_file).unwrap()).unwrap();
    record["status"] = json!("finished");
    std::fs::write(&live_file, record.to_string()).unwrap();
    let listed = prune(&repo, &[]);
    for line in [
        "would remove branch hew/demo-a (merged into main)",
        "would remove branch hew/demo-b (merged into main)",
        "would remove branch hew/demo-d (merged into main)",
        "keeping branch hew/demo-c (1 commit not on main)",
    ] {
        assert!(listed.contains(line), "{line} missing:\n{listed}");
    }
    prune(&repo, &["--apply"]);
    assert!(!live_wt.exists());
    assert_eq!(repo.branches("hew/"), ["hew/demo-c"]);
    assert!(repo.git().worktrees().unwrap().is_empty());
    assert!(Path::new(&repo.path().join(".git/hew/worktrees")).exists());
    assert_eq!(
        prune(&repo, &[]).trim(),
        "keeping branch hew/demo-c (1 commit not on main)\nnothing to prune"
    );
}

#[test]
fn worktrees_kept_between_runs_are_listed_idle_and_removed_by_apply() {
    let repo = TestRepo::new();
    // A slot worktree a finished run kept: `hew-pool-w1`, detached at main.
    let git = repo.git();
    let path = repo.path().join(".git/hew/worktrees/pool/w1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    git.worktree("hew-pool-w1", &path, None).unwrap();
    let wt = git2::Repository::open(&path).unwrap();
    let head = wt.head().unwrap().target().unwrap();
    wt.set_head_detached(head).unwrap();

    let listed = prune(&repo, &[]);
    assert!(
        listed.contains(&format!(
            "would remove worktree hew-pool-w1 at {} (kept between runs, idle)",
            path.display()
        )),
        "{listed}"
    );
    assert!(path.exists());

    // While a run holds its lock, it is not idle: left alone.
    let lock = std::fs::File::create(path.with_file_name("w1.lock")).unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    assert!(!prune(&repo, &[]).contains("hew-pool-w1"));
    drop(held);

    prune(&repo, &["--apply"]);
    assert!(!path.exists());
    assert!(repo.git().worktrees().unwrap().is_empty());
}

/// A run killed between a merge and the deletion of its branch leaves a branch whose work
/// has landed: recovery deletes it, and keeps one with work that has not.
#[test]
fn recovery_deletes_the_merged_branches_a_killed_run_left() {
    hew_tests::require_tracker!();
    let repo = TestRepo::with_tracker();
    let dead = "20261122-050000-dead";
    record_run(&repo, dead, dead_pid());
    let git = repo.git();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("hew/demo-a", &head, false).unwrap();
    unmerged_branch(&repo, "hew/demo-c");

    let out = repo.hew().args(["loop", "recover"]).assert().success();
    let stdout = text(&out.get_output().stdout);

    assert_eq!(repo.branches("hew/"), ["hew/demo-c"], "{stdout}");
    assert!(
        stdout.contains("deleted branch(es) whose work had landed: hew/demo-a"),
        "{stdout}"
    );
}
