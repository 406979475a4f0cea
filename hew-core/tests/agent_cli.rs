//! Contract tests against the real agent CLIs, at the versions pinned in
//! `scripts/agent-versions` and installed by `scripts/install-agents.sh`.
//!
//! No model is reachable from a test, so the CLIs never do work: each is started with
//! exactly the command line hew builds, logged out (a fresh `HOME`, no key) or with a
//! dummy key, and must get past argument parsing to fail on the login or the network, which
//! hew must classify as that environment failure. Where the machine does have a route to
//! the APIs, a dummy key is refused (401) instead of unreachable: both are accepted, never
//! a usage error or a crash.
//!
//! Without node or the pinned install these tests skip with a message saying how to get
//! them; `HEW_REQUIRE_AGENTS=1` (set by `scripts/test.sh` when node is there) makes a
//! missing install a failure instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hew_core::agent::{
    self, AgentRun, CheckStatus, EndReason, Environment, Launch, Limits, Runtime, Stop,
    command_line, preflight,
};
use hew_core::tracker::TaskId;
use tokio::sync::{mpsc, watch};

/// A launch as the runner builds it with the default config (`acceptEdits`, `Bash`), plus
/// a model, a budget and an MCP config so that every flag hew can pass is passed.
fn launch(runtime: Runtime, program: PathBuf, dir: &Path) -> Launch {
    let worktree = dir.join("wt");
    std::fs::create_dir_all(&worktree).unwrap();
    let mcp = dir.join("mcp.json");
    std::fs::write(&mcp, r#"{"mcpServers":{}}"#).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    Launch {
        runtime,
        program: Some(program),
        template: Vec::new(),
        permission_mode: Some("acceptEdits".into()),
        max_budget_usd: Some(0.5),
        allowed_tools: vec!["Bash".into()],
        mcp_config: Some(mcp),
        model: Some(match runtime {
            Runtime::Codex => "gpt-5".into(),
            _ => "sonnet".into(),
        }),
        task_id: TaskId::parse("demo-1").unwrap(),
        worktree,
        prompt: "Reply with OK.\n".into(),
        prompt_file: dir.join("run/1.prompt.md"),
        // Logged out: a home of its own, and no key from the caller's environment.
        env: vec![
            ("HOME".into(), home.display().to_string()),
            ("ANTHROPIC_API_KEY".into(), String::new()),
            ("CODEX_API_KEY".into(), String::new()),
            ("OPENAI_API_KEY".into(), String::new()),
        ],
        stdout_log: dir.join("run/1.agent.jsonl"),
        stderr_log: dir.join("run/1.agent.stderr"),
        limits: Limits {
            timeout: Duration::from_secs(600),
            grace: Duration::from_secs(5),
            slow_after: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(5),
        },
    }
}

fn set(launch: &mut Launch, name: &str, value: &str) {
    launch.env.retain(|(k, _)| k != name);
    launch.env.push((name.into(), value.into()));
}

async fn run(launch: &Launch) -> AgentRun {
    let (_stop, stop_rx) = watch::channel(Stop::Run);
    let (tx, _rx) = mpsc::unbounded_channel();
    agent::run(launch, stop_rx, tx).await.unwrap()
}

fn environment(run: &AgentRun) -> Option<Environment> {
    run.error.as_ref().and_then(|f| f.environment)
}

/// Every flag in `args` appears in `help` as a flag (followed by a space, a comma, `=` or
/// the end of the line).
fn assert_flags_in_help(args: &[String], help: &str, what: &str) {
    // `--model=NAME` is the flag `--model` with its value in the same argument.
    let flags = args
        .iter()
        .filter(|a| a.starts_with('-') && a.len() > 1)
        .map(|a| a.split_once('=').map_or(a.as_str(), |(flag, _)| flag));
    for flag in flags {
        let known = help.match_indices(flag).any(|(at, _)| {
            let before = help[..at].chars().last();
            let after = help[at + flag.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
                && after.is_none_or(|c| matches!(c, ' ' | ',' | '=' | '\n' | '<' | '['))
        });
        assert!(known, "`{flag}` is not in `{what}`:\n{help}");
    }
}

fn help(program: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{program:?} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_pinned_clis_know_every_flag_hew_passes() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(claude) = hew_tests::pinned_agent("@anthropic-ai/claude-code", "claude") {
        let (_, args) = command_line(&launch(Runtime::Claude, claude.clone(), dir.path())).unwrap();
        for flag in [
            "--permission-mode",
            "--max-budget-usd",
            "--allowedTools",
            "--mcp-config",
        ] {
            assert!(
                args.iter().any(|a| a == flag),
                "{flag} not passed: {args:?}"
            );
        }
        assert_flags_in_help(&args, &help(&claude, &["--help"]), "claude --help");
    }
    if let Some(codex) = hew_tests::pinned_agent("@openai/codex", "codex") {
        let (_, args) = command_line(&launch(Runtime::Codex, codex.clone(), dir.path())).unwrap();
        assert_eq!(args[0], "exec");
        assert_flags_in_help(
            &args[1..],
            &help(&codex, &["exec", "--help"]),
            "codex exec --help",
        );
    }
}

#[tokio::test]
async fn claude_logged_out_fails_on_the_login() {
    let Some(claude) = hew_tests::pinned_agent("@anthropic-ai/claude-code", "claude") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = run(&launch(Runtime::Claude, claude, dir.path())).await;
    assert_eq!(run.ended, EndReason::Exited, "{run:?}");
    assert_eq!(environment(&run), Some(Environment::Login), "{run:?}");
    assert_eq!(run.exit_code, Some(1));
}

#[tokio::test]
async fn claude_with_a_dummy_key_fails_on_the_network_or_the_key() {
    let Some(claude) = hew_tests::pinned_agent("@anthropic-ai/claude-code", "claude") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut launch = launch(Runtime::Claude, claude, dir.path());
    set(&mut launch, "ANTHROPIC_API_KEY", "sk-ant-hew-contract-test");
    let run = run(&launch).await;
    match environment(&run) {
        // No route to the API: stopped after connect_timeout, long before its own 3 minutes.
        Some(Environment::Network) => assert_eq!(run.ended, EndReason::Unreachable, "{run:?}"),
        Some(Environment::Login) => {}
        other => panic!("expected a network or login failure, got {other:?}: {run:?}"),
    }
}

#[tokio::test]
async fn claude_refuses_a_bad_flag_value_as_a_flag_failure() {
    let Some(claude) = hew_tests::pinned_agent("@anthropic-ai/claude-code", "claude") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut launch = launch(Runtime::Claude, claude, dir.path());
    launch.permission_mode = Some("everything".into());
    let run = run(&launch).await;
    assert_eq!(environment(&run), Some(Environment::Flag), "{run:?}");
    assert!(run.stderr_tail.contains("--permission-mode"), "{run:?}");
}

#[tokio::test]
async fn codex_logged_out_or_with_a_dummy_key_fails_on_the_network_or_the_key() {
    let Some(codex) = hew_tests::pinned_agent("@openai/codex", "codex") else {
        return;
    };
    for key in ["", "dummy"] {
        let dir = tempfile::tempdir().unwrap();
        let mut launch = launch(Runtime::Codex, codex.clone(), dir.path());
        set(&mut launch, "CODEX_API_KEY", key);
        // Codex says when it gives up; the connection timer is not what stops it.
        launch.limits.connect_timeout = Duration::from_secs(600);
        let run = run(&launch).await;
        match environment(&run) {
            Some(Environment::Network) => {
                assert_eq!(run.ended, EndReason::Unreachable, "{run:?}");
                let message = &run.error.as_ref().unwrap().message;
                assert!(message.contains("it stopped retrying"), "{message}");
            }
            Some(Environment::Login) => {}
            other => panic!("key {key:?}: expected network or login, got {other:?}: {run:?}"),
        }
    }
}

/// A wrapper that runs `program` logged out (its own `HOME`), with `env` set.
fn logged_out(dir: &Path, program: &Path, env: &str) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let wrapper = dir.join("agent");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec env -u ANTHROPIC_API_KEY -u CODEX_API_KEY -u OPENAI_API_KEY HOME='{}' {env} '{}' \"$@\"\n",
            home.display(),
            program.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", &wrapper.display().to_string()])
        .status()
        .unwrap();
    wrapper
}

#[tokio::test]
async fn preflight_refuses_a_logged_out_claude_and_accepts_a_key() {
    let Some(claude) = hew_tests::pinned_agent("@anthropic-ai/claude-code", "claude") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let checked = preflight(Runtime::Claude, Some(&logged_out(dir.path(), &claude, ""))).await;
    assert_eq!(checked.checks[0].status, CheckStatus::Pass, "{checked:?}");
    assert!(checked.checks[0].detail.contains("2.1.328"), "{checked:?}");
    let refusal = checked.refusal().expect("logged out");
    assert_eq!(refusal.environment, Some(Environment::Login));

    let dir = tempfile::tempdir().unwrap();
    let wrapper = logged_out(dir.path(), &claude, "ANTHROPIC_API_KEY=sk-ant-dummy");
    let checked = preflight(Runtime::Claude, Some(&wrapper)).await;
    assert_eq!(checked.refusal(), None, "{checked:?}");
    assert_eq!(checked.warnings().count(), 0, "{checked:?}");
}

#[tokio::test]
async fn preflight_only_warns_about_a_codex_login_it_cannot_see() {
    let Some(codex) = hew_tests::pinned_agent("@openai/codex", "codex") else {
        return;
    };
    for env in ["", "CODEX_API_KEY=dummy"] {
        let dir = tempfile::tempdir().unwrap();
        let checked = preflight(Runtime::Codex, Some(&logged_out(dir.path(), &codex, env))).await;
        assert_eq!(checked.refusal(), None, "{checked:?}");
        let warning = checked.warnings().next().expect("a warning");
        assert!(warning.detail.contains("Not logged in"), "{warning:?}");
        if !env.is_empty() {
            assert!(
                warning.detail.contains("CODEX_API_KEY is set"),
                "{warning:?}"
            );
        }
    }
}

#[tokio::test]
async fn preflight_refuses_a_missing_agent() {
    let checked = preflight(Runtime::Claude, Some(Path::new("/nonexistent/claude"))).await;
    let refusal = checked.refusal().expect("missing");
    assert_eq!(refusal.environment, Some(Environment::Start));
    assert!(
        refusal.detail.contains("/nonexistent/claude"),
        "{refusal:?}"
    );
    assert_eq!(checked.checks.len(), 1, "no login check without a program");
}
