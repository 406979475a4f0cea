//! The fake agent itself: run directly in temp git repositories, it must do the work its
//! scenario asks for and print streams shaped like the real CLIs'.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hew_tests::{NewTask, TestRepo};
use serde_json::{Value, json};

/// The fake agent started in `dir` with `args`, a clean environment, and `env` added.
fn fake(dir: &Path, args: &[&str], env: &[(&str, &str)], prompt: &str) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fake-agent"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HEW_") || k.starts_with("FAKE_AGENT_") || k == "ANTHROPIC_MODEL" {
            cmd.env_remove(&key);
        }
    }
    let mut child = cmd
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the fake agent");
    let mut stdin = child.stdin.take().expect("stdin");
    // An agent that refuses its scenario exits before reading: a broken pipe is its answer.
    if let Err(e) = stdin.write_all(prompt.as_bytes()) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write prompt: {e}"
        );
    }
    drop(stdin);
    child.wait_with_output().expect("wait for the fake agent")
}

const CLAUDE: &[&str] = &["-p", "--output-format", "stream-json", "--verbose"];

/// Every JSON object line of the output; other lines are skipped.
fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

fn of_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn commit_count(dir: &Path) -> usize {
    git(dir, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn default_run_commits_a_file_and_prints_a_claude_stream() {
    let repo = TestRepo::new();
    let out = fake(
        repo.path(),
        &[CLAUDE, &["--model", "claude-sonnet-4-5-20250929"]].concat(),
        &[("HEW_TASK_ID", "demo-1")],
        "id: demo-1\ntitle: something\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("every line is JSON");
        assert!(line.starts_with(r#"{"type":"#), "type comes first: {line}");
        assert!(v["session_id"].is_string());
    }
    assert_eq!(
        std::fs::read_to_string(repo.path().join("demo-1.txt")).unwrap(),
        "done by fake agent\n"
    );
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s"]).trim(),
        "demo-1: fake work"
    );
    assert!(git(repo.path(), &["status", "--porcelain"]).is_empty());

    let ev = events(&out);
    assert_eq!(
        ev[0]["subtype"], "hook_response",
        "a hook event comes first"
    );
    let init = of_type(&ev, "system")
        .into_iter()
        .find(|e| e["subtype"] == "init")
        .expect("an init event");
    assert_eq!(init["model"], "claude-sonnet-4-5-20250929");

    // One message split over several lines that repeat its id and usage.
    let assistant = of_type(&ev, "assistant");
    let first_id = &assistant[0]["message"]["id"];
    let same: Vec<_> = assistant
        .iter()
        .filter(|e| &e["message"]["id"] == first_id)
        .collect();
    assert!(same.len() >= 2, "one message over several lines");
    assert!(
        same.iter()
            .all(|e| e["message"]["usage"] == same[0]["message"]["usage"])
    );
    assert_eq!(of_type(&ev, "user").len(), 1, "a tool result");

    let result = ev.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["is_error"], false);
    assert_eq!(
        result["usage"],
        json!({"input_tokens": 1200, "cache_creation_input_tokens": 3000,
            "cache_read_input_tokens": 15000, "output_tokens": 450,
            "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"})
    );
    let models = result["modelUsage"].as_object().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models["claude-sonnet-4-5-20250929"]["inputTokens"], 1200);
    assert_eq!(models["claude-haiku-4-5-20251001"]["outputTokens"], 120);
    assert_eq!(result["total_cost_usd"], 0.0277);
}

#[test]
fn model_comes_from_the_flag_then_anthropic_model_and_usage_from_the_scenario() {
    let repo = TestRepo::new();
    let scenario = r#"{"default": {"commit": false, "usage": {"main": {"output_tokens": 7}}},
        "tasks": {"t-1": {"models": ["m-one"], "usage": {"second": {"input_tokens": 1}}}}}"#;
    let env = [
        ("FAKE_AGENT_SCENARIO", scenario),
        ("ANTHROPIC_MODEL", "haiku"),
    ];
    let ev = events(&fake(repo.path(), CLAUDE, &env, "p"));
    let result = ev.last().unwrap();
    assert_eq!(result["usage"]["output_tokens"], 7);
    assert_eq!(result["usage"]["input_tokens"], 0);
    let models: Vec<_> = result["modelUsage"].as_object().unwrap().keys().collect();
    assert_eq!(
        models,
        ["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"]
    );

    let env = [("FAKE_AGENT_SCENARIO", scenario), ("HEW_TASK_ID", "t-1")];
    let ev = events(&fake(
        repo.path(),
        &[CLAUDE, &["--model=x"]].concat(),
        &env,
        "p",
    ));
    let result = ev.last().unwrap();
    assert_eq!(
        result["usage"]["output_tokens"], 7,
        "merged with the default"
    );
    let models: Vec<_> = result["modelUsage"].as_object().unwrap().keys().collect();
    assert_eq!(models, ["m-one"]);
    assert_eq!(
        commit_count(repo.path()),
        1,
        "commit: false from the default"
    );
}

#[test]
fn codex_mode_prints_turns() {
    let repo = TestRepo::new();
    let dir = repo.path().to_str().unwrap();
    let args = [
        "exec",
        "--json",
        "-m",
        "gpt-5",
        "-C",
        dir,
        "--sandbox",
        "workspace-write",
        "--skip-git-repo-check",
        "-",
    ];
    let out = fake(repo.path(), &args, &[("HEW_TASK_ID", "demo-2")], "prompt");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let ev = events(&out);
    assert_eq!(ev[0]["type"], "thread.started");
    assert!(ev.iter().all(|e| e["type"] != "result"));
    let usage: Vec<_> = of_type(&ev, "turn.completed")
        .iter()
        .map(|e| e["usage"].clone())
        .collect();
    // Like codex-rs's exec, each turn.completed carries the thread's running total.
    assert_eq!(
        usage,
        [
            json!({"input_tokens": 5000, "cached_input_tokens": 3000, "output_tokens": 300}),
            json!({"input_tokens": 12000, "cached_input_tokens": 9000, "output_tokens": 800}),
        ]
    );
    assert_eq!(ev.last().unwrap()["type"], "turn.completed");
    assert_eq!(commit_count(repo.path()), 2);

    // The switch works without `exec` too.
    let out = fake(repo.path(), &[], &[("FAKE_AGENT_FORMAT", "codex")], "p");
    assert_eq!(of_type(&events(&out), "turn.completed").len(), 2);
}

#[test]
fn close_closes_a_real_tracker_task() {
    hew_tests::require_tracker!();
    let repo = TestRepo::with_tracker();
    let id = repo.create_task(NewTask::new("close me"));
    let wt = tempfile::tempdir().unwrap();
    let wt_path = wt.path().join("wt");
    git(
        repo.path(),
        &["worktree", "add", "-b", "task", wt_path.to_str().unwrap()],
    );
    let home = tempfile::tempdir().unwrap();
    let beads = repo.path().join(".beads");
    let out = fake(
        &wt_path,
        CLAUDE,
        &[
            ("HEW_TASK_ID", &id),
            ("BEADS_DIR", beads.to_str().unwrap()),
            ("FAKE_AGENT_SCENARIO", r#"{"default": {"close": true}}"#),
            ("FAKE_AGENT_TRACKER", &hew_tests::tracker_program()),
            ("HOME", home.path().to_str().unwrap()),
        ],
        "p",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(repo.show(&id)["status"], "closed");
    assert_eq!(commit_count(&wt_path), 2);
}

#[test]
fn record_has_argv_env_and_prompt() {
    let repo = TestRepo::new();
    let rec = tempfile::tempdir().unwrap();
    let dir = repo.path().to_str().unwrap();
    let prompt = "id: demo-3\ntitle: record me\n\nDo the thing.\n";
    let args = [
        CLAUDE,
        &["--model", "opus", "--allowedTools", "Bash(git *)"],
    ]
    .concat();
    let out = fake(
        repo.path(),
        &args,
        &[
            ("HEW_RUN_ID", "run-1"),
            ("HEW_TASK_ID", "demo-3"),
            ("HEW_ATTEMPT", "2"),
            ("HEW_WORKTREE", dir),
            ("HEW_SLOT", "2"),
            ("BEADS_DIR", "/nowhere/.beads"),
            ("ANTHROPIC_MODEL", "claude-opus-4-5"),
            ("FAKE_AGENT_RECORD_DIR", rec.path().to_str().unwrap()),
        ],
        prompt,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(rec.path().join("demo-3.2.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["argv"], json!(args));
    assert_eq!(
        PathBuf::from(r["cwd"].as_str().unwrap()),
        repo.path().canonicalize().unwrap()
    );
    assert_eq!(
        r["env"],
        json!({"HEW_RUN_ID": "run-1", "HEW_TASK_ID": "demo-3", "HEW_ATTEMPT": "2",
            "HEW_WORKTREE": dir, "HEW_SLOT": "2", "BEADS_DIR": "/nowhere/.beads",
            "ANTHROPIC_MODEL": "claude-opus-4-5"})
    );
    assert_eq!(r["prompt"], prompt);
    assert_eq!(r["requested_model"], "opus");
    assert_eq!(r["model"], "claude-opus-4-5-20251101");
    assert_eq!(r["attempt"], 2);
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["commits"], 1);
    let (start, end) = (
        r["started_at"].as_u64().unwrap(),
        r["ended_at"].as_u64().unwrap(),
    );
    assert!(start > 1_600_000_000_000 && start <= end);
    assert!(r["pid"].as_u64().unwrap() > 0 && r["pgid"].as_u64().unwrap() > 0);

    // Unset variables are recorded as null.
    let out = fake(
        repo.path(),
        CLAUDE,
        &[("FAKE_AGENT_RECORD_DIR", rec.path().to_str().unwrap())],
        "id: from-prompt\n",
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(rec.path().join("from-prompt.1.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["env"]["ANTHROPIC_MODEL"], Value::Null);
    assert_eq!(r["env"]["HEW_TASK_ID"], Value::Null);
}

#[test]
fn succeed_on_attempt_fails_before_it() {
    let repo = TestRepo::new();
    let scenario_dir = tempfile::tempdir().unwrap();
    let scenario = scenario_dir.path().join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{"tasks": {"demo-4": {"succeed_on_attempt": 2}}}"#,
    )
    .unwrap();
    let run = |attempt: &str| {
        fake(
            repo.path(),
            CLAUDE,
            &[
                ("HEW_TASK_ID", "demo-4"),
                ("HEW_ATTEMPT", attempt),
                ("FAKE_AGENT_SCENARIO", scenario.to_str().unwrap()),
            ],
            "p",
        )
    };
    let out = run("1");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(commit_count(repo.path()), 1, "no commit on attempt 1");
    let ev = events(&out);
    assert_eq!(ev.last().unwrap()["is_error"], true);

    let out = run("2");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(commit_count(repo.path()), 2);
    assert_eq!(events(&out).last().unwrap()["subtype"], "success");
}

#[test]
fn error_result_reports_an_api_error() {
    let repo = TestRepo::new();
    let env = [(
        "FAKE_AGENT_SCENARIO",
        r#"{"default": {"error_result": "rate_limit"}}"#,
    )];
    let out = fake(repo.path(), CLAUDE, &env, "p");
    assert_eq!(out.status.code(), Some(1));
    let result = events(&out).pop().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["subtype"], "error_during_execution");
    assert_eq!(result["is_error"], true);
    assert!(
        result["result"]
            .as_str()
            .unwrap()
            .starts_with("API Error: 429")
    );
    assert_eq!(commit_count(repo.path()), 1, "no work");

    // Codex exits 0 and says so in turn.failed.
    let out = fake(repo.path(), &["exec", "--json", "-"], &env, "p");
    assert_eq!(out.status.code(), Some(0));
    let ev = events(&out);
    let failed = of_type(&ev, "turn.failed");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("429")
    );
    assert!(of_type(&ev, "turn.completed").is_empty());
}

#[test]
fn garbage_big_line_and_no_result() {
    let repo = TestRepo::new();
    let scenario =
        r#"{"default": {"garbage": true, "big_line_bytes": 1000000, "no_result": true}}"#;
    let out = fake(
        repo.path(),
        CLAUDE,
        &[("FAKE_AGENT_SCENARIO", scenario)],
        "p",
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| serde_json::from_str::<Value>(l).is_err())
    );
    let big = text.lines().find(|l| l.len() > 1000).unwrap();
    assert_eq!(big.len(), 1_000_000);
    assert!(serde_json::from_str::<Value>(big).is_ok());
    assert!(of_type(&events(&out), "result").is_empty());
}

#[test]
fn misuse_is_reported() {
    let repo = TestRepo::new();
    let out = fake(
        repo.path(),
        CLAUDE,
        &[("FAKE_AGENT_SCENARIO", r#"{"default": {"exitt": 1}}"#)],
        "p",
    );
    assert_eq!(
        out.status.code(),
        Some(97),
        "a bad scenario is the test's fault"
    );
    let out = fake(
        repo.path(),
        &["-p", "--output-format", "stream-json"],
        &[],
        "p",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "stream-json wants --verbose, as in claude"
    );
}

/// Starts the fake agent in its own process group with the prompt already closed.
fn spawn_in_group(dir: &Path, scenario: &str, rec: &Path) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    Command::new(env!("CARGO_BIN_EXE_fake-agent"))
        .env("FAKE_AGENT_SCENARIO", scenario)
        .env("FAKE_AGENT_RECORD_DIR", rec)
        .env("HEW_TASK_ID", "sig")
        .env_remove("HEW_ATTEMPT")
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the fake agent")
}

/// Kills a fake agent's whole process group when the test ends, even by a panic.
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0) {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Waits (bounded) until the fake agent has written its start record.
fn wait_for_record(rec: &Path) -> Value {
    let path = rec.join("sig.1.json");
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no record at {}", path.display());
}

#[test]
fn ignore_sigterm_takes_sigkill() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::os::unix::process::ExitStatusExt;
    let repo = TestRepo::new();
    let rec = tempfile::tempdir().unwrap();
    let scenario = r#"{"default": {"hang": true, "ignore_sigterm": true}}"#;
    let mut child = spawn_in_group(repo.path(), scenario, rec.path());
    let _guard = KillGroup(child.id());
    let record = wait_for_record(rec.path());
    assert_eq!(record["pgid"], record["pid"], "its own group");
    assert_eq!(record["ended_at"], Value::Null, "hanging");
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "SIGTERM is ignored");
    kill(pid, Signal::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

#[test]
fn grandchild_holds_stdout_after_exit() {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    use std::io::Read;
    let repo = TestRepo::new();
    let rec = tempfile::tempdir().unwrap();
    let mut child = spawn_in_group(
        repo.path(),
        r#"{"default": {"grandchild": true}}"#,
        rec.path(),
    );
    let _guard = KillGroup(child.id());
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        let _ = tx.send(all);
    });
    assert!(child.wait().unwrap().success());
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "stdout stays open after the agent exits"
    );
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap());
    killpg(group, Signal::SIGKILL).unwrap();
    let all = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    let last = String::from_utf8_lossy(&all)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    assert!(last.starts_with(r#"{"type":"result""#), "{last}");
}

#[test]
fn demo_agent_script_commits_and_prints_a_claude_stream() {
    let repo = TestRepo::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo-agent.sh");
    let mut cmd = Command::new("sh");
    let mut child = cmd
        .arg(&script)
        .arg("claude-sonnet-4-5")
        .env("HEW_TASK_ID", "demo-3f")
        .current_dir(repo.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"Work on this task.\nid: demo-3f\ntitle: Add \"retry\" to the fetcher\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let ev: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(ev[0]["subtype"], "init");
    assert_eq!(ev[1]["type"], "assistant");
    let result = ev.last().unwrap();
    assert_eq!(result["type"], "result");
    assert!(result["total_cost_usd"].as_f64().unwrap() > 0.0);
    let usage = &result["modelUsage"]["claude-sonnet-4-5"];
    assert_eq!(usage["outputTokens"], result["usage"]["output_tokens"]);
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s"]).trim(),
        "demo-3f: Add \"retry\" to the fetcher"
    );
    let note = std::fs::read_to_string(repo.path().join("docs/demo-3f.md")).unwrap();
    assert!(note.starts_with("# Add \"retry\" to the fetcher\n"));
}
