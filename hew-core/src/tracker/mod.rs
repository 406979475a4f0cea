//! The beads tracker, seen through its command line (`bd` or `br`).
//!
//! hew never touches `.beads/` itself: every read and write goes through the tracker's CLI
//! with `--json`, so the tracker's own locking and validation apply. [`Tracker`] is the
//! contract the rest of hew relies on; [`CliTracker`] implements it for both bd and br and
//! absorbs their differences (see `parse`).

mod choice;
mod cli;
mod database;
mod error;
mod id;
mod parse;
mod task;

pub use choice::{
    ChoiceReason, KNOWN_TRACKERS, TrackerChoice, choose_tracker, find_program, made_by,
};
pub use cli::CliTracker;
pub use database::{Database, DatabaseSource};
pub use error::TrackerError;
pub use id::{InvalidId, TaskId, validate_actor, validate_label};
pub use task::{ReadyQuery, Task};

use std::future::Future;

/// What hew needs from a tracker. Every call is short, bounded by a timeout, and leaves no
/// process behind; errors are typed so callers can tell "someone else claimed it" from "the
/// tracker is gone".
pub trait Tracker: Send + Sync {
    /// Ready tasks (open, unblocked), sorted by priority, filtered by `query`. A limit of 0
    /// gives none.
    fn ready(
        &self,
        query: &ReadyQuery,
    ) -> impl Future<Output = Result<Vec<Task>, TrackerError>> + Send;

    /// Every task in progress (claimed), whoever holds it.
    fn in_progress(&self) -> impl Future<Output = Result<Vec<Task>, TrackerError>> + Send;

    /// One task, with its labels (`Some`, empty when it has none).
    fn show(&self, id: &TaskId) -> impl Future<Output = Result<Task, TrackerError>> + Send;

    /// Claims `id` for `actor` atomically: succeeds only if the task is open and unassigned.
    /// A task someone else holds, or one that is blocked or closed, gives
    /// [`TrackerError::AlreadyClaimed`]. Returns the task as the tracker reports it after
    /// the claim: br reports only id, title, status, priority and assignee, so `labels` may
    /// be `None`.
    fn claim(
        &self,
        id: &TaskId,
        actor: &str,
    ) -> impl Future<Output = Result<Task, TrackerError>> + Send;

    /// Closes `id` with `reason` (any text, even one starting with `-`). A close the tracker
    /// skips (already closed, or blocked) is an error.
    fn close(
        &self,
        id: &TaskId,
        reason: &str,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;

    /// Gives a claimed task back: status open, no assignee. Only for tasks hew holds: br
    /// also reopens a closed task this way.
    fn release(&self, id: &TaskId) -> impl Future<Output = Result<(), TrackerError>> + Send;

    /// Adds `label` to `id` (labels are `[A-Za-z0-9_:-]`, at most 50 characters).
    fn add_label(
        &self,
        id: &TaskId,
        label: &str,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;

    /// Removes `label` from `id`; removing a label it does not carry is not an error.
    fn remove_label(
        &self,
        id: &TaskId,
        label: &str,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;

    /// Writes a claim's lease in one call: adds label `add`, removes the labels in `remove`,
    /// and with `assignee` names that holder (labels are validated as for
    /// [`Tracker::add_label`]).
    fn update_lease(
        &self,
        id: &TaskId,
        add: &str,
        remove: &[String],
        assignee: Option<&str>,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;

    /// Adds a comment to `id` (any text, even one starting with `-`).
    fn add_comment(
        &self,
        id: &TaskId,
        text: &str,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
}
