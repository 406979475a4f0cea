//! The branch a run merges into, decided once when the run starts.
//!
//! It is `--into BRANCH`, or the branch checked out where hew was started. If a merge finds
//! that branch held by a working tree hew must not touch, the run is diverted for good to
//! its own branch `hew/run/<run-id>`, and [`Integration`] remembers that and why, so new
//! task branches start from where the work actually is.

use std::path::Path;

use git2::ErrorCode;

use super::WorktreeError;
use super::names::{local_ref, run_branch, validate_run_id};
use super::refs::{branch_tip, open};

/// The branch a run merges into, and where merges go once they had to be diverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// The branch asked for (or found checked out) when the run started.
    target: String,
    /// `hew/run/<run-id>`.
    run_branch: String,
    /// Why merges go to `run_branch` instead of `target`, once they do.
    diverted: Option<String>,
}

impl Integration {
    /// Decides the branch work merges into: `into` (`--into BRANCH`), or the branch checked
    /// out in the working tree at `repo_root` when `into` is `None`.
    ///
    /// Refused, each with a hint: a detached HEAD without `into`; a repository with no
    /// commits (an unborn branch); an `into` that is not an existing local branch; a
    /// `run_id` that cannot be part of a branch name.
    pub fn resolve(
        repo_root: &Path,
        into: Option<&str>,
        run_id: &str,
    ) -> Result<Self, WorktreeError> {
        validate_run_id(run_id)?;
        let repo = open(repo_root)?;
        let target = match into {
            Some(branch) => {
                if let Err(err) = branch_tip(&repo, branch) {
                    return Err(match err {
                        WorktreeError::NoSuchBranch { .. } if is_empty(&repo) => {
                            WorktreeError::Unborn {
                                path: repo_root.to_owned(),
                                branch: branch.to_owned(),
                            }
                        }
                        other => other,
                    });
                }
                branch.to_owned()
            }
            None => head_branch(&repo, repo_root)?,
        };
        Ok(Self {
            target,
            run_branch: run_branch(run_id)?,
            diverted: None,
        })
    }

    /// The branch new task branches start from, and the next merge goes into, right now:
    /// the target, or `hew/run/<run-id>` once diverted.
    pub fn branch(&self) -> &str {
        if self.diverted.is_some() {
            &self.run_branch
        } else {
            &self.target
        }
    }

    /// The branch asked for when the run started, diverted or not.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// `hew/run/<run-id>`: where merges go if they have to be diverted.
    pub fn run_branch(&self) -> &str {
        &self.run_branch
    }

    /// Why merges were diverted to [`Integration::run_branch`], if they were.
    pub fn diverted(&self) -> Option<&str> {
        self.diverted.as_deref()
    }

    /// From now on, merges go to the run branch, because of `reason`.
    pub(crate) fn divert(&mut self, reason: String) {
        self.diverted = Some(reason);
    }
}

/// The branch HEAD names in the working tree of `repo`.
fn head_branch(repo: &git2::Repository, root: &Path) -> Result<String, WorktreeError> {
    let head = repo
        .find_reference("HEAD")
        .map_err(WorktreeError::git(format!(
            "read HEAD in `{}`",
            root.display()
        )))?;
    let Some(target) = head
        .symbolic_target_bytes()
        .and_then(|t| std::str::from_utf8(t).ok())
    else {
        return Err(WorktreeError::DetachedHead {
            path: root.to_owned(),
        });
    };
    let branch = target.strip_prefix("refs/heads/").ok_or_else(|| {
        // HEAD pointing outside refs/heads (hand-edited): as good as detached.
        WorktreeError::DetachedHead {
            path: root.to_owned(),
        }
    })?;
    match repo.find_reference(&local_ref(branch)) {
        Ok(_) => Ok(branch.to_owned()),
        Err(e) if e.code() == ErrorCode::NotFound => Err(WorktreeError::Unborn {
            path: root.to_owned(),
            branch: branch.to_owned(),
        }),
        Err(e) => Err(WorktreeError::git(format!("read branch `{branch}`"))(e)),
    }
}

/// Whether the repository has no commits at all (every error reads as "not empty": the
/// caller then reports the more specific problem).
fn is_empty(repo: &git2::Repository) -> bool {
    repo.references_glob("refs/heads/*")
        .map(|mut refs| refs.next().is_none())
        .unwrap_or(false)
}
