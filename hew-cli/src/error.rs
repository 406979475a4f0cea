//! Errors as the user sees them: one line saying what went wrong, then `hint:` lines with
//! the fix, and the exit code that goes with them.

use std::fmt;

use hew_core::tracker::TrackerError;

use crate::exit::Exit;

/// A failed command: message, hints and exit code.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl fmt::Display) -> Self {
        Self {
            exit,
            message: message.to_string(),
            hints: Vec::new(),
        }
    }

    pub fn with_hint(mut self, hint: impl fmt::Display) -> Self {
        self.hints.push(hint.to_string());
        self
    }

    /// Adds `hint` if there is one.
    pub fn with_hint_opt(self, hint: Option<String>) -> Self {
        match hint {
            Some(h) => self.with_hint(h),
            None => self,
        }
    }

    /// Prints the error to stderr.
    pub fn report(&self) {
        // Messages quote the tracker and agents: escaped, but kept on their lines.
        eprintln!("error: {}", crate::escape::escape_text(&self.message));
        for h in &self.hints {
            eprintln!("hint: {}", crate::escape::escape_text(h));
        }
    }
}

impl From<TrackerError> for CliError {
    fn from(e: TrackerError) -> Self {
        let hint = crate::hints::tracker(&e);
        CliError::new(Exit::Tracker, e).with_hint_opt(hint)
    }
}
