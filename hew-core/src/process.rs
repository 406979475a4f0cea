//! Short-lived child processes: run, capture, bound by a timeout, never leave one behind.
