//! Throwaway git repositories for the worktree tests, set up and inspected with the `git`
//! command line (isolated from the user's and the system's git config).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use hew_core::tracker::TaskId;
use hew_core::worktree::{SlotOptions, Slots};

/// The run id used by the tests, in the caller's format.
pub const RUN_ID: &str = "20261122-052501-a1b2";

/// A repository in a temporary directory, with one commit on `main`.
pub struct TestRepo {
    _dir: tempfile::TempDir,
    /// The main working tree.
    pub root: PathBuf,
}

impl TestRepo {
    /// `git init -b main`, a `.gitignore` ignoring `target/`, a `README`, one commit.
    pub fn new() -> Self {
        let repo = Self::empty();
        write(&repo.root, ".gitignore", "target/\n");
        write(&repo.root, "README", "hello\n");
        git(&repo.root, &["add", "."]);
        git(&repo.root, &["commit", "-q", "-m", "first"]);
        repo
    }

    /// `git init -b main` and nothing else.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir(&root).unwrap();
        git(&root, &["init", "-q", "-b", "main"]);
        git(&root, &["config", "user.name", "Test"]);
        git(&root, &["config", "user.email", "test@example.com"]);
        Self { _dir: dir, root }
    }

    /// Slots of run [`RUN_ID`] in the default directory.
    pub fn slots(&self, reuse: bool) -> Slots {
        slots_in(&self.root, reuse)
    }

    /// Reused slots of run [`RUN_ID`] for hew started in the working tree `root`.
    pub fn slots_at(root: &Path) -> Slots {
        slots_in(root, true)
    }

    /// The directory holding the repository (and nothing else of the tests').
    pub fn parent(&self) -> &Path {
        self.root.parent().unwrap()
    }
}

fn slots_in(root: &Path, reuse: bool) -> Slots {
    Slots::new(
        root,
        SlotOptions {
            dir: None,
            reuse,
            run_id: RUN_ID.into(),
        },
    )
    .unwrap()
}

/// Runs git in `dir` and returns its stdout; panics if it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes `text` to `dir/path`, creating parent directories.
pub fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// Writes `dir/path` and commits it (in whatever branch `dir` has checked out).
pub fn commit_file(dir: &Path, path: &str, text: &str, message: &str) -> String {
    write(dir, path, text);
    git(dir, &["add", path]);
    git(dir, &["commit", "-q", "-m", message]);
    rev(dir, "HEAD")
}

/// The commit `rev` names, as seen from `dir`.
pub fn rev(dir: &Path, rev: &str) -> String {
    git(dir, &["rev-parse", rev]).trim().to_owned()
}

/// `git status --porcelain` in `dir` (empty when clean).
pub fn status(dir: &Path) -> String {
    git(dir, &["status", "--porcelain"])
}

/// Whether local branch `branch` exists.
pub fn has_branch(dir: &Path, branch: &str) -> bool {
    !git(dir, &["branch", "--list", branch]).trim().is_empty()
}

/// A task id.
pub fn task(id: &str) -> TaskId {
    TaskId::parse(id).unwrap()
}
