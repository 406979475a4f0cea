//! Crash recovery: what a hew that died (SIGKILL, power loss) left behind, put right by the
//! next one. Runs at the start of every `hew loop` and as `hew loop recover`.
//!
//! A run is dead when its `run.json` still says `running` but nobody holds its lock (a
//! live hew holds it for the whole run, so a live run on the same repo is never disturbed).
//! For each dead run: its agents still running are stopped (by process group, after
//! checking the process really belongs to that run), its worktrees removed, its tasks
//! released, its task branches deleted when fully merged and kept (and listed) otherwise,
//! and its `run.json` marked `crashed`. Tasks left `in_progress` by any other run that is
//! not running (its directory gone, or its run over) are released when the actor names
//! this host and a dead pid.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::records::{RunDir, RunRecord, RunStatus, list_runs};
use crate::time::Timestamp;
use crate::tracker::{TaskId, Tracker, TrackerError};
use crate::worktree::{
    BranchFate, Leftovers, PruneOptions, SlotOptions, Slots, find_leftovers, remove_leftovers,
};

/// What a recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recovery {
    /// Runs found dead and marked `crashed`.
    pub crashed_runs: Vec<String>,
    /// Tasks released back to `open`.
    pub released: Vec<String>,
    /// Tasks closed: their run landed their work and died before it closed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<String>,
    /// Agent process groups stopped.
    pub stopped_agents: Vec<u32>,
    /// Branches with unmerged commits, kept.
    pub kept_branches: Vec<String>,
    /// `hew/*` branches whose work had all landed, deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_branches: Vec<String>,
    /// Tasks another machine's run held past its lease, released to be taken over: the
    /// task and the actor whose claim it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lease_expired: Vec<(String, String)>,
    /// Things that could not be put right, and why.
    pub warnings: Vec<String>,
}

impl Recovery {
    /// Whether there was nothing to do.
    pub fn is_empty(&self) -> bool {
        self.crashed_runs.is_empty()
            && self.released.is_empty()
            && self.closed.is_empty()
            && self.lease_expired.is_empty()
            && self.stopped_agents.is_empty()
            && self.deleted_branches.is_empty()
    }
}

/// The parts of an actor `hew/<host>@<machine>/<pid>/<run-id>`. Earlier versions of hew
/// wrote no machine id (`hew/<host>/<pid>/<run-id>`), and before that added a slot
/// (`/w<n>`): both are still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor<'a> {
    /// The machine's host name.
    pub host: &'a str,
    /// The machine's id (see [`crate::machine`]); `None` in actors of earlier hew.
    pub machine: Option<&'a str>,
    /// hew's process id there.
    pub pid: u32,
    /// The run.
    pub run_id: &'a str,
}

impl std::fmt::Display for Actor<'_> {
    /// The actor a run claims with.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.machine {
            Some(m) => write!(f, "hew/{}@{m}/{}/{}", self.host, self.pid, self.run_id),
            None => write!(f, "hew/{}/{}/{}", self.host, self.pid, self.run_id),
        }
    }
}

impl<'a> Actor<'a> {
    /// Reads an actor hew wrote; `None` for anyone else's.
    pub fn parse(actor: &'a str) -> Option<Self> {
        let mut parts = actor.split('/');
        if parts.next()? != "hew" {
            return None;
        }
        // Host names have no `@`.
        let named = parts.next()?;
        let (host, machine) = match named.rsplit_once('@') {
            Some((host, machine)) if !machine.is_empty() => (host, Some(machine)),
            Some(_) => return None,
            None => (named, None),
        };
        let pid = parts.next()?.parse().ok()?;
        let run_id = parts.next()?;
        let slot_ok = parts.next().is_none_or(|slot| {
            slot.strip_prefix('w')
                .is_some_and(|n| n.parse::<usize>().is_ok())
                && parts.next().is_none()
        });
        (!run_id.is_empty() && !host.is_empty() && slot_ok).then_some(Self {
            host,
            machine,
            pid,
            run_id,
        })
    }
}

impl Actor<'_> {
    /// Whether this actor is of this machine (`host`, `machine`): by its machine id when it
    /// has one, whatever its host name; an actor of earlier hew, without one, by its host
    /// name alone, as earlier hew judged it.
    pub fn is_here(&self, host: &str, machine: &str) -> bool {
        match self.machine {
            Some(m) => m == machine,
            None => self.host == host,
        }
    }

    /// Whether the run this actor names is gone: it runs on this machine, nobody holds its
    /// record's lock in `repo_root`, and its hew process is dead. An actor of another
    /// machine is never called gone here, even one with the same host name: its pid cannot
    /// be checked from here (its lease can: see `runner::lease`).
    pub fn is_gone(&self, repo_root: &Path, host: &str, machine: &str) -> bool {
        self.is_here(host, machine)
            && !RunDir::open(repo_root, self.run_id).is_live()
            && !pid_alive(self.pid)
    }
}

/// Puts right what dead runs left. `host` and `machine` name this machine (actors from
/// other machines are never touched); `worktree_dir` is `loop.worktree.dir`.
pub async fn recover<T: Tracker>(
    repo_root: &Path,
    tracker: &T,
    host: &str,
    machine: &str,
    worktree_dir: Option<PathBuf>,
) -> Result<Recovery, TrackerError> {
    let mut out = Recovery::default();
    let (runs, errors) = list_runs(repo_root);
    out.warnings.extend(errors.iter().map(ToString::to_string));
    let mut dead: Vec<RunRecord> = Vec::new();
    let mut live: BTreeSet<String> = BTreeSet::new();
    for run in runs.into_iter().filter(|r| r.status == RunStatus::Running) {
        if RunDir::open(repo_root, &run.run_id).is_live() {
            live.insert(run.run_id.clone());
        } else {
            dead.push(run);
        }
    }
    for run in &dead {
        stop_agents(repo_root, &run.run_id, &mut out);
        // A claim its hew started just before it died may still be on its way to the
        // tracker: it lands before the tasks are listed, so that it is released too.
        let actor = Actor {
            host: &run.host,
            machine: (!run.machine.is_empty()).then_some(run.machine.as_str()),
            pid: run.pid,
            run_id: &run.run_id,
        }
        .to_string();
        wait_for_calls_of(&actor, IN_FLIGHT_WAIT).await;
    }

    // Release the tasks dead runs (or dead hews without records) still hold; close those
    // whose work the run had already landed.
    let dead_ids: BTreeSet<&str> = dead.iter().map(|r| r.run_id.as_str()).collect();
    // Read from the target's history only for a dead run that still holds a task.
    let mut landed: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut released_by_run: Vec<(String, String)> = Vec::new();
    for task in tracker.in_progress().await? {
        let Some(actor) = task.assignee.as_deref().and_then(Actor::parse) else {
            continue;
        };
        // A run that ended can still hold a task: a claim its hew started just before it
        // was killed lands after it died, perhaps after its recovery.
        let gone = dead_ids.contains(actor.run_id)
            || (!live.contains(actor.run_id) && actor.is_gone(repo_root, host, machine));
        let lease_ran_out = !gone && lease_ran_out(&task, &actor, host, machine);
        if !gone && !lease_ran_out {
            continue;
        }
        let Ok(id) = TaskId::parse(&task.id) else {
            continue;
        };
        let run = dead.iter().find(|r| r.run_id == actor.run_id);
        let landed_by_it = run.filter(|r| gone && !r.into.is_empty()).map(|r| {
            landed.entry(r.run_id.clone()).or_insert_with(|| {
                crate::worktree::landed_by_run(repo_root, &r.into, &r.run_id).unwrap_or_default()
            })
        });
        if let Some(commit) = landed_by_it.and_then(|l| l.get(&task.id)) {
            let into = run.map_or("its target", |r| r.into.as_str());
            let reason = format!(
                "merged {} into {into} (hew run {}, which stopped before it closed the task; \
                 closed by a later run's recovery)",
                &commit[..commit.len().min(10)],
                actor.run_id
            );
            match tracker.close(&id, &reason).await {
                Ok(()) => out.closed.push(task.id.clone()),
                Err(e) => out.warnings.push(format!(
                    "could not close {}, whose work landed: {e}",
                    task.id
                )),
            }
            continue;
        }
        if lease_ran_out {
            let holder = task.assignee.clone().unwrap_or_default();
            match take_back(tracker, &id, &holder, host).await {
                Ok(()) => out.lease_expired.push((task.id.clone(), holder)),
                Err(e) => out
                    .warnings
                    .push(format!("could not release {}: {e}", task.id)),
            }
            continue;
        }
        let note = format!(
            "hew: released: run {} stopped without finishing (recovered by a later run)",
            actor.run_id
        );
        match tracker.release(&id).await {
            Ok(()) => {
                let _ = tracker.add_comment(&id, &note).await;
                released_by_run.push((actor.run_id.to_owned(), task.id.clone()));
                out.released.push(task.id.clone());
            }
            Err(e) => out
                .warnings
                .push(format!("could not release {}: {e}", task.id)),
        }
    }

    // A slot a dead run leased from the pool may still have a task branch checked out: once
    // detached, its branches are settled like any other.
    if !dead.is_empty()
        && let Err(e) = crate::worktree::detach_idle_pool(repo_root, worktree_dir.as_deref())
    {
        out.warnings.push(format!(
            "could not detach the worktrees dead runs left: {e}"
        ));
    }
    let into_branches: BTreeSet<String> = dead
        .iter()
        .map(|r| r.into.clone())
        .filter(|i| !i.is_empty())
        .collect();
    for mut run in dead {
        let slots = Slots::new(
            repo_root,
            SlotOptions {
                dir: worktree_dir.clone(),
                reuse: true,
                run_id: run.run_id.clone(),
            },
        );
        if let Err(e) = slots.and_then(|s| s.close()) {
            out.warnings.push(format!(
                "could not remove the worktrees of run {}: {e}",
                run.run_id
            ));
        }
        let tasks: Vec<&str> = released_by_run
            .iter()
            .filter(|(r, _)| *r == run.run_id)
            .map(|(_, t)| t.as_str())
            .collect();
        let run_branch = format!("hew/run/{}", run.run_id);
        let targets: Vec<&str> = [run.into.as_str(), run_branch.as_str()]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect();
        match crate::worktree::settle_task_branches(repo_root, &tasks, &targets) {
            Ok(kept) => {
                run.kept_branches.extend(kept.iter().cloned());
                out.kept_branches.extend(kept);
            }
            Err(e) => out.warnings.push(format!(
                "could not check the branches of run {}: {e}",
                run.run_id
            )),
        }
        run.status = RunStatus::Crashed;
        run.ended_at = Some(Timestamp::now());
        run.error =
            Some("hew stopped without finishing (killed?); recovered by a later run".into());
        if let Err(e) = RunDir::open(repo_root, &run.run_id).write_run(&run) {
            out.warnings.push(e.to_string());
        }
        out.crashed_runs.push(run.run_id);
    }
    // A run killed between a merge and deleting its branch leaves a branch whose work has
    // landed (and a task already closed, which no claim names). With no run going, a task
    // branch made at the tip cannot be mistaken for one: merged ones go.
    if live.is_empty() {
        for into in into_branches {
            match delete_merged_branches(repo_root, worktree_dir.as_deref(), &into) {
                Ok(deleted) => out.deleted_branches.extend(deleted),
                Err(e) => out.warnings.push(format!(
                    "could not delete the merged branches of `{into}`: {e}"
                )),
            }
        }
    }
    Ok(out)
}

/// Deletes every `hew/*` branch whose commits are all on `into` and that no working tree
/// has checked out; returns their names.
fn delete_merged_branches(
    repo_root: &Path,
    dir: Option<&Path>,
    into: &str,
) -> Result<Vec<String>, crate::worktree::WorktreeError> {
    let opts = PruneOptions {
        dir,
        into,
        branches: true,
    };
    let found = find_leftovers(repo_root, &opts, &|_| true)?;
    let merged = Leftovers {
        branches: found
            .branches
            .into_iter()
            .filter(|b| b.fate == BranchFate::Merged)
            .collect(),
        ..Leftovers::default()
    };
    let failures = remove_leftovers(repo_root, &merged, into)?;
    Ok(merged
        .branches
        .into_iter()
        .map(|b| b.branch)
        .filter(|b| !failures.iter().any(|f| f.what == *b))
        .collect())
}

/// The longest recovery waits for a dead run's tracker calls still in flight.
const IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits (at most `bound`) until no process runs with `actor` among its arguments: the
/// tracker calls (claims) a dead run left in flight. Linux only (`/proc`).
async fn wait_for_calls_of(actor: &str, bound: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + bound;
    while calls_of(actor) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether a live process has `actor` as one of its arguments.
fn calls_of(actor: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    let own = std::process::id().to_string();
    entries.flatten().any(|e| {
        let name = e.file_name();
        let pid = name.to_string_lossy();
        pid.bytes().all(|b| b.is_ascii_digit())
            && pid != own
            && std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == actor.as_bytes()))
    })
}

/// Whether `task`, held by `actor`, is another machine's whose lease ran out. Another
/// machine's run cannot be checked from here, but its lease can: one that ran out means
/// that run died or lost the tracker, and stopped its agent.
fn lease_ran_out(
    task: &crate::tracker::Task,
    actor: &Actor<'_>,
    host: &str,
    machine: &str,
) -> bool {
    !actor.is_here(host, machine) && crate::lease::expired(task, crate::lease::unix_now())
}

/// Releases `id`, held by `holder` past its lease, with a comment saying so, for a run on
/// `host` to take over.
async fn take_back<T: Tracker>(
    tracker: &T,
    id: &TaskId,
    holder: &str,
    host: &str,
) -> Result<(), TrackerError> {
    tracker.release(id).await?;
    let note = format!(
        "hew: released: the lease of {holder} ran out (its machine died or lost the tracker); \
         taken over by a run on {host}"
    );
    let _ = tracker.add_comment(id, &note).await;
    Ok(())
}

/// While a run goes on: releases the tasks other machines' runs hold past their leases, to
/// be claimed again (by this run, among others). Returns each task released and whose
/// claim it was. A run starting does this as part of [`recover`].
pub async fn take_back_expired<T: Tracker>(
    tracker: &T,
    host: &str,
    machine: &str,
) -> Result<Vec<(String, String)>, TrackerError> {
    let mut taken = Vec::new();
    for task in tracker.in_progress().await? {
        let Some(actor) = task.assignee.as_deref().and_then(Actor::parse) else {
            continue;
        };
        let Ok(id) = TaskId::parse(&task.id) else {
            continue;
        };
        if lease_ran_out(&task, &actor, host, machine) {
            let holder = task.assignee.clone().unwrap_or_default();
            take_back(tracker, &id, &holder, host).await?;
            taken.push((task.id.clone(), holder));
        }
    }
    Ok(taken)
}

/// Stops agents a dead run left running: each `iters/<n>.pid` names a process group, and
/// the process must still carry the run's `HEW_RUN_ID` (a pid may have been reused).
fn stop_agents(repo_root: &Path, run_id: &str, out: &mut Recovery) {
    let dir = RunDir::open(repo_root, run_id);
    let Ok(entries) = std::fs::read_dir(dir.path().join("iters")) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "pid") {
            continue;
        }
        let pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|p| *p > 1)
            && belongs_to_run(pid, run_id)
            && killpg(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
        {
            out.stopped_agents.push(pid.unsigned_abs());
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// Whether process `pid` runs with `HEW_RUN_ID=<run_id>` in its environment.
fn belongs_to_run(pid: i32, run_id: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let want = format!("HEW_RUN_ID={run_id}");
    environ.split(|b| *b == 0).any(|var| var == want.as_bytes())
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    !matches!(
        nix::sys::signal::kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_hew_actors() {
        let here = Actor {
            host: "box-1",
            machine: Some("0123456789ab"),
            pid: 4242,
            run_id: "20261122-052501-a1b2",
        };
        let written = here.to_string();
        assert_eq!(written, "hew/box-1@0123456789ab/4242/20261122-052501-a1b2");
        assert_eq!(Actor::parse(&written), Some(here.clone()));
        assert!(here.is_here("other-name", "0123456789ab"));
        // The same host name on another machine is not here: its pid is not checked.
        assert!(!here.is_here("box-1", "ba9876543210"));
        let dir = tempfile::tempdir().unwrap();
        let twin = Actor {
            pid: std::process::id() + 1_000_000,
            ..here.clone()
        };
        assert!(!twin.is_gone(dir.path(), "box-1", "ba9876543210"));
        assert!(twin.is_gone(dir.path(), "box-1", "0123456789ab"));

        // As earlier versions wrote it: no machine id, judged by host name.
        let actor = Some(Actor {
            host: "box-1",
            machine: None,
            pid: 4242,
            run_id: "20261122-052501-a1b2",
        });
        assert_eq!(Actor::parse("hew/box-1/4242/20261122-052501-a1b2"), actor);
        assert!(actor.as_ref().unwrap().is_here("box-1", "0123456789ab"));
        assert_eq!(
            actor.as_ref().map(ToString::to_string).as_deref(),
            Some("hew/box-1/4242/20261122-052501-a1b2")
        );
        // As earlier versions wrote it, with the slot.
        assert_eq!(
            Actor::parse("hew/box-1/4242/20261122-052501-a1b2/w3"),
            actor
        );
        for other in [
            "alice",
            "hew/box/x/run/w1",
            "hew/box/1",
            "hew/box/1/",
            "hew/box/1/run/x1",
            "hew/box/1/run/w",
            "hew/box/1/run/w1/extra",
            "bot/box/1/run/w1",
            "hew/box@/1/run",
            "hew/@m/1/run",
        ] {
            assert_eq!(Actor::parse(other), None, "{other}");
        }
    }
}
