use std::collections::BTreeMap;

use hew_core::agent::{Tokens, Usage, UsageSource};
use hew_core::records::{IterRecord, Outcome, RunRecord, RunStatus, SCHEMA_VERSION, StopReason};
use hew_core::summary::summarize;
use hew_core::time::Timestamp;

use super::*;

const HOSTILE: &str = "</script><img src=x onerror=alert(1)>";

fn run() -> RunRecord {
    RunRecord {
        schema_version: SCHEMA_VERSION,
        run_id: "20261122-000000-abcd".into(),
        status: RunStatus::Finished,
        stop_reason: Some(StopReason::ReadyEmpty),
        error: None,
        started_at: Timestamp::from_unix_ms(1_000_000),
        ended_at: Some(Timestamp::from_unix_ms(1_600_000)),
        hew_version: String::new(),
        host: String::new(),
        machine: String::new(),
        pid: 0,
        repo: Default::default(),
        into: "main".into(),
        diverted: None,
        jobs: 2,
        runtime: Default::default(),
        iterations: 0,
        outcomes: BTreeMap::new(),
        kept_branches: Vec::new(),
        backed_off: Vec::new(),
    }
}

fn iter(n: u32, slot: usize, outcome: Outcome, title: &str) -> IterRecord {
    let mut it = IterRecord::started(n, &format!("demo-{n}"), title, slot, 1);
    it.outcome = outcome;
    it.model = Some(if n % 2 == 0 { "opus" } else { HOSTILE }.to_owned());
    it.started_at = Timestamp::from_unix_ms(1_000_000 + u64::from(n) * 60_000);
    it.ended_at = Timestamp::from_unix_ms(1_050_000 + u64::from(n) * 60_000);
    it.timings.checkout_ms = 1_000;
    it.timings.agent_ms = 40_000;
    it.timings.merge_ms = 2_000;
    let tokens = Tokens {
        input: 100 * u64::from(n),
        output: 10,
        ..Default::default()
    };
    it.usage = Usage {
        total: tokens,
        per_model: [("claude-x".to_owned(), tokens)].into(),
        source: UsageSource::Result,
    };
    it.cost_usd = Some(0.012_345_678 * f64::from(n));
    it.cost_per_model = [("claude-x".to_owned(), it.cost_usd)].into();
    if outcome == Outcome::AgentFailed {
        it.error = Some(format!("exit 1: {HOSTILE}"));
    }
    it
}

fn report(iters: &[IterRecord]) -> Report {
    let run = run();
    let summary = summarize(&run, iters, Timestamp::now());
    let rows: Vec<IterRow> = iters.iter().map(IterRow::new).collect();
    let attention = attention::needs_attention(&run, &rows, Vec::new(), None, "br");
    Report {
        run,
        summary,
        iters: rows,
        attention,
        generated_at: Timestamp::from_unix_ms(2_000_000),
    }
}

#[test]
fn text_from_records_is_escaped_everywhere() {
    let page = html::render(&report(&[
        iter(1, 1, Outcome::Closed, HOSTILE),
        iter(
            2,
            2,
            Outcome::AgentFailed,
            "a \"quoted\" & 'odd' title\u{1b}[2J",
        ),
    ]));
    assert!(!page.contains("<img"), "an element from a title");
    assert_eq!(
        page.matches("</script>").count(),
        1,
        "only the page's own script closes"
    );
    assert!(page.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains("a &quot;quoted&quot; &amp; &#39;odd&#39; title\\u{1b}[2J"));
    assert!(!page.contains('\u{1b}'));
}

#[test]
fn the_page_loads_nothing_from_anywhere() {
    let mut it = iter(1, 1, Outcome::Closed, "one");
    it.model = Some("opus".into());
    let page = html::render(&report(&[it]));
    for needle in ["http://", "https://", "src=", "href=", "url(", "@import"] {
        assert!(!page.contains(needle), "`{needle}` in the page");
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

#[test]
fn one_bar_per_iteration_with_its_stages_in_lanes_by_slot() {
    let iters: Vec<IterRecord> = (1..=5)
        .map(|n| iter(n, (n as usize % 2) + 1, Outcome::Closed, "t"))
        .collect();
    let page = html::render(&report(&iters));
    assert_eq!(page.matches("<g class=\"o-closed\"").count(), 5);
    for stage in ["checkout", "agent", "merge"] {
        assert_eq!(
            page.matches(&format!("<rect class=\"s-{stage}\"")).count(),
            5,
            "{stage}"
        );
    }
    assert_eq!(
        page.matches("class=\"s-verify\"").count(),
        0,
        "no verify ran"
    );
    assert!(page.contains(">slot 1</text>") && page.contains(">slot 2</text>"));
    assert!(
        page.contains("#3 demo-3 t\n"),
        "the bar's title names the task"
    );
}

#[test]
fn totals_are_the_summarys() {
    let iters: Vec<IterRecord> = (1..=3).map(|n| iter(n, 1, Outcome::Closed, "t")).collect();
    let r = report(&iters);
    let page = html::render(&r);
    let want = format!(
        "id=\"total-cost\">{}<",
        crate::commands::r#loop::summary::cost(r.summary.totals.cost_usd)
    );
    assert!(page.contains(&want), "{want}");
    assert!(page.contains("id=\"total-tokens\">630<"));
    assert!(page.contains("id=\"total-iterations\">3<"));
}

#[test]
fn a_task_needs_attention_only_if_its_last_iteration_did_not_close_it() {
    let mut exhausted = iter(4, 1, Outcome::AgentFailed, "gave up");
    exhausted.task_id = "demo-x".into();
    exhausted
        .notes
        .push("labelled hew:exhausted: failed 3 times".into());
    let mut retried_ok = iter(5, 1, Outcome::Closed, "fine in the end");
    retried_ok.task_id = "demo-2".into();
    let r = report(&[
        iter(1, 1, Outcome::Closed, "a"),
        iter(2, 1, Outcome::AgentFailed, "b"),
        iter(3, 2, Outcome::NoChange, "c"),
        exhausted,
        retried_ok,
    ]);
    let what: Vec<String> = r
        .attention
        .iter()
        .map(|a| match a {
            Attention::Failed {
                task_id, command, ..
            } => format!("failed {task_id}: {command}"),
            Attention::Exhausted {
                task_id, command, ..
            } => {
                format!("exhausted {task_id}: {command}")
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        what,
        [
            "failed demo-3: hew loop logs --run-id 20261122-000000-abcd --iter 3",
            "exhausted demo-x: br label remove demo-x hew:exhausted",
        ]
    );
}

#[test]
fn ticks_are_round() {
    assert_eq!(html::tick_label(0), "0");
    assert_eq!(html::tick_label(90_000), "1m30s");
    assert_eq!(html::tick_label(600_000), "10m");
    assert_eq!(html::tick_label(5_400_000), "1h30m");
    assert_eq!(html::tick_step(3_600_000), 600_000);
}

#[test]
fn a_long_list_of_failures_is_cut_and_says_how_many_more() {
    let iters: Vec<IterRecord> = (1..=150)
        .map(|n| iter(n, 1, Outcome::NoChange, "t"))
        .collect();
    let r = report(&iters);
    assert_eq!(r.attention.len(), 150, "every one counts");
    let page = html::render(&r);
    assert_eq!(page.matches("<li class=\"a-failed\">").count(), 100);
    assert!(page.contains("And 50 more tasks that did not close"));
    assert!(page.contains("id=\"total-attention\">150<"));
}
