//! Merging a finished task's branch into the run's integration branch.
//!
//! The merge is computed in memory, so a conflict changes nothing at all. Only a clean
//! result is committed, and the branch is then moved with a compare-and-swap on the tip the
//! merge was computed from: if someone else moved it meanwhile, hew merges again on top of
//! their work instead of overwriting it. A working tree is updated only when it is the one
//! hew was started in and it is clean; any other holder diverts the run (see
//! [`Integration`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use git2::build::CheckoutBuilder;
use git2::{CheckoutNotificationType, Commit, ErrorCode, Index, Oid, Repository};

use super::holders::{Holder, holder, why_not_clean};
use super::names::{local_ref, signature};
use super::refs::{advance, branch_tip, ensure_branch, open};
use super::{Integration, WorktreeError};

/// How often a merge is redone because the target moved under it.
const MAX_ATTEMPTS: u32 = 5;
/// How many paths a "would overwrite" reason names.
const PATHS_SHOWN: usize = 3;

/// What became of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeResult {
    /// A merge commit was made and `into` now points at it.
    Merged {
        /// The merge commit (hex).
        commit: String,
        /// The branch it was made on (the target, or the run branch once diverted).
        into: String,
    },
    /// The branch had no commits that `into` lacks: nothing was created or moved.
    UpToDate {
        /// The unchanged tip of `into` (hex).
        commit: String,
        /// The branch that already contains the work.
        into: String,
    },
    /// The branches conflict: no ref moved and no file was touched.
    Conflict {
        /// The conflicting paths, sorted.
        paths: Vec<String>,
    },
}

/// A merge made in memory onto a given commit: on no branch yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergedOnto {
    /// The merge commit (hex), parents `[onto, branch tip]`.
    Commit(String),
    /// `onto` already holds every commit of the branch: there is nothing to merge.
    UpToDate,
    /// The branches conflict: nothing was written but loose objects.
    Conflict {
        /// The conflicting paths, sorted.
        paths: Vec<String>,
    },
}

/// What became of moving the target to a new commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// The branch now points at the new commit.
    Landed {
        /// The branch it landed on (the target, or the run branch once diverted).
        into: String,
    },
    /// The branch was no longer at the commit the new one was made on: nothing moved.
    Moved,
}

/// What happened when hew tried to move a branch.
enum Move {
    Done,
    /// The branch moved since its tip was read.
    Moved,
    /// A working tree hew must not touch holds the branch, for this reason.
    Blocked(String),
}

/// Merges `branch` into [`Integration::branch`]: [`merge_onto`] its current tip, then
/// [`land`], again on the new tip if the branch moved meanwhile. A branch with nothing new
/// gives [`MergeResult::UpToDate`] (callers normally merge only branches with commits).
pub fn merge(
    repo_root: &Path,
    integration: &mut Integration,
    branch: &str,
    message: &str,
) -> Result<MergeResult, WorktreeError> {
    let mut moved = 0;
    loop {
        let into = integration.branch().to_owned();
        let ours = tip(repo_root, &into)?;
        let commit = match merge_onto(repo_root, &ours, branch, message)? {
            MergedOnto::Commit(commit) => commit,
            MergedOnto::UpToDate => return Ok(MergeResult::UpToDate { commit: ours, into }),
            MergedOnto::Conflict { paths } => return Ok(MergeResult::Conflict { paths }),
        };
        match land(repo_root, integration, &ours, &commit)? {
            Landing::Landed { into } => return Ok(MergeResult::Merged { commit, into }),
            Landing::Moved => {
                moved += 1;
                if moved >= MAX_ATTEMPTS {
                    return Err(WorktreeError::TargetKeptMoving {
                        branch: into,
                        attempts: moved,
                    });
                }
            }
        }
    }
}

/// The commit at the tip of local branch `branch` (hex).
pub fn tip(repo_root: &Path, branch: &str) -> Result<String, WorktreeError> {
    let repo = open(repo_root)?;
    Ok(branch_tip(&repo, branch)?.id().to_string())
}

/// Merges `branch` onto commit `onto` in memory, with a merge commit (never a
/// fast-forward), parents `[onto, branch tip]`, message `message`, signed by git's
/// `user.name` and `user.email` or `hew <hew@localhost>`. No ref moves: the commit is
/// landed with [`land`], or left for git to collect.
pub fn merge_onto(
    repo_root: &Path,
    onto: &str,
    branch: &str,
    message: &str,
) -> Result<MergedOnto, WorktreeError> {
    let repo = open(repo_root)?;
    let theirs = branch_tip(&repo, branch)?;
    let ours = Oid::from_str(onto)
        .and_then(|id| repo.find_commit(id))
        .map_err(WorktreeError::git(format!("read commit {onto}")))?;
    let contained = ours.id() == theirs.id()
        || repo
            .graph_descendant_of(ours.id(), theirs.id())
            .map_err(WorktreeError::git(format!("compare {onto} and `{branch}`")))?;
    if contained {
        return Ok(MergedOnto::UpToDate);
    }
    let mut index = repo
        .merge_commits(&ours, &theirs, None)
        .map_err(WorktreeError::git(format!("merge `{branch}` onto {onto}")))?;
    if index.has_conflicts() {
        return Ok(MergedOnto::Conflict {
            paths: conflict_paths(&index)?,
        });
    }
    let what = || format!("commit the merge of `{branch}` onto {onto}");
    let tree = index
        .write_tree_to(&repo)
        .and_then(|id| repo.find_tree(id))
        .map_err(WorktreeError::git(what()))?;
    let config = repo.config().ok();
    let sig = signature(config.as_ref()).map_err(WorktreeError::git("make a signature"))?;
    let merged = repo
        .commit(None, &sig, &sig, message, &tree, &[&ours, &theirs])
        .map_err(WorktreeError::git(what()))?;
    Ok(MergedOnto::Commit(merged.to_string()))
}

/// Moves [`Integration::branch`] from `old` to `new` (a descendant of `old`), only if it
/// still points at `old`.
///
/// If the branch is checked out in the working tree at `repo_root` and that tree is clean,
/// the tree and index are updated with it (a safe checkout); if it is checked out nowhere,
/// only the ref moves; in every other case (uncommitted changes, an untracked file the
/// update would overwrite, an operation in progress, or checked out in another worktree)
/// that working tree is left alone and the run is diverted to `hew/run/<run-id>`, created
/// at `old`, which then moves to `new`.
///
/// Several hews may share the repository: their landings take turns on the repository's
/// merge lock.
pub fn land(
    repo_root: &Path,
    integration: &mut Integration,
    old: &str,
    new: &str,
) -> Result<Landing, WorktreeError> {
    let repo = open(repo_root)?;
    let _turn = merge_lock(&repo)?;
    let parse = |hex: &str| {
        Oid::from_str(hex)
            .and_then(|id| repo.find_commit(id))
            .map_err(WorktreeError::git(format!("read commit {hex}")))
    };
    let (ours, merged) = (parse(old)?, parse(new)?.id());
    loop {
        let into = integration.branch().to_owned();
        if branch_tip(&repo, &into)?.id() != ours.id() {
            return Ok(Landing::Moved);
        }
        let log_message = format!("merge: hew landed {new} on {into}");
        match move_branch(&repo, &into, &ours, merged, &log_message)? {
            Move::Done => return Ok(Landing::Landed { into }),
            Move::Moved => return Ok(Landing::Moved),
            Move::Blocked(reason) if integration.diverted().is_none() => {
                ensure_branch(&repo, integration.run_branch(), &ours)?;
                integration.divert(reason);
            }
            Move::Blocked(reason) => {
                return Err(WorktreeError::Blocked {
                    branch: into,
                    reason,
                });
            }
        }
    }
}

/// Moves `into` from `ours` to `merged`, updating its working tree if hew may.
fn move_branch(
    repo: &Repository,
    into: &str,
    ours: &Commit<'_>,
    merged: Oid,
    log_message: &str,
) -> Result<Move, WorktreeError> {
    match holder(repo, into)? {
        Holder::Nobody => Ok(moved_or_done(advance(
            repo,
            into,
            ours.id(),
            merged,
            log_message,
        )?)),
        Holder::Elsewhere(path) => Ok(Move::Blocked(format!(
            "`{into}` is checked out in `{}`",
            path.display()
        ))),
        Holder::Home => land_checked_out(repo, into, ours, merged, log_message),
    }
}

/// Lands `merged` on `into`, which is checked out in `repo`'s working tree: the branch's
/// ref is locked (git's own lock file) for the checkout and the update together, so nobody
/// can move it in between, and the checkout is safe: it never overwrites a change.
fn land_checked_out(
    repo: &Repository,
    into: &str,
    ours: &Commit<'_>,
    merged: Oid,
    log_message: &str,
) -> Result<Move, WorktreeError> {
    if let Some(reason) = why_not_clean(repo)? {
        return Ok(Move::Blocked(reason));
    }
    let name = local_ref(into);
    let mut tx = repo
        .transaction()
        .map_err(WorktreeError::git(format!("lock branch `{into}`")))?;
    match tx.lock_ref(&name) {
        Ok(()) => {}
        // Another process is moving the branch right now: read its new tip and retry.
        Err(e) if e.code() == ErrorCode::Locked => return Ok(Move::Moved),
        Err(e) => return Err(WorktreeError::git(format!("lock branch `{into}`"))(e)),
    }
    // The checkout starts from HEAD's tree: it must still be the tip merged onto.
    if branch_tip(repo, into)?.id() != ours.id() {
        return Ok(Move::Moved);
    }
    let commit = repo
        .find_commit(merged)
        .map_err(WorktreeError::git(format!("read merge commit {merged}")))?;
    if let Some(reason) = checkout_safely(repo, &commit)? {
        return Ok(Move::Blocked(reason));
    }
    let sig = signature(repo.config().ok().as_ref())
        .map_err(WorktreeError::git("make a signature".to_owned()))?;
    // The git lock file is held: other writers of this ref (threads or processes) wait
    // and retry on it.
    tx.set_target(&name, merged, Some(&sig), log_message)
        .and_then(|()| tx.commit())
        .map_err(WorktreeError::git(format!("update branch `{into}`")))?;
    Ok(Move::Done)
}

/// The repository-wide merge lock, `<git dir>/hew/merge.lock`, held until dropped. Blocks
/// while another process merges.
fn merge_lock(repo: &Repository) -> Result<Flock<File>, WorktreeError> {
    let dir = repo.commondir().join("hew");
    let path = dir.join("merge.lock");
    let io = |source| WorktreeError::Io {
        what: "take the merge lock",
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io(errno.into()))
}

fn moved_or_done(advanced: bool) -> Move {
    if advanced { Move::Done } else { Move::Moved }
}

/// Updates the working tree and index of `repo` from HEAD's tree to `commit`'s,
/// refusing (and changing nothing) if that would overwrite a change or an untracked file.
/// Returns why it refused.
fn checkout_safely(
    repo: &Repository,
    commit: &Commit<'_>,
) -> Result<Option<String>, WorktreeError> {
    let root = repo.workdir().unwrap_or(repo.path()).display().to_string();
    let what = || format!("update the working tree `{root}`");
    let mut refused = Vec::new();
    let result = {
        let mut opts = CheckoutBuilder::new();
        // The baseline is HEAD's tree, `ours`: the caller checked that HEAD is still there.
        opts.safe()
            .notify_on(CheckoutNotificationType::CONFLICT)
            .notify(|_, path, _, _, _| {
                if let Some(path) = path {
                    refused.push(path.display().to_string());
                }
                true
            });
        repo.checkout_tree(commit.as_object(), Some(&mut opts))
    };
    match result {
        Ok(()) if refused.is_empty() => Ok(None),
        Ok(()) => Ok(Some(would_overwrite(&root, &refused))),
        Err(e) if e.code() == ErrorCode::Conflict => Ok(Some(would_overwrite(&root, &refused))),
        Err(e) => Err(WorktreeError::git(what())(e)),
    }
}

fn would_overwrite(root: &str, paths: &[String]) -> String {
    let mut shown: Vec<String> = paths
        .iter()
        .take(PATHS_SHOWN)
        .map(|p| format!("`{p}`"))
        .collect();
    if paths.len() > PATHS_SHOWN {
        shown.push(format!("and {} more", paths.len() - PATHS_SHOWN));
    }
    if shown.is_empty() {
        shown.push("files git would not name".into());
    }
    format!(
        "the merge would overwrite files in `{root}` that are not committed ({})",
        shown.join(", ")
    )
}

/// The paths with conflicts in a merged index, sorted and without repeats.
fn conflict_paths(index: &Index) -> Result<Vec<String>, WorktreeError> {
    let conflicts = index
        .conflicts()
        .map_err(WorktreeError::git("list merge conflicts"))?;
    let mut paths = BTreeSet::new();
    for conflict in conflicts {
        let conflict = conflict.map_err(WorktreeError::git("list merge conflicts"))?;
        // Both sides' paths (they differ when a side renamed); the ancestor's only when
        // neither side has the file.
        let sides: Vec<_> = [conflict.our, conflict.their]
            .into_iter()
            .flatten()
            .collect();
        let entries = if sides.is_empty() {
            conflict.ancestor.into_iter().collect()
        } else {
            sides
        };
        for entry in entries {
            paths.insert(String::from_utf8_lossy(&entry.path).into_owned());
        }
    }
    Ok(paths.into_iter().collect())
}
