//! Durable retries: attempts are counted on the task itself, with labels, so a restart
//! cannot reset them. After a failed attempt `n` the task gets `hew:retry-n`; past
//! `loop.retry.max` it gets `hew:exhausted` and is skipped until a person removes the
//! label. Deterministic failures (auth, bad request) are not retried at all. A success
//! strips the labels.

use std::time::Duration;

use crate::agent::ErrorClass;
use crate::records::Outcome;

/// Marks a task hew will not try again.
pub const EXHAUSTED_LABEL: &str = "hew:exhausted";
/// Prefix of the per-attempt labels: `hew:retry-1`, `hew:retry-2`, ...
pub const RETRY_PREFIX: &str = "hew:retry-";
/// The label a task gets when its work conflicted on merge.
pub const CONFLICT_LABEL: &str = "hew:conflict";
/// The longest a rate-limited task waits before it is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What happens to a task after an attempt that did not close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Label it `hew:retry-<attempt>`; it may run again after `wait`.
    Retry { label: String, wait: Duration },
    /// Label it `hew:exhausted`, for this reason.
    Exhausted { reason: String },
    /// Not the task's fault (the run was stopped): no label, no attempt counted.
    NotCounted,
}

/// The attempt a task is on: one more than its highest `hew:retry-N` label.
pub(crate) fn attempt_of(labels: &[String]) -> u32 {
    labels
        .iter()
        .filter_map(|l| l.strip_prefix(RETRY_PREFIX)?.parse::<u32>().ok())
        .max()
        .map_or(1, |n| n.saturating_add(1))
}

/// Whether `labels` mark the task exhausted.
pub(crate) fn is_exhausted(labels: &[String]) -> bool {
    labels.iter().any(|l| l == EXHAUSTED_LABEL)
}

/// The labels a success strips: the retry counters and the conflict mark.
pub(crate) fn labels_to_strip(labels: &[String]) -> impl Iterator<Item = &String> {
    labels
        .iter()
        .filter(|l| l.starts_with(RETRY_PREFIX) || *l == CONFLICT_LABEL)
}

/// Decides what a failed `attempt` means for the task. `max` is `loop.retry.max` (retries
/// after the first attempt), `backoff` the base wait after a rate limit, `salt` varies the
/// jitter between tasks.
pub(crate) fn after_failure(
    outcome: Outcome,
    class: Option<ErrorClass>,
    attempt: u32,
    max: u32,
    backoff: Duration,
    salt: u64,
) -> AfterFailure {
    if outcome == Outcome::Cancelled || outcome == Outcome::Closed {
        return AfterFailure::NotCounted;
    }
    if let Some(class @ (ErrorClass::Auth | ErrorClass::BadRequest)) = class {
        let why = if class == ErrorClass::Auth {
            "authentication"
        } else {
            "a bad request"
        };
        return AfterFailure::Exhausted {
            reason: format!("the agent failed with {why}; the same command would fail again"),
        };
    }
    if attempt > max {
        return AfterFailure::Exhausted {
            reason: format!("{attempt} attempts failed (loop.retry.max = {max})"),
        };
    }
    let wait = match class {
        Some(ErrorClass::RateLimit) => rate_limit_wait(backoff, attempt, salt),
        _ => Duration::ZERO,
    };
    AfterFailure::Retry {
        label: format!("{RETRY_PREFIX}{attempt}"),
        wait,
    }
}

/// `backoff × 2^(attempt-1)`, capped at ten minutes, with ±25% jitter so tasks limited
/// together do not retry together.
fn rate_limit_wait(base: Duration, attempt: u32, salt: u64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = doubled.min(MAX_BACKOFF);
    // A cheap deterministic spread in [0.75, 1.25).
    let mixed = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let factor = 0.75 + (mixed % 1000) as f64 / 2000.0;
    capped.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ls: &[&str]) -> Vec<String> {
        ls.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn attempts_follow_retry_labels() {
        assert_eq!(attempt_of(&labels(&[])), 1);
        assert_eq!(attempt_of(&labels(&["hew:retry-1"])), 2);
        assert_eq!(attempt_of(&labels(&["hew:retry-1", "hew:retry-2", "x"])), 3);
        assert_eq!(attempt_of(&labels(&["hew:retry-x", "hew:retry-"])), 1);
    }

    #[test]
    fn failures_are_labelled_until_the_limit_then_exhausted() {
        let d = Duration::from_secs(30);
        for attempt in 1..=2 {
            assert_eq!(
                after_failure(Outcome::AgentFailed, None, attempt, 2, d, 0),
                AfterFailure::Retry {
                    label: format!("hew:retry-{attempt}"),
                    wait: Duration::ZERO
                }
            );
        }
        assert!(matches!(
            after_failure(Outcome::NoChange, None, 3, 2, d, 0),
            AfterFailure::Exhausted { .. }
        ));
        assert!(matches!(
            after_failure(Outcome::TimedOut, None, 1, 0, d, 0),
            AfterFailure::Exhausted { .. }
        ));
    }

    #[test]
    fn deterministic_failures_are_not_retried() {
        for class in [ErrorClass::Auth, ErrorClass::BadRequest] {
            let d = after_failure(Outcome::AgentFailed, Some(class), 1, 5, Duration::ZERO, 0);
            assert!(matches!(d, AfterFailure::Exhausted { .. }), "{class:?}");
        }
    }

    #[test]
    fn cancelled_runs_do_not_count_against_the_task() {
        let d = after_failure(Outcome::Cancelled, None, 9, 0, Duration::ZERO, 0);
        assert_eq!(d, AfterFailure::NotCounted);
    }

    #[test]
    fn rate_limits_back_off_exponentially_with_jitter_and_a_cap() {
        let base = Duration::from_secs(10);
        let wait = |attempt, salt| match after_failure(
            Outcome::AgentFailed,
            Some(ErrorClass::RateLimit),
            attempt,
            99,
            base,
            salt,
        ) {
            AfterFailure::Retry { wait, .. } => wait,
            other => panic!("{other:?}"),
        };
        for salt in 0..50 {
            let w1 = wait(1, salt);
            assert!(
                w1 >= Duration::from_millis(7500) && w1 < Duration::from_millis(12_500),
                "{w1:?}"
            );
            let w3 = wait(3, salt);
            assert!(
                w3 >= Duration::from_secs(30) && w3 < Duration::from_secs(50),
                "{w3:?}"
            );
            assert!(wait(40, salt) < Duration::from_secs(751));
        }
        assert_ne!(wait(1, 1), wait(1, 2), "jitter spreads tasks apart");
    }

    #[test]
    fn success_strips_retry_and_conflict_labels_only() {
        let ls = labels(&[
            "hew:retry-1",
            "hew:conflict",
            "backend",
            "model:opus",
            "hew:exhausted",
        ]);
        let strip: Vec<&String> = labels_to_strip(&ls).collect();
        assert_eq!(strip, ["hew:retry-1", "hew:conflict"]);
    }
}
