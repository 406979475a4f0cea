//! hew's exit codes, in one place. The README's "Exit codes" table mirrors this list and a
//! test keeps the two in step.

/// Why hew exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked.
    Success,
    /// The command ran but did not succeed (e.g. a value that is not set).
    Failure,
    /// The command line was invalid.
    Usage,
    /// The configuration is invalid (a file, a `HEW_*` variable or a flag).
    Config,
    /// The tracker is missing, failed, or answered something hew cannot read.
    Tracker,
    /// Not in a git repository, or git failed.
    Repo,
    /// Interrupted (Ctrl-C or SIGTERM); the run was cancelled cleanly.
    Interrupted,
}

impl Exit {
    /// Every exit code, for the documentation test.
    #[cfg(test)]
    pub const ALL: [Exit; 6] = [
        Self::Success,
        Self::Failure,
        Self::Usage,
        Self::Config,
        Self::Tracker,
        Self::Repo,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Config => 3,
            Self::Tracker => 4,
            Self::Repo => 5,
            Self::Interrupted => 130,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README documents every exit code, so scripts can rely on them.
    #[test]
    fn readme_lists_every_exit_code() {
        let readme = include_str!("../../README.md");
        for exit in Exit::ALL {
            let row = format!("| {} |", exit.code());
            assert!(
                readme.contains(&row),
                "README.md has no exit-code row `{row}` for {exit:?}"
            );
        }
    }
}
