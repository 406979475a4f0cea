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
        let holds = Repository::open_from_worktree(&wt).and_then(|linked| {
            let head = linked.find_reference("HEAD")?;
            Ok(head.symbolic_target_bytes() == Some(refname.as_bytes()))
        });
        match holds {
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
    let head = repo
        .find_reference("HEAD")
        .map_err(WorktreeError::git(format!(
            "read HEAD in `{}`",
            repo.workdir().unwrap_or(repo.path()).display()
        )))?;
    Ok(head.symbolic_target_bytes() == Some(refname.as_bytes()))
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
/// (not inside untracked directories, which count as one path) if `untracked`. Staged and
/// unstaged changes are asked apart: each is cheaper than the combined status. With
/// `refresh`, file stats the status had to refresh are written back to the index, unless
/// someone holds its lock.
pub(crate) fn changed_paths(
    repo: &Repository,
    untracked: bool,
    refresh: bool,
) -> Result<BTreeSet<Vec<u8>>, git2::Error> {
    let mut changed = BTreeSet::new();
    for show in [StatusShow::Index, StatusShow::Workdir] {
        let refresh = refresh && matches!(show, StatusShow::Workdir);
        let mut opts = StatusOptions::new();
        opts.show(show)
            .include_untracked(untracked)
            .recurse_untracked_dirs(false)
            .include_ignored(false)
            .include_unmodified(false)
            .update_index(refresh);
        let statuses = match repo.statuses(Some(&mut opts)) {
            Err(_) if refresh => repo.statuses(Some(opts.update_index(false)))?,
            other => other?,
        };
        changed.extend(statuses.iter().map(|e| e.path_bytes().to_vec()));
    }
    Ok(changed)
}

/// `path` with symlinks resolved, or as given if it cannot be.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}
