//! Which agent CLI runs the tasks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which agent CLI runs the tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Claude Code (`claude -p --output-format stream-json`).
    #[default]
    Claude,
    /// OpenAI Codex (`codex exec --json`).
    Codex,
    /// Any program, from the `loop.agent.command` template.
    Command,
}

impl Runtime {
    /// Every runtime, in the order they are documented.
    pub const ALL: [Runtime; 3] = [Self::Claude, Self::Codex, Self::Command];

    /// The name used in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Command => "command",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
