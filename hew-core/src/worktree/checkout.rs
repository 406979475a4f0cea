//! Making, switching, detaching and removing one slot's git worktree.
//!
//! A reused worktree must look freshly checked out to the next agent (no tracked change,
//! no untracked file from the last task) while keeping ignored files such as `target/`, so
//! builds stay warm. A forced checkout resets tracked files and the index; untracked files
//! are then removed one by one, as git's status lists them (never an ignored one, even
//! inside an untracked directory: libgit2's own "remove untracked" would take those too).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{
    BranchType, ErrorCode, Oid, Repository, StatusOptions, WorktreeAddOptions, WorktreePruneOptions,
};

use super::WorktreeError;
use super::locks::{changing_worktrees, write_refs};
use super::names::local_ref;

/// Creates worktree `name` at `path` with `branch` checked out. `path` must not exist; its
/// parent must. On failure nothing is left of it.
pub(crate) fn add(
    repo: &Repository,
    name: &str,
    path: &Path,
    branch: &str,
) -> Result<(), WorktreeError> {
    let what = || format!("create worktree `{}` on branch `{branch}`", path.display());
    let added = repo
        .find_reference(&local_ref(branch))
        .and_then(|reference| {
            let mut opts = WorktreeAddOptions::new();
            opts.reference(Some(&reference));
            changing_worktrees(|| repo.worktree(name, path, Some(&opts)))
        })
        .map(drop)
        .map_err(WorktreeError::git(what()));
    if added.is_err() {
        let _ = discard(repo, name, path);
    }
    added
}

/// Whether worktree `name` exists at `path` and can be opened.
pub(crate) fn exists(repo: &Repository, name: &str, path: &Path) -> bool {
    path.is_dir()
        && repo
            .find_worktree(name)
            .is_ok_and(|wt| wt.validate().is_ok())
}

/// Switches the worktree at `path` to `branch`, whose tip is `tip`: any operation in
/// progress abandoned, tracked files and index forced to the tip's tree, untracked files
/// removed, ignored files kept.
pub(crate) fn switch(path: &Path, branch: &str, tip: Oid) -> Result<(), WorktreeError> {
    let what = format!("switch worktree `{}` to `{branch}`", path.display());
    force(path, tip, &what, |wt| wt.set_head(&local_ref(branch)))
}

/// Switches the worktree at `path` to `commit`, HEAD detached, as [`switch`] does.
pub(crate) fn switch_detached(path: &Path, commit: Oid) -> Result<(), WorktreeError> {
    let what = format!("switch worktree `{}` to {commit}", path.display());
    force(path, commit, &what, |wt| wt.set_head_detached(commit))
}

/// Forces the worktree at `path` to `tip`'s tree (abandoning an operation in progress: a
/// merge, rebase or cherry-pick the last agent left half done), points HEAD with `head`,
/// and removes untracked files.
fn force(
    path: &Path,
    tip: Oid,
    what: &str,
    head: impl FnOnce(&Repository) -> Result<(), git2::Error>,
) -> Result<(), WorktreeError> {
    let wt = Repository::open(path).map_err(WorktreeError::git(what))?;
    let commit = wt.find_commit(tip).map_err(WorktreeError::git(what))?;
    wt.cleanup_state().map_err(WorktreeError::git(what))?;
    let mut opts = CheckoutBuilder::new();
    opts.force();
    wt.checkout_tree(commit.as_object(), Some(&mut opts))
        .map_err(WorktreeError::git(what))?;
    changing_worktrees(|| head(&wt)).map_err(WorktreeError::git(what))?;
    sweep_untracked(&wt, path)
}

/// Creates worktree `name` at `path` with HEAD detached at `commit`. git makes a worktree on
/// a branch: a short-lived `hew/tmp/<name>` is made for it and deleted once HEAD is
/// detached. `path` must not exist; its parent must. On failure nothing is left of it.
pub(crate) fn add_detached(
    repo: &Repository,
    name: &str,
    path: &Path,
    commit: Oid,
) -> Result<(), WorktreeError> {
    let branch = format!("hew/tmp/{name}");
    let what = || format!("create worktree `{}` at {commit}", path.display());
    let target = repo
        .find_commit(commit)
        .map_err(WorktreeError::git(what()))?;
    write_refs(|| repo.branch(&branch, &target, true)).map_err(WorktreeError::git(what()))?;
    let made = add(repo, name, path, &branch).and_then(|()| {
        let wt = Repository::open(path).map_err(WorktreeError::git(what()))?;
        changing_worktrees(|| wt.set_head_detached(commit)).map_err(WorktreeError::git(what()))
    });
    let deleted = write_refs(|| repo.find_branch(&branch, BranchType::Local)?.delete())
        .map_err(WorktreeError::git(format!("delete branch `{branch}`")));
    if made.is_err() {
        let _ = discard(repo, name, path);
    }
    made.and(deleted)
}

/// Removes the untracked files in the worktree at `path` (ignored files stay), and the
/// directories that leaves empty.
fn sweep_untracked(wt: &Repository, path: &Path) -> Result<(), WorktreeError> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = wt
        .statuses(Some(&mut opts))
        .map_err(WorktreeError::git(format!(
            "read the status of worktree `{}`",
            path.display()
        )))?;
    let mut untracked = Vec::new();
    for entry in statuses.iter() {
        if entry.status().is_wt_new() {
            untracked.push(path.join(OsStr::from_bytes(entry.path_bytes())));
        }
    }
    for item in untracked {
        // Status does not look inside a nested repository: it lists it as one directory.
        let removed = if fs::symlink_metadata(&item).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&item)
        } else {
            fs::remove_file(&item)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(WorktreeError::io("remove", item)(e)),
        }
        // Best effort: stops at the first directory that still holds something.
        for dir in item.ancestors().skip(1).take_while(|d| *d != path) {
            if fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
    Ok(())
}

/// Detaches HEAD of the worktree at `path` at its current commit, so its branch can be
/// deleted or merged freely. A worktree already detached, or with no commit, is left as is.
pub(crate) fn detach(path: &Path) -> Result<(), WorktreeError> {
    let what = || format!("detach worktree `{}`", path.display());
    let wt = Repository::open(path).map_err(WorktreeError::git(what()))?;
    if wt.head_detached().map_err(WorktreeError::git(what()))? {
        return Ok(());
    }
    let head = match wt.head() {
        Ok(head) => head,
        Err(e) if e.code() == ErrorCode::UnbornBranch || e.code() == ErrorCode::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(WorktreeError::git(what())(e)),
    };
    let Some(oid) = head.target() else {
        return Ok(());
    };
    wt.set_head_detached(oid)
        .map_err(WorktreeError::git(what()))
}

/// Removes worktree `name`: git's admin entry, then its directory `path` (whatever it
/// holds). Either one already gone is fine.
pub(crate) fn discard(repo: &Repository, name: &str, path: &Path) -> Result<(), WorktreeError> {
    let admin = repo.commondir().join("worktrees").join(name);
    if admin.exists() {
        changing_worktrees(|| match repo.find_worktree(name) {
            Ok(wt) => {
                let mut opts = WorktreePruneOptions::new();
                opts.valid(true).locked(true).working_tree(false);
                wt.prune(Some(&mut opts))
                    .map_err(WorktreeError::git(format!("prune worktree `{name}`")))
            }
            // Half made (an add that failed midway): git cannot open it, remove what is there.
            Err(_) => remove_dir(&admin),
        })?;
    }
    // Outside the lock: a worktree full of build caches takes a while to delete.
    remove_dir(path)
}

/// Removes `path` and everything in it; a missing path is fine.
pub(crate) fn remove_dir(path: &Path) -> Result<(), WorktreeError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WorktreeError::io("remove", path)(e)),
    }
}
