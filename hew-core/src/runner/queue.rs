//! The merge queue: where finished work lands on the target, one batch at a time.
//!
//! A task whose agent left work hands its branch to the queue and waits for a verdict; its
//! worker slot is already free. The queue takes every branch waiting (at most
//! `loop.merge.batch`), merges them in turn onto the target's current tip, in memory, and
//! with a verify command on the merged result (`loop.verify.on = "merge"` or `"both"`)
//! checks out the batch's last merge in a worktree of its own and runs the command there.
//!
//! - **Green**: the target moves to exactly that tested commit, with a compare-and-swap on
//!   the tip the batch was built on. If the tip moved meanwhile (another hew, a user's
//!   commit), the batch is built and tested again on the new tip. One merge commit per
//!   task, as without a queue.
//! - **Red**: the batch is searched for its first culprit, the first task whose prefix
//!   fails while the prefix before it passes (see [`Worker::search`]). Passing prefixes
//!   land as they are found; the culprit ends `verify_failed` with the command's output
//!   and the commit it was tested at; the tasks after it are merged again without it, onto
//!   the new tip, and searched in turn. Each round tests up to `loop.merge.parallel`
//!   prefixes at once: with one, the search halves; with as many as the batch has tasks,
//!   one round finds the culprit.
//!
//! With a remote target (`loop.merge.remote`, see `crate::remote`) the tip is fetched
//! before each batch and landing is a push: a push git refuses because the branch moved is
//! merged and tested again; a remote out of reach is waited for.
//!
//! The target never points at a commit that was not tested, and a task is closed only
//! after its work landed. A hew killed mid-test leaves the target where it was: its tasks
//! are released by the next run's recovery, their branches kept. The queue's verify
//! commands write their process groups to `iters/queue-<slot>.pid`, so recovery stops
//! them too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::setup::Setup;
use super::verify::verify;
use super::{RunEvent, blocking};
use crate::agent::Stop;
use crate::records::VerifyResult;
use crate::remote::{Pushed, Remote, RemoteError};
use crate::worktree::{self, Integration, Landing, MergedOnto, Slots, WorktreeError};

/// How often a batch is built again because the target kept moving under it: another
/// hew on this repository, or with a remote target other machines.
const MAX_MOVES: u32 = 10;
/// How long merges wait for a remote target that cannot be reached before they give up.
const REMOTE_PATIENCE: Duration = Duration::from_secs(600);
/// The longest wait between two tries at an unreachable remote.
const REMOTE_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where merges go, as tasks read it without waiting for the queue.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// The branch new task branches start from (the target, or the run branch once
    /// diverted), or with a remote target its remote-tracking ref
    /// (`refs/remotes/origin/main`).
    pub branch: String,
    /// The target as records and messages name it (`main`, `origin/main`).
    pub name: String,
    /// Why merges go to the run branch, once they do.
    pub diverted: Option<String>,
}

/// The target, shared between the queue, which moves it, and the tasks, which read it
/// without waiting for the queue.
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<Target>>);

impl Shared {
    fn new(target: Target) -> Self {
        Self(Arc::new(Mutex::new(target)))
    }

    fn get(&self) -> Target {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, target: Target) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }
}

/// A branch waiting to land.
pub(crate) struct Entry {
    /// The iteration it comes from.
    pub iter: u32,
    /// The task's branch.
    pub branch: String,
    /// The merge commit's message.
    pub message: String,
    reply: oneshot::Sender<Answer>,
    /// How long it waited before its batch was taken up.
    waited: Duration,
    /// How often the target moved under its merge, which was then made and tested again.
    moved: u32,
}

/// What became of a branch in the queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Its merge commit is on `into`.
    Landed {
        /// Its own merge commit (hex).
        commit: String,
        /// The branch it landed on.
        into: String,
        /// The commit the verify command passed on, and its result, when it ran on the
        /// merged result.
        tested: Option<(String, VerifyResult)>,
    },
    /// The target already had every commit of the branch.
    UpToDate {
        /// The target's tip then (hex).
        commit: String,
        /// The branch.
        into: String,
    },
    /// It conflicts with the target (or with a task merged before it in its batch).
    Conflict {
        /// The conflicting paths.
        paths: Vec<String>,
    },
    /// The verify command failed with this task's work merged onto `onto`.
    VerifyFailed {
        /// The command's result.
        result: VerifyResult,
        /// The target's tip the work was merged onto (hex).
        onto: String,
        /// The commit tested (hex).
        tested_at: String,
    },
    /// The run was stopped before its work was tested.
    Stopped,
    /// Git failed.
    Failed(String),
}

/// A verdict, and how long the branch waited for it, for the record's timings.
pub(crate) struct Answer {
    /// The verdict.
    pub verdict: Verdict,
    /// How often the target moved under its merge (another hew, another machine).
    pub moved: u32,
    /// How long the branch waited before its batch was taken up.
    pub queued: Duration,
}

/// The queue's door: tasks send their branches here.
#[derive(Clone)]
pub(crate) struct MergeQueue {
    tx: mpsc::UnboundedSender<(Entry, Instant)>,
    target: Shared,
    waiting: Arc<AtomicUsize>,
}

/// What the queue needs to run.
pub(crate) struct QueueParts {
    pub repo_root: PathBuf,
    pub integration: Integration,
    pub slots: Slots,
    /// The worktree setup, run in the queue's worktrees too before they verify.
    pub setup: Arc<Setup>,
    /// `loop.merge.remote`: work lands on this remote branch, pushed, instead of on
    /// `integration`'s local branch.
    pub remote: Option<Remote>,
    /// The verify command on the merged result, and its time limit.
    pub verify: Option<(String, Duration)>,
    pub batch: usize,
    /// How many merged results are verified at once (`loop.merge.parallel`).
    pub parallel: usize,
    /// The slot number of the queue's first worktree; the others follow (worker slots
    /// count from 1).
    pub first_slot: usize,
    pub run_id: String,
    /// Where each running verify command's process group is written (`iters/` in the
    /// run's records, as `queue-<slot>.pid`), for a later hew to stop if this one dies.
    pub pid_dir: PathBuf,
    pub events: mpsc::UnboundedSender<RunEvent>,
    pub stop: watch::Receiver<Stop>,
}

impl MergeQueue {
    /// Starts the queue on the current tokio runtime. It ends when every [`MergeQueue`]
    /// clone is dropped and the last batch is done.
    pub(crate) fn start(parts: QueueParts) -> Self {
        let (queue, serve) = Self::new(parts);
        tokio::spawn(serve);
        queue
    }

    /// The queue, and the work that serves it, to be spawned.
    fn new(parts: QueueParts) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::unbounded_channel();
        let target = Shared::new(match &parts.remote {
            Some(remote) => Target {
                branch: remote.tracking_ref(),
                name: remote.display(),
                diverted: None,
            },
            None => Target {
                branch: parts.integration.branch().to_owned(),
                name: parts.integration.branch().to_owned(),
                diverted: None,
            },
        });
        let waiting = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            parts,
            target: target.clone(),
            waiting: waiting.clone(),
        };
        let queue = Self {
            tx,
            target,
            waiting,
        };
        (queue, worker.serve(rx))
    }

    /// Where merges go now.
    pub(crate) fn target(&self) -> Target {
        self.target.get()
    }

    /// Queues `branch` and waits for its verdict.
    pub(crate) async fn land(&self, iter: u32, branch: &str, message: String) -> Answer {
        let (reply, verdict) = oneshot::channel();
        let entry = Entry {
            iter,
            branch: branch.to_owned(),
            message,
            reply,
            waited: Duration::ZERO,
            moved: 0,
        };
        let queued = Instant::now();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if self.tx.send((entry, queued)).is_err() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Answer {
                verdict: Verdict::Failed("the merge queue has stopped".into()),
                moved: 0,
                queued: Duration::ZERO,
            };
        }
        match verdict.await {
            Ok(answer) => answer,
            Err(_) => Answer {
                verdict: Verdict::Failed(
                    "the merge queue stopped before this branch landed".into(),
                ),
                moved: 0,
                queued: queued.elapsed(),
            },
        }
    }
}

/// What a search of a chain left to do.
enum Searched {
    /// Every entry was answered.
    Done,
    /// A culprit was answered, and what came before it; these came after it.
    Culprit(Vec<Entry>),
    /// The target moved under the chain: these are unanswered.
    Moved(Vec<Entry>),
}

/// An entry merged onto the tip, in turn.
struct Merged {
    entry: Entry,
    /// Its merge commit, or the commit before it when it brought nothing new.
    commit: String,
}

struct Worker {
    parts: QueueParts,
    target: Shared,
    waiting: Arc<AtomicUsize>,
}

impl Worker {
    async fn serve(mut self, mut rx: mpsc::UnboundedReceiver<(Entry, Instant)>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < self.parts.batch {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.waiting.fetch_sub(batch.len(), Ordering::SeqCst);
            let entries = batch
                .into_iter()
                .map(|(entry, queued)| Entry {
                    waited: queued.elapsed(),
                    ..entry
                })
                .collect();
            self.land_batch(entries).await;
        }
    }

    /// Lands what can land of `entries`, and answers each: the batch is merged onto the
    /// target's tip and searched (see [`Worker::search`]); what follows a culprit is
    /// merged again without it, onto the new tip, and searched in turn.
    async fn land_batch(&mut self, entries: Vec<Entry>) {
        let mut rest = entries;
        let mut moves = 0;
        while !rest.is_empty() {
            if *self.parts.stop.borrow() == Stop::Now {
                answer_all(rest, &Verdict::Stopped);
                return;
            }
            let into = self.target().name;
            let onto = match self.tip().await {
                Ok(onto) => onto,
                Err(e) => {
                    answer_all(rest, &Verdict::Failed(e));
                    return;
                }
            };
            let chain = self.merge_in_turn(&onto, rest).await;
            rest = match self.search(onto, chain).await {
                Searched::Done => return,
                Searched::Culprit(after) => after,
                Searched::Moved(unanswered) if moves < MAX_MOVES => {
                    // Merged and tested again on the new tip, after a short wait that
                    // grows: two machines that pushed at once do not collide again.
                    moves += 1;
                    if self.parts.remote.is_some() {
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(moves))).await;
                    }
                    unanswered
                        .into_iter()
                        .map(|e| Entry {
                            moved: e.moved + 1,
                            ..e
                        })
                        .collect()
                }
                Searched::Moved(unanswered) => {
                    let e = WorktreeError::TargetKeptMoving {
                        branch: into,
                        attempts: moves,
                    };
                    answer_all(unanswered, &Verdict::Failed(e.to_string()));
                    return;
                }
            };
        }
    }

    /// Tests `chain` (merged in turn onto `onto`) and lands its longest tested prefix that
    /// passes, up to its first culprit: the first entry whose prefix fails when the one
    /// before passes.
    ///
    /// Each round tests up to `loop.merge.parallel` prefixes at once, spread evenly over
    /// what is still unknown: the whole chain first (with one test at a time, only that), then,
    /// once a prefix failed, the prefixes below it. The green prefix below the first red one
    /// lands at once. With one test at a time this is a binary search; with as many as
    /// there are entries, one round finds the culprit.
    async fn search(&mut self, onto: String, chain: Vec<Merged>) -> Searched {
        let n = chain.len();
        // Each entry is taken out once answered.
        let mut chain: Vec<(Option<Entry>, String)> = chain
            .into_iter()
            .map(|m| (Some(m.entry), m.commit))
            .collect();
        // The prefix of this length is on the target; the one of `red.0` failed.
        let (mut lo, mut at) = (0, onto);
        let mut red: Option<(usize, VerifyResult, String)> = None;
        while lo < n {
            if let Some((hi, result, tested_at)) = red.take_if(|r| r.0 == lo + 1) {
                let culprit = chain[hi - 1].0.take();
                answer_all(
                    culprit,
                    &Verdict::VerifyFailed {
                        result,
                        onto: at,
                        tested_at,
                    },
                );
                return Searched::Culprit(chain.into_iter().skip(hi).filter_map(|c| c.0).collect());
            }
            let probes = probes(lo, red.as_ref().map(|r| r.0), n, self.parts.parallel);
            let last = probes[probes.len() - 1];
            let _ = self.parts.events.send(RunEvent::MergeTesting {
                iters: chain[lo..last]
                    .iter()
                    .filter_map(|c| c.0.as_ref().map(|e| e.iter))
                    .collect(),
                commit: chain[last - 1].1.clone(),
                bisecting: red.is_some(),
                waiting: self.waiting.load(Ordering::SeqCst),
            });
            let commits: Vec<String> = probes.iter().map(|p| chain[p - 1].1.clone()).collect();
            let results = self.test_all(&commits).await;
            let (mut green, mut passed) = (lo, None);
            for (p, tested) in probes.iter().zip(results) {
                match tested {
                    // Probes come in ascending order: the last green one is the longest.
                    Tested::Passed(result) => (green, passed) = (*p, result),
                    Tested::Failed(result) => {
                        red = Some((*p, result, chain[p - 1].1.clone()));
                        break;
                    }
                    Tested::Stopped => {
                        answer_all(chain.into_iter().filter_map(|c| c.0), &Verdict::Stopped);
                        return Searched::Done;
                    }
                    Tested::Broken(why) => {
                        answer_all(chain.into_iter().filter_map(|c| c.0), &Verdict::Failed(why));
                        return Searched::Done;
                    }
                }
            }
            if green == lo {
                continue;
            }
            let to = chain[green - 1].1.clone();
            match self.land(&at, &to).await {
                Ok(Landing::Landed { into }) => {
                    let landed: Vec<u32> = chain[lo..green]
                        .iter()
                        .filter_map(|c| c.0.as_ref().map(|e| e.iter))
                        .collect();
                    let _ = self.parts.events.send(RunEvent::MergeLanded {
                        iters: landed,
                        commit: to.clone(),
                        into: into.clone(),
                    });
                    let tested = passed.take().map(|result| (to.clone(), result));
                    let mut before = at.clone();
                    for (entry, commit) in &mut chain[lo..green] {
                        let verdict = if *commit == before {
                            Verdict::UpToDate {
                                commit: before.clone(),
                                into: into.clone(),
                            }
                        } else {
                            Verdict::Landed {
                                commit: commit.clone(),
                                into: into.clone(),
                                tested: tested.clone(),
                            }
                        };
                        before.clone_from(commit);
                        answer_all(entry.take(), &verdict);
                    }
                    (lo, at) = (green, to);
                }
                Ok(Landing::Moved) => {
                    return Searched::Moved(chain.into_iter().filter_map(|c| c.0).collect());
                }
                Err(e) => {
                    let unanswered = chain.into_iter().filter_map(|c| c.0);
                    answer_all(unanswered, &Verdict::Failed(e));
                    return Searched::Done;
                }
            }
        }
        Searched::Done
    }

    /// Merges each entry in turn onto `onto`; those that conflict or fail are answered and
    /// left out.
    async fn merge_in_turn(&self, onto: &str, entries: Vec<Entry>) -> Vec<Merged> {
        let mut merged = Vec::with_capacity(entries.len());
        let mut head = onto.to_owned();
        for entry in entries {
            let (root, on, branch, message) = (
                self.parts.repo_root.clone(),
                head.clone(),
                entry.branch.clone(),
                entry.message.clone(),
            );
            let result =
                blocking(move || worktree::merge_onto(&root, &on, &branch, &message)).await;
            match result {
                Ok(MergedOnto::Commit(commit)) => {
                    head.clone_from(&commit);
                    merged.push(Merged { entry, commit });
                }
                Ok(MergedOnto::UpToDate) => merged.push(Merged {
                    entry,
                    commit: head.clone(),
                }),
                Ok(MergedOnto::Conflict { paths }) => entry.answer(Verdict::Conflict { paths }),
                Err(e) => entry.answer(Verdict::Failed(e.to_string())),
            }
        }
        merged
    }

    /// Runs the verify command on each of `commits` at once, each in a queue worktree of
    /// its own, when there is one to run; a hard stop of the run cancels them.
    async fn test_all(&self, commits: &[String]) -> Vec<Tested> {
        let Some((command, timeout)) = self.parts.verify.clone() else {
            return commits.iter().map(|_| Tested::Passed(None)).collect();
        };
        let tests = commits.iter().enumerate().map(|(i, commit)| {
            let slot = self.parts.first_slot + i;
            let (slots, at) = (self.parts.slots.clone(), commit.clone());
            let (command, run_id) = (command.clone(), self.parts.run_id.clone());
            let pid_file = self.parts.pid_dir.join(format!("queue-{slot}.pid"));
            let setup = self.parts.setup.clone();
            let mut stop = self.parts.stop.clone();
            tokio::spawn(async move {
                let path = match blocking(move || slots.check_out_commit(slot, &at)).await {
                    Ok(path) => path,
                    Err(e) => {
                        return Tested::Failed(VerifyResult {
                            command,
                            passed: false,
                            exit_code: None,
                            output_tail: format!("could not check out the merge to test it: {e}"),
                        });
                    }
                };
                if let Err(why) = setup.prepare_for_queue(&path, slot, &run_id).await {
                    return Tested::Broken(why);
                }
                let slot = slot.to_string();
                let env = [("HEW_RUN_ID", run_id.as_str()), ("HEW_SLOT", slot.as_str())];
                let run = verify(&command, &path, timeout, &env, Some(&pid_file));
                tokio::select! {
                    result = run => if result.passed { Tested::Passed(Some(result)) } else { Tested::Failed(result) },
                    _ = stop.wait_for(|s| *s == Stop::Now) => Tested::Stopped,
                }
            })
        });
        let handles: Vec<_> = tests.collect();
        let mut results = Vec::with_capacity(handles.len());
        for handle in handles {
            results.push(handle.await.unwrap_or(Tested::Stopped));
        }
        results
    }

    /// The target's tip now (hex): read, or fetched from a remote target, waiting for it
    /// while it cannot be reached.
    async fn tip(&self) -> Result<String, String> {
        let Some(remote) = &self.parts.remote else {
            let branch = self.target().branch;
            return blocking_tip(&self.parts.repo_root, &branch)
                .await
                .map_err(|e| e.to_string());
        };
        let started = Instant::now();
        let mut tries = 0;
        loop {
            match remote.fetch().await {
                Ok(tip) => return Ok(tip),
                Err(e) => self.wait_for_remote(&e, started, &mut tries).await?,
            }
        }
    }

    /// After a remote target could not be reached: waits before the next try (longer each
    /// time), or says why not to try again.
    async fn wait_for_remote(
        &self,
        e: &RemoteError,
        started: Instant,
        tries: &mut u32,
    ) -> Result<(), String> {
        if !matches!(e, RemoteError::Unreachable { .. }) || started.elapsed() > REMOTE_PATIENCE {
            return Err(e.to_string());
        }
        *tries += 1;
        let wait = Duration::from_secs(1 << (*tries - 1).min(5)).min(REMOTE_BACKOFF_MAX);
        let _ = self.parts.events.send(RunEvent::Warning {
            message: format!("{e}; merges wait and try again in {}s", wait.as_secs()),
        });
        let mut stop = self.parts.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            _ = stop.wait_for(|s| *s == Stop::Now) => Err("the run was stopped".into()),
        }
    }

    /// Moves the target from `onto` to `commit`: the local branch, or a push to the remote
    /// target (tried again while the remote cannot be reached).
    async fn land(&mut self, onto: &str, commit: &str) -> Result<Landing, String> {
        if let Some(remote) = self.parts.remote.clone() {
            let started = Instant::now();
            let mut tries = 0;
            return loop {
                match remote.push(commit).await {
                    Ok(Pushed::Accepted) => {
                        break Ok(Landing::Landed {
                            into: remote.display(),
                        });
                    }
                    Ok(Pushed::Moved) => break Ok(Landing::Moved),
                    Err(e) => self.wait_for_remote(&e, started, &mut tries).await?,
                }
            };
        }
        self.land_locally(onto, commit)
            .await
            .map_err(|e| e.to_string())
    }

    /// Moves the local target from `onto` to `commit`.
    async fn land_locally(&mut self, onto: &str, commit: &str) -> Result<Landing, WorktreeError> {
        let (root, mut integration) =
            (self.parts.repo_root.clone(), self.parts.integration.clone());
        let (old, new) = (onto.to_owned(), commit.to_owned());
        let (landed, integration) = blocking(move || {
            let r = worktree::land(&root, &mut integration, &old, &new);
            (r, integration)
        })
        .await;
        let was_diverted = self.parts.integration.diverted().is_some();
        self.parts.integration = integration;
        if !was_diverted && let Some(reason) = self.parts.integration.diverted() {
            let _ = self.parts.events.send(RunEvent::Diverted {
                branch: self.parts.integration.branch().to_owned(),
                reason: reason.to_owned(),
            });
        }
        self.target.set(Target {
            branch: self.parts.integration.branch().to_owned(),
            name: self.parts.integration.branch().to_owned(),
            diverted: self.parts.integration.diverted().map(str::to_owned),
        });
        landed
    }

    fn target(&self) -> Target {
        self.target.get()
    }
}

enum Tested {
    /// With the command's result, if there is a command.
    Passed(Option<VerifyResult>),
    Failed(VerifyResult),
    Stopped,
    /// The test could not run: nothing is known about the work.
    Broken(String),
}

/// The prefix lengths to test next, ascending: with nothing failed yet, up to `parallel`
/// spread over `(lo, n]`, `n` always among them; once the prefix of length `hi` failed,
/// up to `parallel` spread over `(lo, hi)`.
fn probes(lo: usize, hi: Option<usize>, n: usize, parallel: usize) -> Vec<usize> {
    let parallel = parallel.max(1);
    let mut out: Vec<usize> = match hi {
        None => (1..=parallel)
            .map(|i| lo + (i * (n - lo)).div_ceil(parallel))
            .collect(),
        Some(hi) => {
            let open = hi - lo - 1;
            let k = parallel.min(open);
            (1..=k).map(|i| lo + (i * open).div_ceil(k + 1)).collect()
        }
    };
    out.dedup();
    out.retain(|p| *p > lo);
    out
}

impl Entry {
    fn answer(self, verdict: Verdict) {
        let _ = self.reply.send(Answer {
            verdict,
            moved: self.moved,
            queued: self.waited,
        });
    }
}

fn answer_all(entries: impl IntoIterator<Item = Entry>, verdict: &Verdict) {
    for entry in entries {
        entry.answer(verdict.clone());
    }
}

async fn blocking_tip(root: &std::path::Path, branch: &str) -> Result<String, WorktreeError> {
    let (root, branch) = (root.to_owned(), branch.to_owned());
    blocking(move || worktree::tip(&root, &branch)).await
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use git2::{Repository, Signature};

    use super::*;
    use crate::worktree::SlotOptions;

    const RUN_ID: &str = "20261206-120000-abcd";

    /// A repository on `main` whose build (`check.sh`) needs every `call NAME` under
    /// `callers/` to have a `def NAME` in `lib.txt`.
    fn project(root: &Path) -> Repository {
        let repo = Repository::init_opts(
            root,
            git2::RepositoryInitOptions::new().initial_head("main"),
        )
        .unwrap();
        std::fs::write(
            root.join("check.sh"),
            "for n in $(cat callers/* 2>/dev/null | sed -n 's/^call //p'); do grep -qx \"def $n\" lib.txt || exit 1; done\n",
        )
        .unwrap();
        std::fs::write(root.join("lib.txt"), "def f\n").unwrap();
        commit_files(&repo, "main", &[]);
        repo
    }

    /// Commits the working tree plus `files` on `branch` (made at main's tip if new).
    fn commit_files(repo: &Repository, branch: &str, files: &[(&str, &str)]) {
        let sig = Signature::now("t", "t@example.invalid").unwrap();
        let parent = repo
            .find_branch("main", git2::BranchType::Local)
            .ok()
            .and_then(|b| b.get().peel_to_commit().ok());
        let mut builder = match &parent {
            Some(p) => repo.treebuilder(Some(&p.tree().unwrap())).unwrap(),
            None => {
                let mut index = repo.index().unwrap();
                index
                    .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                    .unwrap();
                let tree = index.write_tree().unwrap();
                repo.treebuilder(Some(&repo.find_tree(tree).unwrap()))
                    .unwrap()
            }
        };
        let mut callers = match parent
            .as_ref()
            .and_then(|p| p.tree().unwrap().get_name("callers").map(|e| e.id()))
        {
            Some(id) => repo
                .treebuilder(Some(&repo.find_tree(id).unwrap()))
                .unwrap(),
            None => repo.treebuilder(None).unwrap(),
        };
        for (name, text) in files {
            let blob = repo.blob(text.as_bytes()).unwrap();
            callers.insert(name, blob, 0o100644).unwrap();
        }
        if !files.is_empty() {
            builder
                .insert("callers", callers.write().unwrap(), 0o040000)
                .unwrap();
        }
        let tree = repo.find_tree(builder.write().unwrap()).unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let refname = format!("refs/heads/{branch}");
        let head = if parent.is_none() { Some("HEAD") } else { None };
        let id = repo
            .commit(head, &sig, &sig, branch, &tree, &parents)
            .unwrap();
        repo.reference(&refname, id, true, "test").unwrap();
    }

    /// What a batch of eight branches came to, two of them culprits: their verdicts, how
    /// many tests ran, and the queue's rounds (bisecting ones apart).
    struct Batch {
        verdicts: Vec<Verdict>,
        tests: usize,
        rounds: usize,
        bisecting: usize,
    }

    const CULPRITS: [usize; 2] = [2, 5];

    async fn batch_of_eight(parallel: usize) -> Batch {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        let repo = project(&root);
        let base = repo.revparse_single("main").unwrap().id().to_string();
        for n in 0..8 {
            let call = if CULPRITS.contains(&n) {
                "nowhere"
            } else {
                "f"
            };
            commit_files(
                &repo,
                &format!("hew/t{n}"),
                &[(&format!("t{n}.txt"), &format!("call {call}\n"))],
            );
        }
        // The main checkout is not on `main`: the queue only moves the ref.
        repo.set_head_detached(repo.revparse_single("main").unwrap().id())
            .unwrap();
        let log = dir.path().join("tested.log");
        let (events, mut seen) = mpsc::unbounded_channel();
        let (_stop_tx, stop) = watch::channel(Stop::Run);
        let slots = Slots::new(
            &root,
            SlotOptions {
                dir: None,
                reuse: true,
                run_id: RUN_ID.into(),
            },
        )
        .unwrap();
        let (queue, serve) = MergeQueue::new(QueueParts {
            repo_root: root.clone(),
            integration: Integration::resolve(&root, Some("main"), RUN_ID).unwrap(),
            slots,
            setup: Arc::new(Setup::new(&crate::config::Config::default())),
            remote: None,
            verify: Some((
                format!("git rev-parse HEAD >> '{}'; sh check.sh", log.display()),
                Duration::from_secs(60),
            )),
            batch: 8,
            parallel,
            first_slot: 1,
            run_id: RUN_ID.into(),
            pid_dir: dir.path().to_owned(),
            events,
            stop,
        });
        let waiting: Vec<_> = (0..8u32)
            .map(|n| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    queue
                        .land(n, &format!("hew/t{n}"), format!("Merge t{n}"))
                        .await
                })
            })
            .collect();
        // All eight wait before the queue takes any: one batch.
        while queue.waiting.load(Ordering::SeqCst) < 8 {
            tokio::task::yield_now().await;
        }
        tokio::spawn(serve);
        let mut verdicts = Vec::new();
        for w in waiting {
            verdicts.push(w.await.unwrap().verdict);
        }

        let tip = repo.revparse_single("main").unwrap().id().to_string();
        for (n, verdict) in verdicts.iter().enumerate() {
            let on_main = repo
                .revparse_single(&format!("main:callers/t{n}.txt"))
                .is_ok();
            if CULPRITS.contains(&n) {
                assert!(
                    matches!(verdict, Verdict::VerifyFailed { .. }),
                    "t{n}: {verdict:?}"
                );
                assert!(!on_main, "culprit t{n} landed");
            } else {
                assert!(
                    matches!(verdict, Verdict::Landed { .. }),
                    "t{n}: {verdict:?}"
                );
                assert!(on_main, "t{n} did not land");
            }
        }
        // Every commit main pointed at was tested, and passed; so does every merge on its
        // first-parent line.
        let tested = std::fs::read_to_string(&log).unwrap();
        let reflog = repo.reflog("refs/heads/main").unwrap();
        let moves: Vec<String> = reflog
            .iter()
            .map(|e| e.id_new().to_string())
            .take_while(|id| *id != base)
            .collect();
        assert!(!moves.is_empty());
        for commit in &moves {
            assert!(
                tested.lines().any(|l| l == commit),
                "main moved to {commit} untested"
            );
        }
        let mut walk = repo.revwalk().unwrap();
        walk.push(repo.revparse_single(&tip).unwrap().id()).unwrap();
        walk.hide(repo.revparse_single(&base).unwrap().id())
            .unwrap();
        walk.simplify_first_parent().unwrap();
        assert_eq!(walk.count(), 6, "one merge commit per task that landed");
        let (mut rounds, mut bisecting) = (0, 0);
        while let Ok(event) = seen.try_recv() {
            if let RunEvent::MergeTesting { bisecting: b, .. } = event {
                rounds += 1;
                bisecting += usize::from(b);
            }
        }
        Batch {
            verdicts,
            tests: tested.lines().count(),
            rounds,
            bisecting,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_test_at_a_time_finds_two_culprits_in_a_batch_of_eight_by_halving() {
        let batch = batch_of_eight(1).await;
        assert_eq!(batch.verdicts.len(), 8);
        // The eight fail; halving finds t2 in 3 more tests (t0-t1 land), the five after
        // it fail, t5 is found in 2 more (t3-t4 land), and t6-t7 pass: 8 tests, where
        // testing each alone takes 8 with no batch ever passing at once.
        assert_eq!(batch.tests, 8);
        assert_eq!((batch.rounds, batch.bisecting), (8, 5));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn parallel_tests_find_the_culprits_of_a_batch_of_eight_in_four_rounds() {
        let batch = batch_of_eight(4).await;
        assert_eq!(batch.verdicts.len(), 8);
        // Prefixes 2, 4, 6, 8 at once: t2 is in 3-4, found by one more test; then the
        // five after it, four prefixes at once, give t5 at once; then t6-t7.
        assert_eq!(batch.rounds, 4);
        assert_eq!(batch.tests, 4 + 1 + 4 + 2);
    }

    #[test]
    fn probes_spread_over_what_is_unknown() {
        assert_eq!(probes(0, None, 8, 1), [8]);
        assert_eq!(probes(0, None, 8, 4), [2, 4, 6, 8]);
        assert_eq!(probes(2, None, 3, 4), [3]);
        assert_eq!(probes(0, Some(8), 8, 1), [4]);
        assert_eq!(probes(2, Some(8), 8, 2), [4, 6]);
        assert_eq!(probes(2, Some(4), 8, 4), [3]);
        assert_eq!(probes(0, None, 5, 4), [2, 3, 4, 5]);
    }
}
