//! Which ready tasks the loop would take, in order, and the model each would get.
//!
//! One `ready` call, then hew's own filters: ids that are unsafe to use (see
//! [`TaskId`]), task types the config skips (`loop.skip_types`, epics by default). Tasks
//! whose record came without labels get them from `show`, because a `model:` label changes
//! the route. `hew loop --dry-run` prints this; the scheduler uses the same selection.

use crate::config::LoopConfig;
use crate::model::{Rejected, Resolved, Rule, resolve_model, route_model};
use crate::retry::{attempt_of, is_exhausted};
use crate::tracker::{InvalidId, ReadyQuery, Task, TaskId, Tracker, TrackerError};

/// What narrows the tasks a run takes, beyond what the tracker says is ready.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks with all of these labels (`--label`).
    pub labels: Vec<String>,
    /// Only tasks of this type (`--type`).
    pub issue_type: Option<String>,
    /// Only children of this task (`--parent`).
    pub parent: Option<TaskId>,
    /// One model for every task (`--model`), recorded with rule `flag`.
    pub model: Option<String>,
}

/// A task the loop would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    /// The validated id.
    pub id: TaskId,
    /// The tracker's record, labels filled in.
    pub task: Task,
    /// The model it would run on; `None` is the agent's default.
    pub model: Option<String>,
    /// Why that model.
    pub rule: Rule,
    /// The attempt it would be: one more than its `hew:retry-N` labels.
    pub attempt: u32,
    /// Model names the routing rules offered and refused on the way to `model`.
    pub rejected: Vec<Rejected>,
}

/// A ready task the loop would not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTask {
    /// The id as the tracker gave it (possibly hostile: render it escaped).
    pub raw_id: String,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// Why a ready task is not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Its type is in `loop.skip_types`.
    SkippedType(String),
    /// Its id cannot be used safely as an argument, path or branch name.
    InvalidId(InvalidId),
    /// It carries `hew:exhausted`: retries used up, until a person removes the label.
    Exhausted,
}

/// The result of planning: tasks in the order the loop takes them, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Tasks to run, in order.
    pub tasks: Vec<PlannedTask>,
    /// Ready tasks left out.
    pub skipped: Vec<SkippedTask>,
}

/// Asks `tracker` for up to `limit` ready tasks and selects those the loop would run.
pub async fn plan<T: Tracker>(
    tracker: &T,
    cfg: &LoopConfig,
    filter: &TaskFilter,
    limit: usize,
) -> Result<Plan, TrackerError> {
    let query = ReadyQuery {
        limit,
        labels: filter.labels.clone(),
        issue_type: filter.issue_type.clone(),
        parent: filter.parent.clone(),
    };
    let mut plan = Plan::default();
    for mut task in tracker.ready(&query).await? {
        let id = match TaskId::parse(&task.id) {
            Ok(id) => id,
            Err(e) => {
                plan.skipped.push(SkippedTask {
                    raw_id: task.id,
                    reason: SkipReason::InvalidId(e),
                });
                continue;
            }
        };
        if cfg.skip_types.contains(&task.issue_type) {
            let reason = SkipReason::SkippedType(task.issue_type.clone());
            plan.skipped.push(SkippedTask {
                raw_id: task.id,
                reason,
            });
            continue;
        }
        if task.labels.is_none() {
            task.labels = tracker.show(&id).await?.labels.or(Some(Vec::new()));
        }
        if is_exhausted(task.labels()) {
            plan.skipped.push(SkippedTask {
                raw_id: task.id,
                reason: SkipReason::Exhausted,
            });
            continue;
        }
        let attempt = attempt_of(task.labels());
        let (model, rule) = choose_model(&task, cfg, filter.model.as_deref(), attempt);
        let rejected = match filter.model {
            Some(_) => Vec::new(),
            None => route_model(&task, &cfg.model).rejected,
        };
        plan.tasks.push(PlannedTask {
            rejected,
            id,
            task,
            model,
            rule,
            attempt,
        });
    }
    Ok(plan)
}

/// The model for `task` on `attempt`: the run's `--model` if given, else the routing
/// rules; a retry (attempt 2 and up) climbs `loop.model.escalate` one step per earlier
/// attempt, from the routed model (or from the bottom of the ladder if the routed model is
/// not on it), and stays at the top.
pub fn choose_model(
    task: &Task,
    cfg: &LoopConfig,
    forced: Option<&str>,
    attempt: u32,
) -> (Option<String>, Rule) {
    if let Some(m) = forced.map(str::trim).filter(|m| !m.is_empty()) {
        return (Some(m.to_owned()), Rule::Flag);
    }
    let routed = match resolve_model(task, &cfg.model) {
        Some(Resolved { model, rule }) => (Some(model), rule),
        None => (None, Rule::None),
    };
    let ladder: Vec<&str> = cfg
        .model
        .escalate
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    if attempt < 2 || ladder.is_empty() {
        return routed;
    }
    let mut at = routed
        .0
        .as_deref()
        .and_then(|m| ladder.iter().position(|l| *l == m));
    for _ in 1..attempt {
        at = Some(at.map_or(0, |i| (i + 1).min(ladder.len() - 1)));
    }
    match at {
        Some(i) if Some(ladder[i]) != routed.0.as_deref() => {
            (Some(ladder[i].to_owned()), Rule::Escalate)
        }
        _ => routed,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::Priority;

    /// An in-memory tracker for the selection logic only; the tracker contract itself is
    /// tested against the real `br`.
    struct Memory {
        ready: Vec<Task>,
        shown: Mutex<Vec<String>>,
        labels_on_show: Vec<String>,
    }

    impl Tracker for Memory {
        async fn ready(&self, q: &ReadyQuery) -> Result<Vec<Task>, TrackerError> {
            Ok(self.ready.iter().take(q.limit).cloned().collect())
        }
        async fn in_progress(&self) -> Result<Vec<Task>, TrackerError> {
            unreachable!("planning never lists claimed tasks")
        }
        async fn show(&self, id: &TaskId) -> Result<Task, TrackerError> {
            self.shown.lock().unwrap().push(id.to_string());
            let mut t = self
                .ready
                .iter()
                .find(|t| t.id == id.as_str())
                .cloned()
                .unwrap();
            t.labels = Some(self.labels_on_show.clone());
            Ok(t)
        }
        async fn claim(&self, _: &TaskId, _: &str) -> Result<Task, TrackerError> {
            unreachable!("planning never claims")
        }
        async fn close(&self, _: &TaskId, _: &str) -> Result<(), TrackerError> {
            unreachable!("planning never closes")
        }
        async fn release(&self, _: &TaskId) -> Result<(), TrackerError> {
            unreachable!("planning never releases")
        }
        async fn add_label(&self, _: &TaskId, _: &str) -> Result<(), TrackerError> {
            unreachable!("planning never labels")
        }
        async fn remove_label(&self, _: &TaskId, _: &str) -> Result<(), TrackerError> {
            unreachable!("planning never labels")
        }
        async fn add_comment(&self, _: &TaskId, _: &str) -> Result<(), TrackerError> {
            unreachable!("planning never comments")
        }
        async fn update_lease(
            &self,
            _: &TaskId,
            _: &str,
            _: &[String],
            _: Option<&str>,
        ) -> Result<(), TrackerError> {
            unreachable!("planning holds no lease")
        }
    }

    fn task(id: &str, issue_type: &str, labels: Option<&[&str]>) -> Task {
        Task {
            id: id.into(),
            issue_type: issue_type.into(),
            priority: Some(1),
            labels: labels.map(|l| l.iter().map(|s| s.to_string()).collect()),
            ..Task::default()
        }
    }

    fn run(m: &Memory, cfg: &LoopConfig, filter: &TaskFilter) -> Plan {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(plan(m, cfg, filter, 100)).unwrap()
    }

    fn memory(ready: Vec<Task>) -> Memory {
        Memory {
            ready,
            shown: Mutex::default(),
            labels_on_show: vec!["model:opus".into()],
        }
    }

    #[test]
    fn keeps_tracker_order_and_skips_configured_types() {
        let m = memory(vec![
            task("d-1", "task", Some(&[])),
            task("d-2", "epic", Some(&[])),
            task("d-3", "bug", Some(&[])),
        ]);
        let p = run(&m, &LoopConfig::default(), &TaskFilter::default());
        let ids: Vec<_> = p.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["d-1", "d-3"]);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].reason, SkipReason::SkippedType("epic".into()));
    }

    #[test]
    fn hostile_ids_are_skipped_not_run() {
        let m = memory(vec![
            task("-rf", "task", Some(&[])),
            task("../x", "task", Some(&[])),
        ]);
        let p = run(&m, &LoopConfig::default(), &TaskFilter::default());
        assert!(p.tasks.is_empty());
        assert!(
            p.skipped
                .iter()
                .all(|s| matches!(s.reason, SkipReason::InvalidId(_)))
        );
        assert!(
            m.shown.lock().unwrap().is_empty(),
            "an invalid id must never reach the tracker"
        );
    }

    #[test]
    fn missing_labels_are_filled_in_before_routing() {
        let m = memory(vec![
            task("d-1", "task", None),
            task("d-2", "task", Some(&[])),
        ]);
        let p = run(&m, &LoopConfig::default(), &TaskFilter::default());
        assert_eq!(
            *m.shown.lock().unwrap(),
            ["d-1"],
            "only the record without labels is shown"
        );
        assert_eq!(p.tasks[0].model.as_deref(), Some("opus"));
        assert_eq!(p.tasks[0].rule, Rule::Label);
        assert_eq!(p.tasks[1].rule, Rule::None);
    }

    #[test]
    fn exhausted_tasks_are_skipped_and_retries_know_their_attempt() {
        let m = memory(vec![
            task("d-1", "task", Some(&["hew:exhausted", "hew:retry-2"])),
            task("d-2", "task", Some(&["hew:retry-1"])),
        ]);
        let p = run(&m, &LoopConfig::default(), &TaskFilter::default());
        assert_eq!(p.skipped[0].reason, SkipReason::Exhausted);
        assert_eq!((p.tasks[0].id.as_str(), p.tasks[0].attempt), ("d-2", 2));
    }

    #[test]
    fn retries_climb_the_escalation_ladder_and_stay_at_the_top() {
        let mut cfg = LoopConfig::default();
        cfg.model.default = Some("haiku".into());
        cfg.model.escalate = vec!["sonnet".into(), "opus".into()];
        let t = task("d-1", "task", Some(&[]));
        let pick = |attempt| choose_model(&t, &cfg, None, attempt);
        assert_eq!(pick(1), (Some("haiku".into()), Rule::Default));
        assert_eq!(pick(2), (Some("sonnet".into()), Rule::Escalate));
        assert_eq!(pick(3), (Some("opus".into()), Rule::Escalate));
        assert_eq!(pick(9), (Some("opus".into()), Rule::Escalate));
        // Routed to a rung already: the next one up.
        cfg.model.default = Some("sonnet".into());
        let pick = |attempt| choose_model(&t, &cfg, None, attempt);
        assert_eq!(pick(2), (Some("opus".into()), Rule::Escalate));
        // At the top: nothing to climb, the routing rule stands.
        cfg.model.default = Some("opus".into());
        assert_eq!(
            choose_model(&t, &cfg, None, 3),
            (Some("opus".into()), Rule::Default)
        );
        // --model beats escalation.
        assert_eq!(
            choose_model(&t, &cfg, Some("x"), 3),
            (Some("x".into()), Rule::Flag)
        );
    }

    #[test]
    fn forced_model_overrides_every_rule() {
        let m = memory(vec![task("d-1", "task", Some(&["model:opus"]))]);
        let mut cfg = LoopConfig::default();
        cfg.model.by_priority.insert(Priority::P1, "sonnet".into());
        let filter = TaskFilter {
            model: Some("haiku".into()),
            ..TaskFilter::default()
        };
        let p = run(&m, &cfg, &filter);
        assert_eq!(
            (p.tasks[0].model.as_deref(), p.tasks[0].rule),
            (Some("haiku"), Rule::Flag)
        );
    }
}
