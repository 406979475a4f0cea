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

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotFound { runtime, program } => Some(match runtime {
                Runtime::Claude => format!(
                    "install Claude Code (`npm install -g @anthropic-ai/claude-code`) so that \
                     `{}` is on PATH, or choose another runtime with \
                     `hew config set loop.agent.runtime codex|command`",
                    program.display()
                ),
                Runtime::Codex => format!(
                    "install Codex (`npm install -g @openai/codex`) so that `{}` is on PATH, \
                     or choose another runtime with \
                     `hew config set loop.agent.runtime claude|command`",
                    program.display()
                ),
                Runtime::Command => format!(
                    "the first element of `loop.agent.command` must be a program on PATH or a \
                     path to one; `{}` is neither",
                    program.display()
                ),
            }),
            Self::Spawn { program, .. } => Some(format!(
                "check that `{}` is an executable file",
                program.display()
            )),
            Self::Io { .. } => None,
            Self::InvalidTemplate { .. } => Some(
                "set `loop.agent.command` to the program and its arguments, e.g. \
                 `hew config set loop.agent.command '[\"my-agent\", \"--prompt\", \"{prompt_file}\"]'`"
                    .into(),
            ),
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
