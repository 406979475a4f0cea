//! Text from outside hew made safe to print on a terminal.
//!
//! Task titles, ids and labels come from the tracker, which anyone with write access (an
//! agent creating tasks included) can fill; agent output and tracker errors come from
//! programs hew does not control. Printed raw, a newline in a title forges a line of the
//! live view (`✓ #99 closed`), `ESC [2J` clears the screen and OSC 52 writes the user's
//! clipboard. Every such string goes through [`escape`] (one line) or [`escape_text`]
//! (several lines) before it is printed: control characters (C0, DEL, C1) and the Unicode
//! controls that reorder how text is displayed (bidi embeddings, overrides and isolates)
//! are written as Rust-style escapes, `\n`, `\u{1b}`, as `br` itself prints them. Nothing
//! else changes, so ordinary text (accents, emoji, CJK) reads as written. `--raw` output
//! is the one exception, by its name.

use std::borrow::Cow;

/// `text` with every control character escaped, newlines and tabs included: for values
/// printed on one line (titles, ids, labels, model names, one-line errors).
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_where(text, needs_escape)
}

/// `text` with every control character escaped except newlines and tabs: for text that is
/// printed as several lines (what an agent said).
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && c != '\t' && needs_escape(c))
}

fn escape_where(text: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) && c.is_control() {
            // `\n`, `\t`, `\u{1b}`: as Rust and `br` write them.
            out.extend(c.escape_debug());
        } else if escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Control characters, and the format characters that reorder displayed text.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_spelled_out() {
        assert_eq!(
            escape("t\n✓ #99 closed\x1b]52;c;aGk=\x07\x1b[2J"),
            "t\\n✓ #99 closed\\u{1b}]52;c;aGk=\\u{7}\\u{1b}[2J"
        );
        assert_eq!(escape("a\rb\tc\u{9b}d\u{7f}"), "a\\rb\\tc\\u{9b}d\\u{7f}");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        for text in ["Fix the crash", "café ☕ 修正", "a\\nb", ""] {
            assert!(
                matches!(escape(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn text_keeps_its_lines_but_not_its_escapes() {
        assert_eq!(escape_text("one\n\ttwo\x1b[2J"), "one\n\ttwo\\u{1b}[2J");
    }
}
