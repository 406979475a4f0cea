//! `hew loop logs`: an agent's raw output rendered readably, raw, or followed live.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::json;

fn fake_agent() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fake-agent"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_dir(repo: &TestRepo) -> std::path::PathBuf {
    repo.path()
        .join(".hew/loop")
        .join(repo.run_record()["run_id"].as_str().unwrap())
}

#[test]
fn logs_render_the_fake_agents_stream() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("write the file"));
    repo.hew().arg("loop").assert().success();

    let out = repo.hew().args(["loop", "logs"]).assert().success();
    let stdout = text(&out.get_output().stdout);
    let expected = [
        format!("══ #1 {id}  write the file  (closed, (default), 22.6k tokens)"),
        "── session started: model claude-sonnet-4-5-20250929, 8 tools, in ".to_owned(),
        format!("I'll make the change for {id} and commit it."),
        format!("→ Bash  git add -A && git commit -m '{id}: fake work'"),
        format!("  ← wrote {id}.txt; 1 commit(s): "),
        format!("Done with {id}: wrote {id}.txt"),
        "■ result: success · 2 turns · ".to_owned(),
        "22.6k tokens (input 1.2k, output 450, cache read 15.0k, cache write 3.0k) · $0.0277"
            .to_owned(),
    ];
    let mut at = 0;
    for want in &expected {
        let found = stdout[at..]
            .find(want.as_str())
            .unwrap_or_else(|| panic!("{want:?} missing (in order) from:\n{stdout}"));
        at += found + want.len();
    }

    let raw = repo
        .hew()
        .args(["loop", "logs", "--last", "--iter", "1", "--raw"])
        .assert()
        .success();
    let file = std::fs::read(run_dir(&repo).join("iters/1.agent.jsonl")).unwrap();
    assert_eq!(raw.get_output().stdout, file);

    let missing = repo
        .hew()
        .args(["loop", "logs", "--iter", "9"])
        .assert()
        .code(1);
    assert!(text(&missing.get_output().stderr).contains("no output for iteration 9"));
}

#[test]
fn logs_without_runs_say_so() {
    let repo = TestRepo::new();
    let out = repo.hew().args(["loop", "logs"]).assert().code(1);
    assert!(text(&out.get_output().stderr).contains("no runs in this repository"));
}

#[test]
fn follow_tails_a_running_iteration_until_it_ends() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.scenario(&json!({ "default": { "sleep_ms": 3000 } }));
    repo.create_task(NewTask::new("slow one"));
    let mut run = repo
        .hew_std()
        .arg("loop")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the agent's output to appear, then follow it while it runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let output = loop {
        let dirs: Vec<_> = std::fs::read_dir(repo.path().join(".hew/loop"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("iters/1.agent.jsonl"))
            .filter(|p| p.exists())
            .collect();
        if let Some(p) = dirs.into_iter().next() {
            break p;
        }
        assert!(Instant::now() < deadline, "the agent never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let record = output.with_file_name("1.json");
    assert!(
        !record.exists(),
        "the iteration ended before following began"
    );
    let out = repo
        .hew()
        .args(["loop", "logs", "--follow"])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    assert!(run.wait().unwrap().success());
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("■ result: success"), "{stdout}");
    assert!(
        record.exists(),
        "follow returned before the iteration ended"
    );
}
