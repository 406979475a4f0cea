//! The real Claude Code and Codex CLIs (pinned, installed by `scripts/install-agents.sh`),
//! run by `hew loop` where no model can be reached: logged out, or with a dummy key and no
//! network. The environment fails, not the tasks: the run stops at once, says what to fix,
//! and every task is left exactly as it was.

use std::time::{Duration, Instant};

use hew_tests::{TestRepo, pinned_agent, require_tracker};

/// Every task open, unassigned, without a `hew:` label or comment.
fn untouched(repo: &TestRepo, ids: &[String]) {
    for id in ids {
        let task = repo.show(id);
        assert_eq!(task["status"], "open", "{task}");
        assert!(
            task["assignee"].as_str().is_none_or(str::is_empty),
            "{task}"
        );
        let labels = task["labels"].to_string();
        assert!(!labels.contains("hew:"), "{id} was labelled: {labels}");
        assert!(!task["comments"].to_string().contains("hew:"), "{task}");
    }
}

fn run(repo: &TestRepo, args: &[&str]) -> (i32, String) {
    let out = repo
        .hew_std()
        .args(args)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn claude_logged_out_stops_the_run_and_touches_no_task() {
    require_tracker!();
    let Some(claude) = pinned_agent("@anthropic-ai/claude-code", "claude") else {
        return;
    };
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", &claude, "");
    let ids = repo.create_tasks(4);

    let (code, text) = run(&repo, &["loop", "-j", "2"]);

    assert_ne!(code, 0, "{text}");
    assert!(text.contains("claude auth login"), "{text}");
    untouched(&repo, &ids);
    assert_eq!(repo.run_record()["stop_reason"], "auth", "{text}");
}

#[test]
fn codex_without_a_network_stops_after_one_attempt_and_touches_no_task() {
    require_tracker!();
    let Some(codex) = pinned_agent("@openai/codex", "codex") else {
        return;
    };
    let repo = TestRepo::with_tracker();
    repo.use_agent("codex", &codex, "");
    let ids = repo.create_tasks(2);

    let started = Instant::now();
    let out = repo
        .hew_std()
        .args(["loop", "-j", "1"])
        .env_remove("OPENAI_API_KEY")
        .env("CODEX_API_KEY", "dummy")
        .output()
        .unwrap();
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    assert_ne!(out.status.code(), Some(0), "{text}");
    // The agent timeout is 2m in these tests: the run ends on the network, not on it.
    assert!(took < Duration::from_secs(110), "took {took:?}: {text}");
    assert!(text.contains("check the network"), "{text}");
    let iters = repo.iterations();
    assert_eq!(iters.len(), 1, "one attempt, then the run stops: {text}");
    untouched(&repo, &ids);
    assert_eq!(repo.run_record()["stop_reason"], "environment", "{text}");
}
