//! Agent failures sorted into the classes retries care about.
//!
//! Whether a failed task is worth retrying depends on why it failed: a bad key or an
//! unknown model fails the same way every time, a rate limit or a server error may not.
//! Agents report failures as free text (`API Error: 401 {...}`), so the class is read from
//! HTTP statuses and well-known phrases in that text.

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
    /// True when retrying the same command cannot succeed.
    pub fn is_deterministic(self) -> bool {
        matches!(self, Self::Auth | Self::BadRequest)
    }
}

/// An agent's failure: its class and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFailure {
    /// The class, for retry decisions.
    pub class: ErrorClass,
    /// The agent's message (bounded).
    pub message: String,
}

impl AgentFailure {
    /// A failure classified from its message and, when the event carried one, an HTTP
    /// status.
    pub(crate) fn classified(message: &str, status: Option<u64>) -> Self {
        Self {
            class: classify(message, status),
            message: bounded(message.trim()),
        }
    }
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
