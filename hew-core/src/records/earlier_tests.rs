//! Earlier hew's records, from the fixtures in `tests/fixtures/earlier-hew/`, read as a
//! user upgrading would have them: in `.hew/loop/<run-id>/` of their repository.

use std::path::{Path, PathBuf};

use super::*;
use crate::agent::Tokens;
use crate::records::{IterRecord, Outcome, RunDir, RunKind, RunStatus, StopReason, list_runs};
use crate::summary::read_summary;

const SERIAL: &str = "loop-20260601T090000Z-5e1a1001";
const PARALLEL: &str = "loop-20260530T120000Z-7c2e9a40";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/earlier-hew")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A repository whose `.hew/loop` holds the named fixture runs.
fn repo_with(runs: &[&str]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    for run in runs {
        copy_dir(
            &fixtures().join(run),
            &repo.path().join(".hew/loop").join(run),
        );
    }
    repo
}

fn tokens(input: u64, output: u64, cache_read: u64, cache_create: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_create,
        cache_create_unsplit: cache_create,
        ..Tokens::default()
    }
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

#[test]
fn a_serial_run_of_earlier_hew_is_a_finished_run_of_another_format() {
    let repo = repo_with(&[SERIAL]);
    let dir = RunDir::open(repo.path(), SERIAL);
    assert_eq!(dir.kind(), RunKind::Earlier);
    let run = dir.read_run().unwrap();
    assert_eq!(run.kind(), RunKind::Earlier);
    assert_eq!(run.schema_version, SCHEMA_EARLIER);
    assert_eq!(
        (run.run_id.as_str(), run.status, run.stop_reason, run.jobs),
        (SERIAL, RunStatus::Finished, Some(StopReason::ReadyEmpty), 1)
    );
    assert_eq!(run.started_at, at("2026-06-01T09:00:00Z"));
    assert_eq!(run.ended_at, Some(at("2026-06-01T09:41:00Z")));
    assert_eq!(run.iterations, 6);
    assert_eq!(
        crate::records::liveness(&run),
        crate::records::Liveness::Ended
    );
}

#[test]
fn serial_iterations_keep_their_outcomes_models_and_tokens() {
    let repo = repo_with(&[SERIAL]);
    let (iters, errors) = RunDir::open(repo.path(), SERIAL).read_iters();
    assert!(errors.is_empty(), "{errors:?}");
    let rows: Vec<(u32, &str, Outcome, Option<&str>)> = iters
        .iter()
        .map(|it| {
            (
                it.number,
                it.task_id.as_str(),
                it.outcome,
                it.model.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, "shop-k3f", Outcome::Closed, Some("claude-sonnet-4-5")),
            (2, "shop-m8a", Outcome::NoChange, None),
            (3, "shop-p2q", Outcome::VerifyFailed, Some("opus")),
            (4, "shop-r5t", Outcome::AgentFailed, None),
            (5, "shop-v7w", Outcome::Closed, Some("my-local-model")),
            (6, "shop-p2q", Outcome::Closed, Some("claude-sonnet-4-5")),
        ]
    );
    assert_eq!(iters[0].usage.total, tokens(1200, 800, 30000, 2000));
    assert_eq!(iters[2].usage.total, tokens(2000, 1000, 0, 4000));
    assert_eq!(iters[3].runtime, Runtime::Codex);
    assert!(
        iters[3].stderr_tail.contains("429"),
        "{:?}",
        iters[3].stderr_tail
    );
    assert!(
        iters[2].notes[0].contains("`backpressure_fail`"),
        "{:?}",
        iters[2].notes
    );
    // sonnet 4.5: 1200×$3 + 800×$15 + 2000×$3.75 + 30000×$0.30 per million.
    assert_eq!(iters[0].cost_usd, Some(0.0321));
    // No model: unknown, never zero.
    assert_eq!(iters[1].cost_usd, None);
    // opus: 2000×$4 + 1000×$20 + 4000×$5 per million.
    assert_eq!(iters[2].cost_usd, Some(0.048));
    // No token used: nothing spent, whatever the model.
    assert_eq!(iters[3].cost_usd, Some(0.0));
    // A model without a price: unknown.
    assert_eq!(iters[4].cost_usd, None);
    assert_eq!(iters[5].cost_usd, Some(0.0144));
}

#[test]
fn a_parallel_run_reads_every_worker_in_the_order_tasks_started() {
    let repo = repo_with(&[PARALLEL]);
    let dir = RunDir::open(repo.path(), PARALLEL);
    assert!(
        !dir.run_file().exists(),
        "the fixture has no top-level run.json"
    );
    assert!(dir.has_record());
    let run = dir.read_run().unwrap();
    assert_eq!(
        (run.status, run.stop_reason, run.jobs, run.iterations),
        (RunStatus::Finished, Some(StopReason::ReadyEmpty), 2, 5)
    );
    assert_eq!(run.ended_at, Some(at("2026-05-30T12:05:00Z")));
    let (iters, errors) = dir.read_iters();
    assert!(errors.is_empty(), "{errors:?}");
    let rows: Vec<(u32, &str, usize)> = iters
        .iter()
        .map(|it| (it.number, it.task_id.as_str(), it.slot))
        .collect();
    assert_eq!(
        rows,
        [
            (1, "web-a1", 0),
            (2, "web-b1", 1),
            (3, "web-a2", 0),
            (4, "web-b2", 1),
            (5, "web-a3", 0),
        ]
    );
    assert!(iters[3].notes[0].contains("worker-1/iter-002.json"));
}

#[test]
fn summaries_of_earlier_runs_have_exact_totals_and_per_model_rows() {
    let repo = repo_with(&[SERIAL, PARALLEL]);
    let now = Timestamp::now();
    let (s, errors) = read_summary(&RunDir::open(repo.path(), SERIAL), now).unwrap();
    assert!(errors.is_empty());
    assert_eq!(s.iterations, 6);
    assert_eq!(s.totals.tokens, tokens(4600, 2550, 60000, 6000));
    assert_eq!(s.totals.cost_usd, None, "two iterations have no known cost");
    let outcomes: Vec<(Outcome, u32)> = s
        .outcomes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(o, n)| (*o, *n))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Closed, 3),
            (Outcome::NoChange, 1),
            (Outcome::VerifyFailed, 1),
            (Outcome::AgentFailed, 1)
        ]
    );
    let rows: Vec<(&str, u32, u32, u64, Option<f64>)> = s
        .per_model
        .iter()
        .map(|r| {
            (
                r.model.as_str(),
                r.iters,
                r.tasks_closed,
                r.spend.tokens.total(),
                r.spend.cost_usd,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("claude-sonnet-4-5", 2, 2, 55200, Some(0.0465)),
            ("my-local-model", 1, 1, 150, None),
            ("opus", 1, 0, 7000, Some(0.048)),
            ("(default)", 2, 0, 10800, None),
        ]
    );

    let (p, errors) = read_summary(&RunDir::open(repo.path(), PARALLEL), now).unwrap();
    assert!(errors.is_empty());
    assert_eq!(p.totals.tokens, tokens(9000, 3900, 9000, 3000));
    assert_eq!(p.totals.cost_usd, Some(0.108775));
    assert_eq!(p.duration, std::time::Duration::from_secs(300));
    let rows: Vec<(&str, u32, u32, Option<f64>)> = p
        .per_model
        .iter()
        .map(|r| (r.model.as_str(), r.iters, r.tasks_closed, r.spend.cost_usd))
        .collect();
    assert_eq!(
        rows,
        [
            ("claude-sonnet-4-5", 2, 2, Some(0.04125)),
            ("gpt-5.1-codex", 1, 1, Some(0.007125)),
            ("opus", 2, 1, Some(0.0604)),
        ]
    );
}

#[test]
fn earlier_runs_are_listed_with_this_hews_and_never_unreadable() {
    let repo = repo_with(&[SERIAL, PARALLEL]);
    let own = RunDir::create(repo.path(), "20261122-000000-0000").unwrap();
    let mut record = crate::records::RunRecord {
        schema_version: crate::records::SCHEMA_VERSION,
        ..RunDir::open(repo.path(), SERIAL).read_run().unwrap()
    };
    record.run_id = "20261122-000000-0000".into();
    record.started_at = at("2026-11-22T00:00:00Z");
    own.write_run(&record).unwrap();
    let (runs, errors) = list_runs(repo.path());
    assert!(errors.is_empty(), "{errors:?}");
    let listed: Vec<(&str, RunKind)> = runs.iter().map(|r| (r.run_id.as_str(), r.kind())).collect();
    assert_eq!(
        listed,
        [
            (PARALLEL, RunKind::Earlier),
            (SERIAL, RunKind::Earlier),
            ("20261122-000000-0000", RunKind::Current),
        ]
    );
}

#[test]
fn an_earlier_run_is_never_rewritten() {
    let repo = repo_with(&[SERIAL]);
    let dir = RunDir::open(repo.path(), SERIAL);
    let before = std::fs::read(dir.run_file()).unwrap();
    let mut run = dir.read_run().unwrap();
    run.status = RunStatus::Crashed;
    assert!(matches!(
        dir.write_run(&run),
        Err(RecordError::Earlier { .. })
    ));
    assert_eq!(std::fs::read(dir.run_file()).unwrap(), before);
}

#[test]
fn stop_reasons_keep_their_meaning() {
    for (earlier, status, reason) in [
        ("max_iter", RunStatus::Finished, Some(StopReason::MaxIters)),
        ("stop_file", RunStatus::Finished, Some(StopReason::StopFile)),
        (
            "budget_wall",
            RunStatus::Finished,
            Some(StopReason::BudgetWall),
        ),
        (
            "cancelled",
            RunStatus::Cancelled,
            Some(StopReason::Interrupted),
        ),
        ("runtime_error", RunStatus::Failed, Some(StopReason::Error)),
        ("guard_trip", RunStatus::Failed, Some(StopReason::Error)),
    ] {
        let (s, r, _) = stop_of(Some(earlier));
        assert_eq!((s, r), (status, reason), "{earlier}");
    }
    let (status, reason, error) = stop_of(None);
    assert_eq!((status, reason, error), (RunStatus::Finished, None, None));
}

#[test]
fn a_bad_iteration_file_is_reported_and_the_rest_read() {
    let repo = repo_with(&[SERIAL]);
    let dir = RunDir::open(repo.path(), SERIAL);
    let text = std::fs::read_to_string(dir.path().join("iter-003.json")).unwrap();
    std::fs::write(
        dir.path().join("iter-003.json"),
        text.replace("backpressure_fail", "exploded"),
    )
    .unwrap();
    std::fs::write(dir.path().join("iter-004.json"), "{\"number\": 4, \"sta").unwrap();
    let (iters, errors): (Vec<IterRecord>, _) = dir.read_iters();
    assert_eq!(iters.len(), 4);
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].to_string().contains("unknown outcome `exploded`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].to_string().contains("iter-004.json"),
        "{}",
        errors[1]
    );
}

#[test]
fn times_with_fractions_of_any_length_are_read() {
    let p = Path::new("run.json");
    assert_eq!(
        time(p, "2026-05-30T12:00:00.5Z").unwrap(),
        at("2026-05-30T12:00:00.500Z")
    );
    assert_eq!(
        time(p, "2026-05-30T12:00:00.123456789Z").unwrap(),
        at("2026-05-30T12:00:00.123Z")
    );
    assert!(time(p, "yesterday").is_err());
}
