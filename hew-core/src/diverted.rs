//! Work a run merged into `hew/run/<run-id>` instead of its target, and whether it has
//! landed since.
//!
//! A merge never touches a dirty working tree: when the target is checked out with
//! changes, the run diverts its merges to its own branch and says so once. The tasks are
//! closed all the same, so until someone merges that branch the target lacks their work.
//! The summary, the list of runs and `hew doctor` read the answer from git here, every
//! time they are asked, so they stop mentioning a branch as soon as it has landed (its tip
//! is in the target) or has been deleted.

use std::path::Path;

use crate::records::{RunRecord, list_runs};

/// The prefix of the branches runs divert their merges to.
pub const RUN_BRANCH_PREFIX: &str = "hew/run/";

/// A run branch whose work is not in its target yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlanded {
    /// The run.
    pub run_id: String,
    /// `hew/run/<run-id>`.
    pub branch: String,
    /// The branch it should land on (the run's target).
    pub into: String,
    /// Commits on `branch` that `into` lacks.
    pub commits: usize,
    /// Why the run diverted, as it recorded it (outside text: render it escaped).
    pub reason: Option<String>,
}

impl Unlanded {
    /// The commands that land the work: `git switch main && git merge hew/run/<id>`.
    pub fn land_command(&self) -> String {
        format!("git switch {} && git merge {}", self.into, self.branch)
    }
}

/// The work of `run` still waiting on its run branch, if any: `None` when the run never
/// diverted, its branch is gone, or its tip is already in the target.
pub fn unlanded_work(root: &Path, run: &RunRecord) -> Option<Unlanded> {
    let repo = git2::Repository::open(root).ok()?;
    let branch = format!("{RUN_BRANCH_PREFIX}{}", run.run_id);
    let into = (!run.into.is_empty()).then(|| run.into.clone())?;
    let commits = ahead(&repo, &branch, &into)?;
    Some(Unlanded {
        run_id: run.run_id.clone(),
        branch,
        into,
        commits,
        reason: run.diverted.clone(),
    })
}

/// Every `hew/run/*` branch in the repository at `root` whose work is not in its target.
/// The target is the one its run recorded; a branch whose record is gone is compared with
/// `fallback_into` (the branch checked out), and skipped without one.
pub fn unlanded_run_branches(root: &Path, fallback_into: Option<&str>) -> Vec<Unlanded> {
    let Ok(repo) = git2::Repository::open(root) else {
        return Vec::new();
    };
    let (runs, _) = list_runs(root);
    let Ok(branches) = repo.branches(Some(git2::BranchType::Local)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (branch, _) in branches.flatten() {
        let Some(name) = branch.name().ok().flatten() else {
            continue;
        };
        let Some(run_id) = name.strip_prefix(RUN_BRANCH_PREFIX) else {
            continue;
        };
        let run = runs.iter().find(|r| r.run_id == run_id);
        let into = run
            .map(|r| r.into.as_str())
            .filter(|i| !i.is_empty())
            .or(fallback_into);
        let Some(into) = into else { continue };
        if let Some(commits) = ahead(&repo, name, into) {
            found.push(Unlanded {
                run_id: run_id.to_owned(),
                branch: name.to_owned(),
                into: into.to_owned(),
                commits,
                reason: run.and_then(|r| r.diverted.clone()),
            });
        }
    }
    found.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    found
}

/// How many commits `branch` has that `into` lacks, in the repository at `root`: `None`
/// when it has none (its work landed), or the branch or the repository is gone. For a
/// branch kept with an agent's unmerged work, this says whether it still needs a person.
pub fn unmerged_commits(root: &Path, branch: &str, into: &str) -> Option<usize> {
    let repo = git2::Repository::open(root).ok()?;
    ahead(&repo, branch, into)
}

/// How many commits `branch` has that `into` lacks; `None` when there are none or the
/// branch does not exist. A missing `into` lacks everything.
fn ahead(repo: &git2::Repository, branch: &str, into: &str) -> Option<usize> {
    let tip = repo
        .find_branch(branch, git2::BranchType::Local)
        .ok()?
        .get()
        .peel_to_commit()
        .ok()?
        .id();
    let target = repo
        .find_branch(into, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.get().peel_to_commit().ok())
        .map(|c| c.id());
    let mut walk = repo.revwalk().ok()?;
    walk.push(tip).ok()?;
    if let Some(target) = target {
        walk.hide(target).ok()?;
    }
    let n = walk.count();
    (n > 0).then_some(n)
}
