//! Codex's `exec --json` output.
//!
//! Usage is the last `turn.completed.usage` of the process, converted to Claude's
//! convention. It is the thread's running total, not the turn's own figure: codex-rs's exec
//! (`exec/src/event_processor_with_jsonl_output.rs`) keeps the latest
//! `ThreadTokenUsageUpdated` notification and emits `usage_from_last_total()`, which copies
//! `ThreadTokenUsage.total` (the thread's sum) and drops `.last` (the latest request's);
//! openai/codex#17539 asks for `.last` to be added. Summing several `turn.completed` of one
//! process would count the first turns again.
//!
//! Codex counts cached input and cache writes inside `input_tokens`, so
//! `input = input_tokens - cached_input_tokens - cache_write_input_tokens`,
//! `cache_read = cached_input_tokens` and `cache_create = cache_write_input_tokens` (OpenAI
//! bills writes only on the models that price them; Codex has no write durations).
//! Reasoning is part of `output_tokens` (agents.md), so a separate
//! `reasoning_output_tokens` is a breakdown of output, not more tokens: it is not added.
//! Figures are keyed by the model the stream names (`model` on `thread.started`,
//! `turn.started` or `turn.completed`, or an older `session_configured`), else by the
//! model hew passed with `-m`; a `service_tier` the stream reports (`priority`, `flex`;
//! Codex's `fast` is priority processing) is recorded on that key (`gpt-5.5[priority]`).
//!
//! Codex exits 0 on API errors, so failures are read from `turn.failed` and `error`
//! events. An `error` event followed by a completed turn was recovered from (Codex
//! retries dropped streams) and is forgotten; a failed turn is not.
//!
//! With no network, 0.169 prints `Reconnecting... 2/5 (stream disconnected before
//! completion: ...)` error events up to `5/5`, then `Reconnecting... waiting for network
//! (...)` again and again, forever, and never fails the turn: each is a connection error,
//! the `n/5` ones are API retries, and the first "waiting for network" means it has given
//! up retrying. Warnings come as `item.completed` items of type `error` ("Model metadata
//! for `X` not found", "Falling back from WebSockets to HTTPS transport"): neither
//! failures nor signs that the API answered.
//!
//! Older versions printed `{"id":..,"msg":{"type":"token_count",...}}`: either flat
//! per-request counts (summed), or `info.total_token_usage` (a running total for the
//! session, taken as is) with `info.last_token_usage` (per request, summed when no total
//! is given).

use serde_json::Value;

use super::json::{at, count, status, str_at};
use super::with_tier;
use super::{ApiRetry, DEFAULT_MODEL_KEY, Link, StreamReport, Tokens, Usage, UsageSource};
use crate::agent::AgentFailure;
use crate::agent::failure::is_connection_error;

/// Incremental reader of Codex's `exec --json` events.
#[derive(Debug, Clone, Default)]
pub struct CodexStream {
    /// The `-m` hew passed, the key for every figure.
    model: Option<String>,
    /// The last `turn.completed` usage (the thread's running total), and how many there
    /// were.
    turns: Tokens,
    turns_completed: u64,
    /// The service tier the stream reported, if any.
    service_tier: Option<String>,
    /// Older `token_count` events: the per-request sum and the latest running total.
    requests: Tokens,
    running_total: Option<Tokens>,
    saw_token_count: bool,
    /// A turn started and has not ended: its usage is not in the sums yet.
    turn_open: bool,
    turn_failure: Option<AgentFailure>,
    error_event: Option<AgentFailure>,
    model_seen: Option<String>,
    link: Link,
    saw_event: bool,
}

impl CodexStream {
    /// A reader for a run launched with `-m model` (if any).
    pub fn new(model: Option<String>) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    /// Reads one event. Returns true if it may have changed the report.
    pub fn feed(&mut self, event: &Value) -> bool {
        self.saw_event = true;
        if let Some(msg) = event.get("msg").filter(|m| m.is_object()) {
            return self.legacy(msg);
        }
        let kind = str_at(event, &["type"]);
        if kind.is_some_and(|k| k.starts_with("thread.") || k.starts_with("turn.")) {
            self.note_model_and_tier(event);
        }
        match kind {
            Some("item.started" | "item.updated" | "item.completed") => {
                // Any item but a warning is the model's doing: the API answered.
                if str_at(event, &["item", "type"]).is_some_and(|t| t != "error") {
                    self.link.reached = true;
                }
                false
            }
            Some("turn.started") => {
                self.turn_open = true;
                false
            }
            Some("turn.completed") => {
                self.turn_open = false;
                self.error_event = None;
                self.link.reached = true;
                if let Some(tokens) = event.get("usage").and_then(codex_tokens) {
                    // A running total for the thread: the latest replaces, never adds.
                    self.turns = tokens;
                    self.turns_completed += 1;
                }
                true
            }
            Some("turn.failed") => {
                self.turn_open = false;
                let message = str_at(event, &["error", "message"]).unwrap_or("turn failed");
                let status = event
                    .get("error")
                    .and_then(status)
                    .or_else(|| status(event));
                self.turn_failure = Some(AgentFailure::classified(message, status));
                true
            }
            Some("error") => {
                let message = str_at(event, &["message"]).unwrap_or("error");
                self.note_connection(message);
                self.error_event = Some(AgentFailure::classified(message, status(event)));
                true
            }
            _ => false,
        }
    }

    /// `Reconnecting... 3/5 (stream disconnected ...)` is an API retry and a connection
    /// error; `Reconnecting... waiting for network (...)` is Codex giving up on retries.
    fn note_connection(&mut self, message: &str) {
        let text = message.to_ascii_lowercase();
        if !is_connection_error(&text) {
            return;
        }
        self.link.connection_error(message);
        if text.contains("waiting for network") {
            self.link.gave_up = true;
        }
        if let Some(rest) = message.trim().strip_prefix("Reconnecting... ")
            && let Some((n, m)) = rest
                .split_whitespace()
                .next()
                .and_then(|f| f.split_once('/'))
            && let (Ok(attempt), Ok(max)) = (n.parse(), m.parse())
        {
            let detail = rest.split_once(' ').map_or("", |(_, d)| d);
            self.link.retry = Some(ApiRetry {
                attempt,
                max: Some(max),
                status: None,
                error: detail.trim_matches(|c| c == '(' || c == ')').to_owned(),
            });
        }
    }

    /// The model and service tier an event names, if it names them.
    fn note_model_and_tier(&mut self, event: &Value) {
        let usage = event.get("usage");
        let model = str_at(event, &["model"]).or_else(|| usage.and_then(|u| str_at(u, &["model"])));
        if let Some(m) = model.filter(|m| !m.trim().is_empty()) {
            self.model_seen = Some(m.to_owned());
        }
        let tier = str_at(event, &["service_tier"])
            .or_else(|| usage.and_then(|u| str_at(u, &["service_tier"])));
        if let Some(t) = tier {
            self.service_tier = match t.trim().to_ascii_lowercase().as_str() {
                "priority" | "fast" => Some("priority".to_owned()),
                "flex" => Some("flex".to_owned()),
                _ => None,
            };
        }
    }

    /// The older `{"id":..,"msg":{...}}` events.
    fn legacy(&mut self, msg: &Value) -> bool {
        match str_at(msg, &["type"]) {
            Some("token_count") => {
                if let Some(total) = at(msg, &["info", "total_token_usage"]).and_then(codex_tokens)
                {
                    self.running_total = Some(total);
                } else if let Some(last) = at(msg, &["info", "last_token_usage"])
                    .and_then(codex_tokens)
                    .or_else(|| codex_tokens(msg))
                {
                    self.requests.add(&last);
                } else {
                    return false;
                }
                self.saw_token_count = true;
                true
            }
            Some("task_started") => {
                self.turn_open = true;
                false
            }
            Some("task_complete") => {
                self.turn_open = false;
                self.error_event = None;
                true
            }
            Some("error") => {
                let message = str_at(msg, &["message"]).unwrap_or("error");
                self.error_event = Some(AgentFailure::classified(message, status(msg)));
                true
            }
            Some("session_configured") => {
                self.model_seen = str_at(msg, &["model"]).map(str::to_owned);
                false
            }
            _ => false,
        }
    }

    /// What the stream said so far. `exited`: the process ended by itself, so no turn
    /// was cut short by a kill.
    pub fn report(&self, exited: bool) -> StreamReport {
        let tokens = if self.turns_completed > 0 {
            Some(self.turns)
        } else if self.saw_token_count {
            Some(self.running_total.unwrap_or(self.requests))
        } else {
            None
        };
        let usage = match tokens {
            None => Usage::unknown(),
            Some(tokens) => {
                let complete = exited && !self.turn_open && self.turn_failure.is_none();
                let source = if complete {
                    UsageSource::Result
                } else {
                    UsageSource::Partial
                };
                let model = self
                    .model_seen
                    .as_deref()
                    .or(self.model.as_deref())
                    .unwrap_or(DEFAULT_MODEL_KEY);
                let key = match &self.service_tier {
                    Some(tier) => with_tier(model, tier),
                    None => model.to_owned(),
                };
                Usage::from_models([(key, tokens)].into(), source)
            }
        };
        StreamReport {
            usage,
            failure: self
                .turn_failure
                .clone()
                .or_else(|| self.error_event.clone()),
            reported_cost_usd: None,
            model_seen: self.model_seen.clone(),
            link: self.link.clone(),
            saw_event: self.saw_event,
        }
    }
}

/// Codex counts in Claude's convention; none if the object has no count at all.
fn codex_tokens(u: &Value) -> Option<Tokens> {
    let get = |key: &str| count(u.get(key));
    let (input, cached, written, output) = (
        get("input_tokens"),
        get("cached_input_tokens"),
        get("cache_write_input_tokens"),
        get("output_tokens"),
    );
    if input.is_none() && cached.is_none() && output.is_none() {
        return None;
    }
    let (input, cached, written) = (
        input.unwrap_or(0),
        cached.unwrap_or(0),
        written.unwrap_or(0),
    );
    Some(Tokens {
        input: input.saturating_sub(cached).saturating_sub(written),
        output: output.unwrap_or(0),
        cache_read: cached,
        cache_create: written,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ErrorClass;
    use crate::agent::Runtime;
    use crate::agent::usage::UsageParser;

    fn parse(lines: &[&str], model: Option<&str>, exited: bool) -> StreamReport {
        let mut p = UsageParser::new(Runtime::Codex, model);
        for line in lines {
            p.feed(line.as_bytes());
        }
        p.report(exited)
    }

    fn t(input: u64, output: u64, cache_read: u64) -> Tokens {
        Tokens {
            input,
            output,
            cache_read,
            cache_create: 0,
            ..Default::default()
        }
    }

    const TURN_1: &str = r#"{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":800,"output_tokens":50,"reasoning_output_tokens":20}}"#;
    const TURN_2: &str = r#"{"type":"turn.completed","usage":{"input_tokens":500,"cached_input_tokens":100,"output_tokens":30}}"#;

    #[test]
    fn reasoning_is_part_of_output_and_cache_writes_come_out_of_input() {
        let report = parse(&[TURN_1], Some("gpt-5"), true);
        // Reasoning is part of output: 50, not 70.
        assert_eq!(report.usage.total, t(200, 50, 800));
        let line = r#"{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":600,"cache_write_input_tokens":300,"output_tokens":50}}"#;
        let total = parse(&[line], None, true).usage.total;
        assert_eq!(
            (total.input, total.cache_read, total.cache_create),
            (100, 600, 300)
        );
    }

    #[test]
    fn the_model_and_service_tier_the_stream_reports_win_over_the_flag() {
        let lines = [
            r#"{"type":"thread.started","thread_id":"t","model":"gpt-5.5"}"#,
            r#"{"type":"turn.completed","service_tier":"fast","usage":{"input_tokens":10,"output_tokens":1}}"#,
        ];
        let report = parse(&lines, Some("gpt-5"), true);
        assert!(
            report.usage.per_model.contains_key("gpt-5.5[priority]"),
            "{report:?}"
        );
        let report = parse(&[TURN_1], Some("gpt-5"), true);
        assert!(report.usage.per_model.contains_key("gpt-5"));
    }

    /// `turn.completed.usage` is the thread's running total (see the module doc): several
    /// of them in one process are not added up.
    #[test]
    fn the_last_turn_is_the_running_total_not_a_part_of_it() {
        let lines = [
            r#"{"type":"thread.started","thread_id":"t1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"done"}}"#,
            TURN_1,
            r#"{"type":"turn.started"}"#,
            TURN_2,
        ];
        let report = parse(&lines, Some("gpt-5"), true);
        assert_eq!(report.usage.source, UsageSource::Result);
        // The second turn's figure is the thread's total so far, the first one included.
        assert_eq!(report.usage.total, t(400, 30, 100));
        assert_eq!(report.usage.per_model["gpt-5"], report.usage.total);
        assert_eq!(report.failure, None);

        let report = parse(&lines, None, true);
        assert!(report.usage.per_model.contains_key(DEFAULT_MODEL_KEY));
    }

    #[test]
    fn a_killed_run_or_an_open_turn_is_partial() {
        let lines = [r#"{"type":"turn.started"}"#, TURN_1];
        assert_eq!(
            parse(&lines, None, false).usage.source,
            UsageSource::Partial
        );
        let lines = [TURN_1, r#"{"type":"turn.started"}"#];
        assert_eq!(parse(&lines, None, true).usage.source, UsageSource::Partial);
        assert_eq!(parse(&[], None, true).usage, Usage::unknown());
    }

    #[test]
    fn token_count_events_of_older_versions() {
        let flat = [
            r#"{"id":"0","msg":{"type":"task_started"}}"#,
            r#"{"id":"0","msg":{"type":"token_count","input_tokens":300,"cached_input_tokens":100,"output_tokens":40,"reasoning_output_tokens":10,"total_tokens":340}}"#,
            r#"{"id":"0","msg":{"type":"token_count","input_tokens":200,"cached_input_tokens":0,"output_tokens":10,"total_tokens":210}}"#,
            r#"{"id":"0","msg":{"type":"task_complete","last_agent_message":"ok"}}"#,
        ];
        let report = parse(&flat, Some("o3"), true);
        assert_eq!(report.usage.source, UsageSource::Result);
        assert_eq!(report.usage.total, t(400, 50, 100));

        let info = [
            r#"{"id":"0","msg":{"type":"token_count","info":null}}"#,
            r#"{"id":"0","msg":{"type":"token_count","info":{"total_token_usage":{"input_tokens":300,"cached_input_tokens":100,"output_tokens":40},"last_token_usage":{"input_tokens":300,"cached_input_tokens":100,"output_tokens":40}}}}"#,
            r#"{"id":"0","msg":{"type":"token_count","info":{"total_token_usage":{"input_tokens":900,"cached_input_tokens":400,"output_tokens":70},"last_token_usage":{"input_tokens":600,"cached_input_tokens":300,"output_tokens":30}}}}"#,
        ];
        let report = parse(&info, None, true);
        assert_eq!(report.usage.total, t(500, 70, 400));
    }

    #[test]
    fn failed_turns_and_error_events_are_failures() {
        let lines = [
            r#"{"type":"turn.started"}"#,
            r#"{"type":"error","message":"stream error: unexpected status 429 Too Many Requests; retrying 1/5"}"#,
            r#"{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: Missing bearer"}}"#,
        ];
        let report = parse(&lines, None, true);
        assert_eq!(report.failure.unwrap().class, ErrorClass::Auth);
        assert_eq!(report.usage.source, UsageSource::Unknown);

        let lines = [r#"{"type":"error","message":"unexpected status 500 Internal Server Error"}"#];
        assert_eq!(
            parse(&lines, None, true).failure.unwrap().class,
            ErrorClass::Server
        );

        // An error event the turn recovered from is not a failure.
        let lines = [
            r#"{"type":"turn.started"}"#,
            r#"{"type":"error","message":"Reconnecting... 1/5"}"#,
            TURN_1,
        ];
        let report = parse(&lines, None, true);
        assert_eq!(report.failure, None);
        assert_eq!(report.usage.source, UsageSource::Result);

        let old = [r#"{"id":"1","msg":{"type":"error","message":"model_not_found: gpt-9"}}"#];
        let failure = parse(&old, None, true).failure.unwrap();
        assert_eq!(failure.class, ErrorClass::BadRequest);
    }

    #[test]
    fn a_failed_turn_after_completed_ones_makes_the_sum_partial() {
        let lines = [
            TURN_1,
            r#"{"type":"turn.failed","error":{"message":"unexpected status 503"}}"#,
        ];
        let report = parse(&lines, None, true);
        assert_eq!(report.usage.source, UsageSource::Partial);
        assert_eq!(report.usage.total, t(200, 50, 800));
        assert_eq!(report.failure.unwrap().class, ErrorClass::Server);
    }
}
