//! Claude Code's `stream-json` output.
//!
//! The final `result` event is the truth: its `modelUsage` covers every model of the
//! session (subagents often use another one), its `usage` only the main loop. Assistant
//! events repeat one API response's usage on every content block, with a placeholder
//! output count, so they are only a fallback for a run killed before its result:
//! deduplicated by `message.id` (a later line with the same id replaces, never adds) and
//! marked partial. The result's figures are never added to the assistant sums.
//!
//! Three things the totals do not say are read beside them:
//!
//! - Cache write durations. `usage.cache_creation` splits writes into 5-minute and 1-hour
//!   ones, on the result and on every assistant message; `modelUsage` has only the total.
//!   A model's split is taken from whichever covers more of its writes: the result's `usage`
//!   (the main model's loop) or its own deduplicated messages. Writes neither accounts for
//!   are recorded as unsplit (priced as 5-minute writes).
//! - Fast mode. `usage.speed` (or `fast_mode_state`) "fast" bills every token at the fast
//!   rate: such tokens are recorded under `MODEL[fast]`.
//! - Web searches (`server_tool_use.web_search_requests`, `webSearchRequests`), billed per
//!   request.
//!
//! A result with `usage` but no `modelUsage` covers the main loop only (subagents and
//! background calls are missing): its figure is partial, like the assistant sums.
//!
//! Failures of the API itself are told apart from the task's: Claude shows them as an
//! assistant message of the model `<synthetic>` with an `error` field
//! (`authentication_failed`, `billing_error`, `rate_limit`, `invalid_request`,
//! `server_error`, `unknown`), then an error result with `terminal_reason: "api_error"`.
//! While the API cannot be reached it prints `api_retry` system events (`attempt`,
//! `max_retries`, `error_status` null for a connection error) and backs off for minutes.
//! Only such API failures can be the environment's; an error result after real work is
//! the task's, whatever its text says.

use std::collections::BTreeMap;

use serde_json::Value;

use super::json::{amount, at, count, status, str_at};
use super::with_tier;
use super::{ApiRetry, DEFAULT_MODEL_KEY, Link, StreamReport, Tokens, Usage, UsageSource};
use crate::agent::failure::{environment_of, is_connection_error};
use crate::agent::{AgentFailure, Environment};

/// Incremental reader of Claude Code's `stream-json` events.
#[derive(Debug, Clone, Default)]
pub struct ClaudeStream {
    /// The model hew asked for, used when the stream names none.
    launch_model: Option<String>,
    init_model: Option<String>,
    assistant_model: Option<String>,
    /// Assistant usage by message id: one entry per API response.
    messages: BTreeMap<String, Counted>,
    /// Assistant lines with no id cannot be matched with their repeats: each counts once,
    /// summed per model and speed.
    anonymous: BTreeMap<(Option<String>, bool), Tokens>,
    result: Option<ResultEvent>,
    /// The `error` field of the latest synthetic API-error message, and its text.
    api_error: Option<(String, String)>,
    link: Link,
    saw_event: bool,
}

#[derive(Debug, Clone)]
struct Counted {
    model: Option<String>,
    tokens: Tokens,
    fast: bool,
}

#[derive(Debug, Clone)]
struct ResultEvent {
    /// `modelUsage`, per model name (no write durations, no speed).
    models: BTreeMap<String, Tokens>,
    /// `usage`: the main loop, whose model comes from the other events.
    main: Option<Counted>,
    failure: Option<AgentFailure>,
    cost: Option<f64>,
}

impl ClaudeStream {
    /// A reader for a run launched with `model` (if any).
    pub fn new(launch_model: Option<String>) -> Self {
        Self {
            launch_model,
            ..Self::default()
        }
    }

    /// Reads one event. Returns true if it may have changed the report.
    pub fn feed(&mut self, event: &Value) -> bool {
        let kind = str_at(event, &["type"]);
        if matches!(kind, Some("system" | "assistant" | "user" | "result")) {
            self.saw_event = true;
        }
        match kind {
            Some("system") if str_at(event, &["subtype"]) == Some("api_retry") => {
                self.api_retry(event);
                true
            }
            Some("system") if str_at(event, &["subtype"]) == Some("init") => {
                let model = str_at(event, &["model"]).filter(|m| real_model(m));
                let changed = model.is_some() && self.init_model.as_deref() != model;
                if changed {
                    self.init_model = model.map(str::to_owned);
                }
                changed
            }
            Some("assistant") => self.assistant(event),
            Some("result") => {
                let mut result = result_event(event);
                if let Some(failure) = result.failure.as_mut() {
                    failure.environment = self.environment_of(event, failure);
                }
                self.result = Some(result);
                true
            }
            Some("user") => {
                // A tool result: the model asked for a tool, so the API answered.
                self.link.reached = true;
                false
            }
            _ => false,
        }
    }

    /// `{"type":"system","subtype":"api_retry","attempt":n,"max_retries":m,
    /// "error_status":null,"error":"unknown"}`.
    fn api_retry(&mut self, event: &Value) {
        let status = count(event.get("error_status")).filter(|s| (100..600).contains(s));
        let error = str_at(event, &["error"]).unwrap_or("unknown").to_owned();
        let attempt = count(event.get("attempt")).unwrap_or(0);
        let retry = ApiRetry {
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            max: count(event.get("max_retries")).and_then(|m| u32::try_from(m).ok()),
            status,
            error,
        };
        // No status: the request never got an answer.
        if status.is_none() {
            let text = format!("API retry {}: {}", retry.attempt, retry.error);
            self.link.connection_error(&text);
        }
        self.link.retry = Some(retry);
    }

    /// Whose fault an error result is: only an API error can be the environment's.
    fn environment_of(&self, event: &Value, failure: &AgentFailure) -> Option<Environment> {
        let api_error = str_at(event, &["terminal_reason"]) == Some("api_error")
            || status(event).is_some()
            || self.api_error.is_some();
        if !api_error {
            return None;
        }
        let kind = self.api_error.as_ref().map(|(kind, _)| kind.as_str());
        let from_text = environment_of(&failure.message, failure.class);
        match kind {
            Some("authentication_failed") => Some(Environment::Login),
            Some("billing_error") => {
                Some(from_text.unwrap_or(Environment::UsageLimit { resets_at: None }))
            }
            _ if from_text.is_some() => from_text,
            // Given up after retries that never got an answer.
            _ if self.link.only_connection_errors() => Some(Environment::Network),
            _ => None,
        }
    }

    fn assistant(&mut self, event: &Value) -> bool {
        let Some(message) = event.get("message") else {
            return false;
        };
        if let Some(kind) = str_at(event, &["error"]) {
            let text = message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| str_at(c, &["text"]))
                .collect::<Vec<_>>()
                .join(" ");
            if is_connection_error(&text.to_ascii_lowercase()) {
                self.link.connection_error(&text);
            }
            self.api_error = Some((kind.to_owned(), text));
        }
        let model = str_at(message, &["model"]).map(str::to_owned);
        if model.as_deref().is_some_and(real_model) {
            self.link.reached = true;
        }
        if self.assistant_model.is_none()
            && let Some(m) = model.as_deref().filter(|m| real_model(m))
        {
            self.assistant_model = Some(m.to_owned());
        }
        let Some(counted) = message.get("usage").and_then(|u| counted(u, model, None)) else {
            return false;
        };
        match str_at(message, &["id"]) {
            Some(id) => {
                self.messages.insert(id.to_owned(), counted);
            }
            None => {
                let key = (counted.model.clone(), counted.fast);
                self.anonymous.entry(key).or_default().add(&counted.tokens);
            }
        }
        true
    }

    /// What the stream said so far.
    pub fn report(&self) -> StreamReport {
        StreamReport {
            usage: self.usage(),
            failure: self.result.as_ref().and_then(|r| r.failure.clone()),
            reported_cost_usd: self.result.as_ref().and_then(|r| r.cost),
            model_seen: self.model_seen().map(str::to_owned),
            link: self.link.clone(),
            saw_event: self.saw_event,
        }
    }

    fn model_seen(&self) -> Option<&str> {
        self.init_model
            .as_deref()
            .or(self.assistant_model.as_deref())
    }

    /// The key for figures with no model of their own.
    fn main_key(&self) -> String {
        self.model_seen()
            .or(self.launch_model.as_deref())
            .unwrap_or(DEFAULT_MODEL_KEY)
            .to_owned()
    }

    fn usage(&self) -> Usage {
        let partial = Usage::from_models(self.partial_models(), UsageSource::Partial);
        let result = self.result.as_ref().and_then(|r| {
            if !r.models.is_empty() {
                Some(Usage::from_models(self.attributed(r), UsageSource::Result))
            } else {
                let main = r.main.as_ref()?;
                let key = self.key_for(None, main.fast);
                // The main loop only: subagents and background calls are not in it.
                Some(Usage::from_models(
                    [(key, main.tokens)].into(),
                    UsageSource::Partial,
                ))
            }
        });
        if let Some(exact) = result {
            // An error result can carry zeroed usage although tokens were spent: then
            // the assistant sums are the better figure.
            if !exact.total.is_empty() || partial.total.is_empty() {
                return exact;
            }
        }
        if !partial.total.is_empty() {
            partial
        } else {
            Usage::unknown()
        }
    }

    /// The per-model key for figures of `model` (the main model when `None`), with fast
    /// mode recorded on it.
    fn key_for(&self, model: Option<&str>, fast: bool) -> String {
        let model = match model.filter(|m| real_model(m)) {
            Some(m) => m.to_owned(),
            None => self.main_key(),
        };
        if fast {
            with_tier(&model, "fast")
        } else {
            model
        }
    }

    /// `modelUsage` with each model's cache writes split by duration, its fast-mode
    /// tokens under `MODEL[fast]` and its web searches counted.
    fn attributed(&self, result: &ResultEvent) -> BTreeMap<String, Tokens> {
        let main = self.model_seen().or(self.launch_model.as_deref());
        // The main loop's model: the one the session named, or the only one there is.
        let main_entry = result
            .models
            .keys()
            .find(|m| main.is_some_and(|main| same_model(main, m)))
            .or_else(|| {
                (result.models.len() == 1)
                    .then(|| result.models.keys().next())
                    .flatten()
            });
        let mut out: BTreeMap<String, Tokens> = BTreeMap::new();
        for (model, tokens) in &result.models {
            let is_main = main_entry == Some(model);
            let of_model = |m: Option<&str>| m.is_some_and(|m| same_model(m, model));
            let mut mine = Tokens::default();
            let mut fast_message = false;
            for c in self
                .messages
                .values()
                .filter(|c| of_model(c.model.as_deref()))
            {
                mine.add(&c.tokens);
                fast_message |= c.fast;
            }
            for ((m, fast), t) in &self.anonymous {
                if of_model(m.as_deref()) {
                    mine.add(t);
                    fast_message |= *fast;
                }
            }
            // Durations: from the main loop's `usage` or this model's messages, whichever
            // accounts for more of its writes.
            let known_of = |t: &Tokens| (t.cache_create_1h, t.cache_create_5m());
            let mut known = known_of(&mine);
            if is_main && let Some(m) = &result.main {
                let k = known_of(&m.tokens);
                if k.0.saturating_add(k.1) > known.0.saturating_add(known.1) {
                    known = k;
                }
            }
            let mut t = *tokens;
            t.cache_create_1h = known.0.min(t.cache_create);
            let rest = t.cache_create - t.cache_create_1h;
            t.cache_create_unsplit = rest - known.1.min(rest);
            if t.web_search_requests == 0 && is_main {
                t.web_search_requests = result
                    .main
                    .as_ref()
                    .map_or(0, |m| m.tokens.web_search_requests);
            }
            let fast = fast_message || (is_main && result.main.as_ref().is_some_and(|m| m.fast));
            let key = if fast {
                with_tier(model, "fast")
            } else {
                model.clone()
            };
            out.entry(key).or_default().add(&t);
        }
        out
    }

    /// Deduplicated assistant usage per model (messages with no tokens left out).
    fn partial_models(&self) -> BTreeMap<String, Tokens> {
        let mut models: BTreeMap<String, Tokens> = BTreeMap::new();
        let by_id = self
            .messages
            .values()
            .map(|c| (c.model.as_deref(), c.fast, &c.tokens));
        let anonymous = self
            .anonymous
            .iter()
            .map(|((model, fast), tokens)| (model.as_deref(), *fast, tokens));
        for (model, fast, tokens) in by_id.chain(anonymous) {
            if tokens.is_empty() {
                continue;
            }
            models
                .entry(self.key_for(model, fast))
                .or_default()
                .add(tokens);
        }
        models
    }
}

/// The same model, whatever `[1m]` or case decoration either name carries.
fn same_model(a: &str, b: &str) -> bool {
    let plain = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        s.strip_suffix("[1m]").map(str::to_owned).unwrap_or(s)
    };
    plain(a) == plain(b)
}

/// Claude Code marks messages it made up itself (an API error shown as a reply) with the
/// model `<synthetic>`: not a model anyone ran.
fn real_model(model: &str) -> bool {
    !model.is_empty() && !model.starts_with('<')
}

fn result_event(event: &Value) -> ResultEvent {
    let models: BTreeMap<String, Tokens> = event
        .get("modelUsage")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(model, u)| Some((model.clone(), model_usage_tokens(u)?)))
                .collect()
        })
        .unwrap_or_default();
    let fast_state = str_at(event, &["fast_mode_state"]).is_some_and(|s| s == "fast" || s == "on");
    let main = event
        .get("usage")
        .and_then(|u| counted(u, None, Some(fast_state)));
    let subtype = str_at(event, &["subtype"]).unwrap_or("");
    let is_error = event.get("is_error").and_then(Value::as_bool) == Some(true)
        || subtype.starts_with("error");
    let failure = is_error.then(|| AgentFailure::classified(&error_text(event), status(event)));
    let cost = amount(event.get("total_cost_usd")).or_else(|| amount(event.get("cost_usd")));
    ResultEvent {
        models,
        main,
        failure,
        cost,
    }
}

/// What an error result says went wrong: its text, its `errors`, or its subtype.
fn error_text(event: &Value) -> String {
    if let Some(text) = str_at(event, &["result"]).filter(|t| !t.trim().is_empty()) {
        return text.to_owned();
    }
    if let Some(errors) = event.get("errors").and_then(Value::as_array) {
        let texts: Vec<String> = errors
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        if !texts.is_empty() {
            return texts.join("; ");
        }
    }
    match str_at(event, &["subtype"]) {
        Some(subtype) if !subtype.is_empty() => subtype.to_owned(),
        _ => "the agent reported an error".to_owned(),
    }
}

/// An Anthropic API `usage` object (a message's or the result's); none if it has no count
/// at all. `fast_default` is the session's fast mode state, for a `usage` without `speed`.
fn counted(u: &Value, model: Option<String>, fast_default: Option<bool>) -> Option<Counted> {
    let mut tokens = tokens(
        u,
        [
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ],
    )?;
    match u.get("cache_creation").filter(|c| c.is_object()) {
        Some(c) => {
            let h1 = count(c.get("ephemeral_1h_input_tokens")).unwrap_or(0);
            let m5 = count(c.get("ephemeral_5m_input_tokens")).unwrap_or(0);
            tokens.cache_create_1h = h1.min(tokens.cache_create);
            let rest = tokens.cache_create - tokens.cache_create_1h;
            tokens.cache_create_unsplit = rest - m5.min(rest);
        }
        None => tokens.cache_create_unsplit = tokens.cache_create,
    }
    tokens.web_search_requests =
        count(at(u, &["server_tool_use", "web_search_requests"])).unwrap_or(0);
    let fast = match str_at(u, &["speed"]) {
        Some(speed) => speed == "fast",
        None => fast_default.unwrap_or(false),
    };
    Some(Counted {
        model,
        tokens,
        fast,
    })
}

/// Tokens from one `modelUsage` entry.
fn model_usage_tokens(u: &Value) -> Option<Tokens> {
    let mut t = tokens(
        u,
        [
            "inputTokens",
            "outputTokens",
            "cacheReadInputTokens",
            "cacheCreationInputTokens",
        ],
    )?;
    t.web_search_requests = count(u.get("webSearchRequests")).unwrap_or(0);
    Some(t)
}

fn tokens(u: &Value, [input, output, read, create]: [&str; 4]) -> Option<Tokens> {
    let get = |key: &str| count(at(u, &[key]));
    let counts = [get(input), get(output), get(read), get(create)];
    if counts.iter().all(Option::is_none) {
        return None;
    }
    let [input, output, cache_read, cache_create] = counts.map(|c| c.unwrap_or(0));
    Some(Tokens {
        input,
        output,
        cache_read,
        cache_create,
        ..Default::default()
    })
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
