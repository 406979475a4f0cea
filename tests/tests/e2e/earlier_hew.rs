//! Upgrading from earlier hew (0.9–0.12): its run records in `.hew/loop` (fixtures in
//! `tests/fixtures/earlier-hew/`) are listed, summed up and checked like this hew's own,
//! and a user config written for it works.

use std::path::{Path, PathBuf};

use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::{Value, json};

const SERIAL: &str = "loop-20260601T090000Z-5e1a1001";
const PARALLEL: &str = "loop-20260530T120000Z-7c2e9a40";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

/// Puts earlier hew's two fixture runs in the repository's `.hew/loop`.
pub fn add_earlier_runs(repo: &TestRepo) {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/earlier-hew");
    for run in [SERIAL, PARALLEL] {
        copy_dir(
            &fixtures.join(run),
            &repo.path().join(".hew/loop").join(run),
        );
    }
}

/// stdout of a command that must succeed without a word on stderr.
fn quiet_success(repo: &TestRepo, args: &[&str]) -> String {
    let out = repo.hew().args(args).assert().success();
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.is_empty(), "hew {args:?} warned: {stderr}");
    text(&out.get_output().stdout)
}

fn json_of(repo: &TestRepo, args: &[&str]) -> Value {
    let stdout = quiet_success(repo, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}): {stdout}"))
}

#[test]
fn list_shows_earlier_runs_with_exact_totals() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    let runs = json_of(&repo, &["loop", "list", "--json"])["runs"].take();
    assert_eq!(
        runs,
        json!([
            {
                "run_id": PARALLEL, "format": "earlier", "status": "finished",
                "started_at": "2026-05-30T12:00:00.000Z", "duration_s": 300.0,
                "iterations": 5, "closed": 4, "cost_usd": 0.108775,
                "stop_reason": "ready_empty", "unlanded": null,
            },
            {
                "run_id": SERIAL, "format": "earlier", "status": "finished",
                "started_at": "2026-06-01T09:00:00.000Z", "duration_s": 2460.0,
                "iterations": 6, "closed": 3, "cost_usd": null,
                "stop_reason": "ready_empty", "unlanded": null,
            },
        ])
    );
    let table = quiet_success(&repo, &["loop", "list"]);
    assert!(!table.contains("no runs yet"), "{table}");
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no row for {id}: {table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row(PARALLEL),
        format!("{PARALLEL} 2026-05-30T12:00:00.000Z 5m00s 5 4 $0.1088 ready_empty (earlier hew)")
    );
    assert_eq!(
        row(SERIAL),
        format!("{SERIAL} 2026-06-01T09:00:00.000Z 41m00s 6 3 unknown ready_empty (earlier hew)")
    );
}

#[test]
fn summary_json_of_a_serial_run_has_every_total_and_per_model_row() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    let s = json_of(
        &repo,
        &["loop", "summary", "--run-id", SERIAL, "--json", "--tasks"],
    );
    assert_eq!(s["format"], "earlier");
    assert_eq!(s["stop_reason"], "ready_empty");
    assert_eq!(
        s["totals"],
        json!({"input": 4600, "cache_read": 60000, "cache_create": 6000,
               "cache_create_1h": 0, "cache_create_unsplit": 6000, "web_search_requests": 0,
               "output": 2550, "total": 73150, "cost_usd": null})
    );
    assert_eq!(
        s["outcomes"],
        json!({"closed": 3, "no_change": 1, "verify_failed": 1, "merge_conflict": 0,
               "agent_failed": 1, "timed_out": 0, "cancelled": 0})
    );
    let rows: Vec<(String, u64, u64, u64, Value)> = s["per_model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_owned(),
                r["iters"].as_u64().unwrap(),
                r["tasks_closed"].as_u64().unwrap(),
                r["total"].as_u64().unwrap(),
                r["cost_usd"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("claude-sonnet-4-5".into(), 2, 2, 55200, json!(0.0465)),
            ("my-local-model".into(), 1, 1, 150, Value::Null),
            ("opus".into(), 1, 0, 7000, json!(0.048)),
            ("(default)".into(), 2, 0, 10800, Value::Null),
        ]
    );
    let tasks: Vec<(u64, &str, &str, Value)> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["iter"].as_u64().unwrap(),
                t["task_id"].as_str().unwrap(),
                t["outcome"].as_str().unwrap(),
                t["model"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            (1, "shop-k3f", "closed", json!("claude-sonnet-4-5")),
            (2, "shop-m8a", "no_change", Value::Null),
            (3, "shop-p2q", "verify_failed", json!("opus")),
            (4, "shop-r5t", "agent_failed", Value::Null),
            (5, "shop-v7w", "closed", json!("my-local-model")),
            (6, "shop-p2q", "closed", json!("claude-sonnet-4-5")),
        ]
    );
}

#[test]
fn summary_of_a_parallel_run_in_table_and_markdown() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    // The parallel run started first: `--last` is the serial one.
    let last = quiet_success(&repo, &["loop", "summary"]);
    assert!(
        last.starts_with(&format!(
            "run {SERIAL}  finished (ready_empty), recorded by earlier hew\n"
        )),
        "{last}"
    );

    let table = quiet_success(&repo, &["loop", "summary", "--run-id", PARALLEL, "--tasks"]);
    let squeezed: Vec<String> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "tokens: input 9,000, cache read 9,000, cache write 3,000, output 3,900, total 24,900 (43% of input cached)",
        "claude-sonnet-4-5 2 2 3,500 5,000 1,000 1,700 11,200 $0.0413",
        "gpt-5.1-codex 1 1 1,500 2,000 0 500 4,000 $0.0071",
        "opus 2 1 4,000 2,000 2,000 1,700 9,700 $0.0604",
        "1 web-a1 claude-sonnet-4-5 closed 1m00s 4,000 $0.0248 -",
        "2 web-b1 opus closed 1m30s 6,200 $0.0460 -",
        "5 web-a3 opus no_change 1m00s 3,500 $0.0144 -",
    ] {
        assert!(
            squeezed.iter().any(|l| l == expected),
            "no line `{expected}` in:\n{table}"
        );
    }
    let md = quiet_success(
        &repo,
        &[
            "loop", "summary", "--run-id", PARALLEL, "--format", "markdown",
        ],
    );
    assert!(
        md.contains("finished (ready_empty), recorded by earlier hew"),
        "{md}"
    );
    assert!(
        md.contains("| opus | 2 | 1 | 4,000 | 2,000 | 2,000 | 1,700 | 9,700 | $0.0604 |"),
        "{md}"
    );
    assert!(
        md.contains("| **total** | 9,000 | 9,000 | 3,000 | 3,900 | 24,900 |"),
        "{md}"
    );
}

#[test]
fn the_report_of_an_earlier_run_draws_every_iteration_and_leaves_its_directory_alone() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    let run_dir = repo.path().join(".hew/loop").join(PARALLEL);
    let files_before = std::fs::read_dir(&run_dir).unwrap().count();
    let summary = json_of(
        &repo,
        &["loop", "summary", "--run-id", PARALLEL, "--json", "--tasks"],
    );
    let written = quiet_success(&repo, &["loop", "report", "--run-id", PARALLEL]);
    let page_path = repo.path().join(format!(".hew/report-{PARALLEL}.html"));
    assert_eq!(written.trim(), page_path.display().to_string());
    assert_eq!(std::fs::read_dir(&run_dir).unwrap().count(), files_before);
    let page = std::fs::read_to_string(&page_path).unwrap();
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(page.matches("<g class=\"o-").count(), tasks.len());
    for t in tasks {
        let bar = format!(
            "<g class=\"o-{}\"><title>#{} {} ",
            t["outcome"].as_str().unwrap(),
            t["iter"],
            t["task_id"].as_str().unwrap()
        );
        assert!(page.contains(&bar), "{bar}");
    }
    let cost = format!("${:.4}", summary["totals"]["cost_usd"].as_f64().unwrap());
    assert!(
        page.contains(&format!("id=\"total-cost\">{cost}<")),
        "{cost}"
    );
    assert!(page.contains("recorded by earlier hew"));
}

#[test]
fn doctor_counts_earlier_runs_as_finished_not_unreadable_or_stale() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    let out = repo.hew().arg("doctor").output().unwrap();
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("stale runs"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.starts_with('✓'), "{line}");
    assert!(
        line.ends_with("none; 2 finished runs recorded by earlier hew"),
        "{line}"
    );
}

#[test]
fn logs_of_an_earlier_run_say_why_there_is_no_output() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    let out = repo
        .hew()
        .args(["loop", "logs", "--run-id", SERIAL])
        .assert()
        .code(1);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.contains("recorded by earlier hew, which kept no agent output"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("hew loop summary --run-id {SERIAL} --tasks")),
        "{stderr}"
    );
}

#[test]
fn earlier_records_are_left_as_they_were() {
    let repo = TestRepo::new();
    add_earlier_runs(&repo);
    let dir = repo.path().join(".hew/loop").join(SERIAL);
    let before = std::fs::read(dir.join("run.json")).unwrap();
    for args in [
        &["loop", "list"][..],
        &["loop", "summary", "--run-id", SERIAL],
        &["loop", "prune", "--apply"],
        &["loop", "recover"],
    ] {
        let _ = repo.hew().args(args).output().unwrap();
    }
    assert_eq!(std::fs::read(dir.join("run.json")).unwrap(), before);
    assert!(!dir.join("iters").exists());
}

#[test]
fn a_user_config_of_earlier_hew_routes_the_dry_run_and_warns_once() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    add_earlier_runs(&repo);
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/earlier-hew/config/config.toml");
    std::fs::copy(config, repo.user_config()).unwrap();
    let urgent = repo.create_task(NewTask::new("urgent").priority(0));
    let chore = repo.create_task(NewTask::new("tidy up").priority(3).issue_type("chore"));
    let plain = repo.create_task(NewTask::new("plain").priority(2));

    let out = repo
        .hew()
        .args(["loop", "--dry-run", "--json"])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let rows = doc["tasks"].as_array().unwrap();
    let mut routes: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["model"].as_str().unwrap_or("-").to_owned(),
                r["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    routes.sort();
    let mut want = vec![
        (urgent, "opus".to_owned(), "priority".to_owned()),
        (chore, "haiku".to_owned(), "type".to_owned()),
        (plain, "sonnet".to_owned(), "default".to_owned()),
    ];
    want.sort();
    assert_eq!(routes, want);

    let stderr = text(&out.get_output().stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let file = repo.user_config().display().to_string();
    assert!(
        warnings[0].starts_with(&format!(
            "warning: `{file}` has keys of earlier hew that this hew ignores: update_check, \
             default_scope, git_track,"
        )),
        "{stderr}"
    );
    for key in [
        "loop.planner.enabled",
        "loop.fallback_cooldown_iters",
        "branching.strategy",
    ] {
        assert!(warnings[0].contains(key), "{key}: {stderr}");
    }
    for read in ["default_runtime", "loop.fallback_runtime"] {
        assert!(
            !warnings[0].contains(read),
            "{read} is read, not ignored: {stderr}"
        );
    }
    assert!(
        !stderr.contains("unreadable") && !stderr.contains("skipped"),
        "{stderr}"
    );
}

#[test]
fn a_key_no_hew_knows_is_still_an_error_naming_key_and_file() {
    let repo = TestRepo::new();
    std::fs::write(
        repo.user_config(),
        "update_check = true\nupdate_chekc = false\n",
    )
    .unwrap();
    let out = repo.hew().args(["config", "list"]).assert().code(3);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.contains(&format!(
            "unknown key `update_chekc` in `{}` at line 2",
            repo.user_config().display()
        )),
        "{stderr}"
    );
}

#[test]
fn config_list_says_what_became_of_each_key_of_earlier_hew() {
    let repo = TestRepo::new();
    std::fs::write(
        repo.user_config(),
        "update_check = true\ndefault_runtime = \"codex\"\n[loop.model.by_priority]\nP0 = \"opus\"\n",
    )
    .unwrap();
    let stdout = quiet_success(&repo, &["config", "list"]);
    let file = repo.user_config().display().to_string();
    assert!(
        stdout.contains("loop.model.by_priority = P0=opus\n"),
        "{stdout}"
    );
    assert!(stdout.contains("loop.agent.runtime = codex\n"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "# ignored: update_check (earlier hew's, in `{file}` at line 1, column 1): this hew \
             does not check for updates\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "# read as loop.agent.runtime: default_runtime (earlier hew's, in `{file}` at line 2, \
             column 1)\n"
        )),
        "{stdout}"
    );
}

#[test]
fn a_run_beside_earlier_runs_recovers_nothing_and_warns_of_nothing() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    add_earlier_runs(&repo);
    repo.use_agent("claude", crate::fake_agent(), "");
    let id = repo.create_task(NewTask::new("write the file"));

    let recover = repo.hew().args(["loop", "recover"]).assert().success();
    let stderr = text(&recover.get_output().stderr);
    assert!(!stderr.contains("readable"), "{stderr}");

    let out = repo.hew().arg("loop").assert().success();
    let stderr = text(&out.get_output().stderr);
    assert!(
        !stderr.contains("readable") && !stderr.contains("loop-2026"),
        "{stderr}"
    );
    assert_eq!(repo.show(&id)["status"], "closed");

    let runs = json_of(&repo, &["loop", "list", "--json"])["runs"].take();
    let listed: Vec<(&str, Option<&str>, u64)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap(),
                r["format"].as_str(),
                r["closed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed.len(), 3, "{runs:#}");
    assert_eq!(listed[0], (PARALLEL, Some("earlier"), 4));
    assert_eq!(listed[1], (SERIAL, Some("earlier"), 3));
    assert_eq!((listed[2].1, listed[2].2), (None, 1), "this hew's own run");
}
