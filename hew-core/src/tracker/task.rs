//! A task as hew reads it from the tracker, and the query for ready tasks.

use serde::{Deserialize, Serialize};

/// A tracker issue, with the fields hew uses. Optional fields the tracker left out are
/// defaulted rather than treated as errors: bd omits empty fields, br includes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The tracker's id, as the tracker wrote it. Not yet validated: see [`super::TaskId`].
    pub id: String,
    /// One-line title.
    #[serde(default, deserialize_with = "super::parse::null_as_default")]
    pub title: String,
    /// Free text; may carry a `<!-- hew:model=NAME -->` tag.
    #[serde(default, deserialize_with = "super::parse::null_as_default")]
    pub description: String,
    /// What "done" means for this task.
    #[serde(default, deserialize_with = "super::parse::null_as_default")]
    pub acceptance_criteria: String,
    /// 0 (highest) to 4; `None` when the tracker gave none.
    #[serde(default, deserialize_with = "super::parse::priority")]
    pub priority: Option<u8>,
    /// `task`, `bug`, `feature`, `epic`, `chore`, ... or custom; empty when absent.
    #[serde(default, deserialize_with = "super::parse::null_as_default")]
    pub issue_type: String,
    /// `open`, `in_progress`, `closed`, ...
    #[serde(default, deserialize_with = "super::parse::null_as_default")]
    pub status: String,
    /// Labels, or `None` when the tracker's record did not include the field at all
    /// (older bd omits it; fill in with [`super::Tracker::show`]).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Who holds the claim, if anyone.
    #[serde(default)]
    pub assignee: Option<String>,
}

impl Task {
    /// The task's labels; empty when unknown.
    pub fn labels(&self) -> &[String] {
        self.labels.as_deref().unwrap_or_default()
    }
}

/// Which ready tasks to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyQuery {
    /// At most this many (always passed: bd defaults to 100, br to unlimited).
    pub limit: usize,
    /// Only tasks carrying every one of these labels.
    pub labels: Vec<String>,
    /// Only tasks of this type.
    pub issue_type: Option<String>,
    /// Only children of this parent (an epic).
    pub parent: Option<super::TaskId>,
}

impl Default for ReadyQuery {
    fn default() -> Self {
        Self {
            limit: 100,
            labels: Vec::new(),
            issue_type: None,
            parent: None,
        }
    }
}
