//! On-disk records of a run: `.hew/loop/<run-id>/run.json`, one
//! `.hew/loop/<run-id>/iters/<n>.json` per iteration, and the agent's raw output beside it.
//!
//! Records outlive the hew that wrote them: every one carries `schema_version`, every field
//! added after the first schema has `#[serde(default)]`, unknown fields are ignored, and
//! every write is a temp file renamed into place, so a crash at any instant leaves the last
//! complete version readable. Readers report a corrupt file and move on.

mod record;
mod store;

pub use record::{
    IterLog, Outcome, RunRecord, RunStatus, SCHEMA_VERSION, StopReason, VerifyResult,
};
pub use store::{RecordError, RunDir, list_runs, loop_dir, new_run_id, write_json_atomic};
