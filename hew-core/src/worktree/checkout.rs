//! Making, switching, detaching and removing one slot's git worktree.
//!
//! A reused worktree must look freshly checked out to the next agent (no tracked change,
//! no untracked file from the last task) while keeping ignored files such as `target/`, so
//! builds stay warm. A forced checkout resets tracked files and the index; untracked files
//! are then removed one by one, as git's status lists them (never an ignored one, even
//! inside an untracked directory: libgit2's own "remove untracked" would take those too).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{ErrorCode, Oid, Repository, StatusOptions, WorktreeAddOptions, WorktreePruneOptions};

use super::WorktreeError;
use super::locks::{changing_worktrees, write_refs};
use super::names::{local_ref, signature};
use super::refs::delete_branch;

/// Creates worktree `name` at `path` with `branch` checked out. `path` must not exist; its
/// parent must.
///
/// libgit2 adds a worktree and checks it out in one call, which must hold the worktree lock
/// (see `locks`). So the worktree is added on a placeholder branch whose commit has an
/// empty tree, which takes no time, and `branch` is checked out after, outside the lock:
/// slots made at the same time write their files in parallel.
pub(crate) fn add(
    repo: &Repository,
    name: &str,
    path: &Path,
    branch: &str,
) -> Result<(), WorktreeError> {
    let tip = repo
        .find_reference(&local_ref(branch))
        .and_then(|r| r.peel_to_commit())
        .map_err(WorktreeError::git(format!(
            "create worktree `{}` on branch `{branch}`",
            path.display()
        )))?
        .id();
    add_at(repo, name, path, Some(branch), tip)
}

/// Creates worktree `name` at `path` with HEAD detached at `tip`, as [`add`] does.
pub(crate) fn add_detached(
    repo: &Repository,
    name: &str,
    path: &Path,
    tip: Oid,
) -> Result<(), WorktreeError> {
    add_at(repo, name, path, None, tip)
}

fn add_at(
    repo: &Repository,
    name: &str,
    path: &Path,
    branch: Option<&str>,
    tip: Oid,
) -> Result<(), WorktreeError> {
    let branch_name = branch.unwrap_or("(detached)");
    // libgit2 creates `<common dir>/worktrees` exclusively, so two threads adding the first
    // worktrees at once would collide there: make sure it exists first.
    let admin = repo.commondir().join("worktrees");
    fs::create_dir_all(&admin).map_err(WorktreeError::io("create directory", &admin))?;
    let what = || format!("create worktree `{}` on `{branch_name}`", path.display());
    // Task branches are `hew/<task-id>`: no task id looks like a worktree name.
    let placeholder = format!("hew/{name}-placeholder");
    let added = (|| {
        let sig = signature(repo.config().ok().as_ref()).map_err(WorktreeError::git(what()))?;
        let empty = repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .and_then(|id| repo.find_tree(id))
            .and_then(|tree| {
                repo.commit(
                    None,
                    &sig,
                    &sig,
                    "hew: placeholder for a new worktree",
                    &tree,
                    &[],
                )
            })
            .and_then(|id| repo.find_commit(id))
            .map_err(WorktreeError::git(what()))?;
        write_refs(|| repo.branch(&placeholder, &empty, true))
            .map_err(WorktreeError::git(what()))?;
        let reference = repo
            .find_reference(&local_ref(&placeholder))
            .map_err(WorktreeError::git(what()))?;
        let mut opts = WorktreeAddOptions::new();
        opts.reference(Some(&reference));
        changing_worktrees(|| repo.worktree(name, path, Some(&opts)))
            .map_err(WorktreeError::git(what()))?;
        check_out(path, branch, tip, false)
    })();
    if added.is_err() {
        // The half-made worktree still has the placeholder checked out: forget it first,
        // or the placeholder could not be deleted.
        let _ = discard(repo, name, path);
    }
    let removed = delete_branch(repo, &placeholder);
    added.and(removed)
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
    check_out(path, Some(branch), tip, true)
}

/// [`switch`] to `branch`, or detached at `tip` without one, sweeping untracked files only
/// if `sweep` (a new worktree has none).
fn check_out(
    path: &Path,
    branch: Option<&str>,
    tip: Oid,
    sweep: bool,
) -> Result<(), WorktreeError> {
    let what = || {
        format!(
            "switch worktree `{}` to `{}`",
            path.display(),
            branch.unwrap_or("(detached)")
        )
    };
    let wt = Repository::open(path).map_err(WorktreeError::git(what()))?;
    let commit = wt.find_commit(tip).map_err(WorktreeError::git(what()))?;
    // A merge, rebase or cherry-pick the last agent left half done ends here.
    wt.cleanup_state().map_err(WorktreeError::git(what()))?;
    let mut opts = CheckoutBuilder::new();
    opts.force();
    // Into a new, empty worktree (no sweep needed): when no filter can change a file, skip
    // looking up attributes for every file, which is most of the work of writing them.
    if !sweep && filters_do_nothing(&wt, &commit) {
        opts.disable_filters(true);
    }
    wt.checkout_tree(commit.as_object(), Some(&mut opts))
        .map_err(WorktreeError::git(what()))?;
    if !sweep {
        // libgit2 leaves a new index without git's cache of tree ids, so the agent's first
        // `git commit` would hash every directory again: compute it once here.
        let mut index = wt.index().map_err(WorktreeError::git(what()))?;
        index
            .write_tree()
            .and_then(|_| index.write())
            .map_err(WorktreeError::git(what()))?;
    }
    match branch {
        Some(branch) => changing_worktrees(|| wt.set_head(&local_ref(branch))),
        None => wt.set_head_detached(tip),
    }
    .map_err(WorktreeError::git(what()))?;
    if sweep {
        sweep_untracked(&wt, path)?;
    }
    Ok(())
}

/// Whether checking out `commit` in `repo` would write every file exactly as stored: no
/// end-of-line conversion configured (`core.autocrlf`), and no attributes anywhere that
/// could ask for a filter (`.gitattributes` in the commit, `info/attributes`,
/// `core.attributesFile`, the user's or the system's attributes file). When unsure: no.
fn filters_do_nothing(repo: &Repository, commit: &git2::Commit<'_>) -> bool {
    let Ok(config) = repo.config() else {
        return false;
    };
    let autocrlf = match config.get_string("core.autocrlf") {
        Ok(v) => v,
        Err(e) if e.code() == ErrorCode::NotFound => "false".to_owned(),
        Err(_) => return false,
    };
    if !matches!(
        autocrlf.to_ascii_lowercase().as_str(),
        "false" | "no" | "off" | "0"
    ) {
        return false;
    }
    match config.get_path("core.attributesfile") {
        Err(e) if e.code() == ErrorCode::NotFound => {}
        _ => return false,
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| home.map(|h| h.join(".config")));
    let files = [
        Some(repo.commondir().join("info").join("attributes")),
        xdg.map(|x| x.join("git").join("attributes")),
        Some(std::path::PathBuf::from("/etc/gitattributes")),
    ];
    if files.iter().flatten().any(|f| f.exists()) {
        return false;
    }
    let Ok(tree) = commit.tree() else {
        return false;
    };
    let mut attributes = false;
    let walked = tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if entry.name_bytes() == b".gitattributes" {
            attributes = true;
            git2::TreeWalkResult::Abort
        } else {
            git2::TreeWalkResult::Ok
        }
    });
    !attributes && walked.is_ok()
}

/// Switches the worktree at `path`, clean and detached at commit `from`, to `branch`, whose
/// tip is `tip`: only the files that differ between the two commits are written (the rest
/// of the worktree and index already match), and their paths returned. Nothing is checked
/// beyond that, so callers must know the worktree is clean; on any error they fall back to
/// [`switch`].
pub(crate) fn switch_clean(
    path: &Path,
    branch: &str,
    from: Oid,
    tip: Oid,
) -> Result<BTreeSet<Vec<u8>>, WorktreeError> {
    let what = || format!("switch worktree `{}` to branch `{branch}`", path.display());
    let wt = Repository::open(path).map_err(WorktreeError::git(what()))?;
    // A clean tree may still have a merge, cherry-pick or rebase in progress: it ends here.
    wt.cleanup_state().map_err(WorktreeError::git(what()))?;
    let head = wt.head().map_err(WorktreeError::git(what()))?;
    if !wt.head_detached().map_err(WorktreeError::git(what()))? || head.target() != Some(from) {
        return Err(WorktreeError::git(what())(git2::Error::from_str(
            "the worktree is not where it was left",
        )));
    }
    let old = wt
        .find_commit(from)
        .and_then(|c| c.tree())
        .map_err(WorktreeError::git(what()))?;
    let new_commit = wt.find_commit(tip).map_err(WorktreeError::git(what()))?;
    let new = new_commit.tree().map_err(WorktreeError::git(what()))?;
    let paths = paths_between(&wt, &old, &new).map_err(WorktreeError::git(what()))?;
    if !paths.is_empty() {
        let mut opts = limited_to(&paths);
        opts.force();
        wt.checkout_tree(new_commit.as_object(), Some(&mut opts))
            .map_err(WorktreeError::git(what()))?;
    }
    changing_worktrees(|| wt.set_head(&local_ref(branch))).map_err(WorktreeError::git(what()))?;
    Ok(paths)
}

/// The paths that differ between trees `old` and `new`: both sides of every change, so
/// that a checkout limited to them removes, writes and renames all it must. Subtrees with
/// the same id on both sides are skipped unread, so two commits a few files apart take
/// next to no time, however big their trees.
pub(crate) fn paths_between(
    repo: &Repository,
    old: &git2::Tree<'_>,
    new: &git2::Tree<'_>,
) -> Result<BTreeSet<Vec<u8>>, git2::Error> {
    let mut paths = BTreeSet::new();
    differ(repo, Some(old), Some(new), &mut Vec::new(), &mut paths)?;
    Ok(paths)
}

/// Adds to `paths` every file below `prefix` (a directory path with its trailing `/`, or
/// empty) that differs between `old` and `new`, either of which may be missing.
fn differ(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: Option<&git2::Tree<'_>>,
    prefix: &mut Vec<u8>,
    paths: &mut BTreeSet<Vec<u8>>,
) -> Result<(), git2::Error> {
    let (olds, news) = (entries(old), entries(new));
    let names: BTreeSet<&Vec<u8>> = olds.keys().chain(news.keys()).collect();
    for name in names {
        let (a, b) = (olds.get(name), news.get(name));
        if let (Some(a), Some(b)) = (a, b)
            && a.id() == b.id()
            && a.filemode_raw() == b.filemode_raw()
        {
            continue;
        }
        let len = prefix.len();
        prefix.extend_from_slice(name);
        let subtree =
            |e: Option<&git2::TreeEntry<'_>>| -> Result<Option<git2::Tree<'_>>, git2::Error> {
                match e {
                    Some(e) if e.kind() == Some(git2::ObjectType::Tree) => {
                        Ok(Some(repo.find_tree(e.id())?))
                    }
                    _ => Ok(None),
                }
            };
        let (ta, tb) = (subtree(a)?, subtree(b)?);
        if (a.is_some() && ta.is_none()) || (b.is_some() && tb.is_none()) {
            paths.insert(prefix.clone());
        }
        if ta.is_some() || tb.is_some() {
            prefix.push(b'/');
            differ(repo, ta.as_ref(), tb.as_ref(), prefix, paths)?;
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// The entries of `tree` (none if missing) by name.
fn entries<'t>(tree: Option<&'t git2::Tree<'_>>) -> BTreeMap<Vec<u8>, git2::TreeEntry<'t>> {
    tree.map(|t| t.iter().map(|e| (e.name_bytes().to_vec(), e)).collect())
        .unwrap_or_default()
}

/// A checkout that looks at `paths` only, taken literally, and at nothing else in the tree.
pub(crate) fn limited_to<'cb>(paths: &BTreeSet<Vec<u8>>) -> CheckoutBuilder<'cb> {
    let mut opts = CheckoutBuilder::new();
    opts.disable_pathspec_match(true);
    for p in paths {
        opts.path(p.as_slice());
    }
    opts
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::worktree::test_git::{git, write};

    /// Between any two of a series of commits that add, change, delete, re-mode and swap
    /// files and directories, the paths are those of libgit2's own diff of the two trees.
    #[test]
    fn paths_between_trees_are_those_of_a_full_diff() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        let steps: &[fn(&Path)] = &[
            |p| {
                for f in ["a", "d/b", "d/e/c", "d/e/f/g", "x/y"] {
                    write(p, f, f);
                }
            },
            |p| write(p, "d/e/c", "changed"),
            |p| {
                let f = p.join("d/b");
                fs::set_permissions(f, fs::Permissions::from_mode(0o755)).unwrap();
            },
            |p| fs::remove_dir_all(p.join("d/e")).unwrap(),
            |p| {
                fs::remove_file(p.join("a")).unwrap();
                write(p, "a/inside", "a is a directory now");
            },
            |p| {
                fs::remove_dir_all(p.join("x")).unwrap();
                write(p, "x", "x is a file now");
                std::os::unix::fs::symlink("x", p.join("link")).unwrap();
            },
            |p| write(p, "new/deep/er/file", "new"),
        ];
        let mut commits = Vec::new();
        for step in steps {
            step(root);
            git(root, &["add", "-A"]);
            git(root, &["commit", "-q", "-m", "step"]);
            commits.push(git(root, &["rev-parse", "HEAD^{tree}"]).trim().to_owned());
        }
        let repo = Repository::open(root).unwrap();
        let tree = |id: &str| repo.find_tree(Oid::from_str(id).unwrap()).unwrap();
        for old in &commits {
            for new in &commits {
                let (old, new) = (tree(old), tree(new));
                let diff = repo
                    .diff_tree_to_tree(Some(&old), Some(&new), None)
                    .unwrap();
                let mut full = BTreeSet::new();
                for delta in diff.deltas() {
                    for file in [delta.old_file(), delta.new_file()] {
                        if let Some(p) = file.path_bytes() {
                            full.insert(p.to_vec());
                        }
                    }
                }
                assert_eq!(paths_between(&repo, &old, &new).unwrap(), full);
            }
        }
    }
}
