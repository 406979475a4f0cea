//! Opening the repository, reading branch tips and writing branches.
//!
//! Every write goes through [`write_refs`] (see `locks`), so threads never race for a ref.

use std::path::Path;

use git2::{BranchType, Commit, ErrorCode, Oid, Repository};

use super::WorktreeError;
use super::locks::{changing_worktrees, write_refs};
use super::names::{local_ref, task_branch};
use crate::tracker::TaskId;

/// How many names `hew/<id>`, `hew/<id>-2`, ... are tried before giving up.
const MAX_BRANCH_ATTEMPTS: u32 = 1000;

/// Opens the repository whose working tree is `root` (no search upwards).
pub(crate) fn open(root: &Path) -> Result<Repository, WorktreeError> {
    Repository::open(root).map_err(|source| WorktreeError::Open {
        path: root.to_owned(),
        source,
    })
}

/// The commit at the tip of local branch `branch`, or of the ref `base` names in full
/// (`refs/remotes/origin/main`: where a remote merge target's task branches start).
pub(crate) fn base_tip<'r>(repo: &'r Repository, base: &str) -> Result<Commit<'r>, WorktreeError> {
    if base.starts_with("refs/") {
        return repo
            .find_reference(base)
            .and_then(|r| r.peel_to_commit())
            .map_err(WorktreeError::git(format!("read `{base}`")));
    }
    branch_tip(repo, base)
}

/// The commit at the tip of local branch `branch`.
pub(crate) fn branch_tip<'r>(
    repo: &'r Repository,
    branch: &str,
) -> Result<Commit<'r>, WorktreeError> {
    let reference = match repo.find_reference(&local_ref(branch)) {
        Ok(r) => r,
        // A name git cannot even parse (`a..b`) names no branch either.
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {
            return Err(WorktreeError::NoSuchBranch {
                branch: branch.to_owned(),
                path: repo.workdir().unwrap_or(repo.path()).to_owned(),
            });
        }
        Err(e) => return Err(WorktreeError::git(format!("read branch `{branch}`"))(e)),
    };
    reference
        .peel_to_commit()
        .map_err(WorktreeError::git(format!(
            "read the tip of branch `{branch}`"
        )))
}

/// Creates the branch for `task` at `base`: `hew/<id>`, or the first free `hew/<id>-N`.
/// An existing branch is never moved.
pub(crate) fn create_task_branch(
    repo: &Repository,
    task: &TaskId,
    base: &Commit<'_>,
) -> Result<String, WorktreeError> {
    for attempt in 1..=MAX_BRANCH_ATTEMPTS {
        let name = task_branch(task, attempt)?;
        match write_refs(|| repo.branch(&name, base, false)) {
            Ok(_) => return Ok(name),
            Err(e) if e.code() == ErrorCode::Exists => continue,
            Err(e) => return Err(WorktreeError::git(format!("create branch `{name}`"))(e)),
        }
    }
    Err(WorktreeError::NoFreeBranchName {
        base: task_branch(task, 1)?,
        tried: MAX_BRANCH_ATTEMPTS,
    })
}

/// Creates `branch` at `at` unless it exists; an existing one is left as it is.
pub(crate) fn ensure_branch(
    repo: &Repository,
    branch: &str,
    at: &Commit<'_>,
) -> Result<(), WorktreeError> {
    match write_refs(|| repo.branch(branch, at, false)) {
        Ok(_) => Ok(()),
        Err(e) if e.code() == ErrorCode::Exists => Ok(()),
        Err(e) => Err(WorktreeError::git(format!("create branch `{branch}`"))(e)),
    }
}

/// Deletes local branch `branch`; one already gone is not an error. git refuses to delete
/// a branch checked out in any worktree.
pub(crate) fn delete_branch(repo: &Repository, branch: &str) -> Result<(), WorktreeError> {
    changing_worktrees(|| {
        write_refs(|| match repo.find_branch(branch, BranchType::Local) {
            Ok(mut b) => b.delete(),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e),
        })
    })
    .map_err(WorktreeError::git(format!("delete branch `{branch}`")))
}

/// Moves `branch` from `old` to `new`, only if it still points at `old`. `Ok(false)` means
/// someone else moved it first.
pub(crate) fn advance(
    repo: &Repository,
    branch: &str,
    old: Oid,
    new: Oid,
    log_message: &str,
) -> Result<bool, WorktreeError> {
    let name = local_ref(branch);
    match write_refs(|| repo.reference_matching(&name, new, true, old, log_message)) {
        Ok(_) => Ok(true),
        Err(e) if e.code() == ErrorCode::Modified => Ok(false),
        Err(e) => Err(WorktreeError::git(format!("update branch `{branch}`"))(e)),
    }
}

/// How far back [`landed_by_run`] looks on the target's first-parent line.
const LANDED_LOOKBACK: usize = 2000;

/// The tasks whose work run `run_id` merged into `target` (a local branch, or a remote
/// target named `<remote>/<branch>`), by task id, with the merge commit: read from the
/// merge commits' messages (`Merge hew/<id> (<id>: <title>)`, then `hew run <run-id>,
/// iteration <n>.`) on the target's recent first-parent line. A run that died between
/// landing a task's work and closing the task leaves it here.
pub fn landed_by_run(
    repo_root: &Path,
    target: &str,
    run_id: &str,
) -> Result<std::collections::BTreeMap<String, String>, WorktreeError> {
    let repo = open(repo_root)?;
    let tip = branch_tip(&repo, target)
        .or_else(|_| base_tip(&repo, &format!("refs/remotes/{target}")))?;
    let mut walk = repo
        .revwalk()
        .and_then(|mut w| {
            w.push(tip.id())?;
            w.simplify_first_parent()?;
            Ok(w)
        })
        .map_err(WorktreeError::git(format!("walk `{target}`")))?;
    let signature = format!("\n\nhew run {run_id}, iteration ");
    let mut landed = std::collections::BTreeMap::new();
    for id in walk.by_ref().take(LANDED_LOOKBACK).flatten() {
        let Ok(commit) = repo.find_commit(id) else {
            continue;
        };
        let message = commit.message().unwrap_or_default();
        if !message.contains(&signature) {
            continue;
        }
        let task = message
            .strip_prefix("Merge hew/")
            .and_then(|rest| rest.split_once(" ("))
            .and_then(|(_, inner)| inner.split_once(':'))
            .map(|(task, _)| task.to_owned());
        if let Some(task) = task {
            landed.entry(task).or_insert_with(|| id.to_string());
        }
    }
    Ok(landed)
}

/// After a crash: the task branches of `tasks` (`hew/<id>`, `hew/<id>-<n>`) whose commits
/// are all on one of `targets` are deleted; the others are kept and returned, so no commit
/// an agent made is lost. With no targets known, every branch is kept.
pub fn settle_task_branches(
    repo_root: &Path,
    tasks: &[&str],
    targets: &[&str],
) -> Result<Vec<String>, WorktreeError> {
    let repo = open(repo_root)?;
    let tips: Vec<Oid> = targets
        .iter()
        .filter_map(|t| branch_tip(&repo, t).ok().map(|c| c.id()))
        .collect();
    let branches = repo
        .branches(Some(BranchType::Local))
        .map_err(WorktreeError::git("list branches".to_owned()))?;
    let mut kept = Vec::new();
    for (branch, _) in branches.flatten() {
        let Some(name) = branch.name().ok().flatten().map(str::to_owned) else {
            continue;
        };
        let Some(rest) = name.strip_prefix("hew/") else {
            continue;
        };
        let ours = tasks.iter().any(|t| {
            rest == *t
                || rest
                    .strip_prefix(*t)
                    .and_then(|r| r.strip_prefix('-'))
                    .is_some_and(|n| n.parse::<u32>().is_ok())
        });
        let Some(tip) = branch.get().target().filter(|_| ours) else {
            continue;
        };
        let merged = tips
            .iter()
            .any(|t| *t == tip || repo.graph_descendant_of(*t, tip).unwrap_or(false));
        if merged {
            delete_branch(&repo, &name)?;
        } else {
            kept.push(name);
        }
    }
    kept.sort();
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_commit() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        repo.commit(Some("refs/heads/main"), &sig, &sig, "first", &tree, &[])
            .unwrap();
        drop(tree);
        (dir, repo)
    }

    #[test]
    fn advance_refuses_a_branch_that_moved() {
        let (_dir, repo) = repo_with_commit();
        let tip = branch_tip(&repo, "main").unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let tree = tip.tree().unwrap();
        let next = repo
            .commit(None, &sig, &sig, "next", &tree, &[&tip])
            .unwrap();
        let stale = Oid::from_str("1111111111111111111111111111111111111111").unwrap();

        assert!(!advance(&repo, "main", stale, next, "test").unwrap());
        assert_eq!(branch_tip(&repo, "main").unwrap().id(), tip.id());
        assert!(advance(&repo, "main", tip.id(), next, "test").unwrap());
        assert_eq!(branch_tip(&repo, "main").unwrap().id(), next);
    }

    #[test]
    fn task_branches_never_move_an_existing_one() {
        let (_dir, repo) = repo_with_commit();
        let tip = branch_tip(&repo, "main").unwrap();
        let id = TaskId::parse("demo-1").unwrap();
        assert_eq!(create_task_branch(&repo, &id, &tip).unwrap(), "hew/demo-1");
        assert_eq!(
            create_task_branch(&repo, &id, &tip).unwrap(),
            "hew/demo-1-2"
        );
        delete_branch(&repo, "hew/demo-1").unwrap();
        delete_branch(&repo, "hew/demo-1").unwrap();
        assert_eq!(create_task_branch(&repo, &id, &tip).unwrap(), "hew/demo-1");
    }
}
