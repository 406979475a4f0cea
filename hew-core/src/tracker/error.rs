//! Typed tracker failures, each carrying the command line and what the tracker said.

use std::time::Duration;

use super::InvalidId;

/// Longest excerpt of tracker output kept in an error, in characters.
const EXCERPT_CHARS: usize = 400;

/// A tracker call that did not do what was asked. Every variant that ran something names
/// the command hew ran (`command`) so the user can run it by hand, and an excerpt of what
/// the tracker printed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The tracker binary is not installed or not on PATH.
    #[error("tracker `{program}` not found (tracker.command = \"{program}\")")]
    Missing {
        /// The program hew tried to run.
        program: String,
    },
    /// `tracker.command` is unset and no known tracker is on PATH.
    #[error(
        "no beads tracker found: `tracker.command` is unset and neither `bd` nor `br` is on PATH"
    )]
    NoneInstalled,
    /// There is no beads database where the tracker looked.
    #[error("`{command}` found no beads database: {detail}")]
    NotInitialized {
        /// The program, for the hint (`<program> init`).
        program: String,
        /// The command line.
        command: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// The task does not exist.
    #[error("task `{id}` not found: `{command}` said: {detail}")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The command line.
        command: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// Someone else holds the task (or it is not claimable: blocked, closed or deleted).
    #[error("task `{id}` could not be claimed: `{command}` said: {detail}")]
    AlreadyClaimed {
        /// The id asked for.
        id: String,
        /// The command line.
        command: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// The tracker printed something hew cannot read.
    #[error("`{command}` printed output hew cannot read ({reason}): {excerpt}")]
    Malformed {
        /// The command line.
        command: String,
        /// What was wrong with it.
        reason: String,
        /// The start of the output, truncated.
        excerpt: String,
    },
    /// The tracker did not answer in time; it was killed.
    #[error("`{command}` did not finish within {}s and was stopped (tracker.timeout)", after.as_secs_f64())]
    TimedOut {
        /// The command line.
        command: String,
        /// The timeout that fired.
        after: Duration,
    },
    /// The tracker reported an error hew has no better name for.
    #[error("`{command}` failed ({status}): {detail}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status, as text.
        status: String,
        /// The tracker's message, truncated.
        detail: String,
    },
    /// The tracker could not be started or talked to.
    #[error("failed to run `{command}`: {source}")]
    Io {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// hew refused to pass an argument to the tracker (a label or actor it would misread).
    #[error("refused to call the tracker: {0}")]
    Invalid(#[from] InvalidId),
}

/// A command line as a user would type it: each word shell-quoted when it needs to be.
pub(crate) fn command_line<S: AsRef<str>>(program: &str, args: &[S]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(AsRef::as_ref))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes `word` for a POSIX shell; words with control characters use bash's `$'…'` so
/// the line stays one line. Words longer than [`EXCERPT_CHARS`] are cut with `…`.
fn shell_quote(word: &str) -> String {
    let mut chars = word.chars();
    let mut word: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        word.push('…');
    }
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:/=@%+".contains(c));
    if plain {
        word
    } else if word.chars().any(char::is_control) {
        let escaped: String = word
            .chars()
            .map(|c| match c {
                '\\' | '\'' => format!("\\{c}"),
                '\n' => "\\n".into(),
                '\t' => "\\t".into(),
                c if c.is_control() => format!("\\x{:02x}", u32::from(c) & 0xff),
                c => c.to_string(),
            })
            .collect();
        format!("$'{escaped}'")
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The start of what a tracker printed, fit for one line of an error message: trimmed,
/// control characters escaped, at most [`EXCERPT_CHARS`] characters, `…` when cut.
/// `cut_already` says the bytes are themselves a prefix of a longer output.
pub(crate) fn excerpt(bytes: &[u8], cut_already: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "(no output)".into();
    }
    let mut chars = text.chars();
    let mut shown = String::new();
    for c in chars.by_ref().take(EXCERPT_CHARS) {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    if cut_already || chars.next().is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_only_what_needs_it() {
        let line = command_line("br", &["close", "demo-1", "--reason=it's done", "", "a b"]);
        assert_eq!(line, r"br close demo-1 '--reason=it'\''s done' '' 'a b'");
        assert_eq!(
            command_line::<&str>("bd", &["ready", "--json"]),
            "bd ready --json"
        );
        assert_eq!(
            command_line("br", &["--reason=a\nb's"]),
            r"br $'--reason=a\nb\'s'"
        );
        let long = command_line("br", &["x".repeat(1000)]);
        assert_eq!(long.chars().count(), 3 + EXCERPT_CHARS + 3, "{long}");
    }

    #[test]
    fn excerpts_are_escaped_and_bounded() {
        assert_eq!(
            excerpt(b"  line one\nline two\n", false),
            r"line one\nline two"
        );
        assert_eq!(
            excerpt(b"run 'br init' \"now\"", false),
            r#"run 'br init' "now""#
        );
        assert_eq!(excerpt(b"", false), "(no output)");
        let long = excerpt("é".repeat(1000).as_bytes(), false);
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
        assert!(excerpt(b"short", true).ends_with('…'));
        assert_eq!(excerpt(b"\xff\x00x", false), "\u{fffd}\\0x");
    }
}
