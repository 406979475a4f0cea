//! What an agent left in its worktree: the commits it made and anything it did not commit.
//!
//! The outcome of a task depends on it (no commits is `no_change`; commits are merged), and
//! the iteration record names every commit, so nothing an agent made goes unnoticed: commits
//! made off the task's branch (on a detached HEAD, or on another branch) are found from the
//! worktree's HEAD and its reflog, and kept on a branch of their own when no branch holds
//! them.

use git2::{BranchType, Oid, Repository, Sort};

use super::holders::changed_paths;
use super::locks::write_refs;
use super::names::signature;
use super::refs::{branch_tip, open};
use super::{Slots, TaskWorktree, WorktreeError};

/// How many names `<task branch>-off-N` are tried for commits made off the branch.
const OFF_BRANCH_NAMES: u32 = 100;

/// What an agent left in a task's worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkLeft {
    /// Commits on the task's branch since its base, oldest first.
    pub commits: Vec<Commit>,
    /// The worktree has uncommitted changes to tracked files, or untracked files that are
    /// not ignored.
    pub dirty: bool,
    /// Commits made in the worktree but not on the task's branch, by the branch that holds
    /// them.
    pub off_branch: Vec<OffBranch>,
}

/// Commits an agent made off its task's branch, and the branch that holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffBranch {
    /// The branch: one the agent made, or one hew made to keep them (`kept`).
    pub branch: String,
    /// How many commits it holds that neither the task's branch nor its base has.
    pub commits: usize,
    /// hew made the branch: nothing else held the commits.
    pub kept: bool,
}

/// One commit an agent made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Commit {
    /// The commit id (hex).
    pub id: String,
    /// The first line of its message.
    pub summary: String,
}

impl Slots {
    /// What the agent left in `wt`: the commits on its branch since `wt.base` (oldest first,
    /// merges of other work included) and whether the worktree is dirty.
    pub fn inspect(&self, wt: &TaskWorktree) -> Result<WorkLeft, WorktreeError> {
        let repo = open(&self.repo_root)?;
        let tip = branch_tip(&repo, &wt.branch)?;
        let what = || format!("list the commits of branch `{}`", wt.branch);
        let base = Oid::from_str(&wt.base).map_err(WorktreeError::git(what()))?;
        let mut walk = repo.revwalk().map_err(WorktreeError::git(what()))?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .and_then(|()| walk.push(tip.id()))
            .and_then(|()| walk.hide(base))
            .map_err(WorktreeError::git(what()))?;
        let mut commits = Vec::new();
        for oid in walk {
            let commit = oid
                .and_then(|oid| repo.find_commit(oid))
                .map_err(WorktreeError::git(what()))?;
            commits.push(Commit {
                id: commit.id().to_string(),
                summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                    .into_owned(),
            });
        }
        let path = self.slot_path(wt.slot)?;
        let what = || format!("read the status of worktree `{}`", path.display());
        let repo = Repository::open(&path).map_err(WorktreeError::git(what()))?;
        let dirty = !changed_paths(&repo, true, false)
            .map_err(WorktreeError::git(what()))?
            .is_empty();
        let main = open(&self.repo_root)?;
        let off_branch = off_branch(&main, &repo, wt, tip.id(), base).map_err(
            WorktreeError::git(format!("look for commits off branch `{}`", wt.branch)),
        )?;
        Ok(WorkLeft {
            commits,
            dirty,
            off_branch,
        })
    }
}

impl Slots {
    /// Commits everything the agent left uncommitted in `wt` (changes and untracked files;
    /// ignored files stay out) on the task's branch, with `message`. `None` when there was
    /// nothing to commit. For agents that cannot commit themselves: Codex's sandbox keeps a
    /// worktree's git directory, which lies outside the worktree, read-only.
    pub fn commit_leftovers(
        &self,
        wt: &TaskWorktree,
        message: &str,
    ) -> Result<Option<Commit>, WorktreeError> {
        let path = self.slot_path(wt.slot)?;
        let what = || format!("commit what the agent left in `{}`", path.display());
        let repo = Repository::open(&path).map_err(WorktreeError::git(what()))?;
        let committed = (|| -> Result<Option<Commit>, git2::Error> {
            let mut index = repo.index()?;
            index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
            index.update_all(["*"], None)?;
            index.write()?;
            let tree = repo.find_tree(index.write_tree()?)?;
            let head = repo.head()?.peel_to_commit()?;
            if head.tree_id() == tree.id() {
                return Ok(None);
            }
            let sig = signature(repo.config().ok().as_ref())?;
            let id = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])?;
            Ok(Some(Commit {
                id: id.to_string(),
                summary: message.lines().next().unwrap_or_default().to_owned(),
            }))
        })();
        committed.map_err(WorktreeError::git(what()))
    }
}

/// The commits made in worktree `wt` (of task worktree `task`, whose branch is at `tip`
/// and started at `base`) that are on neither: from its HEAD and from the HEAD moves its
/// reflog recorded since hew's checkout. Each is named by a local branch that holds it, or
/// kept on a new one, `<task branch>-off-N`.
fn off_branch(
    repo: &Repository,
    wt: &Repository,
    task: &TaskWorktree,
    tip: Oid,
    base: Oid,
) -> Result<Vec<OffBranch>, git2::Error> {
    let mut tips: Vec<Oid> = wt
        .head()
        .ok()
        .and_then(|h| h.target())
        .into_iter()
        .collect();
    if let Ok(reflog) = wt.reflog("HEAD") {
        // Newest first: the moves made since hew's checkout.
        let mine = reflog.len().saturating_sub(task.reflog_len);
        tips.extend(reflog.iter().take(mine).map(|e| e.id_new()));
    }
    let on_task = |c: Oid| -> Result<bool, git2::Error> {
        Ok(c == tip
            || c == base
            || repo.graph_descendant_of(tip, c)?
            || repo.graph_descendant_of(base, c)?)
    };
    let mut off = Vec::new();
    for c in tips {
        if !c.is_zero() && repo.find_commit(c).is_ok() && !on_task(c)? && !off.contains(&c) {
            off.push(c);
        }
    }
    // Only the newest of each line: a tip another one descends from adds nothing.
    let mut newest = Vec::new();
    for &c in &off {
        let mut covered = false;
        for &o in &off {
            if o != c && repo.graph_descendant_of(o, c)? {
                covered = true;
            }
        }
        if !covered {
            newest.push(c);
        }
    }
    let mut found = Vec::new();
    for c in newest {
        let mut walk = repo.revwalk()?;
        walk.push(c)?;
        walk.hide(tip)?;
        walk.hide(base)?;
        let commits = walk.count();
        let holder = local_branch_holding(repo, c, &task.branch)?;
        let (branch, kept) = match holder {
            Some(branch) => (branch, false),
            None => (keep(repo, &task.branch, c)?, true),
        };
        found.push(OffBranch {
            branch,
            commits,
            kept,
        });
    }
    Ok(found)
}

/// A local branch other than `except` whose history holds `commit`.
fn local_branch_holding(
    repo: &Repository,
    commit: Oid,
    except: &str,
) -> Result<Option<String>, git2::Error> {
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        let (Some(name), Some(at)) = (branch.name()?, branch.get().target()) else {
            continue;
        };
        if name != except && (at == commit || repo.graph_descendant_of(at, commit)?) {
            return Ok(Some(name.to_owned()));
        }
    }
    Ok(None)
}

/// Keeps `commit` on a new branch `<task branch>-off-N`, the first name free.
fn keep(repo: &Repository, task_branch: &str, commit: Oid) -> Result<String, git2::Error> {
    let commit = repo.find_commit(commit)?;
    for n in 1..=OFF_BRANCH_NAMES {
        let name = format!("{task_branch}-off-{n}");
        match write_refs(|| repo.branch(&name, &commit, false)) {
            Ok(_) => return Ok(name),
            Err(e) if e.code() == git2::ErrorCode::Exists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(git2::Error::from_str("no free branch name to keep them on"))
}
