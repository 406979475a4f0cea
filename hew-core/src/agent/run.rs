//! Running one agent process from start to reaped, modelled on nextest's executor: a small
//! state machine (running → slow → terminating → exited) driven by the child's exit,
//! timers, and the caller's [`Stop`] requests.
//!
//! Stopping an agent politely is worth a few seconds: Claude Code prints its final
//! `result` (exact usage, `modelUsage` included) when interrupted with SIGINT, and dies
//! without a word on SIGTERM. So a timeout and a graceful stop (Ctrl-C, a hard budget)
//! both escalate SIGINT → [`INTERRUPT_WAIT`] (at most the grace period) → SIGTERM →
//! `loop.agent.grace` → SIGKILL, and a timed-out agent that reported its result is priced
//! from it.
//!
//! An agent that cannot reach its API is not left to its timeout: Claude backs off for
//! minutes, Codex waits for the network forever. While its output has shown only
//! connection errors, a second timer runs (`loop.agent.connect_timeout`); when it fires,
//! or when the agent says it gave up retrying, the agent is stopped the same polite way
//! and its run ends [`EndReason::Unreachable`] with an [`Environment::Network`] failure.
//! Any sign that the API answered disarms the timer for good.
//!
//! An agent that exits non-zero before printing a single event of its format never got
//! to the task: a usage error on stderr (`unknown option`, `unexpected argument`) is
//! [`Environment::Flag`], anything else [`Environment::Start`].

use std::fs::File;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinError;
use tokio::time::Instant;

use super::command::environment;
use super::group::AbortOnDrop;
use super::stream::{Pumped, StderrTail, StdoutSink, pump};
use super::usage::{Link, StreamReport, UsageParser};
use super::{
    AgentError, AgentEvent, AgentFailure, AgentRun, EndReason, Environment, ErrorClass, Launch,
    Limits, Runtime, Stop, command_line,
};
use crate::process::ProcessGroup;

/// How long the pipes may stay open after the agent exits before whoever holds them is
/// taken for a leaked grandchild.
const LEAK_WINDOW: Duration = Duration::from_millis(500);
/// How long the pipes may take to close once their holders were killed.
const DRAIN_WINDOW: Duration = Duration::from_secs(2);
/// Longest stderr excerpt in a non-zero-exit failure message, in bytes.
const EXIT_MESSAGE_TAIL: usize = 1500;
/// How long an interrupted agent has to report its result and exit before SIGTERM (capped
/// at the grace period).
pub const INTERRUPT_WAIT: Duration = Duration::from_secs(5);

/// Runs the agent described by `launch` to its end and reports what happened.
///
/// The prompt is written to `launch.prompt_file` and to the agent's stdin; its output is
/// streamed to the log files and parsed as it arrives, with [`AgentEvent`]s sent on
/// `events` (a closed receiver is fine). `stop` lets the caller cancel it. An `Err` means
/// the agent could not be started; anything that happens once it runs is in the
/// [`AgentRun`].
///
/// When this returns, the child is reaped and no process of its group is left. Dropping
/// the future kills the group too.
pub async fn run(
    launch: &Launch,
    mut stop: watch::Receiver<Stop>,
    events: mpsc::UnboundedSender<AgentEvent>,
) -> Result<AgentRun, AgentError> {
    let (program, args) = command_line(launch)?;
    if !launch.worktree.is_dir() {
        return Err(AgentError::Io {
            path: launch.worktree.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "the worktree is not a directory"),
        });
    }
    write_new(&launch.prompt_file, launch.prompt.as_bytes())?;
    let stdout_log = create_log(&launch.stdout_log)?;
    let stderr_log = create_log(&launch.stderr_log)?;

    let mut child = Command::new(&program)
        .args(&args)
        .envs(environment(launch))
        .current_dir(&launch.worktree)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| spawn_error(launch, &program, e))?;
    let started_at = SystemTime::now();
    let start = Instant::now();
    let Some(pid) = child.id() else {
        return Err(AgentError::Spawn {
            program,
            source: io::Error::other("the child exited before its pid was read"),
        });
    };
    let mut group = ProcessGroup::led_by(pid);
    let _ = events.send(AgentEvent::Started { pid });

    let _stdin = feed_stdin(&mut child, launch.prompt.clone());
    let (abandon, abandoned) = watch::channel(false);
    let parser = UsageParser::new(launch.runtime, launch.model.as_deref());
    let (link_tx, mut link) = watch::channel(Link::default());
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(AgentError::Spawn {
            program,
            source: io::Error::other("the child's pipes were not set up"),
        });
    };
    let mut pumps = Pumps {
        out: AbortOnDrop(tokio::spawn(pump(
            stdout,
            stdout_log,
            launch.stdout_log.clone(),
            StdoutSink::new(parser, events.clone(), link_tx),
            abandoned.clone(),
        ))),
        err: AbortOnDrop(tokio::spawn(pump(
            stderr,
            stderr_log,
            launch.stderr_log.clone(),
            StderrTail::default(),
            abandoned,
        ))),
        out_done: None,
        err_done: None,
    };

    let mut escalation = Escalation {
        group: &group,
        events: &events,
        grace: launch.limits.grace,
        ending: None,
        term_at: None,
        kill_at: None,
    };
    let waited = wait_for_exit(
        &mut child,
        &mut escalation,
        launch.limits,
        start,
        &mut stop,
        &mut link,
    )
    .await;
    let mut ending = escalation.ending;
    // A failed wait leaves an agent that may have spent tokens: it is killed and reaped,
    // and its output read as far as it got (partial or unknown), never taken for nothing.
    let (status, wait_error) = match waited {
        Ok(status) => (status, None),
        Err(source) => {
            group.signal(Signal::SIGKILL);
            let status = child
                .wait()
                .await
                .unwrap_or_else(|_| ExitStatus::from_raw(Signal::SIGKILL as i32));
            ending.get_or_insert(EndReason::Cancelled);
            (status, Some(source))
        }
    };

    // The child is reaped; whoever still holds its pipes is a leftover of its group (or
    // escaped it with setsid).
    let mut leaked = false;
    if !pumps.wait(LEAK_WINDOW).await {
        if group.has_members() {
            leaked = true;
            group.signal(Signal::SIGKILL);
        }
        if !pumps.wait(DRAIN_WINDOW).await {
            leaked = true;
            let _ = abandon.send(true);
            pumps.wait(DRAIN_WINDOW).await;
        }
    }
    // Helpers that closed their output are not leaks, but they do not outlive the agent.
    group.kill_and_release();

    let exited = ending.is_none();
    let (report, out_log_error) = match pumps.out_done.take() {
        Some(Ok(Pumped { sink, log_error })) => (sink.parser().report(exited), log_error),
        _ => (StreamReport::nothing(), None),
    };
    let (stderr_tail, err_log_error) = match pumps.err_done.take() {
        Some(Ok(Pumped { sink, log_error })) => (sink.text(), log_error),
        _ => (String::new(), None),
    };
    let error = match wait_error {
        Some(e) => Some(AgentFailure::other(format!(
            "hew could not wait for the agent ({program:?}): {e}"
        ))),
        None if ending == Some(EndReason::Unreachable) => {
            Some(unreachable_failure(&report.link, launch.limits))
        }
        None => report.failure.clone().or_else(|| {
            (exited && !status.success()).then(|| {
                let mut failure = exit_failure(status, &stderr_tail);
                if launch.runtime != Runtime::Command && !report.saw_event {
                    failure.environment = Some(start_failure_kind(&stderr_tail));
                }
                failure
            })
        }),
    };
    Ok(AgentRun {
        ended: ending.unwrap_or(EndReason::Exited),
        exit_code: status.code(),
        signal: status.signal(),
        usage: report.usage,
        error,
        reported_cost_usd: report.reported_cost_usd,
        model_seen: report.model_seen,
        leaked,
        stderr_tail,
        log_error: out_log_error.or(err_log_error),
        started_at,
        ended_at: SystemTime::now(),
    })
}

/// Stopping the agent: which signal went out, and when SIGKILL follows.
struct Escalation<'a> {
    group: &'a ProcessGroup,
    events: &'a mpsc::UnboundedSender<AgentEvent>,
    grace: Duration,
    /// Set once stopping began; the first reason sticks.
    ending: Option<EndReason>,
    /// When SIGTERM follows the SIGINT, if it is still to come.
    term_at: Option<Instant>,
    kill_at: Option<Instant>,
}

impl Escalation<'_> {
    fn begin(&mut self, why: EndReason) -> bool {
        if self.ending.is_some() {
            return false;
        }
        self.ending = Some(why);
        let _ = self.events.send(AgentEvent::Terminating { why });
        true
    }

    /// SIGINT now (Claude reports its result), SIGTERM after [`INTERRUPT_WAIT`] (at most
    /// the grace period), SIGKILL the grace period after that.
    fn interrupt(&mut self, why: EndReason) {
        if self.begin(why) {
            self.group.signal(Signal::SIGINT);
            // A wait too long to represent never ends.
            self.term_at = Instant::now().checked_add(INTERRUPT_WAIT.min(self.grace));
        }
    }

    /// The interrupted agent did not exit in time: SIGTERM, SIGKILL after the grace period.
    fn terminate(&mut self) {
        self.term_at = None;
        self.group.signal(Signal::SIGTERM);
        self.kill_at = Instant::now().checked_add(self.grace);
    }

    fn kill(&mut self, why: EndReason) {
        self.begin(why);
        self.group.signal(Signal::SIGKILL);
        self.term_at = None;
        self.kill_at = None;
    }

    fn on_stop(&mut self, stop: Stop) {
        match stop {
            Stop::Run => {}
            Stop::Graceful => self.interrupt(EndReason::Cancelled),
            Stop::Now => self.kill(EndReason::Cancelled),
        }
    }
}

/// Waits for the child to exit, sending `Slow` and escalating on timeout, stop, or an API
/// it cannot reach.
async fn wait_for_exit(
    child: &mut Child,
    escalation: &mut Escalation<'_>,
    limits: Limits,
    start: Instant,
    stop: &mut watch::Receiver<Stop>,
    link: &mut watch::Receiver<Link>,
) -> io::Result<ExitStatus> {
    let slow_at = start.checked_add(limits.slow_after);
    let timeout_at = start.checked_add(limits.timeout);
    let mut slow_sent = false;
    // A dropped sender means no more requests, not a stop.
    let mut stop_open = true;
    let mut link_open = true;
    // Armed at the first connection error, disarmed for good once the API answers.
    let mut connect_at: Option<Instant> = None;
    escalation.on_stop(*stop.borrow_and_update());
    loop {
        let term_at = escalation.term_at;
        let kill_at = escalation.kill_at;
        let running = escalation.ending.is_none();
        tokio::select! {
            // In this order: an agent that already exited is not then timed out.
            biased;
            status = child.wait() => return status,
            changed = stop.changed(), if stop_open => match changed {
                Ok(()) => escalation.on_stop(*stop.borrow_and_update()),
                Err(_) => stop_open = false,
            },
            changed = link.changed(), if link_open && running => match changed {
                Ok(()) => {
                    let now = link.borrow_and_update().clone();
                    if !now.only_connection_errors() {
                        connect_at = None;
                    } else if now.gave_up {
                        escalation.interrupt(EndReason::Unreachable);
                    } else if connect_at.is_none() {
                        connect_at = Instant::now().checked_add(limits.connect_timeout);
                    }
                }
                Err(_) => link_open = false,
            },
            () = sleep_until(connect_at), if running && connect_at.is_some() => {
                escalation.interrupt(EndReason::Unreachable);
            }
            () = sleep_until(slow_at), if running && !slow_sent => {
                slow_sent = true;
                let _ = escalation.events.send(AgentEvent::Slow);
            }
            () = sleep_until(timeout_at), if running => {
                escalation.interrupt(EndReason::TimedOut);
            }
            () = sleep_until(term_at), if term_at.is_some() => escalation.terminate(),
            () = sleep_until(kill_at), if kill_at.is_some() => {
                // The grace period is over; the reason given when stopping began stands.
                escalation.kill(EndReason::Cancelled);
            }
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The two pipe-draining tasks and what they returned once finished.
struct Pumps {
    out: AbortOnDrop<Pumped<StdoutSink>>,
    err: AbortOnDrop<Pumped<StderrTail>>,
    out_done: Option<Result<Pumped<StdoutSink>, JoinError>>,
    err_done: Option<Result<Pumped<StderrTail>, JoinError>>,
}

impl Pumps {
    /// Waits up to `within` for both pipes to close; true if they did.
    async fn wait(&mut self, within: Duration) -> bool {
        let Self {
            out,
            err,
            out_done,
            err_done,
        } = self;
        let both = async {
            loop {
                tokio::select! {
                    done = &mut out.0, if out_done.is_none() => *out_done = Some(done),
                    done = &mut err.0, if err_done.is_none() => *err_done = Some(done),
                    else => break,
                }
            }
        };
        let _ = tokio::time::timeout(within, both).await;
        self.out_done.is_some() && self.err_done.is_some()
    }
}

/// Writes the prompt to stdin on its own task, then closes it.
fn feed_stdin(child: &mut Child, prompt: String) -> Option<AbortOnDrop<()>> {
    let mut stdin = child.stdin.take()?;
    Some(AbortOnDrop(tokio::spawn(async move {
        // An agent may exit without reading it all: a broken pipe is not an error, and
        // any other failure shows up as the agent's own.
        let _ = stdin.write_all(prompt.as_bytes()).await;
        let _ = stdin.shutdown().await;
        // Dropping `stdin` closes it: Codex waits for end of file.
    })))
}

fn spawn_error(launch: &Launch, program: &Path, source: io::Error) -> AgentError {
    let has_dir = program
        .parent()
        .is_some_and(|dir| !dir.as_os_str().is_empty());
    // ENOENT for a file that exists means its interpreter (`#!`) is missing.
    if source.kind() == io::ErrorKind::NotFound && !(has_dir && program.exists()) {
        AgentError::NotFound {
            runtime: launch.runtime,
            program: program.to_owned(),
        }
    } else {
        AgentError::Spawn {
            program: program.to_owned(),
            source,
        }
    }
}

/// The failure of an agent stopped because its output showed only connection errors.
fn unreachable_failure(link: &Link, limits: Limits) -> AgentFailure {
    let why = if link.gave_up {
        "it stopped retrying".to_owned()
    } else {
        format!(
            "only connection errors for loop.agent.connect_timeout ({}s)",
            limits.connect_timeout.as_secs()
        )
    };
    let last = link.last_error.as_deref().unwrap_or("no answer");
    AgentFailure {
        class: ErrorClass::Other,
        message: format!(
            "the agent could not reach its API ({} connection errors, {why}): {last}",
            link.connection_errors
        ),
        environment: Some(Environment::Network),
    }
}

/// Why an agent that printed no event of its format exited non-zero: the CLI refused its
/// command line (a usage error on stderr), or it could not start.
pub(crate) fn start_failure_kind(stderr_tail: &str) -> Environment {
    let text = stderr_tail.to_ascii_lowercase();
    let usage_error = [
        "unknown option",
        "unexpected argument",
        "unrecognized option",
        "unrecognized argument",
        "invalid value",
        "is invalid. allowed choices",
        "argument missing",
        "usage:",
        // Claude refuses bypassPermissions to root before it starts.
        "cannot be used with root",
    ]
    .iter()
    .any(|w| text.contains(w));
    if usage_error {
        Environment::Flag
    } else {
        Environment::Start
    }
}

/// A failure for a non-zero exit with no error in the output: the end of stderr says why.
fn exit_failure(status: ExitStatus, stderr_tail: &str) -> AgentFailure {
    let what = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "failed".to_owned(),
    };
    let tail = stderr_tail.trim();
    let mut start = tail.len().saturating_sub(EXIT_MESSAGE_TAIL);
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    let tail = &tail[start..];
    AgentFailure::other(if tail.is_empty() {
        what
    } else {
        format!("{what}: {tail}")
    })
}

fn ensure_parent(path: &Path) -> Result<(), AgentError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| AgentError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    ensure_parent(path)?;
    std::fs::write(path, bytes).map_err(|source| AgentError::Io {
        path: path.to_owned(),
        source,
    })
}

fn create_log(path: &Path) -> Result<File, AgentError> {
    ensure_parent(path)?;
    File::create(path).map_err(|source| AgentError::Io {
        path: path.to_owned(),
        source,
    })
}
