//! Which working tree has a branch checked out, and whether hew may update that one.
//!
//! A merge moves a branch. If the branch is checked out somewhere, moving only the ref
//! would leave that working tree looking as if someone had undone the merge, so hew has to
//! know who holds the branch before it moves it: nobody (move the ref), the working tree hew
//! was started in (update it too, if it is clean), or another one (leave it alone).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git2::{Repository, RepositoryState, StatusOptions, StatusShow};

use super::WorktreeError;
use super::names::local_ref;

/// How many paths a "has uncommitted changes" reason names.
const PATHS_SHOWN: usize = 3;

/// Who has a branch checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// No working tree: the ref can simply move.
    Nobody,
    /// The working tree of the repository hew opened (where it was started).
    Home,
    /// Another working tree, which hew must not touch.
    Elsewhere(PathBuf),
}

/// Who has `branch` checked out. Another working tree counts even if hew's own is on it
/// too (a forced double checkout): the answer errs towards "do not touch".
///
/// Worktrees are listed and opened here rather than asked of libgit2, which misreads
/// worktrees being created or removed meanwhile (see `locks`): an entry that cannot be
/// opened as a worktree is skipped, so merges need not wait for slots.
pub(crate) fn holder(repo: &Repository, branch: &str) -> Result<Holder, WorktreeError> {
    let refname = local_ref(branch);
    let home_dir = repo.workdir().map(canonical);

    // The main working tree, when hew was started in a linked one.
    if repo.is_worktree() {
        match Repository::open(repo.commondir()) {
            Ok(main) if main.is_bare() => {}
            Ok(main) => {
                if on_branch(&main, &refname)? {
                    let path = main.workdir().unwrap_or(main.path()).to_owned();
                    return Ok(Holder::Elsewhere(path));
                }
            }
            // Cannot tell what it holds: assume the worst.
            Err(_) => return Ok(Holder::Elsewhere(repo.commondir().to_owned())),
        }
    }

    for name in worktree_names(repo)? {
        let Ok(wt) = repo.find_worktree(&name) else {
            // Being created or removed right now, or not a worktree at all.
            continue;
        };
        if Some(canonical(wt.path())) == home_dir {
            continue;
        }
        let admin = repo.commondir().join("worktrees").join(&name);
        match head_names(&admin, &refname) {
            Ok(false) => {}
            Ok(true) => return Ok(Holder::Elsewhere(wt.path().to_owned())),
            // Removed meanwhile, or its directory is gone: nothing there to leave behind.
            Err(_) if wt.validate().is_err() => {}
            // Cannot tell what it holds: assume the worst.
            Err(_) => return Ok(Holder::Elsewhere(wt.path().to_owned())),
        }
    }

    if on_branch(repo, &refname)? {
        Ok(Holder::Home)
    } else {
        Ok(Holder::Nobody)
    }
}

/// The names of the entries in `<common dir>/worktrees`, read directly: libgit2's own
/// listing skips the entry after one it cannot read.
pub(crate) fn worktree_names(repo: &Repository) -> Result<Vec<String>, WorktreeError> {
    let admin = repo.commondir().join("worktrees");
    let entries = match std::fs::read_dir(&admin) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WorktreeError::io("list", admin)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(WorktreeError::io("list", &admin))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Whether HEAD of `repo` is the symbolic ref `refname`.
fn on_branch(repo: &Repository, refname: &str) -> Result<bool, WorktreeError> {
    head_names(repo.path(), refname).map_err(WorktreeError::io("read", repo.path().join("HEAD")))
}

/// Whether the HEAD file in git directory `gitdir` is the symbolic ref `refname`.
///
/// The file is read in one go rather than through libgit2, which sizes a file before it
/// opens it: a HEAD that a slot's switch renames into place in between fails to read, and
/// would be taken for a working tree that holds the branch. One read sees the old file or
/// the new one, whole.
fn head_names(gitdir: &Path, refname: &str) -> std::io::Result<bool> {
    let head = std::fs::read(gitdir.join("HEAD"))?;
    let target = head.strip_prefix(b"ref:").map(<[u8]>::trim_ascii);
    Ok(target == Some(refname.as_bytes()))
}

/// The tracker's own directory. The tracker rewrites its files (`issues.jsonl`) on every
/// claim and close, so changes there are its business, never a user's work in progress.
const TRACKER_DIR: &[u8] = b".beads/";

/// Why hew must not update the working tree of `repo`, if it must not: an operation in
/// progress (merge, rebase, ...) or uncommitted changes to tracked files, staged or not,
/// outside the tracker's directory. Untracked files do not count here (a checkout that
/// would overwrite one refuses later).
pub(crate) fn why_not_clean(repo: &Repository) -> Result<Option<String>, WorktreeError> {
    let root = repo.workdir().unwrap_or(repo.path()).to_owned();
    let state = repo.state();
    if state != RepositoryState::Clean {
        let op = format!("{state:?}").to_lowercase();
        return Ok(Some(format!(
            "a {op} is in progress in `{}`",
            root.display()
        )));
    }
    // Like `git status`, write back the file stats it had to refresh: an index whose stats
    // are stale (the checkout was copied, or touched) makes every later status hash every
    // file again.
    let changed: Vec<Vec<u8>> = changed_paths(repo, false, true)
        .map_err(WorktreeError::git(format!(
            "read the status of `{}`",
            root.display()
        )))?
        .into_iter()
        .filter(|p| !p.starts_with(TRACKER_DIR))
        .collect();
    if changed.is_empty() {
        return Ok(None);
    }
    let mut shown: Vec<String> = changed
        .iter()
        .take(PATHS_SHOWN)
        .map(|p| format!("`{}`", String::from_utf8_lossy(p)))
        .collect();
    if changed.len() > PATHS_SHOWN {
        shown.push(format!("and {} more", changed.len() - PATHS_SHOWN));
    }
    Ok(Some(format!(
        "`{}` has uncommitted changes ({})",
        root.display(),
        shown.join(", ")
    )))
}

/// The paths of `repo`'s working tree with staged or unstaged changes, and untracked files
/// (not inside untracked directories, which count as one path) if `untracked`. One status
/// covers both: it costs one walk of the working tree, about what asking for the unstaged
/// changes alone costs. With `refresh`, file stats the status had to refresh are written
/// back to the index, unless someone holds its lock.
pub(crate) fn changed_paths(
    repo: &Repository,
    untracked: bool,
    refresh: bool,
) -> Result<BTreeSet<Vec<u8>>, git2::Error> {
    let mut opts = StatusOptions::new();
    opts.show(StatusShow::IndexAndWorkdir)
        .include_untracked(untracked)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .include_unmodified(false)
        .update_index(refresh);
    let statuses = match repo.statuses(Some(&mut opts)) {
        Err(_) if refresh => repo.statuses(Some(opts.update_index(false)))?,
        other => other?,
    };
    Ok(statuses.iter().map(|e| e.path_bytes().to_vec()).collect())
}

/// `path` with symlinks resolved, or as given if it cannot be.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::tracker::TaskId;
    use crate::worktree::checkout;
    use crate::worktree::refs::{create_task_branch, delete_branch};

    /// Slots switch from branch to branch while a merge asks who holds the home branch: the
    /// answer must never be a slot caught mid-switch (the merge would leave the home branch
    /// and divert the run).
    #[test]
    fn a_slot_switching_branches_never_holds_the_home_branch() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let repo = Repository::init(&root).unwrap();
        let sig = git2::Signature::now("Test", "test@example.com").unwrap();
        let tree = repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .and_then(|id| repo.find_tree(id))
            .unwrap();
        let tip = repo
            .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        let home = repo.head().unwrap().shorthand().unwrap().to_owned();
        let slot = |s: usize| dir.path().join(format!("w{s}"));
        for s in 0..3 {
            let task = TaskId::parse(&format!("t-{s}")).unwrap();
            let commit = repo.find_commit(tip).unwrap();
            let branch = create_task_branch(&repo, &task, &commit).unwrap();
            checkout::add(&repo, &format!("w{s}"), &slot(s), &branch).unwrap();
            checkout::detach(&slot(s)).unwrap();
            delete_branch(&repo, &branch).unwrap();
        }

        let stop = Arc::new(AtomicBool::new(false));
        let switching: Vec<_> = (0..3)
            .map(|s| {
                let (root, path, stop) = (root.clone(), slot(s), stop.clone());
                std::thread::spawn(move || {
                    let repo = Repository::open(&root).unwrap();
                    let commit = repo.find_commit(tip).unwrap();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let task = TaskId::parse(&format!("t-{s}-{n}")).unwrap();
                        let branch = create_task_branch(&repo, &task, &commit).unwrap();
                        checkout::switch(&path, &branch, tip).unwrap();
                        checkout::detach(&path).unwrap();
                        delete_branch(&repo, &branch).unwrap();
                    }
                })
            })
            .collect();
        let answers: Vec<Holder> = (0..3000).map(|_| holder(&repo, &home).unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        for t in switching {
            t.join().unwrap();
        }

        let wrong: Vec<_> = answers.iter().filter(|h| **h != Holder::Home).collect();
        assert!(wrong.is_empty(), "{} wrong answers: {wrong:?}", wrong.len());
    }
}
