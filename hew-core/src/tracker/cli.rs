//! [`super::Tracker`] over the `bd` / `br` command line.
//!
//! Each call runs the tracker once, with `--json`, stdin closed, a timeout and its own
//! process group (see `crate::process`). What comes back is read by `parse` and sorted
//! into a [`TrackerError`] kind here: br reports errors as JSON on stdout with an exit
//! code per class, bd as text or JSON on stderr with exit 1, and both are mapped to the
//! same kinds by looking at the error code first, then the exit code, then the text.
//!
//! Free text (close reasons, comments) never reaches the tracker where it could be read as
//! a flag: reasons go as `--reason=TEXT`, comments after `--`. Labels and actors are
//! validated before use.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;

use super::error::{command_line, excerpt};
use super::parse::{self, ReportedError};
use super::{ReadyQuery, Task, TaskId, Tracker, TrackerError, validate_actor, validate_label};
use crate::process::{Output, Run, RunError};

/// The tracker CLI (`bd` or `br`), run in a directory with a beads database.
#[derive(Debug, Clone)]
pub struct CliTracker {
    program: String,
    cwd: PathBuf,
    timeout: Duration,
    env: Vec<(String, String)>,
}

/// Which kind of call is being made, for telling apart what an error means.
#[derive(Debug, Clone, Copy)]
enum Call<'a> {
    /// `ready`, perhaps scoped to a parent (whose absence is "not found").
    Ready(Option<&'a TaskId>),
    /// `update --claim`: a validation refusal means someone else holds it.
    Claim(&'a TaskId),
    /// Anything else about one task.
    On(&'a TaskId),
}

/// A tracker call that exited 0 with readable JSON on stdout.
struct Answer {
    command: String,
    values: Vec<Value>,
    stdout: Vec<u8>,
    stdout_truncated: bool,
}

impl Answer {
    fn malformed(&self, reason: impl Into<String>) -> TrackerError {
        TrackerError::Malformed {
            command: self.command.clone(),
            reason: reason.into(),
            excerpt: excerpt(&self.stdout, self.stdout_truncated),
        }
    }
}

impl CliTracker {
    /// A tracker run as `program` (looked up on PATH unless it is a path) in `cwd`, each
    /// call killed after `timeout`.
    pub fn new(program: impl Into<String>, cwd: PathBuf, timeout: Duration) -> Self {
        Self {
            program: program.into(),
            cwd,
            timeout,
            env: Vec::new(),
        }
    }

    /// The tracker for the repository at `root`, `configured` being `tracker.command`,
    /// chosen by [`super::TrackerChoice::for_repo`]: the one way every command that runs
    /// the tracker finds it.
    pub fn for_repo(
        configured: Option<&str>,
        root: &Path,
        timeout: Duration,
    ) -> Result<Self, TrackerError> {
        let choice = super::TrackerChoice::for_repo(configured, root)?;
        Ok(Self::new(choice.program, root.to_owned(), timeout))
    }

    /// Sets an environment variable for every call, e.g. `BEADS_DIR` to pin the database.
    pub fn with_env(mut self, key: impl Into<String>, val: impl Into<String>) -> Self {
        self.env.push((key.into(), val.into()));
        self
    }

    /// Pins `database` for every call when `BEADS_DIR` chose it (so that a relative
    /// `BEADS_DIR` means the same wherever the call runs); the repository's own `.beads/`
    /// is found by the tracker itself, as bd's server configuration is.
    pub fn with_database(self, database: &super::Database) -> Self {
        match database.source {
            super::DatabaseSource::BeadsDir => {
                let (key, val) = database.env();
                self.with_env(key, val)
            }
            super::DatabaseSource::Repository => self,
        }
    }

    /// The program this tracker runs.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The tracker's own version line (`<program> --version`), for `hew doctor`.
    pub async fn version(&self) -> Result<String, TrackerError> {
        let args = vec!["--version".to_owned()];
        let (command, out) = self.spawn(&args).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !out.status.success() || line.is_empty() {
            return Err(TrackerError::Malformed {
                command,
                reason: format!("no version printed (exit status {})", out.status),
                excerpt: excerpt(&out.stderr, out.stderr_truncated),
            });
        }
        Ok(line.trim().to_owned())
    }

    /// Runs the tracker with `args`; a tracker that cannot be started or does not finish in
    /// time is an error here, anything it printed is the caller's to read.
    async fn spawn(&self, args: &[String]) -> Result<(String, Output), TrackerError> {
        let command = command_line(&self.program, args);
        let mut run = Run::new(&self.program, self.timeout)
            .args(args)
            .cwd(&self.cwd);
        for (key, val) in &self.env {
            run = run.env(key, val);
        }
        match run.output().await {
            Ok(out) => Ok((command, out)),
            Err(RunError::NotFound) => Err(TrackerError::Missing {
                program: self.program.clone(),
            }),
            Err(RunError::TimedOut(after)) => Err(TrackerError::TimedOut { command, after }),
            Err(RunError::Io(source)) => Err(TrackerError::Io { command, source }),
        }
    }

    async fn run(&self, call: Call<'_>, args: Vec<String>) -> Result<Answer, TrackerError> {
        let (command, out) = self.spawn(&args).await?;
        let stdout = parse::json_stream(&out.stdout);
        let reported = match &stdout {
            Ok(values) => parse::reported_error(values),
            Err(_) => None,
        }
        .or_else(|| parse::reported_error(&parse::json_stream(&out.stderr).unwrap_or_default()));
        if let Some(reported) = reported {
            return Err(self.refusal(call, command, out.status, Some(&reported), String::new()));
        }
        if !out.status.success() {
            let said = if out.stderr.trim_ascii().is_empty() {
                excerpt(&out.stdout, out.stdout_truncated)
            } else {
                excerpt(&out.stderr, out.stderr_truncated)
            };
            return Err(self.refusal(call, command, out.status, None, said));
        }
        match stdout {
            Ok(values) => Ok(Answer {
                command,
                values,
                stdout: out.stdout,
                stdout_truncated: out.stdout_truncated,
            }),
            Err(reason) => {
                let reason = if out.stdout_truncated {
                    format!(
                        "more than {} MiB of output",
                        crate::process::DEFAULT_OUTPUT_CAP >> 20
                    )
                } else {
                    reason
                };
                Err(TrackerError::Malformed {
                    command,
                    reason,
                    excerpt: excerpt(&out.stdout, out.stdout_truncated),
                })
            }
        }
    }

    /// Names what went wrong, from the tracker's error code if it gave one (br), else its
    /// exit code, else its words (bd).
    fn refusal(
        &self,
        call: Call<'_>,
        command: String,
        status: ExitStatus,
        reported: Option<&ReportedError>,
        said: String,
    ) -> TrackerError {
        let code = reported.and_then(|r| r.code.as_deref());
        let detail = match reported {
            Some(r) => excerpt(r.message.as_bytes(), false),
            None => said,
        };
        let exit = status.code();
        let words = detail.to_lowercase();
        let says = |phrases: &[&str]| code.is_none() && phrases.iter().any(|p| words.contains(p));

        if code == Some("NOT_INITIALIZED")
            || says(&["not initialized", "no beads database", "no .beads"])
        {
            return TrackerError::NotInitialized {
                program: self.program.clone(),
                command,
                detail,
            };
        }
        let id = match call {
            Call::Ready(parent) => parent,
            Call::Claim(id) | Call::On(id) => Some(id),
        };
        if let (Call::Claim(_), Some(id)) = (call, id) {
            // br refuses a claim it validated: the task is held, blocked, closed or deleted
            // (hew checked the id and the actor before the call).
            let refused = reported.and_then(|r| r.field.as_deref()) == Some("claim")
                || code == Some("VALIDATION_FAILED");
            if refused
                || (matches!(exit, Some(1 | 4))
                    && says(&[
                        "already claimed",
                        "not claimable",
                        "cannot claim",
                        "already assigned",
                    ]))
            {
                return TrackerError::AlreadyClaimed {
                    id: id.to_string(),
                    command,
                    detail,
                };
            }
        }
        if let Some(id) = id {
            let not_found = code == Some("ISSUE_NOT_FOUND")
                || (code.is_none() && exit == Some(3))
                || (exit == Some(1) && says(&["not found", "no issue found"]));
            if not_found {
                return TrackerError::NotFound {
                    id: id.to_string(),
                    command,
                    detail,
                };
            }
        }
        let status = match (exit, status.signal(), code) {
            (Some(n), _, Some(code)) => format!("exit {n}, {code}"),
            (Some(n), _, None) => format!("exit {n}"),
            (None, Some(sig), _) => format!("killed by signal {sig}"),
            (None, None, _) => status.to_string(),
        };
        TrackerError::Failed {
            command,
            status,
            detail,
        }
    }
}

impl Tracker for CliTracker {
    async fn ready(&self, query: &ReadyQuery) -> Result<Vec<Task>, TrackerError> {
        if query.limit == 0 {
            // br reads `--limit 0` as "no limit".
            return Ok(Vec::new());
        }
        let mut args = strings(["ready", "--json", "--limit", &query.limit.to_string()]);
        args.extend(strings(["--sort", "priority"]));
        for label in &query.labels {
            validate_label(label)?;
            args.extend(strings(["--label", label]));
        }
        if let Some(issue_type) = &query.issue_type {
            args.push(format!("--type={issue_type}"));
        }
        if let Some(parent) = &query.parent {
            args.extend(strings(["--parent", parent.as_str()]));
        }
        let mut answer = self.run(Call::Ready(query.parent.as_ref()), args).await?;
        parse::task_list(std::mem::take(&mut answer.values))
            .map_err(|reason| answer.malformed(reason))
    }

    async fn in_progress(&self) -> Result<Vec<Task>, TrackerError> {
        let args = strings(["list", "--status", "in_progress", "--json", "--limit", "0"]);
        let mut answer = self.run(Call::Ready(None), args).await?;
        parse::task_list(std::mem::take(&mut answer.values))
            .map_err(|reason| answer.malformed(reason))
    }

    async fn show(&self, id: &TaskId) -> Result<Task, TrackerError> {
        let mut answer = self
            .run(Call::On(id), strings(["show", id.as_str(), "--json"]))
            .await?;
        match parse::one_task(std::mem::take(&mut answer.values), id.as_str()) {
            Ok(Some(mut task)) => {
                // `show` is where labels come from: an absent field means none.
                task.labels.get_or_insert_with(Vec::new);
                Ok(task)
            }
            Ok(None) => Err(TrackerError::NotFound {
                id: id.to_string(),
                command: answer.command,
                detail: "the tracker returned no issue".into(),
            }),
            Err(reason) => Err(answer.malformed(reason)),
        }
    }

    async fn claim(&self, id: &TaskId, actor: &str) -> Result<Task, TrackerError> {
        validate_actor(actor)?;
        let args = strings(["update", id.as_str(), "--claim", "--actor", actor, "--json"]);
        let mut answer = self.run(Call::Claim(id), args).await?;
        let task = match parse::one_task(std::mem::take(&mut answer.values), id.as_str()) {
            Ok(Some(task)) => task,
            Ok(None) => return Err(answer.malformed("no issue in the answer")),
            Err(reason) => return Err(answer.malformed(reason)),
        };
        held_by(task, actor, &answer.command)
    }

    async fn close(&self, id: &TaskId, reason: &str) -> Result<(), TrackerError> {
        let args = vec![
            "close".into(),
            id.to_string(),
            format!("--reason={reason}"),
            "--json".into(),
        ];
        let answer = self.run(Call::On(id), args).await?;
        match parse::close_refusal(&answer.values, id.as_str()) {
            None => Ok(()),
            Some(why) => Err(TrackerError::Failed {
                command: answer.command,
                status: "exit 0".into(),
                detail: excerpt(why.as_bytes(), false),
            }),
        }
    }

    async fn release(&self, id: &TaskId) -> Result<(), TrackerError> {
        let args = strings([
            "update",
            id.as_str(),
            "--status",
            "open",
            "--assignee",
            "",
            "--json",
        ]);
        self.run(Call::On(id), args).await.map(drop)
    }

    async fn add_label(&self, id: &TaskId, label: &str) -> Result<(), TrackerError> {
        validate_label(label)?;
        let args = strings(["label", "add", id.as_str(), label, "--json"]);
        self.run(Call::On(id), args).await.map(drop)
    }

    async fn remove_label(&self, id: &TaskId, label: &str) -> Result<(), TrackerError> {
        validate_label(label)?;
        let args = strings(["label", "remove", id.as_str(), label, "--json"]);
        self.run(Call::On(id), args).await.map(drop)
    }

    async fn update_lease(
        &self,
        id: &TaskId,
        add: &str,
        remove: &[String],
        assignee: Option<&str>,
    ) -> Result<(), TrackerError> {
        validate_label(add)?;
        let mut args = strings(["update", id.as_str(), "--add-label", add]);
        for label in remove {
            validate_label(label)?;
            args.extend(strings(["--remove-label", label]));
        }
        if let Some(actor) = assignee {
            validate_actor(actor)?;
            args.push(format!("--assignee={actor}"));
        }
        args.push("--json".into());
        self.run(Call::On(id), args).await.map(drop)
    }

    async fn add_comment(&self, id: &TaskId, text: &str) -> Result<(), TrackerError> {
        let args = strings(["comments", "add", id.as_str(), "--json", "--", text]);
        self.run(Call::On(id), args).await.map(drop)
    }
}

/// `task` as a claim for `actor` returned it: a tracker that reports success but names
/// someone else did not give us the task.
fn held_by(task: Task, actor: &str, command: &str) -> Result<Task, TrackerError> {
    match task.assignee.as_deref().map(str::trim) {
        Some(holder) if !holder.is_empty() && holder != actor => {
            Err(TrackerError::AlreadyClaimed {
                id: task.id.clone(),
                command: command.to_owned(),
                detail: excerpt(format!("assigned to {holder}").as_bytes(), false),
            })
        }
        _ => Ok(task),
    }
}

fn strings<const N: usize>(words: [&str; N]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}
