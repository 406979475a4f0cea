//! Short-lived child processes: run, capture, bound by a timeout, never leave one behind.
//!
//! The tracker CLI (and later git hooks, verify commands) are external programs hew does
//! not trust to behave: they may print megabytes, hang, or fork helpers that outlive them.
//! [`Run`] starts the program in its own process group with stdin closed, drains stdout
//! and stderr concurrently (so a full pipe can never deadlock it), keeps at most a bounded
//! amount of each, and on timeout or cancellation kills the whole group with SIGKILL.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Default cap on what is kept of each of stdout and stderr.
pub(crate) const DEFAULT_OUTPUT_CAP: usize = 32 * 1024 * 1024;

/// A program to run once: what, where, with which extra environment, for how long.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    output_cap: usize,
    pid_file: Option<PathBuf>,
}

/// What a finished program left: its status and what it printed (each stream capped).
#[derive(Debug)]
pub(crate) struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Stdout, at most the cap.
    pub stdout: Vec<u8>,
    /// Stderr, at most the cap.
    pub stderr: Vec<u8>,
    /// Stdout was longer than the cap; the rest was read and dropped.
    pub stdout_truncated: bool,
    /// Stderr was longer than the cap; the rest was read and dropped.
    pub stderr_truncated: bool,
}

/// Why a program gave no [`Output`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The program does not exist (not on PATH, or no such file).
    #[error("program not found")]
    NotFound,
    /// It did not finish in time; its process group was killed and the child reaped.
    #[error("did not finish within {0:?}")]
    TimedOut(Duration),
    /// It could not be started or read from.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Run {
    /// `program` with no arguments, in the current directory, bounded by `timeout`.
    pub(crate) fn new(program: impl Into<OsString>, timeout: Duration) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            timeout,
            output_cap: DEFAULT_OUTPUT_CAP,
            pid_file: None,
        }
    }

    /// Appends arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs in `dir`.
    pub(crate) fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable on top of the inherited environment.
    pub(crate) fn env(mut self, key: impl Into<OsString>, val: impl Into<OsString>) -> Self {
        self.env.push((key.into(), val.into()));
        self
    }

    /// Keeps at most `bytes` of each stream.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn output_cap(mut self, bytes: usize) -> Self {
        self.output_cap = bytes;
        self
    }

    /// Writes the process group's id to `path` while it runs (removed after), so that a
    /// later hew can stop it if this one dies.
    pub(crate) fn pid_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.pid_file = Some(path.into());
        self
    }

    /// Runs the program to the end (or the timeout) and returns what it printed.
    ///
    /// Cancel-safe: dropping the future kills the process group.
    pub(crate) async fn output(&self) -> Result<Output, RunError> {
        if let Some(dir) = &self.cwd
            && !dir.is_dir()
        {
            // Spawning in a missing directory fails with ENOENT too: keep it apart from a
            // missing program.
            return Err(RunError::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("working directory `{}` does not exist", dir.display()),
            )));
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(RunError::NotFound),
            Err(e) => return Err(RunError::Io(e)),
        };
        let mut group = match child.id() {
            Some(id) => ProcessGroup::led_by(id),
            None => ProcessGroup(None),
        };
        let _pid_file = self
            .pid_file
            .as_deref()
            .zip(child.id())
            .map(|(path, id)| PidFile::write(path, id));
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(RunError::Io(io::Error::other(
                "child pipes were not set up",
            )));
        };

        let cap = self.output_cap;
        let all = async {
            // The pipes close when every process holding them is gone, grandchildren
            // included: waiting for both EOFs means nothing is left printing.
            let (status, out, err) = tokio::join!(
                child.wait(),
                read_capped(stdout, cap),
                read_capped(stderr, cap)
            );
            Ok::<_, io::Error>((status?, out?, err?))
        };
        match tokio::time::timeout(self.timeout, all).await {
            Ok(Ok((status, (stdout, stdout_truncated), (stderr, stderr_truncated)))) => {
                group.release();
                Ok(Output {
                    status,
                    stdout,
                    stderr,
                    stdout_truncated,
                    stderr_truncated,
                })
            }
            Ok(Err(e)) => {
                group.kill_and_release();
                let _ = child.wait().await;
                Err(RunError::Io(e))
            }
            Err(_elapsed) => {
                group.kill_and_release();
                // SIGKILL cannot be ignored: this returns at once and reaps the child.
                let _ = child.wait().await;
                Err(RunError::TimedOut(self.timeout))
            }
        }
    }
}

/// A pid file that exists as long as this value does.
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: &std::path::Path, pid: u32) -> Self {
        let _ = std::fs::write(path, format!("{pid}\n"));
        Self(path.to_owned())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads `r` to the end, keeping at most `cap` bytes; says whether anything was dropped.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((kept, truncated));
        }
        let room = cap.saturating_sub(kept.len());
        if n > room {
            truncated = true;
        }
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// A child's process group, SIGKILLed when dropped unless released: `kill_on_drop` only
/// kills the direct child, and its helpers (a shell, an MCP server, a build) live on in
/// its group. Used for every child hew starts in a group of its own: short-lived programs
/// here, agents in `agent::run`.
#[derive(Debug)]
pub(crate) struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    /// The group led by `pid` (a child started with `process_group(0)`).
    pub(crate) fn led_by(pid: u32) -> Self {
        // Never 0 or 1: `killpg(0)` would signal hew's own group.
        Self(
            i32::try_from(pid)
                .ok()
                .filter(|&p| p > 1)
                .map(Pid::from_raw),
        )
    }

    /// Sends `signal` to every process of the group.
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.0 {
            // ESRCH (the group is already gone) is the outcome we want anyway.
            let _ = killpg(pgid, signal);
        }
    }

    /// True while some process (possibly a zombie) is in the group.
    pub(crate) fn has_members(&self) -> bool {
        self.0.is_some_and(|pgid| killpg(pgid, None).is_ok())
    }

    /// Stops guarding the group without signalling it (its program finished cleanly), so
    /// that a later drop cannot signal an unrelated group that reused the id.
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }

    /// Kills whatever is left of the group and stops guarding it.
    pub(crate) fn kill_and_release(&mut self) {
        self.signal(Signal::SIGKILL);
        self.release();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::kill;

    const LONG: Duration = Duration::from_secs(60);

    fn sh(script: &str, timeout: Duration) -> Run {
        Run::new("sh", timeout).args(["-c", script])
    }

    /// State and process group of `pid` from `/proc`, if it exists.
    fn proc_stat(pid: &str) -> Option<(char, i32)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let pgrp = fields.nth(1)?.parse().ok()?;
        Some((state, pgrp))
    }

    /// True while `pid` is a live process (a zombie waiting for its reaper counts as dead).
    fn alive(pid: i32) -> bool {
        kill(Pid::from_raw(pid), None).is_ok()
            && proc_stat(&pid.to_string()).is_some_and(|(state, _)| state != 'Z')
    }

    /// True while a live (non-zombie) process is in group `pgid`.
    fn group_alive(pgid: i32) -> bool {
        if killpg(Pid::from_raw(pgid), None).is_err() {
            return false;
        }
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            proc_stat(&e.file_name().to_string_lossy())
                .is_some_and(|(state, pgrp)| pgrp == pgid && state != 'Z')
        })
    }

    #[tokio::test]
    async fn captures_large_output_on_both_streams_without_deadlock() {
        let out = sh(
            "head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2; echo end",
            LONG,
        )
        .output()
        .await
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 5_000_004);
        assert_eq!(out.stderr.len(), 3_000_000);
        assert!(!out.stdout_truncated && !out.stderr_truncated);
    }

    #[tokio::test]
    async fn caps_output_but_drains_the_rest() {
        let out = sh("head -c 5000000 /dev/zero; exit 3", LONG)
            .output_cap(1000)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_truncated);
    }

    #[tokio::test]
    async fn passes_cwd_and_env_and_closes_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = sh("pwd; echo \"$HEW_X\"; cat", LONG)
            .cwd(dir.path())
            .env("HEW_X", "val")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let want = format!("{}\nval\n", dir.path().canonicalize().unwrap().display());
        assert_eq!(text, want);
    }

    #[tokio::test]
    async fn timeout_kills_the_child_and_its_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!("sleep 600 & echo $$ $! > '{}'; wait", pids.display());
        let err = sh(&script, Duration::from_millis(500))
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut(_)), "{err:?}");
        let text = std::fs::read_to_string(&pids).unwrap();
        let ids: Vec<i32> = text
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        let (shell, sleeper) = (ids[0], ids[1]);
        assert!(!alive(shell), "shell {shell} survived");
        // The orphaned grandchild is reaped by init, asynchronously: give it a moment.
        for _ in 0..50 {
            if !alive(sleeper) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(sleeper), "grandchild {sleeper} survived");
        assert!(!group_alive(shell), "process group {shell} survived");
    }

    #[tokio::test]
    async fn a_grandchild_holding_stdout_open_counts_as_still_running() {
        let err = sh("sleep 600 & echo started", Duration::from_millis(500))
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut(_)), "{err:?}");
    }

    #[tokio::test]
    async fn missing_program_is_reported_as_such() {
        let err = Run::new("hew-no-such-program-xyz", LONG)
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound), "{err:?}");
        let err = Run::new("/nonexistent/dir/prog", LONG)
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound), "{err:?}");
    }

    #[tokio::test]
    async fn missing_cwd_is_not_a_missing_program() {
        let err = Run::new("sh", LONG)
            .cwd("/nonexistent/hew/dir")
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Io(_)), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/hew/dir"), "{err}");
    }
}
