use std::collections::BTreeMap;

use super::*;
use crate::agent::Usage;
use crate::prices::Prices;
use crate::records::SCHEMA_VERSION;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/records/v1");

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn run(status: RunStatus, ended: Option<u64>) -> RunRecord {
    RunRecord {
        schema_version: SCHEMA_VERSION,
        run_id: "20261122-000000-abcd".into(),
        status,
        stop_reason: ended.map(|_| StopReason::ReadyEmpty),
        error: None,
        started_at: Timestamp::from_unix_ms(1_000_000),
        ended_at: ended.map(Timestamp::from_unix_ms),
        hew_version: String::new(),
        host: String::new(),
        machine: String::new(),
        backed_off: Vec::new(),
        pid: 0,
        repo: Default::default(),
        into: "main".into(),
        diverted: None,
        jobs: 2,
        runtime: Default::default(),
        iterations: 0,
        outcomes: BTreeMap::new(),
        kept_branches: Vec::new(),
    }
}

fn tokens(input: u64, output: u64, cache_read: u64, cache_create: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_create,
        ..Default::default()
    }
}

/// An iteration on `model` (requested) whose agent used `used` (billed), priced.
fn iter(n: u32, model: Option<&str>, outcome: Outcome, used: &[(&str, Tokens)]) -> IterRecord {
    let mut it = IterRecord::started(n, &format!("demo-{n}"), "a task", 1, 1);
    it.model = model.map(str::to_owned);
    it.outcome = outcome;
    it.started_at = Timestamp::from_unix_ms(1_000_000 + u64::from(n) * 1000);
    it.ended_at = Timestamp::from_unix_ms(1_000_500 + u64::from(n) * 1000);
    it.usage = Usage::from_models(
        used.iter().map(|(m, t)| ((*m).to_owned(), *t)).collect(),
        UsageSource::Result,
    );
    let cost = Prices::default().cost(&it.usage);
    it.cost_usd = cost.total;
    it.cost_per_model = cost.per_model;
    it
}

const OPUS: &str = "claude-opus-4-5-20251101";
const SONNET: &str = "claude-sonnet-4-5-20250929";
const HAIKU: &str = "claude-haiku-4-5-20251001";

#[test]
fn by_model_groups_requested_models_and_billed_groups_consuming_models() {
    let main = tokens(1200, 450, 15000, 3000);
    let second = tokens(800, 120, 2000, 0);
    let iters = [
        iter(
            1,
            Some("opus"),
            Outcome::Closed,
            &[(OPUS, main), (HAIKU, second)],
        ),
        iter(
            2,
            None,
            Outcome::NoChange,
            &[(SONNET, main), (HAIKU, second)],
        ),
        iter(
            3,
            Some("opus"),
            Outcome::AgentFailed,
            &[(OPUS, main), (HAIKU, second)],
        ),
        iter(
            4,
            Some("sonnet"),
            Outcome::Closed,
            &[(SONNET, main), (HAIKU, second)],
        ),
    ];
    let s = summarize(
        &run(RunStatus::Finished, Some(1_010_000)),
        &iters,
        Timestamp::now(),
    );

    let models: Vec<(&str, u32, u32)> = s
        .per_model
        .iter()
        .map(|r| (r.model.as_str(), r.iters, r.tasks_closed))
        .collect();
    assert_eq!(
        models,
        [("opus", 2, 1), ("sonnet", 1, 1), ("(default)", 1, 0)]
    );
    let mut pair = main;
    pair.add(&second);
    assert_eq!(s.per_model[0].spend.tokens.total(), 2 * pair.total());
    // opus 4.5 main loop $0.0435 + haiku 4.5 $0.0016, twice.
    assert_eq!(s.per_model[0].spend.cost_usd, Some(0.0902));

    let billed: Vec<(&str, u64)> = s
        .billed
        .iter()
        .map(|r| (r.model.as_str(), r.spend.tokens.total()))
        .collect();
    assert_eq!(
        billed,
        [
            (HAIKU, 4 * second.total()),
            (OPUS, 2 * main.total()),
            (SONNET, 2 * main.total())
        ]
    );
    assert_eq!(s.outcomes[&Outcome::Closed], 2);
    assert_eq!(s.outcomes[&Outcome::TimedOut], 0);
    assert_eq!(s.iterations, 4);
    assert_eq!(s.duration, Duration::from_secs(10));
    assert_eq!(s.totals.tokens.total(), 4 * pair.total());
    assert_eq!(
        s.reported_cost_usd, None,
        "no agent estimate in these records"
    );
    let cached = s.cached_percent().unwrap();
    assert!(
        (cached - 100.0 * 68000.0 / 88000.0).abs() < 1e-9,
        "{cached}"
    );
}

#[test]
fn totals_equal_the_sum_of_the_records_exactly() {
    // Deterministic pseudo-random records over priced, unpriced and no models.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let models = [OPUS, SONNET, HAIKU, "gpt-5", "gpt-5-mini"];
    let requested = [Some("opus"), Some("sonnet"), None, Some("gpt-5")];
    let mut iters = Vec::new();
    for n in 1..=500 {
        let used: Vec<(&str, Tokens)> = (0..=next(2))
            .map(|_| {
                let m = models[next(models.len() as u64) as usize];
                // OpenAI has no cache writes (and no price for them).
                let writes = if m.starts_with("gpt") {
                    0
                } else {
                    next(30_000)
                };
                let t = tokens(next(50_000), next(9_000), next(400_000), writes);
                (m, t)
            })
            .collect();
        let outcome = Outcome::ALL[next(Outcome::ALL.len() as u64) as usize];
        iters.push(iter(n, requested[next(4) as usize], outcome, &used));
    }
    let s = summarize(
        &run(RunStatus::Finished, Some(9_000_000)),
        &iters,
        Timestamp::now(),
    );

    let mut tokens_sum = Tokens::default();
    let mut nanos: u64 = 0;
    for it in &iters {
        tokens_sum.add(&it.usage.total);
        nanos += usd_to_nanos(it.cost_usd.unwrap());
    }
    assert_eq!(s.totals.tokens, tokens_sum);
    assert_eq!(s.totals.cost_usd, Some(nanos_to_usd(nanos)));
    assert_eq!(s.iterations, 500);
    assert_eq!(s.outcomes.values().sum::<u32>(), 500);

    // Both tables add up to the totals, tokens exactly and costs in nano-dollars.
    let mut by_model = Tokens::default();
    let mut by_model_nanos = 0;
    for r in &s.per_model {
        by_model.add(&r.spend.tokens);
        by_model_nanos += usd_to_nanos(r.spend.cost_usd.unwrap());
    }
    let mut billed = Tokens::default();
    let mut billed_nanos = 0;
    for r in &s.billed {
        billed.add(&r.spend.tokens);
        billed_nanos += usd_to_nanos(r.spend.cost_usd.unwrap());
    }
    assert_eq!((by_model, by_model_nanos), (tokens_sum, nanos));
    assert_eq!(billed, tokens_sum);
    // Per-model costs are each rounded to the nano-dollar, so their sum can differ from
    // the rounded totals by at most a nano-dollar per model per record.
    assert!(
        billed_nanos.abs_diff(nanos) <= 2 * 500,
        "{billed_nanos} vs {nanos}"
    );
    assert_eq!(s.tasks.len(), 500);
    assert!(s.tasks.windows(2).all(|w| w[0].number < w[1].number));
}

#[test]
fn an_unknown_cost_makes_every_sum_over_it_unknown_never_zero() {
    let iters = [
        iter(
            1,
            Some("opus"),
            Outcome::Closed,
            &[(OPUS, tokens(10, 10, 0, 0))],
        ),
        iter(
            2,
            Some("mystery"),
            Outcome::Closed,
            &[("mystery-model", tokens(10, 10, 0, 0))],
        ),
    ];
    let s = summarize(
        &run(RunStatus::Finished, Some(1_005_000)),
        &iters,
        Timestamp::now(),
    );
    assert_eq!(s.totals.cost_usd, None);
    let row = |m: &str| s.per_model.iter().find(|r| r.model == m).unwrap();
    assert!(row("opus").spend.cost_usd.is_some(), "opus is priced");
    assert_eq!(row("mystery").spend.cost_usd, None);
    let mystery = s
        .billed
        .iter()
        .find(|r| r.model == "mystery-model")
        .unwrap();
    assert_eq!(mystery.spend.cost_usd, None);
    assert_eq!(s.to_json(false)["totals"]["cost_usd"], Value::Null);
}

#[test]
fn a_run_without_models_has_no_by_model_table() {
    let iters = [iter(
        1,
        None,
        Outcome::Closed,
        &[(SONNET, tokens(1, 1, 1, 1))],
    )];
    let s = summarize(
        &run(RunStatus::Finished, Some(1_005_000)),
        &iters,
        Timestamp::now(),
    );
    assert!(s.per_model.is_empty());
    assert_eq!(s.billed.len(), 1);
    assert_eq!(s.to_json(false)["per_model"], json!([]));
}

#[test]
fn a_run_in_progress_lasts_until_now_and_has_no_stop_reason_yet() {
    let iters = [iter(
        1,
        Some("opus"),
        Outcome::Closed,
        &[(OPUS, tokens(1, 1, 0, 0))],
    )];
    let s = summarize(
        &run(RunStatus::Running, None),
        &iters,
        Timestamp::from_unix_ms(1_060_000),
    );
    assert!(s.in_progress());
    assert_eq!(s.duration, Duration::from_secs(60));
    assert_eq!(s.to_json(false)["stop_reason"], Value::Null);
    let empty = summarize(
        &run(RunStatus::Running, None),
        &[],
        Timestamp::from_unix_ms(1_000_000),
    );
    assert_eq!((empty.iterations, empty.totals.cost_usd), (0, Some(0.0)));
}

#[test]
fn json_has_exactly_the_documented_shape() {
    let iters = [iter(
        1,
        Some("opus"),
        Outcome::Closed,
        &[(OPUS, tokens(1000, 100, 0, 0))],
    )];
    let s = summarize(
        &run(RunStatus::Finished, Some(1_002_500)),
        &iters,
        Timestamp::now(),
    );
    let j = s.to_json(false);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let mut top = keys(&j);
    top.sort();
    assert_eq!(
        top,
        [
            "billed",
            "cost_disagreements",
            "duration_s",
            "outcomes",
            "per_model",
            "run_id",
            "started_at",
            "stop_reason",
            "totals"
        ]
    );
    let mut totals = keys(&j["totals"]);
    totals.sort();
    assert_eq!(
        totals,
        [
            "cache_create",
            "cache_create_1h",
            "cache_create_unsplit",
            "cache_read",
            "cost_usd",
            "input",
            "output",
            "total",
            "web_search_requests"
        ]
    );
    assert_eq!(
        j["per_model"][0],
        json!({"model": "opus", "iters": 1, "tasks_closed": 1, "input": 1000,
               "cache_read": 0, "cache_create": 0, "cache_create_1h": 0,
               "cache_create_unsplit": 0, "web_search_requests": 0, "output": 100,
               "total": 1100, "cost_usd": 0.0075})
    );
    assert_eq!(
        j["billed"][0],
        json!({"model": OPUS, "input": 1000, "cache_read": 0, "cache_create": 0,
               "cache_create_1h": 0, "cache_create_unsplit": 0, "web_search_requests": 0,
               "output": 100, "total": 1100, "cost_usd": 0.0075})
    );
    assert_eq!(j["outcomes"]["closed"], 1);
    assert_eq!(j["outcomes"].as_object().unwrap().len(), Outcome::ALL.len());
    assert_eq!(j["duration_s"], 2.5);
    assert_eq!(j["stop_reason"], "ready_empty");
    assert_eq!(j["started_at"], "1970-01-01T00:16:40.000Z");
    let with_tasks = s.to_json(true);
    assert_eq!(with_tasks["tasks"][0]["task_id"], "demo-1");
    assert_eq!(with_tasks["tasks"][0]["usage_source"], "result");
}

#[test]
fn older_records_render_as_default_with_totals_only() {
    let run_record: RunRecord = fixture("run-no-stop-reason.json");
    let iters: Vec<IterRecord> = [
        "iter-minimal.json",
        "iter-no-model.json",
        "iter-no-per-model.json",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect();
    let s = summarize(&run_record, &iters, Timestamp::now());
    assert_eq!(s.stop_reason, None);
    assert_eq!(s.iterations, 3);
    // One iteration asked for `opus`; the others are `(default)`.
    let models: Vec<(&str, u32)> = s
        .per_model
        .iter()
        .map(|r| (r.model.as_str(), r.iters))
        .collect();
    assert_eq!(models, [("opus", 1), ("(default)", 2)]);
    // No hew cost in any of these records: every cost is unknown, never $0.
    assert_eq!(s.totals.cost_usd, None);
    assert_eq!(s.totals.tokens.total(), 19650 + 520);
    let billed: Vec<&str> = s.billed.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(billed, ["(default)", SONNET]);
    assert_eq!(s.partial_usage, 1);

    // Records without any model at all: no by-model table, totals only.
    let s = summarize(&fixture("run-minimal.json"), &iters[..2], Timestamp::now());
    assert!(s.per_model.is_empty());
    let s = summarize(&fixture("run-extra-field.json"), &[], Timestamp::now());
    assert_eq!(s.iterations, 0);
    assert_eq!(s.duration, Duration::from_secs(60));
}

/// Every branch holding unmerged work is named once, with the iteration that kept it last;
/// the ones a recovery kept come after, without an iteration.
#[test]
fn kept_branches_are_named_once_latest_iteration_first_recoveries_last() {
    let mut run_record = run(RunStatus::Finished, Some(2_000_000));
    run_record.kept_branches = vec!["hew/demo-9".into(), "hew/demo-3".into()];
    let mut a = iter(1, None, Outcome::MergeConflict, &[]);
    a.kept_branch = Some("hew/demo-3".into());
    let b = iter(2, None, Outcome::Closed, &[]);
    let mut c = iter(3, None, Outcome::MergeConflict, &[]);
    c.task_id = "demo-3".into();
    c.kept_branch = Some("hew/demo-3".into());
    let mut d = iter(4, None, Outcome::VerifyFailed, &[]);
    d.kept_branch = Some("hew/demo-4".into());
    let s = summarize(&run_record, &[d, c, b, a], Timestamp::now());
    let kept: Vec<(&str, Option<u32>)> = s
        .kept_branches
        .iter()
        .map(|k| (k.branch.as_str(), k.iter))
        .collect();
    assert_eq!(
        kept,
        [
            ("hew/demo-3", Some(3)),
            ("hew/demo-4", Some(4)),
            ("hew/demo-9", None)
        ]
    );
    assert_eq!(s.kept_branches[0].task_id.as_deref(), Some("demo-3"));
}
