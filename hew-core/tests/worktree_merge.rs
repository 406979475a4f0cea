//! Merging task branches back: which working trees are updated, which are never touched,
//! conflicts that change nothing, and targets that move under hew.

mod worktree_support;

use std::fs;

use hew_core::worktree::{Integration, MergeResult, Slots, TaskWorktree, WorktreeError, merge};
use worktree_support::{RUN_ID, TestRepo, commit_file, git, has_branch, rev, status, task, write};

/// A finished task: a slot checked out from the integration branch, with one commit
/// writing `path`.
fn finished(
    slots: &Slots,
    integration: &Integration,
    id: &str,
    path: &str,
    text: &str,
) -> TaskWorktree {
    let wt = slots.checkout(0, &task(id), integration.branch()).unwrap();
    commit_file(&wt.path, path, text, &format!("{id}: write {path}"));
    wt
}

fn merged(result: MergeResult) -> (String, String) {
    match result {
        MergeResult::Merged { commit, into } => (commit, into),
        other => panic!("expected a merge, got {other:?}"),
    }
}

#[test]
fn a_clean_checked_out_target_gets_ref_working_tree_and_index_updated() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    assert_eq!(integration.branch(), "main");
    let before = rev(&repo.root, "main");
    let wt = finished(
        &slots,
        &integration,
        "demo-1",
        "src/new.rs",
        "fn new() {}\n",
    );
    // An untracked file not in the merge's way is fine.
    write(&repo.root, "local-notes.txt", "mine");

    let (commit, into) =
        merged(merge(&repo.root, &mut integration, &wt.branch, "Merge demo-1").unwrap());

    assert_eq!(into, "main");
    assert_eq!(rev(&repo.root, "main"), commit);
    assert_eq!(rev(&repo.root, "HEAD"), commit);
    assert_eq!(rev(&repo.root, &format!("{commit}^1")), before);
    assert_eq!(
        rev(&repo.root, &format!("{commit}^2")),
        rev(&repo.root, &wt.branch)
    );
    assert_eq!(
        git(&repo.root, &["log", "-1", "--format=%s|%an", &commit]).trim(),
        "Merge demo-1|Test"
    );
    assert_eq!(
        fs::read_to_string(repo.root.join("src/new.rs")).unwrap(),
        "fn new() {}\n"
    );
    assert_eq!(status(&repo.root), "?? local-notes.txt\n");
    assert_eq!(
        fs::read_to_string(repo.root.join("local-notes.txt")).unwrap(),
        "mine"
    );
    assert!(integration.diverted().is_none());
}

#[test]
fn a_target_checked_out_nowhere_only_has_its_ref_moved() {
    let repo = TestRepo::new();
    git(&repo.root, &["branch", "integ"]);
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, Some("integ"), RUN_ID).unwrap();
    let main_before = rev(&repo.root, "main");
    let wt = finished(&slots, &integration, "demo-1", "feature.txt", "f\n");

    let (commit, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());

    assert_eq!(into, "integ");
    assert_eq!(rev(&repo.root, "integ"), commit);
    assert_eq!(rev(&repo.root, "main"), main_before);
    assert!(!repo.root.join("feature.txt").exists());
    assert_eq!(status(&repo.root), "");
}

#[test]
fn a_dirty_main_tree_diverts_the_run_and_is_left_alone() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let main_before = rev(&repo.root, "main");
    let wt = finished(&slots, &integration, "demo-1", "feature.txt", "f\n");
    write(&repo.root, "README", "my unsaved edit\n");

    let (commit, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());

    let run_branch = format!("hew/run/{RUN_ID}");
    assert_eq!(into, run_branch);
    assert_eq!(integration.branch(), run_branch);
    assert_eq!(integration.target(), "main");
    let reason = integration.diverted().unwrap();
    assert!(
        reason.contains("uncommitted changes") && reason.contains("`README`"),
        "{reason}"
    );
    assert_eq!(rev(&repo.root, &run_branch), commit);
    assert_eq!(rev(&repo.root, &format!("{commit}^1")), main_before);
    assert_eq!(rev(&repo.root, "main"), main_before);
    assert_eq!(
        fs::read_to_string(repo.root.join("README")).unwrap(),
        "my unsaved edit\n"
    );
    assert!(!repo.root.join("feature.txt").exists());
    assert_eq!(status(&repo.root), " M README\n");

    // The rest of the run goes to the run branch, even once the tree is clean again, and
    // new tasks start from it.
    git(&repo.root, &["checkout", "--", "README"]);
    slots.hand_back(wt, false).unwrap();
    let next = finished(&slots, &integration, "demo-2", "second.txt", "s\n");
    assert!(next.path.join("feature.txt").is_file());
    let (second, into) =
        merged(merge(&repo.root, &mut integration, &next.branch, "Merge").unwrap());
    assert_eq!(into, run_branch);
    assert_eq!(rev(&repo.root, &format!("{second}^1")), commit);
    assert_eq!(rev(&repo.root, "main"), main_before);
}

#[test]
fn a_staged_change_in_the_main_tree_diverts_too() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let wt = finished(&slots, &integration, "demo-1", "feature.txt", "f\n");
    write(&repo.root, "staged.txt", "staged\n");
    git(&repo.root, &["add", "staged.txt"]);

    let (_, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());
    assert_eq!(into, format!("hew/run/{RUN_ID}"));
    assert_eq!(status(&repo.root), "A  staged.txt\n");
}

#[test]
fn an_untracked_file_the_merge_would_overwrite_diverts_and_stays() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let main_before = rev(&repo.root, "main");
    let wt = finished(
        &slots,
        &integration,
        "demo-1",
        "feature.txt",
        "from the agent\n",
    );
    write(&repo.root, "feature.txt", "the user's own\n");

    let (_, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());

    assert_eq!(into, format!("hew/run/{RUN_ID}"));
    let reason = integration.diverted().unwrap();
    assert!(
        reason.contains("would overwrite") && reason.contains("feature.txt"),
        "{reason}"
    );
    assert_eq!(
        fs::read_to_string(repo.root.join("feature.txt")).unwrap(),
        "the user's own\n"
    );
    assert_eq!(rev(&repo.root, "main"), main_before);
    assert_eq!(status(&repo.root), "?? feature.txt\n");
}

#[test]
fn a_target_checked_out_in_another_worktree_diverts() {
    let repo = TestRepo::new();
    let other = repo.parent().join("other");
    git(
        &repo.root,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "integ",
            other.to_str().unwrap(),
        ],
    );
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, Some("integ"), RUN_ID).unwrap();
    let integ_before = rev(&repo.root, "integ");
    let wt = finished(&slots, &integration, "demo-1", "feature.txt", "f\n");

    let (_, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());

    assert_eq!(into, format!("hew/run/{RUN_ID}"));
    let reason = integration.diverted().unwrap();
    assert!(reason.contains(&other.display().to_string()), "{reason}");
    assert_eq!(rev(&repo.root, "integ"), integ_before);
    assert!(!other.join("feature.txt").exists());
    assert_eq!(status(&other), "");
}

#[test]
fn a_conflict_returns_the_paths_and_changes_nothing() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let one = slots.checkout(0, &task("demo-1"), "main").unwrap();
    let two = slots.checkout(1, &task("demo-2"), "main").unwrap();
    commit_file(&one.path, "README", "hello from one\n", "one");
    commit_file(&two.path, "README", "hello from two\n", "two");
    commit_file(&two.path, "other.txt", "no conflict here\n", "two more");
    let (first, _) = merged(merge(&repo.root, &mut integration, &one.branch, "Merge one").unwrap());
    let two_tip = rev(&repo.root, &two.branch);

    let result = merge(&repo.root, &mut integration, &two.branch, "Merge two").unwrap();

    assert_eq!(
        result,
        MergeResult::Conflict {
            paths: vec!["README".into()]
        }
    );
    assert_eq!(rev(&repo.root, "main"), first);
    assert_eq!(rev(&repo.root, &two.branch), two_tip);
    assert_eq!(
        fs::read_to_string(repo.root.join("README")).unwrap(),
        "hello from one\n"
    );
    assert!(!repo.root.join("other.txt").exists());
    assert_eq!(status(&repo.root), "");
    assert!(integration.diverted().is_none());
    assert!(!has_branch(&repo.root, &format!("hew/run/{RUN_ID}")));
}

#[test]
fn a_target_moved_since_checkout_is_merged_on_its_new_tip() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let wt = finished(&slots, &integration, "demo-1", "feature.txt", "f\n");
    let theirs = commit_file(&repo.root, "by-someone-else.txt", "x\n", "someone else");

    let (commit, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());

    assert_eq!(into, "main");
    assert_eq!(rev(&repo.root, &format!("{commit}^1")), theirs);
    assert!(repo.root.join("feature.txt").is_file());
    assert!(repo.root.join("by-someone-else.txt").is_file());
    assert_eq!(status(&repo.root), "");
}

#[test]
fn a_branch_with_nothing_new_is_up_to_date_and_moves_nothing() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();
    let tip = rev(&repo.root, "main");

    let result = merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap();

    assert_eq!(
        result,
        MergeResult::UpToDate {
            commit: tip.clone(),
            into: "main".into()
        }
    );
    assert_eq!(rev(&repo.root, "main"), tip);
}

#[test]
fn merging_a_missing_branch_names_it() {
    let repo = TestRepo::new();
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let err = merge(&repo.root, &mut integration, "hew/nope", "Merge").unwrap_err();
    assert!(err.to_string().contains("`hew/nope`"), "{err}");
}

#[test]
fn a_diverted_run_whose_branch_is_checked_out_elsewhere_stops_with_a_hint() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let first = finished(&slots, &integration, "demo-1", "one.txt", "1\n");
    write(&repo.root, "README", "dirty\n");
    merged(merge(&repo.root, &mut integration, &first.branch, "Merge").unwrap());
    slots.hand_back(first, false).unwrap();
    let next = finished(&slots, &integration, "demo-2", "two.txt", "2\n");
    let look = repo.parent().join("look");
    git(
        &repo.root,
        &[
            "worktree",
            "add",
            "-q",
            look.to_str().unwrap(),
            integration.branch(),
        ],
    );
    let run_tip = rev(&repo.root, integration.branch());

    let err = merge(&repo.root, &mut integration, &next.branch, "Merge").unwrap_err();

    assert!(matches!(err, WorktreeError::Blocked { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&look.display().to_string()),
        "{err}"
    );
    assert_eq!(rev(&repo.root, integration.branch()), run_tip);
}

#[test]
fn a_merge_writes_back_the_file_stats_it_refreshed_in_the_main_index() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let wt = finished(&slots, &integration, "demo-1", "new.txt", "new\n");
    // Same content, new stat data (as after copying the checkout): git must hash the file
    // to know it is unchanged, and should only have to once.
    let readme = repo.root.join("README");
    let old = fs::metadata(&readme).unwrap().modified().unwrap();
    fs::File::options()
        .write(true)
        .open(&readme)
        .unwrap()
        .set_modified(old - std::time::Duration::from_secs(3600))
        .unwrap();
    let stat_mtime = |repo: &git2::Repository| {
        let entry = repo
            .index()
            .unwrap()
            .get_path(std::path::Path::new("README"), 0)
            .unwrap();
        entry.mtime.seconds()
    };
    let on_disk = fs::metadata(&readme)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i32;
    let git_repo = git2::Repository::open(&repo.root).unwrap();
    assert_ne!(
        stat_mtime(&git_repo),
        on_disk,
        "the index is stale to begin with"
    );

    merged(merge(&repo.root, &mut integration, &wt.branch, "Merge demo-1").unwrap());

    let git_repo = git2::Repository::open(&repo.root).unwrap();
    assert_eq!(
        stat_mtime(&git_repo),
        on_disk,
        "the refreshed stats were written back"
    );
    assert_eq!(status(&repo.root), "");
}

#[test]
fn a_merge_that_deletes_renames_and_edits_lands_all_of_it_in_the_main_tree() {
    let repo = TestRepo::new();
    commit_file(&repo.root, "docs/old.md", "old\n", "add docs/old.md");
    commit_file(&repo.root, "keep.txt", "keep\n", "add keep.txt");
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();
    git(&wt.path, &["mv", "docs/old.md", "docs/new.md"]);
    git(&wt.path, &["rm", "-q", "keep.txt"]);
    write(&wt.path, "README", "hello again\n");
    git(&wt.path, &["add", "README"]);
    git(&wt.path, &["commit", "-q", "-m", "move, delete, edit"]);
    // A file becomes a directory.
    commit_file(
        &wt.path,
        "keep.txt/inner.txt",
        "inner\n",
        "keep.txt is a directory now",
    );

    merged(merge(&repo.root, &mut integration, &wt.branch, "Merge demo-1").unwrap());

    assert!(!repo.root.join("docs/old.md").exists());
    assert_eq!(
        fs::read_to_string(repo.root.join("docs/new.md")).unwrap(),
        "old\n"
    );
    assert_eq!(
        fs::read_to_string(repo.root.join("keep.txt/inner.txt")).unwrap(),
        "inner\n"
    );
    assert_eq!(
        fs::read_to_string(repo.root.join("README")).unwrap(),
        "hello again\n"
    );
    assert_eq!(
        status(&repo.root),
        "",
        "working tree and index match the merge"
    );
}

#[test]
fn an_untracked_file_where_the_merge_puts_a_directory_diverts_and_nothing_is_written() {
    let repo = TestRepo::new();
    let slots = repo.slots(true);
    let mut integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    let main_before = rev(&repo.root, "main");
    let wt = slots.checkout(0, &task("demo-1"), "main").unwrap();
    commit_file(&wt.path, "0first.txt", "sorts first\n", "an early file");
    commit_file(
        &wt.path,
        "notes/today.md",
        "from the agent\n",
        "notes/ is a directory",
    );
    write(&repo.root, "notes", "the user's own notes file\n");

    let (_, into) = merged(merge(&repo.root, &mut integration, &wt.branch, "Merge").unwrap());

    assert_eq!(into, format!("hew/run/{RUN_ID}"));
    let reason = integration.diverted().unwrap();
    assert!(
        reason.contains("would overwrite") && reason.contains("`notes"),
        "{reason}"
    );
    assert_eq!(
        fs::read_to_string(repo.root.join("notes")).unwrap(),
        "the user's own notes file\n"
    );
    assert!(
        !repo.root.join("0first.txt").exists(),
        "half a merge was written"
    );
    assert_eq!(rev(&repo.root, "main"), main_before);
    assert_eq!(status(&repo.root), "?? notes\n");
}
