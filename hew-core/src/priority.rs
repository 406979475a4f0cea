//! hew's own bookkeeping yields the CPU to the agents.
//!
//! Tracker calls, merges and new worktrees run at a lower CPU priority than the agents
//! (nice 10 above hew's own). When the cores are busy, an agent ending, the inspection of
//! its worktree and the start of the slot's next task go first: that is what the user
//! waits on, while merging and closing happen beside the next agent's run. The tracker
//! calls a free slot waits on (recovery at the start, a `ready` call and its claims while
//! a slot has no task) are what the user waits on too: they keep hew's own priority. An
//! idle machine runs everything at full speed. Best effort: where the priority cannot be
//! lowered, the work runs anyway.

use rustix::process::{Pid, getpriority_process, setpriority_pgrp, setpriority_process};

/// How much lower (in nice steps) bookkeeping runs than hew itself.
const LOWER_BY: i32 = 10;

/// The priority bookkeeping runs at: hew's own, lowered (19 is the lowest there is).
fn lowered() -> i32 {
    getpriority_process(None).map_or(LOWER_BY, |own| (own + LOWER_BY).min(19))
}

/// Lowers the priority of every process (and thread) in process group `pgid`: a child hew
/// just started in a group of its own. Threads and processes it starts later inherit it.
pub(crate) fn lower_group(pgid: u32) {
    if let Some(pgid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        let _ = setpriority_pgrp(Some(pgid), lowered());
    }
}

/// Runs `f` on a thread of its own at the lowered priority, and returns what it returns.
/// (On Linux a priority belongs to a thread: the caller's is left as it is.)
pub(crate) fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let priority = lowered();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = setpriority_process(None, priority);
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_work_runs_lower_and_leaves_the_caller_as_it_was() {
        let own = getpriority_process(None).unwrap();
        let inside = in_background(|| getpriority_process(None).unwrap());
        assert_eq!(inside, (own + LOWER_BY).min(19));
        assert_eq!(getpriority_process(None).unwrap(), own);
    }
}
