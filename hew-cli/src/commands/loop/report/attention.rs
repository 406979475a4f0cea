//! What in a run needs a person, each with the command that addresses it.
//!
//! A task needs attention when its last iteration in the run did not close it: a task
//! that failed once and then landed on a retry is fine. Its entry says why (the error,
//! the verify command's last line, or what the outcome means) and points at the agent's
//! own account (`hew loop logs`), or, for a task whose retries are used up, at the label
//! to remove. Work that waits outside its target is named too: branches kept with an
//! agent's unmerged commits (still unmerged, as git says now) and a run branch that a
//! dirty checkout diverted the merges to, with the same commands `hew loop summary` and
//! `hew doctor` give.

use std::collections::BTreeMap;

use hew_core::diverted::Unlanded;
use hew_core::records::{IterRecord, Outcome, RunRecord};
use hew_core::retry::EXHAUSTED_LABEL;

use super::IterRow;
use crate::commands::r#loop::summary::KeptWork;

/// One thing that needs a person.
#[derive(Debug, Clone)]
pub enum Attention {
    /// A task whose last iteration did not close it (and may be retried).
    Failed {
        iter: u32,
        task_id: String,
        title: String,
        outcome: Outcome,
        reason: String,
        command: String,
    },
    /// A task hew will not try again until its label is removed.
    Exhausted {
        iter: u32,
        task_id: String,
        title: String,
        reason: String,
        command: String,
    },
    /// A branch with an agent's commits that its target lacks.
    Kept(KeptWork),
    /// Merges the run diverted to its own branch.
    Diverted(Unlanded),
}

/// Why an iteration did not close its task, in one line; `None` when it did.
pub fn reason(it: &IterRecord) -> Option<String> {
    if it.outcome == Outcome::Closed {
        return None;
    }
    let last_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_owned)
    };
    let verify =
        it.verify
            .as_ref()
            .filter(|v| !v.passed)
            .map(|v| match last_line(&v.output_tail) {
                Some(line) => format!("`{}` failed: {line}", v.command),
                None => format!("`{}` failed", v.command),
            });
    let error = it
        .error
        .as_deref()
        .and_then(|e| e.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(str::to_owned);
    let class = it
        .error_class
        .map(|c| format!("agent failed ({})", c.as_str()));
    Some(
        error
            .or(verify)
            .or(class)
            .unwrap_or_else(|| meaning(it.outcome).to_owned()),
    )
}

fn meaning(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Closed => "closed",
        Outcome::NoChange => "the agent made no commit and left the task open",
        Outcome::VerifyFailed => "the verify command failed",
        Outcome::MergeConflict => "the work did not merge cleanly",
        Outcome::AgentFailed => "the agent failed",
        Outcome::TimedOut => "the agent ran past loop.agent.timeout",
        Outcome::Cancelled => "the run stopped while the agent worked",
    }
}

/// Everything in the run that needs a person: tasks first (by iteration), then kept
/// branches, then diverted work.
pub fn needs_attention(
    run: &RunRecord,
    iters: &[IterRow],
    kept: Vec<KeptWork>,
    unlanded: Option<Unlanded>,
    tracker: &str,
) -> Vec<Attention> {
    let mut last: BTreeMap<&str, &IterRow> = BTreeMap::new();
    for it in iters {
        last.insert(&it.task_id, it);
    }
    let mut tasks: Vec<&IterRow> = last
        .into_values()
        .filter(|it| it.outcome != Outcome::Closed)
        .collect();
    tasks.sort_by_key(|it| it.number);
    let mut out: Vec<Attention> = tasks
        .into_iter()
        .map(|it| {
            let reason = it
                .reason
                .clone()
                .unwrap_or_else(|| meaning(it.outcome).to_owned());
            if it.exhausted {
                Attention::Exhausted {
                    iter: it.number,
                    task_id: it.task_id.clone(),
                    title: it.title.clone(),
                    reason,
                    command: format!("{tracker} label remove {} {EXHAUSTED_LABEL}", it.task_id),
                }
            } else {
                Attention::Failed {
                    iter: it.number,
                    task_id: it.task_id.clone(),
                    title: it.title.clone(),
                    outcome: it.outcome,
                    reason,
                    command: format!("hew loop logs --run-id {} --iter {}", run.run_id, it.number),
                }
            }
        })
        .collect();
    out.extend(kept.into_iter().map(Attention::Kept));
    out.extend(unlanded.map(Attention::Diverted));
    out
}
