//! The worktree's setup (`loop.worktree.setup`): a shell command run in a slot's worktree
//! before its agent, to install dependencies, copy `.env` in, or generate files.
//!
//! A slot's worktree is kept from task to task and from run to run (see
//! `worktree::pool`), and so is what the setup made there (ignored files stay when the
//! worktree is switched to the next task). So the setup runs only when it is due: when the
//! worktree is new, and when a file of `loop.worktree.setup_when_changed` (a lock file, say)
//! differs from what it was at the last setup. What it was is a stamp in the worktree's
//! private git directory (`.git/worktrees/<name>/hew-setup`): it lives exactly as long as
//! the worktree, so a worktree made anew has none and is set up again. Each file is
//! compared by its git blob id, read from disk, so a file the setup itself rewrites is
//! fingerprinted as the branch had it, before the setup ran. The stamp is removed before the
//! command runs and written only once it passed: a setup killed halfway is run again.
//!
//! A failed setup is the environment's, not the task's: no agent would fare better in
//! that worktree. The task is left as it was (released, no label, no comment), and may run
//! again; after `loop.retry.circuit_breaker` failed setups in a row (at least one), across
//! the run's slots, the run stops as an environment failure ([`Environment::Setup`]). A
//! setup that passes resets the count.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::blocking;
use super::verify::tail;
use super::work::Fatal;
use crate::agent::{Environment, Runtime};
use crate::config::Config;
use crate::process::{Run, RunError};
use crate::records::{IterRecord, SetupResult, Timings};
use crate::worktree::TaskWorktree;

/// The stamp's name in the worktree's private git directory.
const STAMP: &str = "hew-setup";

/// The run's setup: the command, when it is due, and the failures in a row.
pub(crate) struct Setup {
    command: Option<String>,
    when_changed: Vec<String>,
    timeout: Duration,
    /// Failed setups in a row that stop the run.
    limit: u32,
    failed_in_a_row: AtomicU32,
}

/// What runs the command sees, besides the worktree it runs in.
pub(crate) struct SetupEnv<'a> {
    pub run_id: &'a str,
    pub task_id: &'a str,
    pub runtime: Runtime,
}

impl Setup {
    pub(crate) fn new(config: &Config) -> Self {
        let worktree = &config.looping.worktree;
        Self {
            command: worktree.setup.clone().filter(|c| !c.trim().is_empty()),
            when_changed: worktree.setup_when_changed.clone(),
            timeout: worktree.setup_timeout.get(),
            limit: config.looping.retry.circuit_breaker.max(1),
            failed_in_a_row: AtomicU32::new(0),
        }
    }

    /// Sets `wt` up if it is due. `Err` when the setup failed (the result in `log`), with
    /// what stops the run once failures in a row reach the limit.
    pub(crate) async fn prepare(
        &self,
        wt: &TaskWorktree,
        env: SetupEnv<'_>,
        log: &mut IterRecord,
    ) -> Result<(), Option<Fatal>> {
        let clock = Instant::now();
        let Some(ran) = self
            .run_if_due(&wt.path, wt.slot, env.run_id, env.task_id)
            .await
        else {
            return Ok(());
        };
        if !ran.left.is_empty() {
            log.notes.push(format!(
                "the setup left files git does not ignore ({}): they are removed before \
                 the slot's next task and an agent may commit them; add them to \
                 .gitignore",
                ran.left.join(", ")
            ));
        }
        if let Some(e) = &ran.unstamped {
            log.notes.push(format!(
                "could not remember the setup (it runs again next time): {e}"
            ));
        }
        log.timings.setup_ms = Timings::ms_since(clock);
        let command = self.command.clone().unwrap_or_default();
        log.setup = Some(SetupResult {
            command: command.clone(),
            reason: ran.reason,
            passed: ran.passed,
            exit_code: ran.exit_code,
            output_tail: if ran.passed {
                String::new()
            } else {
                tail(&ran.output)
            },
        });
        if ran.passed {
            self.failed_in_a_row.store(0, Ordering::SeqCst);
            return Ok(());
        }
        let in_a_row = self.failed_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
        let message = format!("`{command}` {}", ran.why);
        log.outcome = crate::records::Outcome::AgentFailed;
        log.error_class = Some(crate::agent::ErrorClass::Other);
        log.error = Some(format!("the worktree setup failed: {message}"));
        log.cost_usd = Some(0.0);
        log.notes.push(
            "the environment failed, not the task: the setup did not pass, no agent ran, and \
             the task is left as it was"
                .into(),
        );
        Err((in_a_row >= self.limit).then(|| Fatal::Environment {
            environment: Environment::Setup,
            runtime: env.runtime,
            message: format!("{message} ({in_a_row} failed setup(s) in a row)"),
        }))
    }

    /// Sets up the worktree at `path` if it is due, for no task: the merge queue's, before
    /// it verifies there. `Err` says why it failed, with the end of its output.
    pub(crate) async fn prepare_for_queue(
        &self,
        path: &Path,
        slot: usize,
        run_id: &str,
    ) -> Result<(), String> {
        match self.run_if_due(path, slot, run_id, "").await {
            Some(ran) if !ran.passed => Err(format!(
                "the worktree setup `{}` {}: {}",
                self.command.as_deref().unwrap_or_default(),
                ran.why,
                tail(&ran.output)
            )),
            _ => Ok(()),
        }
    }

    /// Runs the command in the worktree at `path` (slot `slot`) if it is due; `None` if
    /// there is no command or it is not due.
    async fn run_if_due(
        &self,
        path: &Path,
        slot: usize,
        run_id: &str,
        task_id: &str,
    ) -> Option<Ran> {
        let command = self.command.clone()?;
        let (at, files, cmd) = (path.to_owned(), self.when_changed.clone(), command.clone());
        let due = blocking(move || due(&cmd, &at, &files)).await?;
        let run = Run::new("sh", self.timeout)
            .args(["-c", command.as_str()])
            .cwd(path)
            .env("HEW_RUN_ID", run_id)
            .env("HEW_TASK_ID", task_id)
            .env("HEW_WORKTREE", path)
            .env("HEW_SLOT", slot.to_string());
        let (passed, exit_code, why, output) = match run.output().await {
            Ok(out) => {
                let mut text = out.stdout;
                text.extend_from_slice(&out.stderr);
                let why = match out.status.code() {
                    Some(code) => format!("exited with {code}"),
                    None => "was killed by a signal".to_owned(),
                };
                (out.status.success(), out.status.code(), why, text)
            }
            Err(RunError::TimedOut(_)) => {
                let why = format!(
                    "was stopped after loop.worktree.setup_timeout ({}s)",
                    self.timeout.as_secs()
                );
                (false, None, why, Vec::new())
            }
            Err(e) => (false, None, format!("could not run: {e}"), Vec::new()),
        };
        let mut left = Vec::new();
        let mut unstamped = None;
        if passed {
            let at = path.to_owned();
            left = blocking(move || unignored(&at)).await;
            if let Some(stamp) = &due.stamp {
                let (stamp, text) = (stamp.clone(), due.fingerprint.clone());
                unstamped = blocking(move || std::fs::write(stamp, text)).await.err();
            }
        }
        Some(Ran {
            reason: due.reason,
            passed,
            exit_code,
            why,
            output,
            left,
            unstamped,
        })
    }
}

/// A setup that ran.
struct Ran {
    reason: String,
    passed: bool,
    exit_code: Option<i32>,
    /// How it ended, in words.
    why: String,
    output: Vec<u8>,
    /// Files it left that git does not ignore.
    left: Vec<String>,
    /// Why it could not be remembered, if it could not.
    unstamped: Option<std::io::Error>,
}

/// Why the setup is due in the worktree at `path`, and what to stamp once it passed.
struct Due {
    reason: String,
    fingerprint: String,
    /// Where the stamp goes; `None` if the worktree's git directory cannot be found (the
    /// setup then runs every time).
    stamp: Option<PathBuf>,
}

/// Whether `command` is due in the worktree at `path`, watching `files`: `None` when its
/// stamp matches. A due stamp is removed, so that a setup that does not pass is run again.
fn due(command: &str, path: &Path, files: &[String]) -> Option<Due> {
    let fingerprint = fingerprint(command, path, files);
    let stamp = git2::Repository::open(path)
        .ok()
        .map(|repo| repo.path().join(STAMP));
    let last = stamp.as_ref().and_then(|s| std::fs::read_to_string(s).ok());
    let reason = match last {
        Some(last) if last == fingerprint => return None,
        Some(last) => changed(&last, &fingerprint),
        None => "the worktree has not been set up".to_owned(),
    };
    if let Some(stamp) = &stamp {
        let _ = std::fs::remove_file(stamp);
    }
    Some(Due {
        reason,
        fingerprint,
        stamp,
    })
}

/// What the setup depends on, as text: the command's id, then one line per watched file,
/// its blob id (`-` when missing) and its path.
fn fingerprint(command: &str, path: &Path, files: &[String]) -> String {
    let id = |bytes: &[u8]| {
        git2::Oid::hash_object(git2::ObjectType::Blob, bytes)
            .map_or_else(|_| "-".to_owned(), |oid| oid.to_string())
    };
    let mut text = format!("command {}\n", id(command.as_bytes()));
    for file in files {
        let blob = match std::fs::read(path.join(file)) {
            Ok(bytes) => id(&bytes),
            Err(_) => "-".to_owned(),
        };
        text.push_str(&format!("file {blob} {file}\n"));
    }
    text
}

/// Untracked files in the worktree at `path` that git does not ignore (a few of them):
/// after a checkout there are none, so they are the setup's.
fn unignored(path: &Path) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(path) else {
        return Vec::new();
    };
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false);
    let Ok(statuses) = repo.statuses(Some(&mut opts)) else {
        return Vec::new();
    };
    statuses
        .iter()
        .filter(|e| e.status().contains(git2::Status::WT_NEW))
        .filter_map(|e| e.path().ok().map(|p| format!("`{p}`")))
        .take(5)
        .collect()
}

/// What differs between two fingerprints, for the record.
fn changed(last: &str, now: &str) -> String {
    let old: Vec<&str> = last.lines().collect();
    let differ: Vec<String> = now
        .lines()
        .filter(|line| !old.contains(line))
        .map(|line| match line.strip_prefix("file ") {
            Some(rest) => format!("`{}`", rest.split_once(' ').map_or(rest, |(_, p)| p)),
            None => "loop.worktree.setup".to_owned(),
        })
        .collect();
    if differ.is_empty() {
        "loop.worktree.setup_when_changed changed".to_owned()
    } else {
        format!("{} changed since the last setup", differ.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let path = dir.path().to_owned();
        let git = repo.path().to_owned();
        assert!(git.ends_with(".git/"));
        (dir, path)
    }

    fn stamp(path: &Path, d: &Due) {
        std::fs::write(d.stamp.as_ref().unwrap(), &d.fingerprint).unwrap();
        assert!(path.join(".git").join(STAMP).exists());
    }

    #[test]
    fn a_new_worktree_is_due_then_not_until_a_watched_file_changes() {
        let (_dir, path) = repo_with(&[("Cargo.lock", "v1"), ("other.txt", "a")]);
        let files = vec!["Cargo.lock".to_owned(), "gone.lock".to_owned()];
        let first = due("make setup", &path, &files).expect("a new worktree is due");
        assert_eq!(first.reason, "the worktree has not been set up");
        stamp(&path, &first);
        assert!(due("make setup", &path, &files).is_none());

        // A file that is not watched changes nothing.
        std::fs::write(path.join("other.txt"), "b").unwrap();
        assert!(due("make setup", &path, &files).is_none());

        std::fs::write(path.join("Cargo.lock"), "v2").unwrap();
        let again = due("make setup", &path, &files).expect("a watched file changed");
        assert_eq!(again.reason, "`Cargo.lock` changed since the last setup");
        // Removed until the setup passes again.
        assert!(!path.join(".git").join(STAMP).exists());
        stamp(&path, &again);

        // A watched file that appears counts as a change too.
        std::fs::write(path.join("gone.lock"), "x").unwrap();
        let appeared = due("make setup", &path, &files).expect("a watched file appeared");
        assert_eq!(appeared.reason, "`gone.lock` changed since the last setup");
    }

    #[test]
    fn a_changed_command_is_due_again() {
        let (_dir, path) = repo_with(&[]);
        let first = due("npm ci", &path, &[]).unwrap();
        stamp(&path, &first);
        assert!(due("npm ci", &path, &[]).is_none());
        let d = due("npm ci --ignore-scripts", &path, &[]).expect("the command changed");
        assert_eq!(d.reason, "loop.worktree.setup changed since the last setup");
    }

    #[test]
    fn outside_a_repository_the_setup_is_always_due() {
        let dir = tempfile::tempdir().unwrap();
        let d = due("true", dir.path(), &[]).unwrap();
        assert!(d.stamp.is_none());
        assert!(due("true", dir.path(), &[]).is_some());
    }

    #[test]
    fn files_the_setup_left_unignored_are_named() {
        let (_dir, path) = repo_with(&[(".gitignore", "node_modules/\n")]);
        std::fs::create_dir_all(path.join("node_modules/x")).unwrap();
        std::fs::write(path.join("node_modules/x/index.js"), "").unwrap();
        assert_eq!(unignored(&path), ["`.gitignore`"]);
        std::fs::write(path.join(".env"), "KEY=1").unwrap();
        assert_eq!(unignored(&path), ["`.env`", "`.gitignore`"]);
    }
}
