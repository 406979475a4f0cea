//! Finding the programs hew will run (the tracker, the agent), to check them before a run.

use hew_core::config::{Config, Runtime};
pub use hew_core::tracker::find_program;

/// The program the configured agent runtime starts, as configured (a name or a path);
/// `None` for a `command` runtime with no command.
pub fn agent_program(config: &Config) -> Option<String> {
    let agent = &config.looping.agent;
    let named = agent
        .binary
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    match agent.runtime {
        Runtime::Claude => Some(named.unwrap_or_else(|| "claude".into())),
        Runtime::Codex => Some(named.unwrap_or_else(|| "codex".into())),
        Runtime::Command => named.or_else(|| agent.command.first().cloned()),
    }
}
