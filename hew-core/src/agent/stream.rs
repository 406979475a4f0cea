//! Draining one of the agent's pipes: every chunk goes to its log file as it arrives, then
//! to a sink that splits lines for the usage parser or keeps the stderr tail.
//!
//! Each pipe has its own task so a full pipe can never block the agent. The log gets every
//! byte: each chunk is one unbuffered write, so `tail -f` shows progress at once (a
//! write to a local file is short enough to make on the runtime's thread, and it keeps
//! chunks in order without a blocking pool). What is kept in memory is bounded
//! (a line longer than [`MAX_PARSED_LINE`] is written but not parsed). A log that cannot
//! be written is reported once, and the pipe is still drained.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use super::AgentEvent;
use super::usage::{Link, Usage, UsageParser};

/// Longest line kept in memory to parse; longer lines are only written to the log.
pub(crate) const MAX_PARSED_LINE: usize = 16 * 1024 * 1024;
/// How much of stderr is kept for the report.
pub(crate) const STDERR_TAIL: usize = 4096;
const CHUNK: usize = 64 * 1024;

/// Where the bytes of a pipe go after the log.
pub(crate) trait Sink {
    /// The next bytes of the stream.
    fn chunk(&mut self, bytes: &[u8]);
    /// The stream ended (or reading it was abandoned).
    fn end(&mut self);
}

/// A drained pipe: the sink, and why the log is incomplete if it is.
pub(crate) struct Pumped<S> {
    pub sink: S,
    pub log_error: Option<String>,
}

/// Copies `pipe` to `log` and `sink` until end of file, a read error, or `abandon` (sent
/// when a process outside the agent's group still holds the pipe).
pub(crate) async fn pump<R, S>(
    mut pipe: R,
    log: File,
    log_path: PathBuf,
    mut sink: S,
    mut abandon: watch::Receiver<bool>,
) -> Pumped<S>
where
    R: AsyncRead + Unpin,
    S: Sink,
{
    let mut log = Some(log);
    let mut log_error = None;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = tokio::select! {
            read = pipe.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            },
            _ = abandon.changed() => break,
        };
        let bytes = &buf[..n];
        if let Some(file) = log.as_mut()
            && let Err(e) = file.write_all(bytes)
        {
            log_error = Some(format!("failed to write `{}`: {e}", log_path.display()));
            log = None;
        }
        sink.chunk(bytes);
    }
    sink.end();
    Pumped { sink, log_error }
}

/// Splits a byte stream into lines (without `\n`), keeping at most `max` bytes of one
/// line; a longer line is dropped whole.
#[derive(Debug)]
pub(crate) struct Lines {
    partial: Vec<u8>,
    overflow: bool,
    max: usize,
}

impl Lines {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            partial: Vec::new(),
            overflow: false,
            max,
        }
    }

    /// Feeds `chunk`, calling `line` for each complete line that fits.
    pub(crate) fn push(&mut self, mut chunk: &[u8], mut line: impl FnMut(&[u8])) {
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            let (head, rest) = chunk.split_at(pos);
            if !self.overflow {
                if self.partial.is_empty() && head.len() <= self.max {
                    line(head);
                } else if self.partial.len() + head.len() <= self.max {
                    self.partial.extend_from_slice(head);
                    line(&self.partial);
                }
            }
            self.reset();
            chunk = &rest[1..];
        }
        if !self.overflow {
            if self.partial.len() + chunk.len() > self.max {
                self.overflow = true;
                self.partial = Vec::new();
            } else {
                self.partial.extend_from_slice(chunk);
            }
        }
    }

    /// The stream ended: a last line without `\n` still counts.
    pub(crate) fn finish(&mut self, mut line: impl FnMut(&[u8])) {
        if !self.overflow && !self.partial.is_empty() {
            line(&self.partial);
        }
        self.reset();
    }

    fn reset(&mut self) {
        self.overflow = false;
        self.partial.clear();
        if self.partial.capacity() > 1024 * 1024 {
            self.partial = Vec::new();
        }
    }
}

/// Stdout: lines to the usage parser, usage snapshots and API retries to the caller when
/// they change, and the state of the agent's link to its API to whoever watches it (the
/// process runner, which stops an agent that cannot reach its API).
///
/// Snapshots are taken per line, not per chunk, so the events depend only on what the
/// agent printed, not on how the pipe happened to split it.
pub(crate) struct StdoutSink {
    lines: Lines,
    usage: LiveUsage,
}

struct LiveUsage {
    parser: UsageParser,
    events: mpsc::UnboundedSender<AgentEvent>,
    last_sent: Option<Usage>,
    link: watch::Sender<Link>,
}

impl LiveUsage {
    fn line(&mut self, line: &[u8]) {
        if !self.parser.feed(line) {
            return;
        }
        let report = self.parser.report(false);
        if self.last_sent.as_ref() != Some(&report.usage) {
            // A caller that stopped listening is not an error.
            let _ = self.events.send(AgentEvent::Usage(report.usage.clone()));
            self.last_sent = Some(report.usage);
        }
        let link = report.link;
        if *self.link.borrow() != link {
            if let Some(retry) = &link.retry
                && self.link.borrow().retry.as_ref() != Some(retry)
            {
                let _ = self.events.send(AgentEvent::ApiRetry(retry.clone()));
            }
            self.link.send_replace(link);
        }
    }
}

impl StdoutSink {
    pub(crate) fn new(
        parser: UsageParser,
        events: mpsc::UnboundedSender<AgentEvent>,
        link: watch::Sender<Link>,
    ) -> Self {
        Self {
            lines: Lines::new(MAX_PARSED_LINE),
            usage: LiveUsage {
                parser,
                events,
                last_sent: None,
                link,
            },
        }
    }

    /// The parser, with everything read so far.
    pub(crate) fn parser(&self) -> &UsageParser {
        &self.usage.parser
    }
}

impl Sink for StdoutSink {
    fn chunk(&mut self, bytes: &[u8]) {
        let usage = &mut self.usage;
        self.lines.push(bytes, |line| usage.line(line));
    }

    fn end(&mut self) {
        let usage = &mut self.usage;
        self.lines.finish(|line| usage.line(line));
    }
}

/// Stderr: the last [`STDERR_TAIL`] bytes.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    kept: Vec<u8>,
}

impl StderrTail {
    /// The tail as text, starting on a character boundary.
    pub(crate) fn text(&self) -> String {
        let start = self.kept.len().saturating_sub(STDERR_TAIL);
        let mut tail = &self.kept[start..];
        // Skip UTF-8 continuation bytes cut off from their character.
        while let [first, rest @ ..] = tail
            && first & 0xC0 == 0x80
        {
            tail = rest;
        }
        String::from_utf8_lossy(tail).into_owned()
    }
}

impl Sink for StderrTail {
    fn chunk(&mut self, bytes: &[u8]) {
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > 4 * STDERR_TAIL {
            self.kept.drain(..self.kept.len() - STDERR_TAIL);
        }
    }

    fn end(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut lines = Lines::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            lines.push(chunk, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        }
        lines.finish(|l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn lines_across_chunks_and_a_last_line_without_newline() {
        assert_eq!(
            split(&[b"ab", b"c\nd", b"e\n\nf"], 100),
            ["abc", "de", "", "f"]
        );
        assert_eq!(split(&[b"x\n"], 100), ["x"]);
        assert!(split(&[], 100).is_empty());
    }

    #[test]
    fn an_overlong_line_is_skipped_whole_and_the_next_one_kept() {
        assert_eq!(split(&[b"0123", b"456789\nok\n"], 5), ["ok"]);
        assert_eq!(split(&[b"0123456789\nok"], 5), ["ok"]);
        assert_eq!(split(&[b"01234\n"], 5), ["01234"]);
        assert_eq!(split(&[b"012", b"34\n"], 5), ["01234"]);
        assert_eq!(split(&[b"012", b"345\n"], 5), Vec::<String>::new());
    }

    #[test]
    fn stderr_tail_keeps_the_end_on_a_char_boundary() {
        let mut tail = StderrTail::default();
        for _ in 0..10_000 {
            tail.chunk("é".as_bytes());
        }
        tail.chunk(b"the end");
        let text = tail.text();
        assert!(text.ends_with("the end"));
        assert!(text.len() <= STDERR_TAIL);
        assert!(!text.contains('\u{FFFD}'));
    }
}
