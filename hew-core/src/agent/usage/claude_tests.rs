use super::*;
use crate::agent::ErrorClass;
use crate::agent::Runtime;
use crate::agent::usage::UsageParser;

const INIT: &str = r#"{"type":"system","subtype":"init","session_id":"s1","model":"claude-sonnet-4-5-20250929","cwd":"/wt","tools":["Bash"]}"#;

fn assistant(id: &str, model: &str, input: u64, output: u64, read: u64, create: u64) -> String {
    format!(
        r#"{{"type":"assistant","message":{{"id":"{id}","model":"{model}","content":[{{"type":"text","text":"hi"}}],"usage":{{"input_tokens":{input},"output_tokens":{output},"cache_read_input_tokens":{read},"cache_creation_input_tokens":{create}}}}},"parent_tool_use_id":null,"session_id":"s1"}}"#
    )
}

fn parse(lines: &[&str]) -> StreamReport {
    let mut p = UsageParser::new(Runtime::Claude, Some("sonnet"));
    for line in lines {
        p.feed(line.as_bytes());
    }
    p.report(true)
}

/// Counts as read from a stream that gives no cache write durations: every write unsplit.
fn t(input: u64, output: u64, cache_read: u64, cache_create: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_create,
        cache_create_unsplit: cache_create,
        ..Default::default()
    }
}

#[test]
fn result_with_model_usage_over_two_models_is_the_truth() {
    let a = assistant("msg_1", "claude-sonnet-4-5-20250929", 10, 1, 100, 50);
    let result = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":1000,"num_turns":3,"total_cost_usd":0.0421,
        "usage":{"input_tokens":30,"cache_creation_input_tokens":500,"cache_read_input_tokens":2000,"output_tokens":400},
        "modelUsage":{
          "claude-sonnet-4-5-20250929":{"inputTokens":30,"outputTokens":400,"cacheReadInputTokens":2000,"cacheCreationInputTokens":500,"webSearchRequests":0,"costUSD":0.04},
          "claude-haiku-4-5-20251001":{"inputTokens":700,"outputTokens":20,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"costUSD":0.0021}},
        "session_id":"s1"}"#
        .replace('\n', "");
    let report = parse(&[INIT, &a, &result]);
    let usage = report.usage;
    assert_eq!(usage.source, UsageSource::Result);
    assert_eq!(usage.per_model.len(), 2);
    assert_eq!(
        usage.per_model["claude-sonnet-4-5-20250929"],
        t(30, 400, 2000, 500)
    );
    assert_eq!(
        usage.per_model["claude-haiku-4-5-20251001"],
        t(700, 20, 0, 0)
    );
    // The sum over models; neither result.usage nor the assistant line is added to it.
    assert_eq!(usage.total, t(730, 420, 2000, 500));
    assert_eq!(usage.total.total(), 3650);
    assert_eq!(report.reported_cost_usd, Some(0.0421));
    assert_eq!(
        report.model_seen.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert_eq!(report.failure, None);
}

#[test]
fn result_without_model_usage_takes_the_model_from_init_and_is_partial() {
    let result = r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.01,"usage":{"input_tokens":5,"cache_creation_input_tokens":6,"cache_read_input_tokens":7,"output_tokens":8}}"#;
    let usage = parse(&[INIT, result]).usage;
    // `usage` covers the main loop only: subagents and background calls are missing.
    assert_eq!(usage.source, UsageSource::Partial);
    assert_eq!(
        usage.per_model,
        [("claude-sonnet-4-5-20250929".to_owned(), t(5, 8, 7, 6))].into()
    );
    // With no init, the first assistant model; with neither, the launch model.
    let a = assistant("msg_1", "claude-opus-4-5", 1, 1, 0, 0);
    let usage = parse(&[&a, result]).usage;
    assert!(usage.per_model.contains_key("claude-opus-4-5"));
    let usage = parse(&[result]).usage;
    assert!(usage.per_model.contains_key("sonnet"), "{usage:?}");
}

#[test]
fn without_a_result_assistant_lines_are_deduplicated_by_message_id() {
    let m = "claude-sonnet-4-5-20250929";
    let lines = [
        INIT.to_owned(),
        // One response split into three content blocks, repeating id and usage; the last
        // repeat carries a later output count and replaces the earlier ones.
        assistant("msg_1", m, 10, 1, 100, 50),
        assistant("msg_1", m, 10, 1, 100, 50),
        assistant("msg_1", m, 10, 5, 100, 50),
        assistant("msg_2", m, 3, 2, 160, 0),
        assistant("msg_2", m, 3, 2, 160, 0),
        r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"ok"}]}}"#.into(),
        assistant("msg_3", "claude-haiku-4-5-20251001", 40, 4, 0, 0),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let usage = parse(&lines).usage;
    assert_eq!(usage.source, UsageSource::Partial);
    assert_eq!(usage.per_model[m], t(13, 7, 260, 50));
    assert_eq!(usage.per_model["claude-haiku-4-5-20251001"], t(40, 4, 0, 0));
    assert_eq!(usage.total, t(53, 11, 260, 50));
}

#[test]
fn error_results_are_failures_with_a_class() {
    let cases = [
        (
            r#"API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}"#,
            ErrorClass::Auth,
        ),
        (
            r#"API Error: 429 {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your per-minute rate limit\"}}"#,
            ErrorClass::RateLimit,
        ),
        (
            r#"API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}"#,
            ErrorClass::Server,
        ),
        (
            r#"API Error: 400 {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"model: claude-nope\"}}"#,
            ErrorClass::BadRequest,
        ),
    ];
    for (text, class) in cases {
        let result = format!(
            r#"{{"type":"result","subtype":"success","is_error":true,"result":"{text}","total_cost_usd":0,"usage":{{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}}"#
        );
        let report = parse(&[INIT, &result]);
        let failure = report.failure.expect(text);
        assert_eq!(failure.class, class, "{text}");
        assert!(failure.message.starts_with("API Error"), "{failure:?}");
        // Zeroed usage on an error result with nothing else to go on is what it says (a
        // main-loop figure: partial).
        assert_eq!(report.usage.source, UsageSource::Partial);
        assert_eq!(report.usage.total.total(), 0);
    }
}

#[test]
fn error_subtypes_are_failures_and_zeroed_usage_falls_back_to_assistant_sums() {
    let a = assistant("msg_1", "claude-sonnet-4-5-20250929", 10, 2, 0, 0);
    let result = r#"{"type":"result","subtype":"error_during_execution","is_error":false,"errors":["tool crashed"],"usage":{"input_tokens":0,"output_tokens":0}}"#;
    let report = parse(&[INIT, &a, result]);
    let failure = report.failure.unwrap();
    assert_eq!(failure.class, ErrorClass::Other);
    assert_eq!(failure.message, "tool crashed");
    assert_eq!(report.usage.source, UsageSource::Partial);
    assert_eq!(report.usage.total, t(10, 2, 0, 0));

    let bare = r#"{"type":"result","subtype":"error_max_turns"}"#;
    let report = parse(&[bare]);
    assert_eq!(report.failure.unwrap().message, "error_max_turns");
    assert_eq!(report.usage.source, UsageSource::Unknown);
}

#[test]
fn garbage_and_truncated_lines_do_not_lose_the_result() {
    let result = r#"{"type":"result","subtype":"success","is_error":false,"modelUsage":{"m":{"inputTokens":1,"outputTokens":2,"cacheReadInputTokens":3,"cacheCreationInputTokens":4}}}"#;
    let a = assistant("msg_1", "m", 1, 1, 1, 1);
    let mut p = UsageParser::new(Runtime::Claude, None);
    let lines: [&[u8]; 10] = [
        b"Warning: something on stdout",
        INIT.as_bytes(),
        &a.as_bytes()[..a.len() / 2],
        b"\xff\xfe\x00garbage",
        b"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_9\",\"usage\":\"lots\"}}",
        b"{\"type\":\"result\",\"modelUsage\":",
        b"{\"type\":\"assistant\",\"message\":{\"id\":7,\"usage\":{\"input_tokens\":-1}}}",
        result.as_bytes(),
        b"}}}}",
        b"{\"type\":\"system\",\"subtype\":\"init\",\"model\":42}",
    ];
    for line in lines {
        p.feed(line);
    }
    let report = p.report(false);
    assert_eq!(report.usage.source, UsageSource::Result);
    assert_eq!(report.usage.total, t(1, 2, 3, 4));
    assert_eq!(
        report.model_seen.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
}

#[test]
fn synthetic_messages_are_not_a_model() {
    let synthetic = r#"{"type":"assistant","message":{"id":"x1","model":"<synthetic>","content":[{"type":"text","text":"Invalid API key · Please run /login"}],"usage":{"input_tokens":0,"output_tokens":0}}}"#;
    let result = r#"{"type":"result","subtype":"success","is_error":true,"result":"Invalid API key · Please run /login"}"#;
    let report = parse(&[synthetic, result]);
    assert_eq!(report.model_seen, None);
    assert_eq!(report.usage.source, UsageSource::Unknown);
    assert_eq!(report.failure.unwrap().class, ErrorClass::Auth);
}

#[test]
fn feed_says_when_the_report_may_have_changed() {
    let mut p = ClaudeStream::new(None);
    let ev = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert!(p.feed(&ev(INIT)));
    assert!(!p.feed(&ev(INIT)));
    assert!(!p.feed(&ev(r#"{"type":"stream_event","event":{}}"#)));
    assert!(p.feed(&ev(&assistant("a", "m", 1, 1, 1, 1))));
}
