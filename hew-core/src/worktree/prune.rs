//! What runs that are over left behind, and removing it: their worktrees (directories and
//! git's entries for them), the idle worktrees kept between runs, and `hew/*` branches
//! whose work has already landed.
//!
//! A run cleans up after itself when it ends; a run that was killed does not. Nothing here
//! touches a run that may still be going (the caller says which are), nor a worktree a live
//! process works in (an agent a killed hew left running: `hew loop recover` stops those),
//! and a branch is only ever deleted when every commit on it is already on the integration
//! branch: no work can be lost by pruning.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{BranchType, Oid, Repository};

use super::WorktreeError;
use super::checkout;
use super::holders::{Holder, holder, worktree_names};
use super::pool;
use super::refs::{branch_tip, delete_branch, open};
use super::slots::root_of;

/// How many unmerged commits are counted before saying "at least".
const COUNT_CAP: usize = 1000;

/// What to look at.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions<'a> {
    /// `loop.worktree.dir`, as configured (relative to the working tree), or `None`.
    pub dir: Option<&'a Path>,
    /// The integration branch: a `hew/*` branch is merged when its tip is on this one.
    pub into: &'a str,
    /// Whether branches are considered at all (not while a run may be creating them).
    pub branches: bool,
}

/// Everything that could be pruned, and the branches that must stay, with why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Leftovers {
    /// Runs that are over but left worktrees.
    pub runs: Vec<LeftoverRun>,
    /// Worktrees kept between runs that no run holds now: git's name and the path.
    pub pool: Vec<(String, PathBuf)>,
    /// Every `hew/*` branch looked at, with its verdict.
    pub branches: Vec<BranchVerdict>,
    /// Worktrees that would go but that a live process works in, with its pid: kept.
    pub in_use: Vec<(PathBuf, u32)>,
}

/// One ended run's worktrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftoverRun {
    /// The run id.
    pub run_id: String,
    /// `<worktree dir>/<run-id>`, when it exists.
    pub dir: Option<PathBuf>,
    /// git's worktree entries of the run (`hew-<run-id>-w<n>`), with their paths.
    pub worktrees: Vec<(String, PathBuf)>,
}

/// A `hew/*` branch and what prune makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchVerdict {
    /// The branch name (`hew/demo-1`).
    pub branch: String,
    /// Its tip (hex) when looked at: it is deleted only if it still points there.
    pub tip: String,
    /// Whether it goes, and why not.
    pub fate: BranchFate,
}

/// Whether a branch can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchFate {
    /// Every commit on it is on the integration branch: safe to delete.
    Merged,
    /// It has commits the integration branch does not (at least this many): kept.
    Unmerged(usize),
    /// It is checked out in a working tree (named) that stays: kept.
    CheckedOut(PathBuf),
}

/// Something [`remove_leftovers`] could not remove.
#[derive(Debug)]
pub struct PruneFailure {
    /// What it was removing: a path or a branch name.
    pub what: String,
    /// Why it failed.
    pub error: WorktreeError,
}

/// Finds the worktrees of runs for which `may_be_running(run_id)` is false, and (with
/// [`PruneOptions::branches`]) judges every `hew/*` branch against `opts.into`.
pub fn find_leftovers(
    repo_root: &Path,
    opts: &PruneOptions<'_>,
    may_be_running: &dyn Fn(&str) -> bool,
) -> Result<Leftovers, WorktreeError> {
    let repo = open(repo_root)?;
    let root = root_of(&repo, opts.dir);
    let in_git_dir = opts.dir.is_none();

    // git's entries named after a run: hew-<run-id>-w<n>.
    let mut runs: Vec<LeftoverRun> = Vec::new();
    for name in worktree_names(&repo)? {
        let Some(run_id) = run_of(&name) else {
            continue;
        };
        if may_be_running(run_id) {
            continue;
        }
        let path = repo
            .find_worktree(&name)
            .map(|wt| wt.path().to_owned())
            .unwrap_or_else(|_| root.join(run_id).join(slot_dir(&name)));
        entry(&mut runs, run_id)
            .worktrees
            .push((name.clone(), path));
    }
    // Run directories under the worktree dir, including ones git has forgotten.
    if let Ok(dirs) = fs::read_dir(&root) {
        for d in dirs.flatten() {
            let Ok(run_id) = d.file_name().into_string() else {
                continue;
            };
            if run_id == pool::POOL_DIR || !d.path().is_dir() || may_be_running(&run_id) {
                continue;
            }
            let known = runs.iter().any(|r| r.run_id == run_id);
            // A shared `loop.worktree.dir` may hold other repositories' runs: only ours.
            if known || in_git_dir || belongs_to(&d.path(), repo.commondir()) {
                entry(&mut runs, &run_id).dir = Some(d.path());
            }
        }
    }
    let mut in_use = Vec::new();
    for run in &mut runs {
        run.worktrees.retain(|(_, path)| match user_of(path) {
            Some(pid) => {
                in_use.push((path.clone(), pid));
                false
            }
            None => true,
        });
        run.worktrees.sort();
    }
    // A run directory that still holds a worktree in use stays with it.
    for run in &mut runs {
        if run
            .dir
            .as_deref()
            .is_some_and(|d| in_use.iter().any(|(p, _)| p.starts_with(d)))
        {
            run.dir = None;
        }
    }
    runs.retain(|r| !r.worktrees.is_empty() || r.dir.is_some());
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    // Looked at under their locks, which are given back at once: removing them takes the
    // locks again, and skips an entry a run has leased since.
    let mut pool: Vec<(String, PathBuf)> = pool::idle(&root, &worktree_names(&repo)?)?
        .into_iter()
        .map(|lease| (lease.name.clone(), lease.path.clone()))
        .collect();
    pool.retain(|(_, path)| match user_of(path) {
        Some(pid) => {
            in_use.push((path.clone(), pid));
            false
        }
        None => true,
    });

    let branches = if opts.branches {
        let leaving: Vec<&Path> = runs
            .iter()
            .flat_map(|r| {
                r.worktrees
                    .iter()
                    .map(|(_, p)| p.as_path())
                    .chain(r.dir.as_deref())
            })
            .chain(pool.iter().map(|(_, p)| p.as_path()))
            .collect();
        judge_branches(&repo, opts.into, &leaving)?
    } else {
        Vec::new()
    };
    Ok(Leftovers {
        runs,
        pool,
        branches,
        in_use,
    })
}

/// A live process whose working directory is `dir` or below it: the first one found.
/// Linux only (`/proc`); elsewhere none is ever found.
pub(crate) fn user_of(dir: &Path) -> Option<u32> {
    let dir = fs::canonicalize(dir).ok()?;
    let own = std::process::id();
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cwd = fs::read_link(entry.path().join("cwd")).ok()?;
        (pid != own && cwd.starts_with(&dir)).then_some(pid)
    })
}

/// Removes what `leftovers` lists: each idle pool entry (unless a run leased it since), each
/// run's worktrees and directory, then each merged branch that still points where it did
/// and is still merged into `into`. Goes on past failures and returns them.
pub fn remove_leftovers(
    repo_root: &Path,
    leftovers: &Leftovers,
    into: &str,
) -> Result<Vec<PruneFailure>, WorktreeError> {
    let repo = open(repo_root)?;
    let mut failures = Vec::new();
    let mut fail = |what: String, error| failures.push(PruneFailure { what, error });
    for (name, path) in &leftovers.pool {
        // `<dir>/pool/w<n>`: the lock is beside it.
        let (Some(n), Some(root)) = (pool::entry_of(name), path.parent().and_then(Path::parent))
        else {
            continue;
        };
        match pool::try_lease(root, n) {
            // Removed under its lock, so no run can lease it meanwhile.
            Ok(Some(_held)) => {
                if let Some(pid) = user_of(path) {
                    fail(path.display().to_string(), in_use_error(path, pid));
                } else if let Err(e) = checkout::discard(&repo, name, path) {
                    fail(path.display().to_string(), e);
                }
            }
            // A run leased it since it was listed: it stays.
            Ok(None) => {}
            Err(e) => fail(path.display().to_string(), e),
        }
    }
    for run in &leftovers.runs {
        for (name, path) in &run.worktrees {
            if let Some(pid) = user_of(path) {
                fail(path.display().to_string(), in_use_error(path, pid));
            } else if let Err(e) = checkout::discard(&repo, name, path) {
                fail(path.display().to_string(), e);
            }
        }
        if let Some(dir) = &run.dir
            && let Err(e) = checkout::remove_dir(dir)
        {
            fail(dir.display().to_string(), e);
        }
    }
    for b in &leftovers.branches {
        if b.fate != BranchFate::Merged {
            continue;
        }
        // Compare and delete: a branch that moved since it was judged is judged again.
        let still = match repo.find_branch(&b.branch, BranchType::Local) {
            Ok(found) => found.get().target().map(|t| t.to_string()) == Some(b.tip.clone()),
            Err(_) => false,
        };
        let merged = Oid::from_str(&b.tip)
            .ok()
            .is_some_and(|tip| unmerged(&repo, into, tip).is_ok_and(|n| n == 0));
        if still
            && merged
            && let Err(e) = delete_branch(&repo, &b.branch)
        {
            fail(b.branch.clone(), e);
        }
    }
    Ok(failures)
}

fn in_use_error(path: &Path, pid: u32) -> WorktreeError {
    WorktreeError::Io {
        what: "remove a worktree a live process works in",
        path: path.to_owned(),
        source: std::io::Error::other(format!("process {pid} works there")),
    }
}

fn entry<'a>(runs: &'a mut Vec<LeftoverRun>, run_id: &str) -> &'a mut LeftoverRun {
    let i = match runs.iter().position(|r| r.run_id == run_id) {
        Some(i) => i,
        None => {
            runs.push(LeftoverRun {
                run_id: run_id.to_owned(),
                dir: None,
                worktrees: Vec::new(),
            });
            runs.len() - 1
        }
    };
    &mut runs[i]
}

/// The run id in a worktree name `hew-<run-id>-w<n>` (a pool entry's names no run).
fn run_of(name: &str) -> Option<&str> {
    if pool::entry_of(name).is_some() {
        return None;
    }
    let (run, slot) = name.strip_prefix("hew-")?.rsplit_once("-w")?;
    let ok = !run.is_empty() && !slot.is_empty() && slot.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(run)
}

/// `w<n>` of a worktree name `hew-<run-id>-w<n>`.
fn slot_dir(name: &str) -> String {
    name.rsplit_once("-w")
        .map_or_else(String::new, |(_, n)| format!("w{n}"))
}

/// Whether a run directory under a configured worktree dir holds a worktree of the
/// repository whose common dir is `common` (its `w<n>/.git` file points there).
fn belongs_to(run_dir: &Path, common: &Path) -> bool {
    let Ok(slots) = fs::read_dir(run_dir) else {
        return false;
    };
    let common = common.canonicalize().unwrap_or_else(|_| common.to_owned());
    slots.flatten().any(|s| {
        fs::read_to_string(s.path().join(".git")).is_ok_and(|text| {
            text.strip_prefix("gitdir:").is_some_and(|gitdir| {
                let gitdir = Path::new(gitdir.trim());
                gitdir
                    .canonicalize()
                    .unwrap_or_else(|_| gitdir.to_owned())
                    .starts_with(&common)
            })
        })
    })
}

fn judge_branches(
    repo: &Repository,
    into: &str,
    leaving: &[&Path],
) -> Result<Vec<BranchVerdict>, WorktreeError> {
    // The integration branch must exist: judging against nothing would call all unmerged.
    branch_tip(repo, into)?;
    let branches = repo
        .branches(Some(BranchType::Local))
        .map_err(WorktreeError::git("list branches"))?;
    let mut verdicts = Vec::new();
    for (branch, _) in branches.flatten() {
        let Some(name) = branch.name().ok().flatten().map(str::to_owned) else {
            continue;
        };
        let Some(tip) = branch.get().target() else {
            continue;
        };
        if !name.starts_with("hew/") || name == into {
            continue;
        }
        let fate = match holder(repo, &name)? {
            Holder::Home => Some(BranchFate::CheckedOut(
                repo.workdir().unwrap_or(repo.path()).to_owned(),
            )),
            Holder::Elsewhere(path) if !leaving.iter().any(|l| path.starts_with(l)) => {
                Some(BranchFate::CheckedOut(path))
            }
            _ => None,
        };
        let fate = match fate {
            Some(f) => f,
            None => match unmerged(repo, into, tip)? {
                0 => BranchFate::Merged,
                n => BranchFate::Unmerged(n),
            },
        };
        verdicts.push(BranchVerdict {
            branch: name,
            tip: tip.to_string(),
            fate,
        });
    }
    verdicts.sort_by(|a, b| a.branch.cmp(&b.branch));
    Ok(verdicts)
}

/// How many commits reachable from `tip` are not on `into` (capped).
fn unmerged(repo: &Repository, into: &str, tip: Oid) -> Result<usize, WorktreeError> {
    let target = branch_tip(repo, into)?.id();
    if target == tip
        || repo
            .graph_descendant_of(target, tip)
            .map_err(WorktreeError::git(format!("compare with `{into}`")))?
    {
        return Ok(0);
    }
    let mut walk = repo.revwalk().map_err(WorktreeError::git("walk history"))?;
    walk.push(tip)
        .and_then(|()| walk.hide(target))
        .map_err(WorktreeError::git("walk history"))?;
    Ok(walk.take(COUNT_CAP).count().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_come_from_worktree_names() {
        assert_eq!(
            run_of("hew-20261122-052501-a1b2-w3"),
            Some("20261122-052501-a1b2")
        );
        assert_eq!(run_of("hew-r-with-w-w12"), Some("r-with-w"));
        assert_eq!(run_of("hew-r1-w"), None);
        assert_eq!(run_of("hew--w1"), None);
        assert_eq!(run_of("other-r1-w1"), None);
        assert_eq!(slot_dir("hew-r1-w12"), "w12");
    }
}
