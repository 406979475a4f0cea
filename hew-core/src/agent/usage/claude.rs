//! Claude Code's `stream-json` output.
//!
//! The final `result` event is the truth: its `modelUsage` covers every model of the
//! session (subagents often use another one), its `usage` only the main loop. Assistant
//! events repeat one API response's usage on every content block, with a placeholder
//! output count, so they are only a fallback for a run killed before its result:
//! deduplicated by `message.id` (a later line with the same id replaces, never adds) and
//! marked partial. The result's figures are never added to the assistant sums.

use std::collections::BTreeMap;

use serde_json::Value;

use super::json::{amount, at, count, status, str_at};
use super::{DEFAULT_MODEL_KEY, StreamReport, Tokens, Usage, UsageSource};
use crate::agent::AgentFailure;

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
    /// summed per model.
    anonymous: BTreeMap<Option<String>, Tokens>,
    result: Option<ResultEvent>,
}

#[derive(Debug, Clone)]
struct Counted {
    model: Option<String>,
    tokens: Tokens,
}

#[derive(Debug, Clone)]
struct ResultEvent {
    usage: ResultUsage,
    failure: Option<AgentFailure>,
    cost: Option<f64>,
}

#[derive(Debug, Clone)]
enum ResultUsage {
    /// `modelUsage`: per model name.
    Models(BTreeMap<String, Tokens>),
    /// `usage` only: the main loop, whose model comes from the other events.
    Main(Tokens),
    /// Neither could be read.
    None,
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
        match str_at(event, &["type"]) {
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
                self.result = Some(result_event(event));
                true
            }
            _ => false,
        }
    }

    fn assistant(&mut self, event: &Value) -> bool {
        let Some(message) = event.get("message") else {
            return false;
        };
        let model = str_at(message, &["model"]).map(str::to_owned);
        if self.assistant_model.is_none()
            && let Some(m) = model.as_deref().filter(|m| real_model(m))
        {
            self.assistant_model = Some(m.to_owned());
        }
        let Some(tokens) = message.get("usage").and_then(api_tokens) else {
            return false;
        };
        match str_at(message, &["id"]) {
            Some(id) => {
                let counted = Counted { model, tokens };
                self.messages.insert(id.to_owned(), counted);
            }
            None => self.anonymous.entry(model).or_default().add(&tokens),
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
        let result = match self.result.as_ref().map(|r| &r.usage) {
            Some(ResultUsage::Models(models)) => Some(models.clone()),
            Some(ResultUsage::Main(tokens)) => Some([(self.main_key(), *tokens)].into()),
            Some(ResultUsage::None) | None => None,
        };
        if let Some(models) = result {
            let exact = Usage::from_models(models, UsageSource::Result);
            // An error result can carry zeroed usage although tokens were spent: then
            // the assistant sums are the better figure.
            if exact.total.total() > 0 || partial.total.total() == 0 {
                return exact;
            }
        }
        if partial.total.total() > 0 {
            partial
        } else {
            Usage::unknown()
        }
    }

    /// Deduplicated assistant usage per model (messages with no tokens left out).
    fn partial_models(&self) -> BTreeMap<String, Tokens> {
        let mut models: BTreeMap<String, Tokens> = BTreeMap::new();
        let by_id = self.messages.values().map(|c| (&c.model, &c.tokens));
        for (model, tokens) in by_id.chain(self.anonymous.iter()) {
            if tokens.total() == 0 {
                continue;
            }
            let key = match model.as_deref().filter(|m| real_model(m)) {
                Some(m) => m.to_owned(),
                None => self.main_key(),
            };
            models.entry(key).or_default().add(tokens);
        }
        models
    }
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
    let usage = if !models.is_empty() {
        ResultUsage::Models(models)
    } else if let Some(tokens) = event.get("usage").and_then(api_tokens) {
        ResultUsage::Main(tokens)
    } else {
        ResultUsage::None
    };
    let subtype = str_at(event, &["subtype"]).unwrap_or("");
    let is_error = event.get("is_error").and_then(Value::as_bool) == Some(true)
        || subtype.starts_with("error");
    let failure = is_error.then(|| AgentFailure::classified(&error_text(event), status(event)));
    let cost = amount(event.get("total_cost_usd")).or_else(|| amount(event.get("cost_usd")));
    ResultEvent {
        usage,
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

/// Tokens from an Anthropic API `usage` object; none if it has no count at all.
fn api_tokens(u: &Value) -> Option<Tokens> {
    tokens(
        u,
        [
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ],
    )
}

/// Tokens from one `modelUsage` entry.
fn model_usage_tokens(u: &Value) -> Option<Tokens> {
    tokens(
        u,
        [
            "inputTokens",
            "outputTokens",
            "cacheReadInputTokens",
            "cacheCreationInputTokens",
        ],
    )
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
    })
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
