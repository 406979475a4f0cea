//! Whether a run whose `run.json` says `running` is really still going.
//!
//! A hew that was killed (SIGKILL, a crash, a reboot) never writes its final record, so
//! `running` on disk only means "was running". The record names the host and pid; on the
//! same host a pid that no longer exists settles it. On another host nothing can be told,
//! and the run is treated as alive: cleaning up after a live run loses work, leaving a
//! dead run's leftovers a little longer does not.

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::record::{RunRecord, RunStatus};

/// What became of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Its record says it ended.
    Ended,
    /// Running on this host: its process exists.
    Alive,
    /// Recorded as running, but its process is gone from this host: it died.
    Stale,
    /// Recorded as running on another host (named): cannot be checked from here.
    ElsewhereRunning(String),
}

impl Liveness {
    /// Whether the run may still be using its worktrees and branches.
    pub fn may_be_running(&self) -> bool {
        matches!(self, Self::Alive | Self::ElsewhereRunning(_))
    }
}

/// What became of `run`, judged from this host.
pub fn liveness(run: &RunRecord) -> Liveness {
    if run.status != RunStatus::Running {
        return Liveness::Ended;
    }
    // By machine id when the record has one (host names repeat), else by host name.
    let elsewhere = if run.machine.is_empty() {
        !run.host.is_empty() && run.host != this_host()
    } else {
        run.machine != crate::machine::machine_id()
    };
    if elsewhere {
        return Liveness::ElsewhereRunning(run.host.clone());
    }
    if pid_alive(run.pid) {
        Liveness::Alive
    } else {
        Liveness::Stale
    }
}

/// This machine's name, as runs record it.
pub fn this_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether a process `pid` exists (signal 0: nothing is sent). A pid of 0 (a record
/// without one) or one that does not fit is not a process.
fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::SCHEMA_VERSION;
    use crate::time::Timestamp;

    fn run(status: RunStatus, host: &str, pid: u32) -> RunRecord {
        let mut r: RunRecord = serde_json::from_value(serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "run_id": "r1",
            "status": "running",
            "started_at": Timestamp::from_unix_ms(0),
        }))
        .unwrap();
        r.status = status;
        r.host = host.to_owned();
        r.pid = pid;
        r
    }

    #[test]
    fn a_run_is_judged_by_its_status_host_and_pid() {
        let me = this_host();
        assert_eq!(liveness(&run(RunStatus::Finished, &me, 1)), Liveness::Ended);
        assert_eq!(
            liveness(&run(RunStatus::Running, &me, std::process::id())),
            Liveness::Alive
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert_eq!(
            liveness(&run(RunStatus::Running, &me, dead)),
            Liveness::Stale
        );
        assert_eq!(liveness(&run(RunStatus::Running, &me, 0)), Liveness::Stale);
        let other = liveness(&run(RunStatus::Running, "some-other-host.invalid", dead));
        assert_eq!(
            other,
            Liveness::ElsewhereRunning("some-other-host.invalid".into())
        );
        assert!(other.may_be_running());
    }
}
