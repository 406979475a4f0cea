//! Random input never panics a parser and never yields an inconsistent report.
//!
//! A tiny deterministic generator (xorshift) mutates real event lines (truncation, byte
//! flips, splices, wrong types) and mixes in random bytes, so a failure reproduces from
//! its seed.

use super::*;
use crate::fuzz::{Rng, iterations};

const SEEDS: [&str; 14] = [
    r#"{"type":"system","subtype":"init","model":"claude-sonnet-4-5","tools":[]}"#,
    r#"{"type":"assistant","message":{"id":"msg_1","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":100,"cache_creation_input_tokens":50}}}"#,
    r#"{"type":"assistant","message":{"id":"msg_2","model":"<synthetic>","usage":{"input_tokens":18446744073709551615,"output_tokens":18446744073709551615}}}"#,
    r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.5,"usage":{"input_tokens":1,"output_tokens":2},"modelUsage":{"a":{"inputTokens":1,"outputTokens":2,"cacheReadInputTokens":3,"cacheCreationInputTokens":4}}}"#,
    r#"{"type":"result","subtype":"error_during_execution","is_error":true,"result":"API Error: 429","errors":[1,{"a":null}],"status":429}"#,
    r#"{"type":"thread.started","thread_id":"t"}"#,
    r#"{"type":"turn.started"}"#,
    r#"{"type":"turn.completed","usage":{"input_tokens":5,"cached_input_tokens":9,"output_tokens":1.5e3}}"#,
    r#"{"type":"turn.failed","error":{"message":"unexpected status 500","status":"500"}}"#,
    r#"{"type":"error","message":null}"#,
    r#"{"id":"0","msg":{"type":"token_count","info":{"total_token_usage":{"input_tokens":"7"}}}}"#,
    r#"{"id":"0","msg":{"type":"token_count","input_tokens":-4,"output_tokens":[]}}"#,
    r#"{"id":"0","msg":{"type":"session_configured","model":{"x":1}}}"#,
    "not json at all",
];

fn line(rng: &mut Rng) -> Vec<u8> {
    if rng.below(10) == 0 {
        return b"{\"type\":".repeat(rng.below(300));
    }
    rng.mutate(&SEEDS)
}

fn check(report: &StreamReport) {
    let usage = &report.usage;
    let mut sum = Tokens::default();
    for tokens in usage.per_model.values() {
        sum.add(tokens);
    }
    assert_eq!(sum, usage.total, "{usage:?}");
    if usage.source == UsageSource::Unknown {
        assert_eq!(*usage, Usage::unknown());
    }
    if let Some(cost) = report.reported_cost_usd {
        assert!(cost.is_finite() && cost >= 0.0);
    }
}

#[test]
fn fuzz_agent_streams_never_panic_and_reports_stay_consistent() {
    for seed in 1..=iterations(300) {
        let mut rng = Rng::new(seed);
        for runtime in Runtime::ALL {
            let mut parser = UsageParser::new(runtime, Some("m"));
            for _ in 0..40 {
                parser.feed(&line(&mut rng));
                if rng.below(8) == 0 {
                    check(&parser.report(rng.below(2) == 0));
                }
            }
            check(&parser.report(true));
            check(&parser.report(false));
        }
    }
}

#[test]
fn deeply_nested_input_is_refused_not_a_stack_overflow() {
    let mut parser = UsageParser::new(Runtime::Command, None);
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert!(!parser.feed(deep.as_bytes()));
    let arrays = format!(
        "{{\"type\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(!parser.feed(arrays.as_bytes()));
}
