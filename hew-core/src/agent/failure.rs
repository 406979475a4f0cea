//! Agent failures sorted into the classes retries care about, and into the task's fault
//! or the environment's.
//!
//! Whether a failed task is worth retrying depends on why it failed: a bad key or an
//! unknown model fails the same way every time, a rate limit or a server error may not.
//! Agents report failures as free text (`API Error: 401 {...}`), so the class is read from
//! HTTP statuses and well-known phrases in that text.
//!
//! Some failures say nothing about the task at all: the agent is not logged in, the
//! network is down, the plan's usage limit is reached, the model name is wrong, the CLI
//! refused its arguments or died before printing a line. Every task would fail the same
//! way, so such a failure carries an [`Environment`]: the caller leaves the task as it was
//! and stops, instead of spending the task's retries. The phrases below are the ones the
//! pinned CLIs print (`tests/fixtures/streams/`); runtime-specific signals (Claude's
//! `error` field, an exit before any event) are read by the stream parsers and the runner
//! of the process, which set the field directly.

use serde::{Deserialize, Serialize};

/// Longest failure message kept, in bytes (a message can embed a whole API response).
const MAX_MESSAGE: usize = 2000;

/// Why an agent failed, as far as hew can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 401/403, invalid key, expired login. Retrying will not help.
    Auth,
    /// 429, overloaded, usage limit reached. Retrying later may help.
    RateLimit,
    /// 5xx. Retrying may help.
    Server,
    /// 400/404/422, unknown model, invalid request. Retrying will not help.
    BadRequest,
    /// Anything else, including a non-zero exit with no error in the output.
    Other,
}

impl ErrorClass {
    /// The name used in records and output: `auth`, `rate_limit`, `server`, `bad_request`,
    /// `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::RateLimit => "rate_limit",
            Self::Server => "server",
            Self::BadRequest => "bad_request",
            Self::Other => "other",
        }
    }

    /// True when retrying the same command cannot succeed.
    pub fn is_deterministic(self) -> bool {
        matches!(self, Self::Auth | Self::BadRequest)
    }
}

/// A failure that is the environment's, not the task's: any task would fail the same way
/// until someone fixes it. What the user should do about each is said by the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Environment {
    /// Not logged in, an invalid or expired key or login (HTTP 401/403).
    Login,
    /// The model API cannot be reached: the stream showed only connection errors.
    Network,
    /// The account's usage limit, quota or credit is used up.
    UsageLimit {
        /// When the limit resets, in seconds since the Unix epoch, if the agent said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resets_at: Option<u64>,
    },
    /// The model named does not exist or is not available to this account.
    Model,
    /// The CLI refused its command line (an unknown flag or value): a usage error.
    Flag,
    /// The agent program is missing, cannot be executed, or died before printing anything
    /// it was expected to print.
    Start,
    /// The worktree's setup command (`loop.worktree.setup`) failed, before any agent ran.
    Setup,
}

impl Environment {
    /// A short name for messages and records: `login`, `network`, `usage_limit`, `model`,
    /// `flag`, `start`, `setup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Network => "network",
            Self::UsageLimit { .. } => "usage_limit",
            Self::Model => "model",
            Self::Flag => "flag",
            Self::Start => "start",
            Self::Setup => "setup",
        }
    }
}

/// An agent's failure: its class, whose fault it is, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFailure {
    /// The class, for retry decisions.
    pub class: ErrorClass,
    /// The agent's message (bounded).
    pub message: String,
    /// Set when the failure is the environment's, not the task's (see [`Environment`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

impl AgentFailure {
    /// A failure classified from its message and, when the event carried one, an HTTP
    /// status.
    pub(crate) fn classified(message: &str, status: Option<u64>) -> Self {
        let class = classify(message, status);
        Self {
            class,
            message: bounded(message.trim()),
            environment: environment_of(message, class),
        }
    }

    /// A failure of the task's, with no class of its own (`other`).
    pub(crate) fn other(message: String) -> Self {
        Self {
            class: ErrorClass::Other,
            message,
            environment: None,
        }
    }

    /// True when the failure is the environment's: retrying any task cannot help.
    pub fn is_environment(&self) -> bool {
        self.environment.is_some()
    }
}

/// Whose fault a failure is, read from its text and class: `None` for the task's.
pub(crate) fn environment_of(message: &str, class: ErrorClass) -> Option<Environment> {
    let text = message.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if any(&[
        "usage limit",
        "hit your limit",
        "insufficient_quota",
        "exceeded your current quota",
        "credit balance is too low",
    ]) {
        return Some(Environment::UsageLimit {
            resets_at: reset_time(message),
        });
    }
    if class == ErrorClass::Auth {
        return Some(Environment::Login);
    }
    if any(&[
        "unrecognized_model",
        "model not found",
        "model_not_found",
        "unknown model",
        "unsupported model",
        "invalid model",
        "issue with the selected model",
    ]) || (text.contains("model") && any(&["does not exist", "not_found_error"]))
    {
        return Some(Environment::Model);
    }
    if is_connection_error(&text) {
        return Some(Environment::Network);
    }
    None
}

/// True for the messages agents print while they cannot reach their API (lower case).
pub(crate) fn is_connection_error(text: &str) -> bool {
    [
        "reconnecting...",
        "waiting for network",
        "stream disconnected",
        "error sending request",
        "failed to lookup address",
        "name does not resolve",
        "connection error",
        "can't reach the api server",
        "connection refused",
        "connection reset",
        "connection failed",
        "network is unreachable",
        "unable to connect",
        "econnrefused",
        "enotfound",
        "etimedout",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// The reset time a usage-limit message names, in Unix seconds: Claude's
/// `usage limit reached|1760000000`.
fn reset_time(message: &str) -> Option<u64> {
    let (_, after) = message.rsplit_once('|')?;
    let digits: String = after
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // Ten digits: a time in seconds this century, not some other number.
    (digits.len() == 10).then(|| digits.parse().ok()).flatten()
}

/// The class of a failure message; an explicit status wins over the text.
pub(crate) fn classify(message: &str, status: Option<u64>) -> ErrorClass {
    if let Some(class) = status.and_then(class_of_status) {
        return class;
    }
    let text = message.to_ascii_lowercase();
    let statuses: Vec<u64> = numbers(&text).collect();
    let has = |status: &[u64], words: &[&str]| {
        statuses.iter().any(|s| status.contains(s)) || words.iter().any(|w| text.contains(w))
    };
    if has(
        &[401, 403],
        &[
            "invalid api key",
            "invalid x-api-key",
            "authentication",
            "unauthorized",
            "permission_error",
            "please run /login",
            "oauth token",
            "not logged in",
        ],
    ) {
        ErrorClass::Auth
    } else if has(
        &[429, 529],
        &[
            "rate limit",
            "rate_limit",
            "ratelimit",
            "overloaded",
            "too many requests",
            "usage limit",
            "quota",
        ],
    ) {
        ErrorClass::RateLimit
    } else if statuses.iter().any(|s| (500..600).contains(s))
        || [
            "internal server error",
            "server error",
            "api_error",
            "bad gateway",
            "service unavailable",
        ]
        .iter()
        .any(|w| text.contains(w))
    {
        ErrorClass::Server
    } else if has(
        &[400, 404, 422],
        &[
            "invalid request",
            "invalid_request",
            "model not found",
            "model_not_found",
            "not_found_error",
            "unknown model",
            "does not exist",
            "unsupported model",
        ],
    ) {
        ErrorClass::BadRequest
    } else {
        ErrorClass::Other
    }
}

fn class_of_status(status: u64) -> Option<ErrorClass> {
    match status {
        401 | 403 => Some(ErrorClass::Auth),
        429 | 529 => Some(ErrorClass::RateLimit),
        500..=599 => Some(ErrorClass::Server),
        400 | 404 | 422 => Some(ErrorClass::BadRequest),
        _ => None,
    }
}

/// Three-digit numbers standing alone in `text` (so `msg_01x429y` does not count).
fn numbers(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.len() == 3 && word.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|word| word.parse().ok())
}

/// `text` cut to [`MAX_MESSAGE`] bytes on a character boundary.
pub(crate) fn bounded(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn class_names_are_those_of_the_records() {
        for class in [Auth, RateLimit, Server, BadRequest, Other] {
            assert_eq!(
                serde_json::to_value(class).unwrap(),
                class.as_str(),
                "{class:?}"
            );
        }
    }

    #[test]
    fn classifies_claude_and_codex_messages() {
        let cases = [
            (
                r#"API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                Auth,
            ),
            ("Invalid API key · Please run /login", Auth),
            ("unexpected status 403 Forbidden", Auth),
            (
                r#"API Error: 429 {"type":"error","error":{"type":"rate_limit_error"}}"#,
                RateLimit,
            ),
            (
                r#"API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                RateLimit,
            ),
            ("Claude AI usage limit reached|1760000000", RateLimit),
            (
                r#"API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
                Server,
            ),
            ("unexpected status 502 Bad Gateway", Server),
            (
                r#"API Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}"#,
                BadRequest,
            ),
            ("The model `gpt-9` does not exist", BadRequest),
            ("error_max_turns", Other),
            ("something went wrong after 1234 steps", Other),
            ("request msg_01x429y failed", Other),
        ];
        for (text, want) in cases {
            assert_eq!(classify(text, None), want, "{text}");
        }
    }

    #[test]
    fn an_explicit_status_wins() {
        assert_eq!(classify("Overloaded", Some(401)), Auth);
        assert_eq!(classify("whatever", Some(503)), Server);
        assert_eq!(classify("rate limited", Some(418)), RateLimit);
    }

    #[test]
    fn messages_are_bounded_on_a_char_boundary() {
        let long = "é".repeat(5000);
        let failure = AgentFailure::classified(&long, None);
        assert!(failure.message.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(failure.message.ends_with('…'));
    }

    #[test]
    fn serde_names() {
        let json = serde_json::to_string(&[Auth, RateLimit, Server, BadRequest, Other]).unwrap();
        assert_eq!(
            json,
            r#"["auth","rate_limit","server","bad_request","other"]"#
        );
    }
}
