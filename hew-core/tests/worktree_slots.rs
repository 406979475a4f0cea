//! Slots against real repositories: where worktrees go, what a reused one keeps and drops,
//! branch names for repeated attempts, what inspect reports, and cleaning up.

mod worktree_support;

use std::path::Path;

use hew_core::worktree::{Integration, MergeResult, SlotOptions, Slots, merge};
use worktree_support::{RUN_ID, TestRepo, commit_file, git, has_branch, rev, status, task, write};

#[test]
fn public_types_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Slots>();
    shared::<Integration>();
    shared::<hew_core::worktree::TaskWorktree>();
    shared::<hew_core::worktree::WorkLeft>();
    shared::<MergeResult>();
    shared::<hew_core::worktree::WorktreeError>();
}

#[test]
fn checkout_makes_the_task_branch_at_the_base_tip_outside_the_working_tree() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();

    assert_eq!(wt.branch, "hew/demo-1");
    assert_eq!(wt.base, rev(&repo.root, "main"));
    assert_eq!(rev(&wt.path, "HEAD"), wt.base);
    assert_eq!(
        git(&wt.path, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/hew/demo-1"
    );
    assert!(wt.path.join("README").is_file());
    // Inside .git, so outside the working tree: the main tree's status does not see it.
    assert!(
        wt.path.starts_with(repo.root.join(".git")),
        "{}",
        wt.path.display()
    );
    // The first entry of the pool of worktrees kept between runs.
    assert!(wt.path.ends_with(Path::new("hew/worktrees/pool/w1")));
    assert_eq!(status(&repo.root), "");
    assert!(git(&repo.root, &["worktree", "list"]).contains(&wt.path.display().to_string()));
}

#[test]
fn a_relative_dir_is_taken_from_the_repository_root() {
    let repo = TestRepo::new();
    let slots = Slots::new(
        &repo.root,
        SlotOptions {
            dir: Some("../hew-wt".into()),
            reuse: true,
            run_id: RUN_ID.into(),
        },
    )
    .unwrap();
    let wt = slots.checkout(2, &task("demo-1"), "main").unwrap();
    assert_eq!(
        wt.path,
        repo.parent().join("hew-wt").join("pool").join("w1")
    );
    assert!(wt.path.join("README").is_file());
}

#[test]
fn a_reused_slot_keeps_ignored_files_drops_untracked_ones_and_sees_new_merges() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();

    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    write(&first.path, "target/debug/cache.bin", "warm");
    write(&first.path, "scratch.txt", "left behind");
    write(&first.path, "notes/todo.md", "left behind");
    write(&first.path, "README", "edited, never committed\n");
    write(&first.path, "staged.txt", "staged, never committed");
    git(&first.path, &["add", "staged.txt"]);
    slots.hand_back(first.clone(), false).unwrap();
    assert!(!has_branch(&repo.root, "hew/demo-1"));

    // Work merged by another slot in between.
    let other = slots.checkout(1, &task("demo-2"), "main").unwrap();
    commit_file(&other.path, "feature.txt", "feature\n", "add feature");
    let merged = merge(&repo.root, &mut integration, &other.branch, "Merge demo-2").unwrap();
    assert!(matches!(merged, MergeResult::Merged { .. }), "{merged:?}");
    slots.hand_back(other, false).unwrap();

    let second = slots.checkout(0, &task("demo-3"), "main").unwrap();
    assert_eq!(second.path, slots.slot_path(0).unwrap());
    assert_eq!(rev(&second.path, "HEAD"), rev(&repo.root, "main"));
    assert_eq!(second.base, rev(&repo.root, "main"));
    assert_eq!(
        std::fs::read_to_string(second.path.join("target/debug/cache.bin")).unwrap(),
        "warm"
    );
    assert!(second.path.join("feature.txt").is_file());
    assert!(!second.path.join("scratch.txt").exists());
    assert!(!second.path.join("notes").exists());
    assert!(!second.path.join("staged.txt").exists());
    assert_eq!(
        std::fs::read_to_string(second.path.join("README")).unwrap(),
        "hello\n"
    );
    assert_eq!(status(&second.path), "");
    let left = slots.inspect(&second).unwrap();
    assert!(left.commits.is_empty() && !left.dirty, "{left:?}");
}

#[test]
fn an_untracked_directory_goes_but_ignored_files_inside_it_stay() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    write(&first.path, "newcrate/src/lib.rs", "untracked");
    write(&first.path, "newcrate/target/out", "ignored");
    // A repository the agent cloned into its worktree goes too.
    let nested = first.path.join("vendor/dep");
    std::fs::create_dir_all(&nested).unwrap();
    git(&nested, &["init", "-q"]);
    write(&nested, "lib.c", "int x;");
    slots.hand_back(first, false).unwrap();

    let second = slots.checkout(0, &task("demo-2"), "main").unwrap();
    assert!(!second.path.join("newcrate/src").exists());
    assert!(!second.path.join("vendor").exists());
    assert!(second.path.join("newcrate/target/out").is_file());
    assert_eq!(status(&second.path), "");
}

#[test]
fn without_reuse_every_task_gets_a_fresh_worktree_and_release_removes_it() {
    let repo = TestRepo::new();
    let slots = repo.slots(false);
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    write(&first.path, "target/cache", "warm");
    let path = first.path.clone();
    slots.hand_back(first, false).unwrap();
    assert!(!path.exists());
    assert_eq!(git(&repo.root, &["worktree", "list"]).lines().count(), 1);

    let second = slots.checkout(0, &task("demo-2"), "main").unwrap();
    assert_eq!(second.path, path);
    assert!(!second.path.join("target").exists());
    assert_eq!(status(&second.path), "");
}

#[test]
fn a_taken_name_gives_the_next_suffix_and_the_kept_branch_is_untouched() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    let kept_tip = commit_file(&first.path, "work.txt", "attempt one\n", "attempt one");
    slots.hand_back(first, true).unwrap();
    assert_eq!(rev(&repo.root, "hew/demo-1"), kept_tip);

    commit_file(&repo.root, "other.txt", "moved on\n", "main moves on");
    let second = slots.checkout(0, &task("demo-1"), "main").unwrap();
    assert_eq!(second.branch, "hew/demo-1-2");
    assert_eq!(second.base, rev(&repo.root, "main"));
    assert!(!second.path.join("work.txt").exists());
    slots.hand_back(second, true).unwrap();
    let third = slots.checkout(1, &task("demo-1"), "main").unwrap();
    assert_eq!(third.branch, "hew/demo-1-3");

    assert_eq!(rev(&repo.root, "hew/demo-1"), kept_tip);
    assert_eq!(rev(&repo.root, "hew/demo-1-2"), rev(&repo.root, "main"));
}

#[test]
fn inspect_lists_commits_oldest_first_and_sees_dirt() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();
    let clean = slots.inspect(&wt).unwrap();
    assert!(clean.commits.is_empty() && !clean.dirty, "{clean:?}");

    let a = commit_file(&wt.path, "a.txt", "a\n", "add a\n\nwith a body");
    let b = commit_file(&wt.path, "b.txt", "b\n", "add b");
    write(&wt.path, "target/ignored", "not dirt");
    let left = slots.inspect(&wt).unwrap();
    let ids: Vec<_> = left.commits.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, [a, b]);
    assert_eq!(left.commits[0].summary, "add a");
    assert!(!left.dirty);

    write(&wt.path, "untracked.txt", "x");
    assert!(slots.inspect(&wt).unwrap().dirty);
    std::fs::remove_file(wt.path.join("untracked.txt")).unwrap();
    write(&wt.path, "a.txt", "changed\n");
    assert!(slots.inspect(&wt).unwrap().dirty);

    // Staged only: the working tree matches the index, the index does not match HEAD.
    let staged = git2::Repository::open(&wt.path).unwrap();
    let mut index = staged.index().unwrap();
    index.add_path(std::path::Path::new("a.txt")).unwrap();
    index.write().unwrap();
    assert!(slots.inspect(&wt).unwrap().dirty, "a staged change is dirt");
}

fn slots_of(repo: &TestRepo, run_id: &str, reuse: bool) -> Slots {
    Slots::new(
        &repo.root,
        SlotOptions {
            dir: None,
            reuse,
            run_id: run_id.into(),
        },
    )
    .unwrap()
}

fn head_of(path: &Path) -> String {
    git(path, &["rev-parse", "--abbrev-ref", "HEAD"])
        .trim()
        .to_owned()
}

#[test]
fn close_keeps_reused_worktrees_detached_for_the_next_run_and_keeps_branches() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let a = slots.checkout(0, &task("demo-1"), "main").unwrap();
    write(&a.path, "target/debug/cache.bin", "warm");
    let b = slots.checkout(1, &task("demo-2"), "main").unwrap();
    commit_file(&b.path, "b.txt", "b\n", "add b");
    slots.hand_back(b.clone(), true).unwrap();
    // A run going on beside this one leases other entries and keeps them.
    let other = slots_of(&repo, &format!("{RUN_ID}-x"), true);
    let theirs = other.checkout(0, &task("demo-9"), "main").unwrap();
    assert!(
        theirs.path.ends_with("pool/w3"),
        "{}",
        theirs.path.display()
    );

    slots.close().unwrap();
    assert_eq!(
        head_of(&a.path),
        "HEAD",
        "detached: no branch stays checked out"
    );
    assert_eq!(head_of(&b.path), "HEAD");
    assert!(!slots.run_dir().exists());
    assert_eq!(head_of(&theirs.path), "hew/demo-9");
    assert!(has_branch(&repo.root, "hew/demo-1") && has_branch(&repo.root, "hew/demo-2"));

    // The next run starts in the lowest idle entry, warm, and on its own branch.
    let next = slots_of(&repo, "20261122-060000-beef", true);
    let wt = next.checkout(0, &task("demo-3"), "main").unwrap();
    assert_eq!(wt.path, a.path);
    assert_eq!(
        std::fs::read_to_string(wt.path.join("target/debug/cache.bin")).unwrap(),
        "warm"
    );
    assert_eq!(head_of(&wt.path), "hew/demo-3");
    assert_eq!(status(&wt.path), "");

    next.close().unwrap();
    other.close().unwrap();
    let list = git(&repo.root, &["worktree", "list"]);
    assert_eq!(
        list.lines().count(),
        4,
        "the main tree and three kept: {list}"
    );
    assert!(
        list.lines().skip(1).all(|l| l.ends_with("(detached HEAD)")),
        "{list}"
    );
}

#[test]
fn without_reuse_close_removes_every_worktree_of_the_run() {
    let repo = TestRepo::new();
    let slots = repo.slots(false);
    let a = slots.checkout(0, &task("demo-1"), "main").unwrap();
    let b = slots.checkout(1, &task("demo-2"), "main").unwrap();
    assert!(a.path.starts_with(slots.run_dir()) && b.path.starts_with(slots.run_dir()));
    // Another run's worktree, whose id starts with this one's, is not this run's.
    let other = slots_of(&repo, &format!("{RUN_ID}-x"), false);
    let theirs = other.checkout(0, &task("demo-9"), "main").unwrap();

    slots.close().unwrap();
    assert!(!a.path.exists() && !b.path.exists());
    assert!(!slots.run_dir().exists());
    assert!(theirs.path.is_dir());
    assert!(has_branch(&repo.root, "hew/demo-1") && has_branch(&repo.root, "hew/demo-2"));

    other.close().unwrap();
    let list = git(&repo.root, &["worktree", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.starts_with(&repo.root.display().to_string()), "{list}");
}

#[test]
fn concurrent_checkouts_merges_and_releases_on_four_threads() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let integration =
        std::sync::Mutex::new(Integration::resolve(&repo.root, None, RUN_ID).unwrap());
    std::thread::scope(|s| {
        for slot in 0..4 {
            let (slots, integration, root) = (&slots, &integration, &repo.root);
            s.spawn(move || {
                for round in 0..3 {
                    let id = task(&format!("demo-{slot}-{round}"));
                    let base = integration.lock().unwrap().branch().to_owned();
                    let wt = slots.checkout(slot, &id, &base).unwrap();
                    let file = format!("s{slot}-r{round}.txt");
                    commit_file(&wt.path, &file, "work\n", "work");
                    let result = {
                        let mut integration = integration.lock().unwrap();
                        merge(root, &mut integration, &wt.branch, "Merge").unwrap()
                    };
                    assert!(matches!(result, MergeResult::Merged { .. }), "{result:?}");
                    slots.hand_back(wt, false).unwrap();
                }
            });
        }
    });
    assert!(integration.lock().unwrap().diverted().is_none());
    for slot in 0..4 {
        for round in 0..3 {
            assert!(repo.root.join(format!("s{slot}-r{round}.txt")).is_file());
        }
    }
    assert_eq!(status(&repo.root), "");
    assert_eq!(git(&repo.root, &["branch", "--list", "hew/*"]), "");
    slots.close().unwrap();
    let list = git(&repo.root, &["worktree", "list"]);
    assert_eq!(
        list.lines().count(),
        5,
        "four kept for the next run: {list}"
    );
}

#[test]
fn concurrent_first_checkouts_on_four_threads() {
    // The first worktrees of a repository, all at once: git's admin directory does not
    // exist yet when they start.
    for _ in 0..3 {
        let repo = TestRepo::new();
        let slots = repo.slots(false);
        let trees: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|slot| {
                    let slots = &slots;
                    s.spawn(move || slots.checkout(slot, &task(&format!("t-{slot}")), "main"))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        for wt in &trees {
            assert_eq!(status(&wt.path), "");
        }
        assert_eq!(git(&repo.root, &["worktree", "list"]).lines().count(), 5);
        std::thread::scope(|s| {
            for wt in trees {
                let slots = &slots;
                s.spawn(move || slots.hand_back(wt, false).unwrap());
            }
        });
        assert_eq!(git(&repo.root, &["worktree", "list"]).lines().count(), 1);
    }
}

#[test]
fn a_reused_slot_recovers_from_a_mess_the_agent_left() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    // A merge stopped on a conflict, and a tracked file deleted.
    git(&first.path, &["switch", "-q", "-c", "side"]);
    commit_file(&first.path, "README", "side\n", "side");
    git(&first.path, &["switch", "-q", "hew/demo-1"]);
    commit_file(&first.path, "README", "ours\n", "ours");
    let out = std::process::Command::new("git")
        .args(["merge", "side"])
        .current_dir(&first.path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the merge should stop on a conflict");
    std::fs::remove_file(first.path.join(".gitignore")).unwrap();
    slots.hand_back(first, false).unwrap();

    let second = slots.checkout(0, &task("demo-2"), "main").unwrap();
    assert_eq!(status(&second.path), "");
    assert_eq!(
        std::fs::read_to_string(second.path.join("README")).unwrap(),
        "hello\n"
    );
    assert!(second.path.join(".gitignore").is_file());
    let state = git(&second.path, &["rev-parse", "--git-path", "MERGE_HEAD"]);
    assert!(
        !second.path.join(state.trim()).exists(),
        "merge state left behind"
    );
    let left = slots.inspect(&second).unwrap();
    assert!(left.commits.is_empty() && !left.dirty, "{left:?}");
}

#[test]
fn a_reused_slot_whose_directory_was_deleted_is_made_again() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    std::fs::remove_dir_all(&first.path).unwrap();
    // Its branch is still checked out there as far as git knows; releasing clears that.
    slots.hand_back(first, false).unwrap();
    assert!(!has_branch(&repo.root, "hew/demo-1"));

    let second = slots.checkout(0, &task("demo-2"), "main").unwrap();
    assert!(second.path.join("README").is_file());
    assert_eq!(status(&second.path), "");
}

#[test]
fn a_reused_slot_switches_to_the_moved_base_and_keeps_ignored_files() {
    let repo = TestRepo::new();
    commit_file(
        &repo.root,
        "old/gone.txt",
        "soon deleted\n",
        "add old/gone.txt",
    );
    commit_file(&repo.root, "kept.txt", "v1\n", "add kept.txt");
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();

    // Slot 0 does a task and is handed back; its branch is merged.
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    commit_file(&first.path, "first.txt", "first\n", "demo-1: first");
    write(&first.path, "target/cache.bin", "warm");
    assert!(!slots.inspect(&first).unwrap().dirty);
    slots.hand_back(first.clone(), true).unwrap();
    let merged = merge(&repo.root, &mut integration, &first.branch, "Merge demo-1").unwrap();
    assert!(matches!(merged, MergeResult::Merged { .. }), "{merged:?}");
    slots.delete_branch(&first.branch).unwrap();

    // Meanwhile main changes: a file edited, one deleted (with its directory), one added.
    let other = slots.checkout(1, &task("demo-2"), "main").unwrap();
    write(&other.path, "kept.txt", "v2\n");
    std::fs::remove_file(other.path.join("old/gone.txt")).unwrap();
    git(&other.path, &["add", "-A"]);
    commit_file(
        &other.path,
        "new/added.txt",
        "added\n",
        "demo-2: edit, delete, add",
    );
    merge(&repo.root, &mut integration, &other.branch, "Merge demo-2").unwrap();
    slots.hand_back(other, false).unwrap();

    let second = slots.checkout(0, &task("demo-3"), "main").unwrap();
    assert_eq!(rev(&second.path, "HEAD"), rev(&repo.root, "main"));
    assert_eq!(
        git(&second.path, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/hew/demo-3"
    );
    let read = |p: &str| std::fs::read_to_string(second.path.join(p)).ok();
    assert_eq!(read("kept.txt").as_deref(), Some("v2\n"));
    assert_eq!(read("new/added.txt").as_deref(), Some("added\n"));
    assert_eq!(read("first.txt").as_deref(), Some("first\n"));
    assert_eq!(read("old/gone.txt"), None);
    assert_eq!(read("target/cache.bin").as_deref(), Some("warm"));
    assert_eq!(
        status(&second.path),
        "",
        "worktree and index match the new base"
    );
    let left = slots.inspect(&second).unwrap();
    assert!(left.commits.is_empty() && !left.dirty, "{left:?}");

    // Whatever touched the worktree between tasks is cleaned by the switch.
    slots.hand_back(second.clone(), true).unwrap();
    write(&second.path, "README", "changed behind hew's back\n");
    write(&second.path, "stray.txt", "stray");
    let third = slots.checkout(0, &task("demo-4"), "main").unwrap();
    assert_eq!(rev(&third.path, "HEAD"), rev(&repo.root, "main"));
    assert_eq!(status(&third.path), "");
}

#[test]
fn a_new_worktree_still_applies_the_filters_attributes_ask_for() {
    let repo = TestRepo::new();
    commit_file(&repo.root, "plain.txt", "one\ntwo\n", "add plain.txt");
    commit_file(
        &repo.root,
        "docs/.gitattributes",
        "*.txt text eol=crlf\n",
        "crlf in docs",
    );
    commit_file(
        &repo.root,
        "docs/note.txt",
        "one\ntwo\n",
        "add docs/note.txt",
    );
    let slots = repo.slots(true);
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();
    let read = |p: &str| std::fs::read(wt.path.join(p)).unwrap();
    assert_eq!(
        read("docs/note.txt"),
        b"one\r\ntwo\r\n",
        "the eol attribute applies"
    );
    assert_eq!(read("plain.txt"), b"one\ntwo\n");
    assert_eq!(status(&wt.path), "");
}

#[test]
fn a_merge_left_in_progress_in_a_clean_worktree_does_not_reach_the_next_task() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    commit_file(&first.path, "first.txt", "first\n", "demo-1: first");
    commit_file(&repo.root, "meanwhile.txt", "on main\n", "main moves on");
    // `git merge -s ours --no-commit`: the tree stays clean, MERGE_HEAD stays.
    git(
        &first.path,
        &[
            "merge",
            "-q",
            "-s",
            "ours",
            "--no-commit",
            "--no-ff",
            "main",
        ],
    );
    let state = |p: &std::path::Path| git2::Repository::open(p).unwrap().state();
    assert_eq!(state(&first.path), git2::RepositoryState::Merge);
    assert!(!slots.inspect(&first).unwrap().dirty);
    slots.hand_back(first, true).unwrap();

    let second = slots.checkout(0, &task("demo-2"), "main").unwrap();
    assert_eq!(state(&second.path), git2::RepositoryState::Clean);
}

#[test]
fn commits_made_off_the_task_branch_are_found_and_kept_on_a_branch() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    // The slot's last task committed in the same second: its commit is not this task's.
    let first = slots.checkout(0, &task("demo-1"), "main").unwrap();
    commit_file(&first.path, "a.txt", "a\n", "demo-1: a");
    slots.hand_back(first.clone(), true).unwrap();

    let wt = slots.checkout(0, &task("demo-2"), "main").unwrap();
    assert!(slots.inspect(&wt).unwrap().off_branch.is_empty());
    git(&wt.path, &["checkout", "-q", "--detach"]);
    commit_file(&wt.path, "b.txt", "b\n", "detached b");
    let detached = rev(&wt.path, "HEAD");
    // Back on the task's branch: the commit is only in the worktree's reflog.
    git(&wt.path, &["checkout", "-q", &wt.branch]);
    git(&wt.path, &["checkout", "-q", "-b", "agent-side"]);
    commit_file(&wt.path, "c.txt", "c\n", "on a branch of the agent's");

    let left = slots.inspect(&wt).unwrap();
    assert!(left.commits.is_empty(), "{left:?}");
    let kept = left.off_branch.iter().find(|o| o.kept).expect("kept");
    assert_eq!(kept.branch, "hew/demo-2-off-1");
    assert_eq!(kept.commits, 1);
    assert_eq!(rev(&repo.root, &kept.branch), detached);
    let named = left.off_branch.iter().find(|o| !o.kept).expect("named");
    assert_eq!((named.branch.as_str(), named.commits), ("agent-side", 1));
    assert_eq!(left.off_branch.len(), 2, "{left:?}");

    // Asked again, nothing new is made.
    let again = slots.inspect(&wt).unwrap();
    assert!(again.off_branch.iter().all(|o| !o.kept), "{again:?}");
}

#[test]
fn what_an_agent_left_is_committed_for_it_without_its_ignored_files() {
    let repo = TestRepo::new();
    commit_file(
        &repo.root,
        ".gitignore",
        "target/\n*.log\n",
        "ignore target and logs",
    );
    commit_file(&repo.root, "gone.txt", "soon deleted\n", "add gone.txt");
    let slots = repo.slots(true);
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();
    assert_eq!(
        slots.commit_leftovers(&wt, "demo-1: nothing").unwrap(),
        None
    );

    write(&wt.path, "new/file.txt", "new\n");
    write(&wt.path, "target/cache.bin", "build output");
    std::fs::remove_file(wt.path.join("gone.txt")).unwrap();
    let commit = slots
        .commit_leftovers(&wt, "demo-1: work of the agent")
        .unwrap()
        .expect("a commit");

    assert_eq!(commit.summary, "demo-1: work of the agent");
    assert_eq!(rev(&wt.path, "HEAD"), commit.id);
    assert_eq!(status(&wt.path), "", "nothing left but ignored files");
    assert!(wt.path.join("target/cache.bin").exists());
    let left = slots.inspect(&wt).unwrap();
    assert_eq!(left.commits, [commit]);
    assert!(!left.dirty);
    let files = git(&wt.path, &["show", "--name-status", "--format=", "HEAD"]);
    assert_eq!(files, "D\tgone.txt\nA\tnew/file.txt\n");
}
