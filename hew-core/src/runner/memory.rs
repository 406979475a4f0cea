//! An in-memory tracker for the scheduler's tests: tasks with priorities, dependencies,
//! labels and assignees, claims that only one actor wins, and a log of every call, so a
//! test can count `ready` calls and claims and check the tracker's state at the end. The
//! tracker contract itself is tested against the real `br`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::tracker::{ReadyQuery, Task, TaskId, Tracker, TrackerError};

/// One task as the memory holds it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub task: Task,
    /// Ids that must be closed before this one is ready.
    pub blocked_by: Vec<String>,
    pub comments: Vec<String>,
}

#[derive(Default)]
struct State {
    tasks: BTreeMap<String, Entry>,
    calls: Vec<String>,
    /// Fail every `ready` call from the n-th on (counted from 1).
    fail_ready_from: Option<usize>,
    /// A racing claimer: every claim also succeeds for it, just after (a tracker whose
    /// claims double-win under load).
    rival: Option<String>,
    /// Fail every lease write.
    fail_leases: bool,
}

/// The tracker. Cheap to clone; clones share the state.
#[derive(Clone, Default)]
pub(crate) struct Memory {
    state: Arc<Mutex<State>>,
}

impl Memory {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds open task `id` at priority `priority`, blocked by `blocked_by`.
    pub(crate) fn add(&self, id: &str, priority: u8, blocked_by: &[&str]) {
        let task = Task {
            id: id.to_owned(),
            title: format!("Task {id}"),
            priority: Some(priority),
            issue_type: "task".into(),
            status: "open".into(),
            labels: Some(Vec::new()),
            ..Task::default()
        };
        let entry = Entry {
            task,
            blocked_by: blocked_by.iter().map(|s| (*s).to_owned()).collect(),
            comments: Vec::new(),
        };
        self.state().tasks.insert(id.to_owned(), entry);
    }

    /// Leaves `actor` as the assignee of open task `id`, as `br reopen` does.
    pub(crate) fn assign(&self, id: &str, actor: &str) {
        if let Some(e) = self.state().tasks.get_mut(id) {
            e.task.assignee = Some(actor.to_owned());
        }
    }

    /// Task `id` as it is now.
    pub(crate) fn get(&self, id: &str) -> Entry {
        self.state().tasks[id].clone()
    }

    /// Every call made, in order: `ready`, `claim <id>`, `close <id>`, ...
    pub(crate) fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// How many calls start with `verb`.
    pub(crate) fn count(&self, verb: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.split(' ').next() == Some(verb))
            .count()
    }

    /// Every `ready` call from the `n`-th on fails as a tracker that went away would.
    pub(crate) fn fail_ready_from(&self, n: usize) {
        self.state().fail_ready_from = Some(n);
    }

    /// Every claim double-wins: `actor`'s claim lands just after it, and the tracker shows
    /// `actor` as the holder.
    pub(crate) fn rival(&self, actor: &str) {
        self.state().rival = Some(actor.to_owned());
    }

    /// Every lease write fails as a tracker that cannot be reached would (or, with
    /// `false`, works again).
    pub(crate) fn fail_leases(&self, fail: bool) {
        self.state().fail_leases = fail;
    }

    /// Leaves task `id` in progress, held by `actor` with `labels`, as another runner
    /// would.
    pub(crate) fn hold(&self, id: &str, actor: &str, labels: &[&str]) {
        if let Some(e) = self.state().tasks.get_mut(id) {
            e.task.status = "in_progress".into();
            e.task.assignee = Some(actor.to_owned());
            e.task.labels = Some(labels.iter().map(|l| (*l).to_owned()).collect());
        }
    }

    fn log(&self, call: String) -> usize {
        let mut state = self.state();
        state.calls.push(call);
        state.calls.len()
    }

    fn with<T>(
        &self,
        id: &TaskId,
        f: impl FnOnce(&mut Entry) -> Result<T, TrackerError>,
    ) -> Result<T, TrackerError> {
        let mut state = self.state();
        match state.tasks.get_mut(id.as_str()) {
            Some(entry) => f(entry),
            None => Err(TrackerError::NotFound {
                id: id.to_string(),
                command: "memory".into(),
                detail: "no such task".into(),
            }),
        }
    }
}

impl Tracker for Memory {
    async fn ready(&self, query: &ReadyQuery) -> Result<Vec<Task>, TrackerError> {
        self.log("ready".into());
        let state = self.state();
        let n = state.calls.iter().filter(|c| *c == "ready").count();
        if state.fail_ready_from.is_some_and(|from| n >= from) {
            return Err(TrackerError::Missing {
                program: "memory".into(),
            });
        }
        let closed = |id: &String| {
            state
                .tasks
                .get(id)
                .is_some_and(|e| e.task.status == "closed")
        };
        let mut ready: Vec<Task> = state
            .tasks
            .values()
            // bd and br list an open task whoever it names as assignee.
            .filter(|e| e.task.status == "open")
            .filter(|e| e.blocked_by.iter().all(closed))
            .map(|e| e.task.clone())
            .collect();
        ready.sort_by_key(|t| (t.priority, t.id.clone()));
        ready.truncate(query.limit);
        Ok(ready)
    }

    async fn in_progress(&self) -> Result<Vec<Task>, TrackerError> {
        self.log("in_progress".into());
        let state = self.state();
        Ok(state
            .tasks
            .values()
            .filter(|e| e.task.status == "in_progress")
            .map(|e| e.task.clone())
            .collect())
    }

    async fn show(&self, id: &TaskId) -> Result<Task, TrackerError> {
        self.log(format!("show {id}"));
        self.with(id, |e| Ok(e.task.clone()))
    }

    async fn claim(&self, id: &TaskId, actor: &str) -> Result<Task, TrackerError> {
        self.log(format!("claim {id}"));
        self.with(id, |e| {
            if e.task.status != "open" || e.task.assignee.is_some() {
                return Err(TrackerError::AlreadyClaimed {
                    id: id.to_string(),
                    command: "memory".into(),
                    detail: "held".into(),
                });
            }
            e.task.status = "in_progress".into();
            e.task.assignee = Some(actor.to_owned());
            Ok(e.task.clone())
        })
        .inspect(|_| {
            let rival = self.state().rival.clone();
            if let Some(rival) = rival {
                self.assign(id.as_str(), &rival);
            }
        })
    }

    async fn close(&self, id: &TaskId, _reason: &str) -> Result<(), TrackerError> {
        self.log(format!("close {id}"));
        self.with(id, |e| {
            e.task.status = "closed".into();
            Ok(())
        })
    }

    async fn release(&self, id: &TaskId) -> Result<(), TrackerError> {
        self.log(format!("release {id}"));
        self.with(id, |e| {
            e.task.status = "open".into();
            e.task.assignee = None;
            Ok(())
        })
    }

    async fn add_label(&self, id: &TaskId, label: &str) -> Result<(), TrackerError> {
        self.log(format!("label {id} {label}"));
        self.with(id, |e| {
            e.task.labels.get_or_insert_default().push(label.to_owned());
            Ok(())
        })
    }

    async fn remove_label(&self, id: &TaskId, label: &str) -> Result<(), TrackerError> {
        self.log(format!("unlabel {id} {label}"));
        self.with(id, |e| {
            e.task.labels.get_or_insert_default().retain(|l| l != label);
            Ok(())
        })
    }

    async fn update_lease(
        &self,
        id: &TaskId,
        add: &str,
        remove: &[String],
        assignee: Option<&str>,
    ) -> Result<(), TrackerError> {
        self.log(format!("lease {id} {add}"));
        if self.state().fail_leases {
            return Err(TrackerError::Missing {
                program: "memory".into(),
            });
        }
        self.with(id, |e| {
            let labels = e.task.labels.get_or_insert_default();
            labels.retain(|l| !remove.contains(l));
            labels.push(add.to_owned());
            if let Some(actor) = assignee {
                e.task.assignee = Some(actor.to_owned());
            }
            Ok(())
        })
    }

    async fn add_comment(&self, id: &TaskId, text: &str) -> Result<(), TrackerError> {
        self.log(format!("comment {id}"));
        self.with(id, |e| {
            e.comments.push(text.to_owned());
            Ok(())
        })
    }
}
