//! Finding the programs hew will run (the tracker, the agent), to check them before a run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hew_core::config::{Config, Runtime};

/// Where `name` is: itself if it contains a `/`, else the first match on `PATH`. Only an
/// executable file counts.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
}

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
