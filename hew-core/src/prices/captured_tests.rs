//! Real captured agent output (`tests/fixtures/streams`, origins in its README), read and
//! priced against the list price and the agent's own figure.

use std::collections::BTreeMap;

use super::{ModelPrice, Prices};
use crate::agent::Runtime;
use crate::agent::usage::{StreamReport, UsageParser, UsageSource};

macro_rules! stream {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/streams/", $name))
    };
}

fn read(runtime: Runtime, model: Option<&str>, text: &str) -> StreamReport {
    let mut p = UsageParser::new(runtime, model);
    for line in text.lines() {
        p.feed(line.as_bytes());
    }
    p.report(true)
}

/// Within 5e-7 USD.
fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 5e-7)
}

#[test]
fn claude_1h_writes_are_priced_at_the_1h_rate() {
    let report = read(
        Runtime::Claude,
        Some("haiku"),
        stream!("claude-2.1.233-haiku-1h-writes.jsonl"),
    );
    let usage = &report.usage;
    assert_eq!(usage.source, UsageSource::Result);
    let t = usage.per_model["claude-haiku-4-5-20251001"];
    assert_eq!(
        (t.cache_create, t.cache_create_1h, t.cache_create_unsplit),
        (15451, 15451, 0)
    );
    let cost = Prices::default().cost(usage).total;
    // 10 x $1 + 697 x $5 + 18,134 x $0.10 + 15,451 x $2 per million.
    assert!(close(cost, 0.0362104), "{cost:?}");
    assert!(close(report.reported_cost_usd, 0.0362104));
}

#[test]
fn claude_writes_without_a_split_are_priced_at_the_5m_rate_and_said_so() {
    let report = read(
        Runtime::Claude,
        None,
        stream!("claude-opus-4-5-no-result-split.jsonl"),
    );
    let t = report.usage.per_model["claude-opus-4-5-20251101"];
    assert_eq!(t.cache_create, 13507);
    assert_eq!(t.cache_create_1h, 0);
    // The message accounts for 7,924 5-minute writes; the rest has no duration.
    assert_eq!(t.cache_create_unsplit, 13507 - 7924);
    let cost = Prices::default().cost(&report.usage).total;
    assert!(close(cost, 0.10270775), "{cost:?}");
}

#[test]
fn claude_5m_writes_on_bedrock_and_fast_mode() {
    let standard = read(
        Runtime::Claude,
        None,
        stream!("claude-bedrock-opus-4-6-5m-writes.jsonl"),
    );
    let prices = Prices::default();
    assert!(close(prices.cost(&standard.usage).total, 1.430816));

    let fast = read(
        Runtime::Claude,
        None,
        stream!("derived-claude-bedrock-opus-4-6-fast.jsonl"),
    );
    let keys: Vec<&String> = fast.usage.per_model.keys().collect();
    assert_eq!(keys, ["us.anthropic.claude-opus-4-6-v1[fast]"]);
    // Fast mode is 6x every token price of Opus 4.6.
    let cost = prices.cost(&fast.usage).total;
    assert!(close(cost, 6.0 * 1.430816), "{cost:?}");
}

#[test]
fn claude_web_searches_are_priced_per_request() {
    let report = read(
        Runtime::Claude,
        None,
        stream!("claude-web-search-probe.jsonl"),
    );
    let haiku = report.usage.per_model["claude-haiku-4-5-20251001"];
    assert_eq!(haiku.web_search_requests, 2);
    assert_eq!(report.usage.total.web_search_requests, 2);
    let cost = Prices::default().cost(&report.usage);
    // 21,963 x $1 + 280 x $5 per million, and 2 searches at $10 per 1,000.
    assert!(close(cost.per_model["claude-haiku-4-5-20251001"], 0.043363));
    // Sonnet 5's writes were 1-hour writes the result does not split: priced at the
    // 5-minute rate, hew's total is below Claude's own, which is what the cross-check is for.
    let total = cost.total.unwrap();
    assert!(total < report.reported_cost_usd.unwrap() * 0.99, "{total}");
}

#[test]
fn codex_cache_writes_are_counted_and_priced_where_openai_prices_them() {
    let text = stream!("codex-0.145-gpt-5.6-sol-cache-writes.jsonl");
    let report = read(Runtime::Codex, Some("gpt-5.6-sol"), text);
    let t = report.usage.per_model["gpt-5.6-sol"];
    assert_eq!(
        (t.input, t.cache_read, t.cache_create, t.output),
        (12, 36339, 15248, 267)
    );
    assert_eq!(report.usage.total.total(), 51599 + 267);
    // Not in the built-in table: unknown, never $0.
    assert_eq!(Prices::default().cost(&report.usage).total, None);
    // At the prices of its own source ($5 in, $0.50 cached, $6.25 written, $30 out).
    let overrides: BTreeMap<String, ModelPrice> = [(
        "gpt-5.6-sol".to_owned(),
        ModelPrice {
            input: Some(5.0),
            output: Some(30.0),
            cache_write: Some(6.25),
            cache_read: Some(0.5),
            ..ModelPrice::default()
        },
    )]
    .into();
    let cost = Prices::new(&overrides).cost(&report.usage).total;
    assert!(close(cost, 0.1215395), "{cost:?}");

    let report = read(
        Runtime::Codex,
        Some("gpt-5"),
        stream!("codex-0.147-no-cache-writes.jsonl"),
    );
    let t = report.usage.per_model["gpt-5"];
    assert_eq!(
        (t.input, t.cache_read, t.cache_create),
        (12731 - 6912, 6912, 0)
    );
}

#[test]
fn the_cost_check_flags_a_gap_over_1_percent_and_only_then() {
    use crate::prices::cost_disagreement;
    let prices = Prices::default();
    let exact = read(
        Runtime::Claude,
        None,
        stream!("claude-2.1.233-haiku-1h-writes.jsonl"),
    );
    let cost = prices.cost(&exact.usage).total;
    assert_eq!(
        cost_disagreement(&exact.usage, cost, exact.reported_cost_usd),
        None
    );

    let probe = read(
        Runtime::Claude,
        None,
        stream!("claude-web-search-probe.jsonl"),
    );
    let cost = prices.cost(&probe.usage).total;
    let note = cost_disagreement(&probe.usage, cost, probe.reported_cost_usd).unwrap();
    assert!(
        note.contains("17939 cache writes of no reported duration"),
        "{note}"
    );
}
