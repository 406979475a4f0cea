//! Deciding an iteration's outcome from what is known when the agent has ended.
//!
//! Pure: the worker gathers the facts (how the agent ended, its commits, the verify result,
//! whether it closed the task itself) and this decides whether to merge, and if not, which
//! outcome to record. The merge then turns `Merge` into `closed` or `merge_conflict`.

use crate::agent::{AgentFailure, EndReason};
use crate::records::Outcome;

/// What the worker saw after the agent ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Observed<'a> {
    /// How the agent process ended.
    pub ended: EndReason,
    /// An error result or a non-zero exit.
    pub failure: Option<&'a AgentFailure>,
    /// Commits on the task's branch.
    pub commits: usize,
    /// `Some(passed)` when the verify command ran.
    pub verify_passed: Option<bool>,
    /// The tracker shows the task closed (by the agent).
    pub agent_closed: bool,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Merge the branch; the merge decides between `closed` and `merge_conflict`.
    Merge,
    /// Record this outcome without merging.
    Finish(Outcome),
}

impl Observed<'_> {
    /// Whether the verify command should run: the agent finished cleanly with commits.
    pub(crate) fn wants_verify(&self) -> bool {
        self.ended == EndReason::Exited && self.failure.is_none() && self.commits > 0
    }

    /// The decision, first match wins: stopped, timed out, failed, nothing committed,
    /// verify failed, else merge.
    pub(crate) fn decide(&self) -> Decision {
        use Decision::{Finish, Merge};
        match self.ended {
            EndReason::Cancelled => return Finish(Outcome::Cancelled),
            EndReason::TimedOut => return Finish(Outcome::TimedOut),
            // Stopped with a network failure: decided as a failure below.
            EndReason::Exited | EndReason::Unreachable => {}
        }
        if self.failure.is_some() {
            return Finish(Outcome::AgentFailed);
        }
        if self.commits == 0 {
            return Finish(if self.agent_closed {
                Outcome::Closed
            } else {
                Outcome::NoChange
            });
        }
        if self.verify_passed == Some(false) {
            return Finish(Outcome::VerifyFailed);
        }
        Merge
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ErrorClass;

    fn clean(commits: usize) -> Observed<'static> {
        Observed {
            ended: EndReason::Exited,
            failure: None,
            commits,
            verify_passed: None,
            agent_closed: false,
        }
    }

    #[test]
    fn commits_from_a_clean_exit_are_merged() {
        assert_eq!(clean(2).decide(), Decision::Merge);
        assert!(clean(2).wants_verify());
    }

    #[test]
    fn no_commits_is_no_change_unless_the_agent_closed_the_task() {
        assert_eq!(clean(0).decide(), Decision::Finish(Outcome::NoChange));
        assert!(!clean(0).wants_verify());
        let closed = Observed {
            agent_closed: true,
            ..clean(0)
        };
        assert_eq!(closed.decide(), Decision::Finish(Outcome::Closed));
    }

    #[test]
    fn a_failed_verify_is_not_merged() {
        let o = Observed {
            verify_passed: Some(false),
            ..clean(1)
        };
        assert_eq!(o.decide(), Decision::Finish(Outcome::VerifyFailed));
        let o = Observed {
            verify_passed: Some(true),
            ..clean(1)
        };
        assert_eq!(o.decide(), Decision::Merge);
    }

    #[test]
    fn failures_win_over_commits_and_closing() {
        let failure = AgentFailure {
            class: ErrorClass::Server,
            message: "500".into(),
            environment: None,
        };
        let o = Observed {
            failure: Some(&failure),
            agent_closed: true,
            ..clean(3)
        };
        assert_eq!(o.decide(), Decision::Finish(Outcome::AgentFailed));
        assert!(!o.wants_verify());
    }

    #[test]
    fn a_stopped_agent_is_never_merged() {
        for (ended, outcome) in [
            (EndReason::TimedOut, Outcome::TimedOut),
            (EndReason::Cancelled, Outcome::Cancelled),
        ] {
            let o = Observed {
                ended,
                agent_closed: true,
                ..clean(1)
            };
            assert_eq!(o.decide(), Decision::Finish(outcome));
            assert!(!o.wants_verify());
        }
    }
}
