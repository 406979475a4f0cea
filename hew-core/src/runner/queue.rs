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
//! - **Red**: the batch is split in halves, the first half tested and landed before the
//!   second, until each task that breaks the build is found alone; it ends
//!   `verify_failed` with the command's output and the commit it was tested at. When a
//!   first half lands green right on top of the tip its failed batch was built on, the
//!   second half is known to fail as it stands: it is split without being tested again
//!   (its tree is the failed batch's).
//!
//! The target never points at a commit that was not tested, and a task is closed only
//! after its work landed. A hew killed mid-test leaves the target where it was: its tasks
//! are released by the next run's recovery, their branches kept. The queue's verify
//! command writes its process group to `iters/queue.pid`, so recovery stops it too.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::RunEvent;
use super::verify::verify;
use crate::agent::Stop;
use crate::records::VerifyResult;
use crate::worktree::{self, Integration, Landing, MergedOnto, Slots, WorktreeError};

/// The slot number of the queue's own worktree (worker slots count from 1).
const QUEUE_SLOT: usize = 0;
/// How often a batch is built again because the target kept moving under it.
const MAX_MOVES: u32 = 5;

/// Where merges go, as tasks read it without waiting for the queue.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// The branch new task branches start from (the target, or the run branch once
    /// diverted).
    pub branch: String,
    /// Why merges go to the run branch, once they do.
    pub diverted: Option<String>,
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
        /// The commit the verify command passed on, when it ran on the merged result.
        tested_at: Option<String>,
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
    /// How long the branch waited before its batch was taken up.
    pub queued: Duration,
}

/// The queue's door: tasks send their branches here.
#[derive(Clone)]
pub(crate) struct MergeQueue {
    tx: mpsc::UnboundedSender<(Entry, Instant)>,
    target: Arc<Mutex<Target>>,
    waiting: Arc<AtomicUsize>,
}

/// What the queue needs to run.
pub(crate) struct QueueParts {
    pub repo_root: PathBuf,
    pub integration: Integration,
    pub slots: Slots,
    /// The verify command on the merged result, and its time limit.
    pub verify: Option<(String, Duration)>,
    pub batch: usize,
    pub run_id: String,
    /// `iters/queue.pid` in the run's records.
    pub pid_file: PathBuf,
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
        let target = Arc::new(Mutex::new(Target {
            branch: parts.integration.branch().to_owned(),
            diverted: None,
        }));
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
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
        };
        let queued = Instant::now();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if self.tx.send((entry, queued)).is_err() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Answer {
                verdict: Verdict::Failed("the merge queue has stopped".into()),
                queued: Duration::ZERO,
            };
        }
        match verdict.await {
            Ok(answer) => answer,
            Err(_) => Answer {
                verdict: Verdict::Failed(
                    "the merge queue stopped before this branch landed".into(),
                ),
                queued: queued.elapsed(),
            },
        }
    }
}

/// Part of a batch, tested (or known) together.
struct Group {
    entries: Vec<Entry>,
    bisecting: bool,
    /// The first half of a failed batch: when it lands as it was built, the half after it
    /// is known to fail.
    first_half: bool,
    /// Set on a second half: the failed batch's result, known to hold when the group is
    /// built on `on` (the tip its first half landed at).
    known: Option<Known>,
}

struct Known {
    result: VerifyResult,
    tested_at: String,
    on: Option<String>,
}

/// An entry merged onto the tip in its group.
struct Merged {
    entry: Entry,
    /// Its merge commit, or the commit before it when it brought nothing new.
    commit: String,
}

struct Worker {
    parts: QueueParts,
    target: Arc<Mutex<Target>>,
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

    /// Lands what can land of `entries`, and answers each.
    async fn land_batch(&mut self, entries: Vec<Entry>) {
        let mut todo = VecDeque::from([Group {
            entries,
            bisecting: false,
            first_half: false,
            known: None,
        }]);
        let mut moves = 0;
        while let Some(mut group) = todo.pop_front() {
            if *self.parts.stop.borrow() == Stop::Now {
                answer_all(group.entries, &Verdict::Stopped);
                continue;
            }
            let into = self.target().branch;
            let onto = match blocking_tip(&self.parts.repo_root, &into).await {
                Ok(onto) => onto,
                Err(e) => {
                    answer_all(group.entries, &Verdict::Failed(e.to_string()));
                    continue;
                }
            };
            let merged = self.merge_in_turn(&onto, group.entries).await;
            let Some(last) = merged.last().map(|m| m.commit.clone()) else {
                continue;
            };
            let known = group
                .known
                .take()
                .filter(|k| k.on.as_deref() == Some(onto.as_str()));
            let red = match known {
                Some(k) => Some((k.result, k.tested_at)),
                None => match self.test(&merged, &last, group.bisecting).await {
                    Tested::Passed => None,
                    Tested::Failed(result) => Some((result, last.clone())),
                    Tested::Stopped => {
                        answer_all(merged.into_iter().map(|m| m.entry), &Verdict::Stopped);
                        continue;
                    }
                },
            };
            if let Some((result, tested_at)) = red {
                let mut entries: Vec<Entry> = merged.into_iter().map(|m| m.entry).collect();
                if entries.len() == 1 {
                    answer_all(
                        entries,
                        &Verdict::VerifyFailed {
                            result,
                            onto,
                            tested_at,
                        },
                    );
                    continue;
                }
                let second = entries.split_off(entries.len() / 2);
                todo.push_front(Group {
                    entries: second,
                    bisecting: true,
                    first_half: false,
                    known: Some(Known {
                        result,
                        tested_at,
                        on: None,
                    }),
                });
                todo.push_front(Group {
                    entries,
                    bisecting: true,
                    first_half: true,
                    known: None,
                });
                continue;
            }
            match self.land(&onto, &last).await {
                Ok(Landing::Landed { into }) => {
                    moves = 0;
                    if group.first_half
                        && let Some(known) = todo.front_mut().and_then(|g| g.known.as_mut())
                    {
                        known.on = Some(last.clone());
                    }
                    let tested_at = self.parts.verify.is_some().then(|| last.clone());
                    let _ = self.parts.events.send(RunEvent::MergeLanded {
                        iters: merged.iter().map(|m| m.entry.iter).collect(),
                        commit: last.clone(),
                        into: into.clone(),
                    });
                    for m in merged {
                        let verdict = if m.commit == onto {
                            Verdict::UpToDate {
                                commit: onto.clone(),
                                into: into.clone(),
                            }
                        } else {
                            Verdict::Landed {
                                commit: m.commit,
                                into: into.clone(),
                                tested_at: tested_at.clone(),
                            }
                        };
                        m.entry.answer(verdict);
                    }
                }
                Ok(Landing::Moved) if moves < MAX_MOVES => {
                    // Built and tested again on the new tip: what was known is not.
                    moves += 1;
                    todo.push_front(Group {
                        entries: merged.into_iter().map(|m| m.entry).collect(),
                        bisecting: group.bisecting,
                        first_half: false,
                        known: None,
                    });
                }
                Ok(Landing::Moved) => {
                    let e = WorktreeError::TargetKeptMoving {
                        branch: into,
                        attempts: moves,
                    };
                    answer_all(
                        merged.into_iter().map(|m| m.entry),
                        &Verdict::Failed(e.to_string()),
                    );
                }
                Err(e) => {
                    answer_all(
                        merged.into_iter().map(|m| m.entry),
                        &Verdict::Failed(e.to_string()),
                    );
                }
            }
        }
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

    /// Runs the verify command on `commit` in the queue's worktree, when there is one to
    /// run; a hard stop of the run cancels it.
    async fn test(&self, merged: &[Merged], commit: &str, bisecting: bool) -> Tested {
        let Some((command, timeout)) = self.parts.verify.clone() else {
            return Tested::Passed;
        };
        let _ = self.parts.events.send(RunEvent::MergeTesting {
            iters: merged.iter().map(|m| m.entry.iter).collect(),
            commit: commit.to_owned(),
            bisecting,
            waiting: self.waiting.load(Ordering::SeqCst),
        });
        let (slots, at) = (self.parts.slots.clone(), commit.to_owned());
        let path = match blocking(move || slots.check_out_commit(QUEUE_SLOT, &at)).await {
            Ok(path) => path,
            Err(e) => {
                return Tested::Failed(VerifyResult {
                    command,
                    passed: false,
                    exit_code: None,
                    output_tail: format!("could not check out {commit} to test it: {e}"),
                });
            }
        };
        let env = [("HEW_RUN_ID", self.parts.run_id.as_str())];
        let run = verify(&command, &path, timeout, &env, Some(&self.parts.pid_file));
        let mut stop = self.parts.stop.clone();
        tokio::select! {
            result = run => if result.passed { Tested::Passed } else { Tested::Failed(result) },
            _ = stop.wait_for(|s| *s == Stop::Now) => Tested::Stopped,
        }
    }

    /// Moves the target from `onto` to `commit`.
    async fn land(&mut self, onto: &str, commit: &str) -> Result<Landing, WorktreeError> {
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
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = Target {
            branch: self.parts.integration.branch().to_owned(),
            diverted: self.parts.integration.diverted().map(str::to_owned),
        };
        landed
    }

    fn target(&self) -> Target {
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

enum Tested {
    Passed,
    Failed(VerifyResult),
    Stopped,
}

impl Entry {
    fn answer(self, verdict: Verdict) {
        let _ = self.reply.send(Answer {
            verdict,
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

/// Runs blocking git work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
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

    #[tokio::test(flavor = "current_thread")]
    async fn bisection_finds_two_culprits_in_a_batch_of_eight_and_lands_the_other_six() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        let repo = project(&root);
        let base = repo.revparse_single("main").unwrap().id().to_string();
        let culprits = [2, 5];
        for n in 0..8 {
            let call = if culprits.contains(&n) {
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
            verify: Some((
                format!("git rev-parse HEAD >> '{}'; sh check.sh", log.display()),
                Duration::from_secs(60),
            )),
            batch: 8,
            run_id: RUN_ID.into(),
            pid_file: dir.path().join("queue.pid"),
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
            if culprits.contains(&n) {
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
        // One test of the eight, then the halves: 9 runs where testing each alone takes 8
        // and gives no batch a chance; the second culprit is known without a test of its own.
        assert_eq!(tested.lines().count(), 9, "{tested}");
        let mut bisecting = 0;
        while let Ok(event) = seen.try_recv() {
            if let RunEvent::MergeTesting {
                bisecting: true, ..
            } = event
            {
                bisecting += 1;
            }
        }
        assert_eq!(
            bisecting, 8,
            "every test after the first is a bisection step"
        );
    }
}
