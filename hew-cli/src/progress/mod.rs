//! Live progress of `hew loop`, drawn from the runner's events.
//!
//! The runner never prints; it sends [`RunEvent`](hew_core::runner::RunEvent)s and this
//! module renders them. The work is split so it can be tested without a terminal or a
//! clock: [`state`] folds events (each with the time it arrived) into what the display
//! knows and says which whole lines to print; [`format`] lays lines out to a width;
//! [`terminal`] is the only part that draws, with indicatif, and reads the clock.
//!
//! Three ways to show a run ([`Mode`]): live lines (one per running agent and an overall
//! line, finished iterations printed above them as whole lines) on a terminal; plain
//! whole lines when stdout is not a terminal or with `--quiet`; JSON lines (`--json`).

mod format;
mod state;
mod terminal;

#[cfg(test)]
mod tests;

pub use format::{cost, recovery_lines, tokens};
pub use terminal::{Mode, show};
