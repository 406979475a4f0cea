//! The verify command: the user's check (`loop.verify.command`), run with `sh -c` in the
//! task's worktree after the agent and before merging.

use std::path::Path;
use std::time::Duration;

use crate::process::{Run, RunError};
use crate::records::VerifyResult;

/// How much of the command's output the record keeps.
const TAIL: usize = 4096;

/// Runs `command` in `worktree`, bounded by `timeout`.
pub(crate) async fn verify(command: &str, worktree: &Path, timeout: Duration) -> VerifyResult {
    let run = Run::new("sh", timeout).args(["-c", command]).cwd(worktree);
    match run.output().await {
        Ok(out) => {
            let mut text = out.stdout;
            text.extend_from_slice(&out.stderr);
            VerifyResult {
                command: command.to_owned(),
                passed: out.status.success(),
                exit_code: out.status.code(),
                output_tail: tail(&text),
            }
        }
        Err(e) => {
            let why = match e {
                RunError::TimedOut(d) => format!("timed out after {}s", d.as_secs()),
                other => other.to_string(),
            };
            VerifyResult {
                command: command.to_owned(),
                passed: false,
                exit_code: None,
                output_tail: why,
            }
        }
    }
}

/// The last few KB of `bytes`, as text.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(TAIL);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
