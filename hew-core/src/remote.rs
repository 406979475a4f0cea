//! A git remote as the merge target (`loop.merge.remote`): several machines, each with its
//! own clone, land their work on one branch of one remote.
//!
//! hew runs the `git` CLI for the two network operations, so whatever authentication works
//! for `git fetch` and `git push` in the repository (an ssh agent, credential helpers)
//! works for hew; a prompt cannot be answered by a run nobody watches, so git is told
//! not to ask (`GIT_TERMINAL_PROMPT=0`) and fails instead.
//!
//! - [`Remote::fetch`] brings the remote branch into its remote-tracking ref
//!   (`refs/remotes/<remote>/<branch>`), which task branches start from and the merge
//!   queue merges onto. The local branch of the same name is never touched: the user's
//!   checkout stays as it is.
//! - [`Remote::push`] offers the queue's tested commit as the branch's new tip. git
//!   refuses it if the branch moved since the fetch (another machine landed first): that
//!   is [`Pushed::Moved`], and the queue fetches, merges and tests again. Only an accepted
//!   push lands the work, and only then are its tasks closed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{Run, RunError};

/// How long one fetch or push may take.
const TIMEOUT: Duration = Duration::from_secs(300);

/// One branch of one remote, seen from the repository at `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The remote's name (`origin`).
    pub name: String,
    /// The branch on it.
    pub branch: String,
    root: PathBuf,
}

/// Whether a refused push says the branch moved since it was fetched: git's
/// `!<tab>src:dst<tab>[rejected] (fetch first)` or `(non-fast-forward)`, or, when two pushes
/// meet at the remote, its ref lock taken by the other (`[remote rejected] (failed to update
/// ref)`, `cannot lock ref ... is at X but expected Y`).
fn moved_under(porcelain: &str, stderr: &str) -> bool {
    porcelain.lines().filter(|l| l.starts_with('!')).any(|l| {
        l.contains("[rejected]")
            || (l.contains("[remote rejected]")
                && (l.contains("failed to update ref")
                    || l.contains("failed to lock")
                    || stderr.contains("cannot lock ref")))
    })
}

/// What became of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The remote branch now points at the commit.
    Accepted,
    /// The remote branch moved since it was fetched: git refused to overwrite it.
    Moved,
}

/// A fetch or push that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The remote could not be reached or refused us (network, a moved repository,
    /// authentication): worth trying again later.
    #[error("could not reach remote `{remote}`: {detail}")]
    Unreachable {
        /// The remote's name.
        remote: String,
        /// What git said.
        detail: String,
    },
    /// git failed otherwise (a hook refused the push, the branch does not exist there).
    #[error("`git {what}` failed: {detail}")]
    Failed {
        /// The git command.
        what: String,
        /// What git said.
        detail: String,
    },
}

impl Remote {
    /// Branch `branch` of remote `name`, for the repository whose working tree is `root`.
    pub fn new(root: &Path, name: &str, branch: &str) -> Self {
        Self {
            name: name.to_owned(),
            branch: branch.to_owned(),
            root: root.to_owned(),
        }
    }

    /// `refs/remotes/<remote>/<branch>`: where the fetched tip is kept.
    pub fn tracking_ref(&self) -> String {
        format!("refs/remotes/{}/{}", self.name, self.branch)
    }

    /// `<remote>/<branch>`, as records and messages name it.
    pub fn display(&self) -> String {
        format!("{}/{}", self.name, self.branch)
    }

    /// Fetches the branch into [`Remote::tracking_ref`] (forced: the remote is the truth)
    /// and returns its tip (hex).
    pub async fn fetch(&self) -> Result<String, RemoteError> {
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking_ref());
        self.git(&["fetch", "--quiet", "--no-tags", "--", &self.name, &refspec])
            .await?;
        let tip = self
            .git(&["rev-parse", "--verify", "--quiet", &self.tracking_ref()])
            .await?;
        Ok(tip.trim().to_owned())
    }

    /// Asks the remote for the branch's tip, changing nothing here (`git ls-remote`): the
    /// tip (hex), or why it cannot be had.
    pub async fn ls_remote(&self) -> Result<String, RemoteError> {
        let refname = format!("refs/heads/{}", self.branch);
        let out = self
            .run(&["ls-remote", "--exit-code", "--", &self.name, &refname])
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match out.status.code() {
            Some(0) => Ok(stdout
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()),
            // --exit-code: the remote answered, without that branch.
            Some(2) => Err(RemoteError::Failed {
                what: "ls-remote".into(),
                detail: format!("remote `{}` has no branch `{}`", self.name, self.branch),
            }),
            code => Err(self.failure("ls-remote", &out.stderr, &stdout, code)),
        }
    }

    /// Pushes `commit` (a descendant of the last fetched tip) as the branch's new tip;
    /// on success the tracking ref follows.
    pub async fn push(&self, commit: &str) -> Result<Pushed, RemoteError> {
        let refspec = format!("{commit}:refs/heads/{}", self.branch);
        let out = self
            .run(&["push", "--porcelain", "--", &self.name, &refspec])
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            self.git(&["update-ref", &self.tracking_ref(), commit])
                .await?;
            return Ok(Pushed::Accepted);
        }
        if moved_under(&stdout, &String::from_utf8_lossy(&out.stderr)) {
            return Ok(Pushed::Moved);
        }
        Err(self.failure("push", &out.stderr, &stdout, out.status.code()))
    }

    /// Runs `git args` in the repository; its stdout when it exits 0.
    async fn git(&self, args: &[&str]) -> Result<String, RemoteError> {
        let out = self.run(args).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        Err(self.failure(args[0], &out.stderr, &stdout, out.status.code()))
    }

    async fn run(&self, args: &[&str]) -> Result<crate::process::Output, RemoteError> {
        Run::new("git", TIMEOUT)
            .args(args)
            .cwd(&self.root)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .await
            .map_err(|e| match e {
                RunError::TimedOut(d) => RemoteError::Unreachable {
                    remote: self.name.clone(),
                    detail: format!("`git {}` did not finish within {}s", args[0], d.as_secs()),
                },
                other => RemoteError::Failed {
                    what: args[0].to_owned(),
                    detail: other.to_string(),
                },
            })
    }

    /// git's exit 128 is "fatal": the remote could not be read, found or authenticated
    /// to; anything else is a refusal worth reporting as is.
    fn failure(&self, what: &str, stderr: &[u8], stdout: &str, code: Option<i32>) -> RemoteError {
        let mut detail = String::from_utf8_lossy(stderr).trim().to_owned();
        if detail.is_empty() {
            detail = stdout.trim().to_owned();
        }
        let detail: String = detail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(6)
            .collect::<Vec<_>>()
            .join("; ");
        if code == Some(128) {
            RemoteError::Unreachable {
                remote: self.name.clone(),
                detail,
            }
        } else {
            RemoteError::Failed {
                what: what.to_owned(),
                detail,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_refused_because_the_branch_moved_is_told_from_other_refusals() {
        let behind = "To /r.git\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        assert!(moved_under(behind, ""));
        let raced =
            "To /r.git\n!\tabc:refs/heads/main\t[remote rejected] (failed to update ref)\nDone\n";
        assert!(moved_under(raced, ""));
        let locked = "To /r.git\n!\tabc:refs/heads/main\t[remote rejected] (error)\nDone\n";
        assert!(moved_under(
            locked,
            "remote: error: cannot lock ref 'refs/heads/main': is at 4c1d but expected 5dc5"
        ));
        let hook = "To /r.git\n!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n";
        assert!(!moved_under(hook, "remote: no pushes on Fridays"));
    }
}
