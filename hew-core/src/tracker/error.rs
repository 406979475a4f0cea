//! Typed tracker failures, each carrying the command line and what the tracker said.

use std::time::Duration;

/// A tracker call that did not do what was asked. Every variant names the command hew ran
/// (`command`) so the user can run it by hand, and an excerpt of what the tracker printed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The tracker binary is not installed or not on PATH.
    #[error("tracker `{program}` not found (tracker.command = \"{program}\")")]
    Missing {
        /// The program hew tried to run.
        program: String,
    },
    /// The task does not exist.
    #[error("task `{id}` not found: `{command}` said: {detail}")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The command line.
        command: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// Someone else holds the task (or it is not claimable, e.g. blocked or closed).
    #[error("task `{id}` could not be claimed: {detail}")]
    AlreadyClaimed {
        /// The id asked for.
        id: String,
        /// The command line.
        command: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// The tracker printed something hew cannot read.
    #[error("`{command}` printed output hew cannot read ({reason}): {excerpt}")]
    Malformed {
        /// The command line.
        command: String,
        /// What was wrong with it.
        reason: String,
        /// The start of the output, truncated.
        excerpt: String,
    },
    /// The tracker did not answer in time; it was killed.
    #[error("`{command}` did not finish within {}s and was stopped (tracker.timeout)", after.as_secs_f64())]
    TimedOut {
        /// The command line.
        command: String,
        /// The timeout that fired.
        after: Duration,
    },
    /// The tracker reported an error hew has no better name for.
    #[error("`{command}` failed ({status}): {detail}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status, as text.
        status: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// The tracker could not be started or talked to.
    #[error("failed to run `{command}`: {source}")]
    Io {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
}
