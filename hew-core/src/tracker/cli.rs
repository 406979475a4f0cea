//! [`super::Tracker`] over the `bd` / `br` command line.

/// The tracker CLI (`bd` or `br`).
#[derive(Debug, Clone)]
pub struct CliTracker {}
