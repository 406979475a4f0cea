//! The scenario file and the plan it resolves to for one task and attempt.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;

use crate::die;
use crate::stream::Format;

pub const SONNET: &str = "claude-sonnet-4-5-20250929";
pub const HAIKU: &str = "claude-haiku-4-5-20251001";
pub const OPUS: &str = "claude-opus-4-5-20251101";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[serde(default)]
    default: Behaviour,
    #[serde(default)]
    tasks: HashMap<String, Behaviour>,
}

/// One task's script, as written; every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Behaviour {
    files: Option<BTreeMap<String, String>>,
    append: Option<BTreeMap<String, String>>,
    commit: Option<bool>,
    commits: Option<u32>,
    close: Option<bool>,
    exit: Option<i32>,
    sleep_ms: Option<u64>,
    hang: Option<bool>,
    hang_after_work: Option<bool>,
    result_on_sigint: Option<bool>,
    ignore_sigterm: Option<bool>,
    grandchild: Option<bool>,
    error_result: Option<ApiError>,
    /// `error_result` only when started as this CLI (`claude` or `codex`).
    error_only_as: Option<String>,
    garbage: Option<bool>,
    big_line_bytes: Option<usize>,
    no_result: Option<bool>,
    hook_event: Option<bool>,
    succeed_on_attempt: Option<u32>,
    models: Option<Vec<String>>,
    usage: Option<UsageSpec>,
    cache_1h: Option<bool>,
    fast: Option<bool>,
    web_searches: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageSpec {
    main: Option<Tokens>,
    second: Option<Tokens>,
    codex_turns: Option<Vec<CodexTurn>>,
}

/// Claude token counts for one model.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tokens {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

/// Codex token counts for one turn.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodexTurn {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
}

/// The API errors the fake agent can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiError {
    Auth,
    RateLimit,
    Server,
    BadRequest,
    UsageLimit,
}

impl ApiError {
    /// The HTTP status of the API's answer.
    pub fn status(self) -> u16 {
        match self {
            Self::Auth => 401,
            Self::RateLimit => 429,
            Self::Server => 500,
            Self::BadRequest => 400,
            Self::UsageLimit => 429,
        }
    }

    /// The kind Claude Code puts in the `error` field of an API error's message.
    pub fn claude_kind(self) -> &'static str {
        match self {
            Self::Auth => "authentication_failed",
            Self::RateLimit => "rate_limit",
            Self::Server => "server_error",
            Self::BadRequest => "invalid_request",
            Self::UsageLimit => "rate_limit",
        }
    }

    /// What Claude Code prints in its error result.
    pub fn claude_message(self) -> &'static str {
        match self {
            Self::Auth => {
                r#"API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            }
            Self::RateLimit => {
                r#"API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."}}"#
            }
            Self::Server => {
                r#"API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#
            }
            Self::BadRequest => {
                r#"API Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"model: claude-nonexistent-1"}}"#
            }
            Self::UsageLimit => "Claude AI usage limit reached|1796601600",
        }
    }

    /// What Codex prints in `error` and `turn.failed`.
    pub fn codex_message(self) -> &'static str {
        match self {
            Self::Auth => {
                "unexpected status 401 Unauthorized: Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
            }
            Self::RateLimit => "exceeded retry limit, last status: 429 Too Many Requests",
            Self::Server => {
                "unexpected status 500 Internal Server Error: The server had an error while processing your request."
            }
            Self::BadRequest => {
                r#"unexpected status 400 Bad Request: {"detail":"The 'gpt-nonexistent' model is not supported when using Codex with a ChatGPT account."}"#
            }
            Self::UsageLimit => {
                "You've hit your usage limit. Upgrade to Pro or try again in 2 hours."
            }
        }
    }
}

/// What the fake agent does for this task and attempt, every choice made.
#[derive(Debug)]
pub struct Plan {
    pub files: BTreeMap<String, String>,
    pub append: BTreeMap<String, String>,
    pub commit: bool,
    pub commits: u32,
    pub close: bool,
    pub exit: i32,
    pub sleep: Duration,
    pub hang: bool,
    pub hang_after_work: bool,
    /// On SIGINT while hanging, report the result and exit.
    pub result_on_sigint: bool,
    pub ignore_sigterm: bool,
    pub grandchild: bool,
    pub error: Option<ApiError>,
    pub garbage: bool,
    pub big_line_bytes: Option<usize>,
    pub no_result: bool,
    pub hook_event: bool,
    /// One or two models; the first is the main one.
    pub models: Vec<String>,
    pub main: Tokens,
    pub second: Tokens,
    pub codex_turns: Vec<CodexTurn>,
    /// Cache writes are 1-hour writes (`ephemeral_1h_input_tokens`), as Claude Code makes
    /// them for subscription logins; otherwise 5-minute ones.
    pub cache_1h: bool,
    /// The main model runs in fast mode (`usage.speed: "fast"`).
    pub fast: bool,
    /// Server-side web searches of the main model (`server_tool_use.web_search_requests`).
    pub web_searches: u64,
}

/// Full model name for the aliases Claude Code accepts.
pub fn resolve_model(name: &str) -> String {
    match name {
        "opus" => OPUS.to_owned(),
        "sonnet" => SONNET.to_owned(),
        "haiku" => HAIKU.to_owned(),
        other => other.to_owned(),
    }
}

impl Plan {
    /// Reads `FAKE_AGENT_SCENARIO` and resolves the plan for `task_id`.
    pub fn load(task_id: &str, attempt: u32, format: Format, asked_model: Option<&str>) -> Plan {
        let scenario = match std::env::var("FAKE_AGENT_SCENARIO") {
            Err(_) => Scenario::default(),
            Ok(s) if s.trim_start().starts_with('{') => serde_json::from_str(&s)
                .unwrap_or_else(|e| die(format!("FAKE_AGENT_SCENARIO (inline JSON): {e}"))),
            Ok(path) => match std::fs::read_to_string(&path) {
                Ok(text) => serde_json::from_str(&text)
                    .unwrap_or_else(|e| die(format!("scenario {path}: {e}"))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("fake-agent: no scenario at {path}; default behaviour");
                    Scenario::default()
                }
                Err(e) => die(format!("scenario {path}: {e}")),
            },
        };
        let task = scenario.tasks.get(task_id).cloned().unwrap_or_default();
        Self::resolve(
            task.over(scenario.default),
            task_id,
            attempt,
            format,
            asked_model,
        )
    }

    fn resolve(
        b: Behaviour,
        task_id: &str,
        attempt: u32,
        format: Format,
        asked_model: Option<&str>,
    ) -> Plan {
        let models = match b.models {
            Some(m) if m.is_empty() || m.len() > 2 => die("`models` wants one or two names"),
            Some(m) => m,
            None => {
                let main = resolve_model(asked_model.unwrap_or(SONNET));
                let second = if main == HAIKU { SONNET } else { HAIKU };
                vec![main, second.to_owned()]
            }
        };
        let usage = b.usage.unwrap_or_default();
        let mut plan = Plan {
            files: b.files.unwrap_or_else(|| {
                BTreeMap::from([(format!("{task_id}.txt"), "done by fake agent\n".to_owned())])
            }),
            append: b.append.unwrap_or_default(),
            commit: b.commit.unwrap_or(true),
            commits: b.commits.unwrap_or(1),
            close: b.close.unwrap_or(false),
            exit: b.exit.unwrap_or(0),
            sleep: Duration::from_millis(b.sleep_ms.unwrap_or(0)),
            hang: b.hang.unwrap_or(false),
            hang_after_work: b.hang_after_work.unwrap_or(false),
            result_on_sigint: b.result_on_sigint.unwrap_or(false),
            ignore_sigterm: b.ignore_sigterm.unwrap_or(false),
            grandchild: b.grandchild.unwrap_or(false),
            error: b.error_result.filter(|_| {
                b.error_only_as.as_deref().is_none_or(|only| match format {
                    Format::Claude => only == "claude",
                    Format::Codex => only == "codex",
                    Format::None => false,
                })
            }),
            garbage: b.garbage.unwrap_or(false),
            big_line_bytes: b.big_line_bytes,
            no_result: b.no_result.unwrap_or(false),
            hook_event: b.hook_event.unwrap_or(true),
            models,
            cache_1h: b.cache_1h.unwrap_or(false),
            fast: b.fast.unwrap_or(false),
            web_searches: b.web_searches.unwrap_or(0),
            main: usage.main.unwrap_or(Tokens {
                input_tokens: 1200,
                cache_creation_input_tokens: 3000,
                cache_read_input_tokens: 15000,
                output_tokens: 450,
            }),
            second: usage.second.unwrap_or(Tokens {
                input_tokens: 800,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 2000,
                output_tokens: 120,
            }),
            codex_turns: usage.codex_turns.unwrap_or_else(|| {
                vec![
                    CodexTurn {
                        input_tokens: 5000,
                        cached_input_tokens: 3000,
                        output_tokens: 300,
                        reasoning_output_tokens: 0,
                    },
                    CodexTurn {
                        input_tokens: 7000,
                        cached_input_tokens: 6000,
                        output_tokens: 500,
                        reasoning_output_tokens: 0,
                    },
                ]
            }),
        };
        let no_work = |plan: &mut Plan| {
            plan.files.clear();
            plan.append.clear();
            plan.commit = false;
            plan.close = false;
        };
        if b.succeed_on_attempt.is_some_and(|n| attempt < n) {
            no_work(&mut plan);
            plan.exit = 1;
        }
        if plan.error.is_some() {
            no_work(&mut plan);
            plan.exit = b.exit.unwrap_or(match format {
                Format::Codex => 0,
                _ => 1,
            });
        }
        plan
    }
}

impl Behaviour {
    /// `self` where set, else `base`.
    fn over(self, base: Behaviour) -> Behaviour {
        let usage = match (self.usage, base.usage) {
            (Some(t), Some(d)) => Some(UsageSpec {
                main: t.main.or(d.main),
                second: t.second.or(d.second),
                codex_turns: t.codex_turns.or(d.codex_turns),
            }),
            (t, d) => t.or(d),
        };
        Behaviour {
            files: self.files.or(base.files),
            append: self.append.or(base.append),
            commit: self.commit.or(base.commit),
            commits: self.commits.or(base.commits),
            close: self.close.or(base.close),
            exit: self.exit.or(base.exit),
            sleep_ms: self.sleep_ms.or(base.sleep_ms),
            hang: self.hang.or(base.hang),
            hang_after_work: self.hang_after_work.or(base.hang_after_work),
            result_on_sigint: self.result_on_sigint.or(base.result_on_sigint),
            ignore_sigterm: self.ignore_sigterm.or(base.ignore_sigterm),
            grandchild: self.grandchild.or(base.grandchild),
            error_result: self.error_result.or(base.error_result),
            error_only_as: self.error_only_as.or(base.error_only_as),
            garbage: self.garbage.or(base.garbage),
            big_line_bytes: self.big_line_bytes.or(base.big_line_bytes),
            no_result: self.no_result.or(base.no_result),
            hook_event: self.hook_event.or(base.hook_event),
            succeed_on_attempt: self.succeed_on_attempt.or(base.succeed_on_attempt),
            models: self.models.or(base.models),
            usage,
            cache_1h: self.cache_1h.or(base.cache_1h),
            fast: self.fast.or(base.fast),
            web_searches: self.web_searches.or(base.web_searches),
        }
    }
}

/// List prices in USD per million tokens: input, output, cache write, cache read.
fn prices(model: &str) -> [f64; 4] {
    if model.contains("opus") {
        [5.0, 25.0, 6.25, 0.5]
    } else if model.contains("haiku") {
        [1.0, 5.0, 1.25, 0.1]
    } else {
        [3.0, 15.0, 3.75, 0.3]
    }
}

/// How `t` was spent beyond its counts: write duration, speed, web searches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Billing {
    pub cache_1h: bool,
    pub fast: bool,
    pub web_searches: u64,
}

/// What `t` costs on `model`, rounded to a billionth of a dollar, as Claude Code's own
/// estimate prices it: 1-hour writes at 2x input, fast mode at 6x on Opus 4.6 (2x on later
/// Opus models), $10 per 1,000 web searches.
pub fn cost(model: &str, t: &Tokens, billing: Billing) -> f64 {
    let [i, o, w, r] = prices(model);
    let write = if billing.cache_1h { 2.0 * i } else { w };
    let speed = match (billing.fast, model.contains("opus-4-6")) {
        (false, _) => 1.0,
        (true, true) => 6.0,
        (true, false) => 2.0,
    };
    #[allow(clippy::cast_precision_loss)]
    let micro = (t.input_tokens as f64 * i
        + t.output_tokens as f64 * o
        + t.cache_creation_input_tokens as f64 * write
        + t.cache_read_input_tokens as f64 * r)
        * speed
        + billing.web_searches as f64 * 10_000.0;
    round(micro / 1e6)
}

pub fn round(usd: f64) -> f64 {
    (usd * 1e9).round() / 1e9
}
