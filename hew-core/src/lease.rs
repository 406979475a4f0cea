//! What a lease label on a task says: until when the claim on it holds.
//!
//! A claim carries a label `hew:lease-<unix-time>` (see `runner::lease`, which writes and
//! renews it). Reading it is needed wherever a claim is judged: by the run that claims,
//! and by recovery, which releases tasks whose lease ran out on another machine.

use crate::tracker::Task;

/// The prefix of a lease label; the rest is the Unix time (s) it runs out.
pub(crate) const LEASE_PREFIX: &str = "hew:lease-";

/// The label for a lease that runs out at Unix time `until` (s).
pub(crate) fn label(until: u64) -> String {
    format!("{LEASE_PREFIX}{until}")
}

/// When the lease on `task` runs out (Unix time, s): the latest of its lease labels.
pub(crate) fn expiry(task: &Task) -> Option<u64> {
    task.labels()
        .iter()
        .filter_map(|l| l.strip_prefix(LEASE_PREFIX)?.parse().ok())
        .max()
}

/// Whether `task` carries a lease that ran out before Unix time `now` (s). A task with no
/// lease label has none to run out (a claim of earlier hew, or of a person).
pub(crate) fn expired(task: &Task, now: u64) -> bool {
    expiry(task).is_some_and(|until| until < now)
}

/// The wall clock, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(labels: &[&str]) -> Task {
        Task {
            id: "t-1".into(),
            labels: Some(labels.iter().map(|l| (*l).to_owned()).collect()),
            ..Task::default()
        }
    }

    #[test]
    fn a_lease_is_read_from_its_labels() {
        assert_eq!(
            expiry(&task(&["x", "hew:lease-100", "hew:lease-90"])),
            Some(100)
        );
        assert!(expired(&task(&["hew:lease-100"]), 101));
        assert!(!expired(&task(&["hew:lease-100"]), 100));
        // No lease, or a label that is not one: nothing runs out.
        assert!(!expired(&task(&["hew:lease-soon"]), u64::MAX));
        assert!(!expired(&task(&[]), u64::MAX));
        crate::tracker::validate_label(&label(u64::MAX)).unwrap();
    }
}
