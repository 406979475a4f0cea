//! What the user can do about an error: the `hint:` lines under it. hew-core returns typed
//! errors and says what went wrong; what to do about it is said here, where the user is.

use hew_core::tracker::TrackerError;
use hew_core::worktree::WorktreeError;

/// What to do about a tracker failure, when hew knows.
pub fn tracker(e: &TrackerError) -> Option<String> {
    match e {
        TrackerError::Missing { program } => Some(format!(
            "install br with `cargo install beads_rust` (or install bd), or point \
             `tracker.command` at it: `hew config set tracker.command br` \
             (currently `{program}`)"
        )),
        TrackerError::NotInitialized { program, .. } => Some(format!(
            "run `{program} init` in the repository, or set BEADS_DIR to an existing \
             `.beads` directory"
        )),
        TrackerError::NotFound { .. } => Some(
            "the task may have been deleted or the id mistyped: list tasks with the \
                  tracker's `list` command"
                .into(),
        ),
        TrackerError::AlreadyClaimed { .. } => None,
        TrackerError::Malformed { .. } => Some(
            "check that `tracker.command` is bd or br and that its version is supported \
             (run it with `--version`)"
                .into(),
        ),
        TrackerError::TimedOut { .. } => Some(
            "raise `tracker.timeout` (e.g. `hew config set tracker.timeout 2m`), or check \
             that no other process holds the tracker's lock"
                .into(),
        ),
        TrackerError::Failed { .. } => {
            Some("run the command by hand to see its full output".into())
        }
        TrackerError::Io { .. } => Some(
            "check that the tracker is executable and that the working directory exists".into(),
        ),
        TrackerError::Invalid(_) => Some(
            "labels are letters, digits, `_`, `:` and `-` (at most 50 characters); actors \
             are printable text"
                .into(),
        ),
    }
}

/// What to do about a repository or worktree failure, when hew knows.
pub fn worktree(e: &WorktreeError) -> Option<String> {
    match e {
        WorktreeError::Open { .. } => {
            Some("run hew from inside a git repository with a working tree".into())
        }
        WorktreeError::DetachedHead { .. } => Some(
            "check out the branch work should be merged into (`git switch BRANCH`), or name \
             it with `--into BRANCH`"
                .into(),
        ),
        WorktreeError::Unborn { .. } => Some(
            "make a first commit (e.g. `git commit --allow-empty -m init`), then run hew again"
                .into(),
        ),
        WorktreeError::NoSuchBranch { branch, .. } => Some(format!(
            "`--into` takes an existing local branch: create it with `git branch {branch}` \
             or pick one from `git branch --list`"
        )),
        WorktreeError::InvalidName { .. } => None,
        WorktreeError::NoFreeBranchName { base, .. } => Some(format!(
            "delete old attempts you no longer need: `git branch -D {base}-N`"
        )),
        WorktreeError::Blocked { .. } => Some(
            "commit or stash the changes in that working tree, or switch it to another branch"
                .into(),
        ),
        WorktreeError::TargetKeptMoving { .. } => {
            Some("something else is committing to that branch; pass `--into` another branch".into())
        }
        WorktreeError::Git { .. } if e.is_lock_held() => Some(
            "another git process holds a lock file; if none is running, remove the stale \
             `.lock` file named above"
                .into(),
        ),
        WorktreeError::Git { .. } => None,
        WorktreeError::Io { .. } => {
            Some("check the permissions and free space of that path".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_error_but_a_refused_claim_has_a_hint() {
        let missing = TrackerError::Missing {
            program: "br".into(),
        };
        let hint = tracker(&missing).unwrap();
        assert!(hint.contains("cargo install beads_rust"), "{hint}");
        assert!(hint.contains("hew config set tracker.command br"), "{hint}");
        let timed_out = TrackerError::TimedOut {
            command: "br ready".into(),
            after: Duration::from_secs(3),
        };
        assert!(tracker(&timed_out).unwrap().contains("tracker.timeout"));
        assert!(timed_out.to_string().contains("within 3s"), "{timed_out}");
        let not_init = TrackerError::NotInitialized {
            program: "br".into(),
            command: "br ready".into(),
            detail: "x".into(),
        };
        assert!(tracker(&not_init).unwrap().contains("br init"));
        let claimed = TrackerError::AlreadyClaimed {
            id: "d-1".into(),
            command: "br update".into(),
            detail: "x".into(),
        };
        assert_eq!(tracker(&claimed), None);
    }

    #[test]
    fn repository_errors_name_the_git_command_that_fixes_them() {
        let path = std::path::PathBuf::from("/r");
        let detached = WorktreeError::DetachedHead { path: path.clone() };
        assert!(worktree(&detached).unwrap().contains("--into"));
        let unborn = WorktreeError::Unborn {
            path: path.clone(),
            branch: "main".into(),
        };
        assert!(worktree(&unborn).unwrap().contains("make a first commit"));
        let missing = WorktreeError::NoSuchBranch {
            branch: "release".into(),
            path,
        };
        assert!(worktree(&missing).unwrap().contains("git branch release"));
    }
}
