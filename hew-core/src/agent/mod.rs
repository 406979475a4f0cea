//! Running coding agents: for now, reading what they print.
//!
//! Token accounting follows `formats/agents.md` (see [`usage`]); failures an agent reports
//! are sorted into the classes retries care about.

mod failure;
pub mod usage;

pub use failure::{AgentFailure, ErrorClass};
pub use usage::{Tokens, Usage, UsageSource};
