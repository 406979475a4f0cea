//! Deciding the integration branch: the branch checked out, `--into`, and the repositories
//! where there is nothing sensible to merge into.

mod worktree_support;

use hew_core::worktree::{Integration, MergeResult, WorktreeError, merge};
use worktree_support::{RUN_ID, TestRepo, commit_file, git, rev, status, task};

#[test]
fn the_checked_out_branch_is_the_default_target() {
    let repo = TestRepo::new();
    git(&repo.root, &["switch", "-q", "-c", "work"]);
    let integration = Integration::resolve(&repo.root, None, RUN_ID).unwrap();
    assert_eq!(integration.branch(), "work");
    assert_eq!(integration.target(), "work");
    assert_eq!(integration.run_branch(), format!("hew/run/{RUN_ID}"));
    assert_eq!(integration.diverted(), None);
}

#[test]
fn a_detached_head_needs_into() {
    let repo = TestRepo::new();
    git(&repo.root, &["checkout", "-q", "--detach"]);
    let err = Integration::resolve(&repo.root, None, RUN_ID).unwrap_err();
    assert!(matches!(err, WorktreeError::DetachedHead { .. }), "{err:?}");
    assert!(err.to_string().contains("detached"), "{err}");

    let integration = Integration::resolve(&repo.root, Some("main"), RUN_ID).unwrap();
    assert_eq!(integration.branch(), "main");
}

#[test]
fn an_empty_repository_asks_for_a_first_commit() {
    let repo = TestRepo::empty();
    for into in [None, Some("main")] {
        let err = Integration::resolve(&repo.root, into, RUN_ID).unwrap_err();
        assert!(matches!(err, WorktreeError::Unborn { .. }), "{err:?}");
        assert!(err.to_string().contains("no commits yet"), "{err}");
    }
}

#[test]
fn into_must_name_an_existing_local_branch() {
    let repo = TestRepo::new();
    let err = Integration::resolve(&repo.root, Some("release"), RUN_ID).unwrap_err();
    assert!(matches!(err, WorktreeError::NoSuchBranch { .. }), "{err:?}");
    assert!(
        err.to_string().contains("branch `release` does not exist"),
        "{err}"
    );
    for bad in ["a..b", "origin/main", "refs/heads/main", ""] {
        let err = Integration::resolve(&repo.root, Some(bad), RUN_ID).unwrap_err();
        assert!(
            matches!(err, WorktreeError::NoSuchBranch { .. }),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn a_run_id_that_cannot_be_a_branch_is_refused() {
    let repo = TestRepo::new();
    let err = Integration::resolve(&repo.root, None, "a..b").unwrap_err();
    assert!(matches!(err, WorktreeError::InvalidName { .. }), "{err:?}");
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Integration::resolve(dir.path(), None, RUN_ID).unwrap_err();
    assert!(matches!(err, WorktreeError::Open { .. }), "{err:?}");
    assert!(err.to_string().starts_with("failed to open"), "{err}");
}

#[test]
fn started_in_a_linked_worktree_its_branch_is_updated_there() {
    let repo = TestRepo::new();
    let linked = repo.parent().join("linked");
    git(
        &repo.root,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            linked.to_str().unwrap(),
        ],
    );
    let main_before = rev(&repo.root, "main");
    let mut integration = Integration::resolve(&linked, None, RUN_ID).unwrap();
    assert_eq!(integration.branch(), "side");
    let slots = worktree_support::TestRepo::slots_at(&linked);
    let wt = slots.checkout(0, &task("demo-1"), "side").unwrap();
    assert!(
        wt.path.starts_with(repo.root.join(".git")),
        "{}",
        wt.path.display()
    );
    commit_file(&wt.path, "feature.txt", "f\n", "feature");

    let result = merge(&linked, &mut integration, &wt.branch, "Merge").unwrap();

    assert!(
        matches!(&result, MergeResult::Merged { into, .. } if into == "side"),
        "{result:?}"
    );
    assert!(linked.join("feature.txt").is_file());
    assert_eq!(status(&linked), "");
    assert_eq!(rev(&repo.root, "main"), main_before);
    assert!(!repo.root.join("feature.txt").exists());

    // The main worktree's branch, asked for from the linked one, is someone else's tree.
    let mut into_main = Integration::resolve(&linked, Some("main"), RUN_ID).unwrap();
    let next = slots.checkout(1, &task("demo-2"), "main").unwrap();
    commit_file(&next.path, "other.txt", "o\n", "other");
    let result = merge(&linked, &mut into_main, &next.branch, "Merge").unwrap();
    assert!(
        matches!(&result, MergeResult::Merged { into, .. } if into == &format!("hew/run/{RUN_ID}")),
        "{result:?}"
    );
    assert_eq!(rev(&repo.root, "main"), main_before);
}
