//! The real output of the pinned CLIs when the environment is wrong (`tests/fixtures/streams`,
//! how each was captured in its README), classified as the environment failure it is.

use super::failure::{AgentFailure, ErrorClass};
use super::run::start_failure_kind;
use super::usage::{StreamReport, UsageParser};
use super::{Environment, Runtime};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/streams/", $name))
    };
}

fn read(runtime: Runtime, text: &str) -> StreamReport {
    let mut p = UsageParser::new(runtime, None);
    for line in text.lines() {
        p.feed(line.as_bytes());
    }
    p.report(true)
}

fn environment(report: &StreamReport) -> Option<Environment> {
    report.failure.as_ref().and_then(|f| f.environment)
}

#[test]
fn claude_logged_out_is_a_login_failure() {
    let report = read(Runtime::Claude, fixture!("claude-2.1.328-logged-out.jsonl"));
    let failure = report.failure.clone().expect("an error result");
    assert_eq!(failure.class, ErrorClass::Auth);
    assert_eq!(failure.environment, Some(Environment::Login));
    assert_eq!(failure.message, "Not logged in · Please run /login");
    assert!(report.saw_event);
    assert_eq!(report.link.connection_errors, 0);
}

#[test]
fn claude_without_network_retries_ten_times_then_is_a_network_failure() {
    let text = fixture!("claude-2.1.328-no-network.jsonl");
    let report = read(Runtime::Claude, text);
    assert_eq!(environment(&report), Some(Environment::Network));
    let link = &report.link;
    assert_eq!(link.connection_errors, 11, "10 retries and the final error");
    assert!(link.only_connection_errors());
    let retry = link.retry.as_ref().expect("api_retry events");
    assert_eq!(
        (retry.attempt, retry.max, retry.status),
        (10, Some(10), None)
    );

    // Cut before it gave up: only retries, which is what the connection timer watches.
    let retries: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(r#""type":"assistant""#) && !l.contains(r#""type":"result""#))
        .collect();
    let report = read(Runtime::Claude, &retries.join("\n"));
    assert!(report.failure.is_none());
    assert!(report.link.only_connection_errors());
    assert!(!report.link.gave_up, "Claude gives up by exiting");
}

#[test]
fn codex_without_network_gives_up_waiting_for_it() {
    for text in [
        fixture!("codex-0.169-no-network.jsonl"),
        fixture!("codex-0.169-logged-out.jsonl"),
    ] {
        let report = read(Runtime::Codex, text);
        assert_eq!(environment(&report), Some(Environment::Network));
        let link = &report.link;
        assert!(link.only_connection_errors(), "{link:?}");
        let retry = link.retry.as_ref().expect("Reconnecting... n/5");
        assert_eq!((retry.attempt, retry.max), (5, Some(5)));
        assert!(retry.error.starts_with("stream disconnected"), "{retry:?}");
    }
    // The logged-out capture ran long enough to reach "waiting for network".
    let report = read(Runtime::Codex, fixture!("codex-0.169-logged-out.jsonl"));
    assert!(report.link.gave_up);
}

#[test]
fn codex_model_warnings_are_not_progress() {
    let report = read(Runtime::Codex, fixture!("codex-0.169-unknown-model.jsonl"));
    // The unknown model is only a warning to Codex; it then cannot reach the API.
    assert!(report.link.only_connection_errors());
    assert_eq!(environment(&report), Some(Environment::Network));
}

#[test]
fn usage_errors_before_any_event_are_flag_failures() {
    for stderr in [
        fixture!("claude-2.1.328-bad-flag.stderr"),
        fixture!("claude-2.1.328-bad-permission-mode.stderr"),
        fixture!("claude-2.1.328-bypass-as-root.stderr"),
        fixture!("codex-0.169-bad-flag.stderr"),
    ] {
        assert_eq!(start_failure_kind(stderr), Environment::Flag, "{stderr}");
    }
    assert_eq!(
        start_failure_kind("Segmentation fault (core dumped)"),
        Environment::Start
    );
    let missing = super::AgentError::NotFound {
        runtime: Runtime::Claude,
        program: "claude".into(),
    };
    assert_eq!(missing.environment(), Some(Environment::Start));
}

#[test]
fn messages_name_their_environment() {
    let cases = [
        (
            "Claude AI usage limit reached|1760000000",
            Some(Environment::UsageLimit {
                resets_at: Some(1_760_000_000),
            }),
        ),
        (
            "You've hit your usage limit. Upgrade to Pro or try again later.",
            Some(Environment::UsageLimit { resets_at: None }),
        ),
        (
            "Invalid API key · Please run /login",
            Some(Environment::Login),
        ),
        (
            "The model `gpt-9` does not exist or you do not have access to it.",
            Some(Environment::Model),
        ),
        (
            r#"API Error: 404 {"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}"#,
            Some(Environment::Model),
        ),
        (
            "Reconnecting... waiting for network (Connection failed: error sending request)",
            Some(Environment::Network),
        ),
        (
            r#"API Error: 500 {"type":"error","error":{"type":"api_error"}}"#,
            None,
        ),
        ("error_max_turns", None),
        ("the tests failed: 3 of 10", None),
    ];
    for (text, want) in cases {
        assert_eq!(
            AgentFailure::classified(text, None).environment,
            want,
            "{text}"
        );
    }
}

#[test]
fn an_error_result_after_real_work_is_the_tasks() {
    // Text that reads like an outage, in a result that is not an API error.
    let lines = [
        r#"{"type":"system","subtype":"init","model":"claude-sonnet-4-5"}"#,
        r#"{"type":"assistant","message":{"id":"m1","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#,
        r#"{"type":"result","subtype":"error_during_execution","is_error":true,"result":"npm test: connection refused on localhost:5432"}"#,
    ];
    let report = read(Runtime::Claude, &lines.join("\n"));
    let failure = report.failure.expect("an error result");
    assert_eq!(failure.environment, None);
    assert!(report.link.reached);
}

#[test]
fn environments_serialize_with_their_kind() {
    let json = serde_json::to_value(Environment::UsageLimit {
        resets_at: Some(1_760_000_000),
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "usage_limit", "resets_at": 1_760_000_000})
    );
    let json = serde_json::to_value(Environment::Login).unwrap();
    assert_eq!(json, serde_json::json!({"kind": "login"}));
    // Records written before the field have none: the task's failure.
    let old: AgentFailure = serde_json::from_str(r#"{"class":"auth","message":"401"}"#).unwrap();
    assert_eq!(old.environment, None);
}
