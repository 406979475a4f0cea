//! Spend: every iteration priced, budgets that stop a run, and `hew loop summary` and
//! `hew loop list` read back from the records, against real git, the real `br` and the
//! fake agent's fixed token counts.
//!
//! The fake agent's Claude run: the main loop on the model asked for (1200 input, 3000
//! cache write, 15000 cache read, 450 output = 19 650 tokens) and a subagent on haiku 4.5
//! (800, 0, 2000, 120 = 2 920), so 22 570 tokens per iteration. At list prices: opus 4.5
//! $0.0435, sonnet 4.5 $0.0261, haiku 4.5 $0.0016.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

const OPUS: &str = "claude-opus-4-5-20251101";
const SONNET: &str = "claude-sonnet-4-5-20250929";
const HAIKU: &str = "claude-haiku-4-5-20251001";
const MAIN: u64 = 19_650;
const SECOND: u64 = 2_920;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `hew` with `args`; asserts it succeeded and returns its stdout.
fn hew_ok(repo: &TestRepo, args: &[&str]) -> String {
    let out = repo.hew().args(args).assert();
    let o = out.get_output();
    assert!(
        o.status.success(),
        "hew {args:?} failed ({:?}):\n{}\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn summary_json(repo: &TestRepo, extra: &[&str]) -> Value {
    let mut args = vec!["loop", "summary", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&hew_ok(repo, &args)).expect("summary --json prints JSON")
}

fn row<'a>(rows: &'a Value, model: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no row for {model} in {rows:#}"))
}

fn usd(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a cost: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The lines of `text` from the one starting with `start` up to the next blank line.
fn block(text: &str, start: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with(start))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(!lines.is_empty(), "no `{start}` in:\n{text}");
    lines.join("\n")
}

#[test]
fn a_mixed_model_run_is_summed_by_requested_and_by_billed_model() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.model]\nby_priority = { P0 = \"opus\", P1 = \"sonnet\" }\n",
    );
    for (title, priority) in [("a", 0), ("b", 0), ("c", 1), ("d", 2)] {
        repo.create_task(NewTask::new(title).priority(priority));
    }
    let run_out = hew_ok(&repo, &["loop", "-j", "2"]);

    // Each iteration: hew's cost from its own table, the agent's kept beside it.
    let iters = repo.iterations();
    assert_eq!(iters.len(), 4);
    for it in &iters {
        assert_eq!(it["outcome"], "closed", "{it:#}");
        let ours = usd(&it["cost_usd"]);
        assert!(close(ours, usd(&it["reported_cost_usd"])), "{it:#}");
        let per_model: f64 = it["cost_per_model"]
            .as_object()
            .unwrap()
            .values()
            .map(usd)
            .sum();
        assert!(close(ours, per_model), "{it:#}");
    }

    let s = summary_json(&repo, &[]);
    assert_eq!(s["run_id"], repo.run_record()["run_id"]);
    assert_eq!(s["stop_reason"], "ready_empty");
    assert_eq!(s["outcomes"]["closed"], 4);

    // Totals are the sums of the records, to the token.
    for field in ["input", "cache_read", "cache_create", "output"] {
        let sum: u64 = iters
            .iter()
            .map(|i| i["usage"]["total"][field].as_u64().unwrap())
            .sum();
        assert_eq!(s["totals"][field], sum, "{field}");
    }
    assert_eq!(s["totals"]["total"], 4 * (MAIN + SECOND));
    let cost_sum: f64 = iters.iter().map(|i| usd(&i["cost_usd"])).sum();
    assert!(close(usd(&s["totals"]["cost_usd"]), cost_sum));
    assert!(close(usd(&s["totals"]["cost_usd"]), 0.1456));

    // By requested model: opus twice, sonnet once, the agent's default once.
    let per_model = &s["per_model"];
    assert_eq!(per_model.as_array().unwrap().len(), 3, "{per_model:#}");
    let opus = row(per_model, "opus");
    assert_eq!(
        (opus["iters"].as_u64(), opus["tasks_closed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(opus["total"], 2 * (MAIN + SECOND));
    assert_eq!(opus["input"], 2 * (1200 + 800));
    assert!(close(usd(&opus["cost_usd"]), 2.0 * (0.0435 + 0.0016)));
    let sonnet = row(per_model, "sonnet");
    assert_eq!(
        (sonnet["iters"].as_u64(), sonnet["tasks_closed"].as_u64()),
        (Some(1), Some(1))
    );
    let default = row(per_model, "(default)");
    assert_eq!(default["iters"], 1);
    assert_eq!(per_model[2]["model"], "(default)", "(default) comes last");

    // Billed by the models that consumed the tokens.
    let billed = &s["billed"];
    assert_eq!(row(billed, OPUS)["total"], 2 * MAIN);
    assert_eq!(
        row(billed, SONNET)["total"],
        2 * MAIN,
        "sonnet: asked for, and the default"
    );
    assert_eq!(row(billed, HAIKU)["total"], 4 * SECOND);
    assert_eq!(row(billed, HAIKU)["cache_read"], 4 * 2000);
    assert!(close(usd(&row(billed, HAIKU)["cost_usd"]), 4.0 * 0.0016));

    // The table: both sections, exact numbers; the end of `hew loop` printed the same.
    let table = hew_ok(&repo, &["loop", "summary"]);
    let by_model = block(&table, "by model");
    assert!(by_model.contains("(default)"), "{table}");
    assert!(
        by_model
            .lines()
            .any(|l| l.starts_with("opus ") && l.contains("45,140")),
        "{table}"
    );
    assert!(table.contains("billed"), "{table}");
    assert!(table.contains("$0.1456"), "{table}");
    assert_eq!(block(&run_out, "by model"), by_model, "{run_out}");
    assert_eq!(block(&run_out, "billed"), block(&table, "billed"));

    // Markdown, ready for a pull request.
    let md = hew_ok(
        &repo,
        &["loop", "summary", "--last", "--format", "markdown"],
    );
    assert!(md.contains("#### By model"), "{md}");
    assert!(
        md.contains("| opus | 2 | 2 | 4,000 | 34,000 | 6,000 | 1,140 | 45,140 | $0.0902 |"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| {HAIKU} | 3,200 | 8,000 | 0 | 480 | 11,680 | $0.0064 |"
        )),
        "{md}"
    );
    assert!(md.contains("|---|---:|"), "{md}");

    // Per iteration, on request.
    let with_tasks = summary_json(&repo, &["--tasks"]);
    assert_eq!(with_tasks["tasks"].as_array().unwrap().len(), 4);
    let tasks_table = hew_ok(&repo, &["loop", "summary", "--tasks"]);
    assert!(tasks_table.contains("iterations:"), "{tasks_table}");
}

#[test]
fn a_run_with_no_model_has_no_by_model_table() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_task(NewTask::new("plain"));
    hew_ok(&repo, &["loop"]);

    let s = summary_json(&repo, &[]);
    assert_eq!(s["per_model"], json!([]));
    assert_eq!(s["billed"].as_array().unwrap().len(), 2);
    assert!(close(usd(&s["totals"]["cost_usd"]), 0.0277));
    let table = hew_ok(&repo, &["loop", "summary"]);
    assert!(!table.contains("by model"), "{table}");
    assert!(table.contains("billed"), "{table}");
    let md = hew_ok(&repo, &["loop", "summary", "--format", "markdown"]);
    assert!(!md.contains("By model"), "{md}");
}

#[test]
fn budget_tokens_stops_the_run_after_the_crossing_iteration() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let ids = repo.create_tasks(4);
    // 22 570 tokens per iteration: the second crosses 30 000.
    let out = hew_ok(&repo, &["loop", "-j", "1", "--budget-tokens", "30000"]);
    assert!(out.contains("budget crossed"), "{out}");

    let iters = repo.iterations();
    assert_eq!(iters.len(), 2, "{iters:#?}");
    assert!(
        iters.iter().all(|i| i["outcome"] == "closed"),
        "the crossing iteration finished"
    );
    let run = repo.run_record();
    assert_eq!(run["stop_reason"], "budget_tokens");
    assert_eq!(run["status"], "finished");
    let open = ids
        .iter()
        .filter(|id| repo.show(id)["status"] == "open")
        .count();
    assert_eq!(open, 2, "the tasks not started stay open and unclaimed");
    assert_eq!(summary_json(&repo, &[])["stop_reason"], "budget_tokens");
}

#[test]
fn budget_usd_stops_the_run_after_the_crossing_iteration() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "[loop.budget]\nusd = 1000.0\n");
    repo.create_tasks(4);
    // $0.0277 per iteration: the second crosses $0.05. The flag beats the project file.
    hew_ok(&repo, &["loop", "-j", "1", "--budget-usd", "0.05"]);

    assert_eq!(repo.iterations().len(), 2);
    assert_eq!(repo.run_record()["stop_reason"], "budget_usd");
    let list = hew_ok(&repo, &["loop", "list"]);
    assert!(
        list.contains("budget_usd") && list.contains("$0.0554"),
        "{list}"
    );
}

#[test]
fn a_hard_budget_stops_running_agents_too() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.scenario(&json!({ "default": { "hang": true } }));
    let id = repo.create_task(NewTask::new("hangs after its first message"));
    repo.create_task(NewTask::new("never starts"));

    // The first assistant message already reports more than 1000 tokens.
    hew_ok(
        &repo,
        &[
            "loop",
            "-j",
            "1",
            "--budget-tokens",
            "1000",
            "--budget-hard",
        ],
    );
    let iters = repo.iterations();
    assert_eq!(iters.len(), 1);
    assert_eq!(iters[0]["outcome"], "cancelled");
    assert_eq!(iters[0]["usage"]["source"], "partial");
    assert_eq!(repo.run_record()["stop_reason"], "budget_tokens");
    assert_eq!(
        repo.show(&id)["status"],
        "open",
        "released, to run again later"
    );
}

#[test]
fn summary_reads_a_run_in_progress_and_skips_corrupt_records() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let first = repo.create_task(NewTask::new("quick").priority(0));
    let second = repo.create_task(NewTask::new("hangs").priority(1));
    repo.scenario(&json!({ "tasks": { second.as_str(): { "hang": true } } }));

    let mut hew = repo.hew_std();
    let hew = hew
        .args(["loop", "-j", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hew");
    // The second agent may start while the first task's work is still being merged: wait
    // for both.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !repo
        .agent_records()
        .iter()
        .any(|r| r["task_id"] == second.as_str())
        || repo.iterations().is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the second agent never started, or the first iteration never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let s = summary_json(&repo, &[]);
    assert_eq!(s["stop_reason"], Value::Null, "still running");
    assert_eq!(s["outcomes"]["closed"], 1);
    assert_eq!(s["totals"]["total"], MAIN + SECOND);
    let table = hew_ok(&repo, &["loop", "summary"]);
    assert!(table.contains("running (in progress)"), "{table}");
    let list = hew_ok(&repo, &["loop", "list"]);
    assert!(list.contains("running"), "{list}");
    // The report reads it too: the run is shown running, its one iteration drawn.
    let page = hew_ok(&repo, &["loop", "report", "-o", "-"]);
    assert!(page.contains("running (in progress)"), "{page}");
    assert_eq!(page.matches("<g class=\"o-closed\"").count(), 1);

    kill(Pid::from_raw(hew.id() as i32), Signal::SIGINT).unwrap();
    let out = hew.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));

    // A corrupt record is skipped with a warning naming its file; the rest still adds up.
    let run_id = repo.run_record()["run_id"].as_str().unwrap().to_owned();
    let iters_dir = repo.path().join(".hew/loop").join(&run_id).join("iters");
    std::fs::write(iters_dir.join("7.json"), "{\"schema_version\": 1, \"numb").unwrap();
    let out = repo
        .hew()
        .args(["loop", "summary", "--json", "--run-id", &run_id])
        .assert()
        .success();
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.contains("7.json"), "{stderr}");
    let s: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(s["outcomes"]["closed"], 1);
    assert_eq!(s["outcomes"]["cancelled"], 1);
    let out = repo
        .hew()
        .args(["loop", "report", "-o", "-", "--run-id", &run_id])
        .assert()
        .success();
    assert!(text(&out.get_output().stderr).contains("7.json"));
    let page = text(&out.get_output().stdout);
    assert_eq!(
        page.matches("<g class=\"o-").count(),
        2,
        "the corrupt record is skipped"
    );
    assert_eq!(repo.show(&first)["status"], "closed");

    // An unknown or hostile run id is refused.
    let out = repo
        .hew()
        .args(["loop", "summary", "--run-id", "nope"])
        .assert()
        .failure();
    assert!(text(&out.get_output().stderr).contains("hew loop list"));
    repo.hew()
        .args(["loop", "summary", "--run-id", "../x"])
        .assert()
        .code(2);
}

#[test]
fn summary_and_list_before_any_run() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let out = repo.hew().args(["loop", "summary"]).assert().failure();
    assert!(text(&out.get_output().stderr).contains("no runs"));
    let list = hew_ok(&repo, &["loop", "list"]);
    assert!(list.contains("no runs yet"), "{list}");
    let list: serde_json::Value =
        serde_json::from_str(&hew_ok(&repo, &["loop", "list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!({"schema_version": 1, "runs": []}));
}

/// A Claude session as a subscription login runs it on Opus 4.6: every cache write a
/// 1-hour one, fast mode on, three web searches. Main loop: 1200 input, 3000 1-hour writes,
/// 15000 reads, 450 output at Opus 4.6's prices x6 (fast) = $0.3285, plus 3 searches at
/// $10 per 1,000 = $0.3585; the haiku 4.5 subagent $0.0016. Were the writes priced at the
/// 5-minute rate the run would read $0.3151; were fast mode or the searches missed, less.
#[test]
fn one_hour_writes_fast_mode_and_web_searches_are_priced_and_summed() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.model]\ndefault = \"claude-opus-4-6\"\n",
    );
    repo.scenario(&json!({"default": {"cache_1h": true, "fast": true, "web_searches": 3}}));
    repo.create_task(NewTask::new("search and fix"));
    let run_out = hew_ok(&repo, &["loop"]);

    let iters = repo.iterations();
    assert_eq!(iters.len(), 1);
    let it = &iters[0];
    assert_eq!(it["outcome"], "closed", "{it:#}");
    assert_eq!(it["usage"]["source"], "result", "{it:#}");
    let fast = "claude-opus-4-6[fast]";
    let main = &it["usage"]["per_model"][fast];
    assert_eq!(main["cache_create"], 3000, "{it:#}");
    assert_eq!(main["cache_create_1h"], 3000, "{it:#}");
    assert_eq!(main["web_search_requests"], 3, "{it:#}");
    assert!(close(usd(&it["cost_per_model"][fast]), 0.3585), "{it:#}");
    assert!(close(usd(&it["cost_per_model"][HAIKU]), 0.0016), "{it:#}");
    assert!(close(usd(&it["cost_usd"]), 0.3601), "{it:#}");
    // The agent's own estimate agrees, so no cost check is noted.
    assert!(close(usd(&it["reported_cost_usd"]), 0.3601), "{it:#}");
    let notes = it["notes"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(notes, 0, "{it:#}");

    let table = hew_ok(&repo, &["loop", "summary"]);
    assert!(
        table.contains("cache writes: 0 for 5 minutes, 3,000 for 1 hour; web searches: 3"),
        "{table}"
    );
    assert!(table.contains("$0.3601"), "{table}");
    assert!(run_out.contains("3,000 for 1 hour"), "{run_out}");
    assert!(
        block(&table, "billed").contains(fast),
        "fast-mode tokens are billed apart:\n{table}"
    );

    let s = summary_json(&repo, &[]);
    assert_eq!(s["totals"]["cache_create_1h"], 3000, "{s:#}");
    assert_eq!(s["totals"]["web_search_requests"], 3, "{s:#}");
}
