//! Guards that make dropping a running agent safe: its process group is killed and the
//! tasks draining its pipes are stopped.
//!
//! `kill_on_drop` only kills the direct child; an agent's helpers (a shell, an MCP server,
//! a build) live on in its process group, hence a guard on the group itself.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::task::JoinHandle;

/// The agent's process group, SIGKILLed when dropped unless released.
#[derive(Debug)]
pub(crate) struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    /// The group led by `pid` (the child started with `process_group(0)`).
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

    /// Kills whatever is left of the group and stops guarding it, so that a later drop
    /// cannot signal an unrelated group that reused the id.
    pub(crate) fn kill_and_release(&mut self) {
        self.signal(Signal::SIGKILL);
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// A spawned task that is aborted when its handle is dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
