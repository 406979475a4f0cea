//! Accounting properties over generated streams in the real formats: whatever the order,
//! repetition, interleaved garbage, line length or pipe chunking, the figures follow the
//! rules of `formats/agents.md` exactly. Deterministic (xorshift), so a failure
//! reproduces from its seed.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::*;
use crate::agent::stream::{Sink, StdoutSink};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MODELS: [&str; 3] = [
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-5-20251101",
];

const NOISE: [&str; 5] = [
    "Warning: not JSON",
    r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"ok"}]}}"#,
    r#"{"type":"system","subtype":"hook_response","hook":"SessionStart"}"#,
    r#"{"type":"assistant","message":{"id":"msg_cut"#,
    "",
];

/// Counts as the streams below carry them: no cache write durations, so every write is
/// unsplit.
fn tokens(rng: &mut Rng) -> Tokens {
    let cache_create = rng.below(20_000);
    Tokens {
        input: rng.below(5_000),
        output: rng.below(2_000),
        cache_read: rng.below(200_000),
        cache_create,
        cache_create_unsplit: cache_create,
        ..Default::default()
    }
}

fn assistant(id: &str, model: &str, t: &Tokens) -> String {
    format!(
        r#"{{"type":"assistant","message":{{"id":"{id}","model":"{model}","content":[{{"type":"text","text":"x"}}],"usage":{{"input_tokens":{},"output_tokens":{},"cache_read_input_tokens":{},"cache_creation_input_tokens":{}}}}},"session_id":"s"}}"#,
        t.input, t.output, t.cache_read, t.cache_create
    )
}

fn result(models: &BTreeMap<String, Tokens>) -> String {
    let entries: Vec<String> = models
        .iter()
        .map(|(m, t)| {
            format!(
                r#""{m}":{{"inputTokens":{},"outputTokens":{},"cacheReadInputTokens":{},"cacheCreationInputTokens":{},"costUSD":0.01}}"#,
                t.input, t.output, t.cache_read, t.cache_create
            )
        })
        .collect();
    format!(
        r#"{{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.5,"usage":{{"input_tokens":1,"output_tokens":1}},"modelUsage":{{{}}}}}"#,
        entries.join(",")
    )
}

/// A Claude stream without a result: assistant messages (each repeated per content
/// block), tool results and noise. Returns the lines and the deduplicated sums.
fn claude_without_result(rng: &mut Rng) -> (Vec<String>, BTreeMap<String, Tokens>) {
    let mut lines = vec![
        r#"{"type":"system","subtype":"init","model":"claude-sonnet-4-5-20250929"}"#.to_owned(),
    ];
    let mut expected: BTreeMap<String, Tokens> = BTreeMap::new();
    for n in 0..rng.below(12) {
        let model = MODELS[rng.below(3) as usize];
        let t = tokens(rng);
        for _ in 0..=rng.below(3) {
            lines.push(assistant(&format!("msg_{n}"), model, &t));
        }
        if t.total() > 0 {
            expected.entry(model.to_owned()).or_default().add(&t);
        }
        if rng.below(2) == 0 {
            lines.push(NOISE[rng.below(NOISE.len() as u64) as usize].to_owned());
        }
    }
    (lines, expected)
}

fn report_of(runtime: Runtime, lines: &[String], exited: bool) -> StreamReport {
    let mut p = UsageParser::new(runtime, Some("sonnet"));
    for l in lines {
        p.feed(l.as_bytes());
    }
    p.report(exited)
}

#[test]
fn repeated_assistant_blocks_count_once_and_the_sum_is_partial() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (lines, expected) = claude_without_result(&mut rng);
        let usage = report_of(Runtime::Claude, &lines, false).usage;
        if expected.is_empty() {
            assert_eq!(usage, Usage::unknown(), "seed {seed}");
        } else {
            assert_eq!(usage.source, UsageSource::Partial, "seed {seed}");
            assert_eq!(usage.per_model, expected, "seed {seed}");
        }

        // Repeating any line right after itself changes nothing.
        let mut doubled = Vec::new();
        for l in &lines {
            doubled.push(l.clone());
            if rng.below(3) == 0 {
                doubled.push(l.clone());
            }
        }
        assert_eq!(
            report_of(Runtime::Claude, &doubled, false).usage,
            usage,
            "seed {seed}"
        );
    }
}

#[test]
fn a_result_with_model_usage_is_the_figure_whatever_came_before() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let (mut lines, _) = claude_without_result(&mut rng);
        let mut models: BTreeMap<String, Tokens> = BTreeMap::new();
        for m in MODELS.iter().take(1 + rng.below(3) as usize) {
            let mut t = tokens(&mut rng);
            t.input += 1;
            models.insert((*m).to_owned(), t);
        }
        lines.push(result(&models));
        if rng.below(2) == 0 {
            lines.push(NOISE[0].to_owned());
        }
        let report = report_of(Runtime::Claude, &lines, true);
        let mut total = Tokens::default();
        for t in models.values() {
            total.add(t);
        }
        assert_eq!(report.usage.source, UsageSource::Result, "seed {seed}");
        assert_eq!(report.usage.per_model, models, "seed {seed}");
        assert_eq!(
            report.usage.total, total,
            "seed {seed}: nothing else is added"
        );
        assert_eq!(report.reported_cost_usd, Some(0.5));
    }
}

#[test]
fn codex_running_totals_read_exactly_in_claude_convention() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F));
        let mut lines = vec![r#"{"type":"thread.started","thread_id":"t"}"#.to_owned()];
        let (mut input, mut cached, mut output) = (0u64, 0u64, 0u64);
        let turns = 1 + rng.below(6);
        for _ in 0..turns {
            let i = rng.below(100_000);
            let c = rng.below(i + 1);
            let o = rng.below(5_000);
            let reasoning = rng.below(o + 1);
            lines.push(r#"{"type":"turn.started"}"#.to_owned());
            if rng.below(2) == 0 {
                lines.push(r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"ok"}}"#.to_owned());
            }
            (input, cached, output) = (input + i, cached + c, output + o);
            // Each turn.completed carries the thread's running total.
            lines.push(format!(
                r#"{{"type":"turn.completed","usage":{{"input_tokens":{input},"cached_input_tokens":{cached},"output_tokens":{output},"reasoning_output_tokens":{reasoning}}}}}"#
            ));
        }
        let usage = report_of(Runtime::Codex, &lines, true).usage;
        assert_eq!(usage.source, UsageSource::Result, "seed {seed}");
        assert_eq!(
            usage.total,
            Tokens {
                input: input - cached,
                output,
                cache_read: cached,
                cache_create: 0,
                ..Default::default()
            },
            "seed {seed}"
        );
        // Cached input is part of Codex's input: nothing is counted twice.
        assert_eq!(usage.total.total(), input + output, "seed {seed}");
        assert_eq!(usage.per_model.keys().collect::<Vec<_>>(), ["sonnet"]);
    }
}

#[test]
fn pipe_chunking_and_multi_megabyte_lines_do_not_change_the_figures() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let (mut lines, _) = claude_without_result(&mut rng);
    // A 3 MB tool result in the middle, as agents print when they cat a big file.
    let big = format!(
        r#"{{"type":"user","message":{{"content":[{{"type":"tool_result","content":"{}"}}]}}}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    lines.insert(lines.len() / 2, big);
    let models: BTreeMap<String, Tokens> = [(MODELS[1].to_owned(), tokens(&mut rng))].into();
    lines.push(result(&models));
    let whole = report_of(Runtime::Claude, &lines, true);
    assert_eq!(whole.usage.per_model, models);

    let bytes: Vec<u8> = lines.join("\n").into_bytes();
    for seed in 1..=20u64 {
        let mut rng = Rng(seed);
        let (tx, _rx) = mpsc::unbounded_channel();
        let (link, _) = tokio::sync::watch::channel(Default::default());
        let mut sink = StdoutSink::new(UsageParser::new(Runtime::Claude, Some("sonnet")), tx, link);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(256 * 1024) as usize).min(rest.len());
            sink.chunk(&rest[..n]);
            rest = &rest[n..];
        }
        sink.end();
        assert_eq!(sink.parser().report(true), whole, "seed {seed}");
    }
}
