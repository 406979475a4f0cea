//! End-to-end tests of the `hew` binary: one module per user-visible capability, all in one
//! test binary so it links once.

mod config;
mod dry_run;
mod run_loop;
mod spend;
mod stop;
mod tracker_faults;
