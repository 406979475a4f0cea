//! The verify command: the user's check (`loop.verify.command`), run with `sh -c` in the
//! task's worktree after the agent, or in the merge queue's worktree on the merged result
//! (`loop.verify.on`).

use std::path::Path;
use std::time::Duration;

use crate::process::{Run, RunError};
use crate::records::VerifyResult;

/// How much of the command's output the record keeps.
const TAIL: usize = 4096;

/// Runs `command` in `worktree`, bounded by `timeout`, with `env` added to its
/// environment and its process group written to `pid_file` while it runs.
pub(crate) async fn verify(
    command: &str,
    worktree: &Path,
    timeout: Duration,
    env: &[(&str, &str)],
    pid_file: Option<&Path>,
) -> VerifyResult {
    let mut run = Run::new("sh", timeout).args(["-c", command]).cwd(worktree);
    for (key, value) in env {
        run = run.env(*key, *value);
    }
    if let Some(path) = pid_file {
        run = run.pid_file(path);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_end() {
        let long = format!("{}END", "x".repeat(10_000));
        let t = tail(long.as_bytes());
        assert_eq!(t.len(), TAIL);
        assert!(t.ends_with("END"));
    }
}
