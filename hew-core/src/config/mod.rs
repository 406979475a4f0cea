//! Layered configuration: built-in defaults < user file < project file < `HEW_*`
//! environment < command-line flags.

mod duration;
mod schema;

pub use duration::{HumanDuration, InvalidDuration};
pub use schema::{
    AgentConfig, Config, InvalidPriority, LoopConfig, LoopModelConfig, Priority, RetryConfig,
    Runtime, TrackerConfig, VerifyConfig, WorktreeConfig,
};
