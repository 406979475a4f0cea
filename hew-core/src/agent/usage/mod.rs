//! Token usage read from an agent's output stream, one line at a time.
//!
//! Each runtime prints JSON lines in its own format and counts tokens by its own rules
//! (`formats/agents.md`). The parsers here turn both into one convention, Claude's:
//! `input` excludes cache reads and writes, and the total is input + output + cache_read +
//! cache_create. They are incremental (fed as the agent prints, for live progress) and
//! lenient: unknown events and fields are ignored, missing ones tolerated, and a line that
//! is not JSON at all is skipped without disturbing the rest of the stream.
//!
//! A figure is never made up: when the output carries no usage at all, the usage is
//! [`UsageSource::Unknown`], not zero.

mod claude;
mod codex;
mod json;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod property_tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AgentFailure;
use crate::agent::Runtime;
pub use claude::ClaudeStream;
pub use codex::CodexStream;

/// `model` with the tier `tier` its tokens were billed at recorded on it
/// (`claude-opus-4-6[fast]`): the key usage is recorded under, which prices read back.
pub fn with_tier(model: &str, tier: &str) -> String {
    format!("{model}[{tier}]")
}

/// The per-model key used when no model is known (matches the summary's `(default)`).
pub const DEFAULT_MODEL_KEY: &str = "(default)";

/// Token counts in Claude's convention.
///
/// Cache writes come in two durations priced differently (a 5-minute write at 1.25× input,
/// a 1-hour write at 2×). `cache_create` is every write; `cache_create_1h` and
/// `cache_create_unsplit` say how much of it was written for an hour, and how much came with
/// no duration at all (older CLIs, `modelUsage` without messages to attribute it from). The
/// rest is 5-minute writes. Unsplit writes are priced as 5-minute writes, the cheaper
/// reading, and the record says how many there were. Records written before the split have
/// neither field: every write of theirs reads as a 5-minute write, as it was priced then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens that were neither read from nor written to the cache.
    pub input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the cache, of any duration.
    pub cache_create: u64,
    /// Of `cache_create`: written to the 1-hour cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_create_1h: u64,
    /// Of `cache_create`: written with no duration reported (priced as 5-minute writes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_create_unsplit: u64,
    /// Server-side web searches, billed per request (not tokens: not in [`Tokens::total`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub web_search_requests: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Tokens {
    /// Every token counted once.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_create)
    }

    /// Cache writes known to be 5-minute writes.
    pub fn cache_create_5m(&self) -> u64 {
        self.cache_create
            .saturating_sub(self.cache_create_1h)
            .saturating_sub(self.cache_create_unsplit)
    }

    /// True when nothing at all was counted (no token, no request).
    pub fn is_empty(&self) -> bool {
        self.total() == 0 && self.web_search_requests == 0
    }

    /// Adds `other` to these counts (saturating: hostile input cannot overflow them).
    pub fn add(&mut self, other: &Tokens) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_create = self.cache_create.saturating_add(other.cache_create);
        self.cache_create_1h = self.cache_create_1h.saturating_add(other.cache_create_1h);
        self.cache_create_unsplit = self
            .cache_create_unsplit
            .saturating_add(other.cache_create_unsplit);
        self.web_search_requests = self
            .web_search_requests
            .saturating_add(other.web_search_requests);
    }
}

/// Where a usage figure comes from, hence how far to trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// Exact: Claude's final result with its `modelUsage`, or the last Codex turn of a
    /// process that ended by itself.
    Result,
    /// A lower bound: no final figure (the agent was killed, or a turn was cut short), so
    /// the deduplicated Claude assistant messages or the Codex turns seen so far; or a
    /// Claude result with `usage` but no `modelUsage`, which misses subagents and
    /// background calls.
    Partial,
    /// The output carried no usage hew could read. The counts are zero but mean nothing.
    Unknown,
}

/// Tokens used by one agent run, in total and per model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The sum over models.
    pub total: Tokens,
    /// Per model name ([`DEFAULT_MODEL_KEY`] when the model is not known). Older records
    /// may have none.
    #[serde(default)]
    pub per_model: BTreeMap<String, Tokens>,
    /// How far to trust the figures.
    pub source: UsageSource,
}

/// A record without usage (an older schema) knows nothing: unknown, never zero.
impl Default for Usage {
    fn default() -> Self {
        Self::unknown()
    }
}

impl Usage {
    /// No usage known.
    pub fn unknown() -> Self {
        Self {
            total: Tokens::default(),
            per_model: BTreeMap::new(),
            source: UsageSource::Unknown,
        }
    }

    /// A figure from a per-model split; the total is its sum.
    pub(crate) fn from_models(per_model: BTreeMap<String, Tokens>, source: UsageSource) -> Self {
        let mut total = Tokens::default();
        for tokens in per_model.values() {
            total.add(tokens);
        }
        Self {
            total,
            per_model,
            source,
        }
    }
}

/// An API retry the agent announced: Claude's `api_retry` system events, Codex's
/// `Reconnecting... n/5` errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRetry {
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// How many attempts the agent makes before it gives up, if it said.
    pub max: Option<u32>,
    /// The HTTP status that caused it; none for a connection error.
    pub status: Option<u64>,
    /// What the agent said about it.
    pub error: String,
}

/// What the stream says about the agent's link to its model API, for stopping an agent
/// that cannot reach it long before its timeout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    /// Connection errors (and connection-only API retries) seen.
    pub connection_errors: u32,
    /// The model answered or a turn completed: the API was reachable.
    pub reached: bool,
    /// The agent stopped retrying and now only waits for the network (Codex's
    /// `Reconnecting... waiting for network`, which it repeats forever).
    pub gave_up: bool,
    /// The latest API retry announced.
    pub retry: Option<ApiRetry>,
    /// The latest connection error's text.
    pub last_error: Option<String>,
}

impl Link {
    /// True when the stream has shown connection errors and nothing that needed the API.
    pub fn only_connection_errors(&self) -> bool {
        self.connection_errors > 0 && !self.reached
    }

    /// Notes a connection error with this text.
    pub(crate) fn connection_error(&mut self, text: &str) {
        self.connection_errors = self.connection_errors.saturating_add(1);
        self.last_error = Some(super::failure::bounded(text.trim()));
    }
}

/// What an agent's output said, read so far.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// Tokens used.
    pub usage: Usage,
    /// An error the agent reported (error result, failed turn, error event).
    pub failure: Option<AgentFailure>,
    /// The agent's own cost estimate (Claude's `total_cost_usd`).
    pub reported_cost_usd: Option<f64>,
    /// The model the agent said it used.
    pub model_seen: Option<String>,
    /// What the stream says about the agent's link to its API.
    pub link: Link,
    /// At least one event of the runtime's format was read.
    pub saw_event: bool,
}

impl StreamReport {
    /// A report of an output that said nothing.
    pub(crate) fn nothing() -> Self {
        Self {
            usage: Usage::unknown(),
            failure: None,
            reported_cost_usd: None,
            model_seen: None,
            link: Link::default(),
            saw_event: false,
        }
    }
}

/// An incremental reader of one agent's stdout, for any runtime.
///
/// For the `command` runtime the format is not known in advance: the first line that is
/// recognisably a Claude or a Codex event decides, and lines before it are ignored.
#[derive(Debug, Clone)]
pub struct UsageParser {
    state: State,
    model: Option<String>,
}

#[derive(Debug, Clone)]
enum State {
    Detect,
    Claude(ClaudeStream),
    Codex(CodexStream),
}

impl UsageParser {
    /// A parser for the output of `runtime`, launched with `model` (if any).
    pub fn new(runtime: Runtime, model: Option<&str>) -> Self {
        let model = model.filter(|m| !m.is_empty()).map(str::to_owned);
        let state = match runtime {
            Runtime::Claude => State::Claude(ClaudeStream::new(model.clone())),
            Runtime::Codex => State::Codex(CodexStream::new(model.clone())),
            Runtime::Command => State::Detect,
        };
        Self { state, model }
    }

    /// Reads one line (without its newline). Returns true if the line changed anything
    /// the report shows. Never fails: a line that cannot be read is ignored.
    pub fn feed(&mut self, line: &[u8]) -> bool {
        let Some(event) = json::event(line) else {
            return false;
        };
        if let State::Detect = self.state {
            self.state = match detect(&event) {
                Some(Runtime::Claude) => State::Claude(ClaudeStream::new(self.model.clone())),
                Some(Runtime::Codex) => State::Codex(CodexStream::new(self.model.clone())),
                _ => return false,
            };
        }
        match &mut self.state {
            State::Detect => false,
            State::Claude(p) => p.feed(&event),
            State::Codex(p) => p.feed(&event),
        }
    }

    /// What the output said so far. `exited` says whether the agent ended by itself (not
    /// killed), which decides whether Codex turn sums are complete.
    pub fn report(&self, exited: bool) -> StreamReport {
        match &self.state {
            State::Detect => StreamReport::nothing(),
            State::Claude(p) => p.report(),
            State::Codex(p) => p.report(exited),
        }
    }
}

/// Which runtime printed `event`, if it is recognisably one of them.
fn detect(event: &Value) -> Option<Runtime> {
    let kind = json::str_at(event, &["type"]);
    match kind {
        Some("system" | "assistant" | "user" | "result") => Some(Runtime::Claude),
        Some(k) if k.starts_with("thread.") || k.starts_with("turn.") || k.starts_with("item.") => {
            Some(Runtime::Codex)
        }
        Some("error") => Some(Runtime::Codex),
        _ if json::str_at(event, &["msg", "type"]).is_some() => Some(Runtime::Codex),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_output_is_detected_from_its_first_recognisable_event() {
        let mut p = UsageParser::new(Runtime::Command, Some("m"));
        assert!(!p.feed(b"starting up"));
        assert!(!p.feed(br#"{"hello":"world"}"#));
        assert_eq!(p.report(true).usage.source, UsageSource::Unknown);
        p.feed(br#"{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3}}"#);
        let usage = p.report(true).usage;
        assert_eq!(usage.source, UsageSource::Result);
        assert_eq!(usage.per_model["m"].input, 6);

        let mut p = UsageParser::new(Runtime::Command, None);
        p.feed(br#"{"type":"result","usage":{"input_tokens":5,"output_tokens":1}}"#);
        let usage = p.report(true).usage;
        assert_eq!(
            usage.source,
            UsageSource::Partial,
            "usage without modelUsage"
        );
        assert_eq!(usage.total.total(), 6);
        assert!(usage.per_model.contains_key(DEFAULT_MODEL_KEY));
    }

    #[test]
    fn plain_text_output_leaves_usage_unknown() {
        let mut p = UsageParser::new(Runtime::Command, None);
        for line in ["hello", "", "{", "[1,2]", "42"] {
            p.feed(line.as_bytes());
        }
        assert_eq!(p.report(true).usage, Usage::unknown());
    }

    #[test]
    fn records_serialize_in_snake_case() {
        let usage = Usage::from_models(
            [(
                "opus".to_owned(),
                Tokens {
                    input: 1,
                    output: 2,
                    cache_read: 3,
                    cache_create: 4,
                    ..Default::default()
                },
            )]
            .into(),
            UsageSource::Partial,
        );
        let json = serde_json::to_value(&usage).unwrap();
        assert_eq!(json["source"], "partial");
        assert_eq!(json["total"]["cache_create"], 4);
        let back: Usage = serde_json::from_value(json).unwrap();
        assert_eq!(back, usage);
    }
}
