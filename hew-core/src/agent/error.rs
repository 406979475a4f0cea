//! Why an agent could not be run at all (as opposed to an agent that ran and failed, which
//! is an [`AgentRun`](super::AgentRun) with an error).

use std::io;
use std::path::PathBuf;

use crate::agent::Runtime;

/// An agent that could not be started, or whose files could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent's program is not installed or not on PATH.
    #[error("agent program `{}` not found ({})", program.display(), config_key(*runtime))]
    NotFound {
        /// The runtime that wanted it.
        runtime: Runtime,
        /// The program hew tried to start.
        program: PathBuf,
    },
    /// The program exists but could not be started (not executable, ...).
    #[error("failed to start agent program `{}`: {source}", program.display())]
    Spawn {
        /// The program hew tried to start.
        program: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A file or directory the agent needs could not be written or read.
    #[error("failed to prepare `{}` for the agent: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The `command` runtime's template cannot be run.
    #[error("invalid agent command (loop.agent.command): {reason}")]
    InvalidTemplate {
        /// What is wrong with it.
        reason: String,
    },
}

impl AgentError {
    /// The environment failure this stands for: a program that is missing or cannot be
    /// started fails every task the same way. `None` for hew's own files and templates.
    pub fn environment(&self) -> Option<super::Environment> {
        match self {
            Self::NotFound { .. } | Self::Spawn { .. } => Some(super::Environment::Start),
            Self::Io { .. } | Self::InvalidTemplate { .. } => None,
        }
    }
}

/// The config setting that chose the missing program.
fn config_key(runtime: Runtime) -> String {
    match runtime {
        Runtime::Command => "loop.agent.command".into(),
        other => format!("loop.agent.runtime = \"{other}\""),
    }
}
