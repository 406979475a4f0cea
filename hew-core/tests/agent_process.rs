//! The agent runner against real processes: small `#!/bin/sh` scripts standing in for an
//! agent (the `command` runtime), checking streaming, stdin, environment, time limits,
//! signals, leaked grandchildren and cleanup.
//!
//! Scripts are run as `sh SCRIPT` rather than executed directly: a script written and then
//! executed while another test thread forks can fail with "text file busy".

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hew_core::agent::{
    self, AgentError, AgentEvent, AgentRun, EndReason, ErrorClass, Launch, Limits, Stop,
    UsageSource,
};
use hew_core::config::Runtime;
use hew_core::tracker::TaskId;
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};

/// Long enough never to fire in a test that does not want it to.
const LONG: Duration = Duration::from_secs(120);

struct Agent {
    dir: tempfile::TempDir,
    launch: Launch,
}

impl Agent {
    /// An agent running `body` as a shell script, with generous limits.
    fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("agent.sh");
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        let worktree = dir.path().join("wt");
        std::fs::create_dir(&worktree).unwrap();
        let run = dir.path().join("run");
        let launch = Launch {
            runtime: Runtime::Command,
            program: None,
            template: vec!["sh".into(), script.display().to_string()],
            permission_mode: None,
            max_budget_usd: None,
            allowed_tools: Vec::new(),
            mcp_config: None,
            model: None,
            task_id: TaskId::parse("demo-3f").unwrap(),
            worktree,
            prompt: "Fix the bug.\nThen commit.\n".into(),
            prompt_file: run.join("3.prompt.md"),
            env: vec![
                ("HEW_RUN_ID".into(), "run-1".into()),
                ("HEW_TASK_ID".into(), "demo-3f".into()),
                ("HEW_DIR".into(), dir.path().display().to_string()),
            ],
            stdout_log: run.join("iters/3.agent.jsonl"),
            stderr_log: run.join("iters/3.agent.stderr"),
            limits: Limits {
                timeout: LONG,
                grace: Duration::from_secs(2),
                slow_after: LONG,
                connect_timeout: LONG,
            },
        };
        Self { dir, launch }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn stdout(&self) -> Vec<u8> {
        std::fs::read(&self.launch.stdout_log).unwrap_or_default()
    }

    /// Runs the agent to its end, with no stop request.
    async fn run(&self) -> (AgentRun, Vec<AgentEvent>) {
        let (_stop, stop_rx) = watch::channel(Stop::Run);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let run = agent::run(&self.launch, stop_rx, tx).await.unwrap();
        let mut events = Vec::new();
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        (run, events)
    }

    /// Starts the agent on its own task; returns the task, the stop sender and events.
    fn spawn(
        &self,
    ) -> (
        tokio::task::JoinHandle<Result<AgentRun, AgentError>>,
        watch::Sender<Stop>,
        mpsc::UnboundedReceiver<AgentEvent>,
    ) {
        let (stop, stop_rx) = watch::channel(Stop::Run);
        let (tx, rx) = mpsc::unbounded_channel();
        let launch = self.launch.clone();
        let task = tokio::spawn(async move { agent::run(&launch, stop_rx, tx).await });
        (task, stop, rx)
    }

    /// Waits until the stdout log contains `text`.
    async fn wait_for_output(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !String::from_utf8_lossy(&self.stdout()).contains(text) {
            assert!(Instant::now() < deadline, "no `{text}` in the log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn pid_of(events: &[AgentEvent]) -> i32 {
    events
        .iter()
        .find_map(|e| match e {
            AgentEvent::Started { pid } => Some(*pid as i32),
            _ => None,
        })
        .expect("a Started event")
}

/// State and process group of `pid`, from `/proc`.
fn proc_stat(pid: &str) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// No live process is left in group `pgid`. `killpg(pgid, 0)` failing with ESRCH is the
/// proof; where PID 1 does not reap orphans (some containers), killed grandchildren stay
/// zombies, which are dead and hold nothing, so they count as gone.
fn group_gone(pgid: i32) -> bool {
    match killpg(Pid::from_raw(pgid), None) {
        Err(Errno::ESRCH) => true,
        _ => !std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            proc_stat(&e.file_name().to_string_lossy())
                .is_some_and(|(state, pgrp)| pgrp == pgid && state != 'Z')
        }),
    }
}

fn alive(pid: i32) -> bool {
    proc_stat(&pid.to_string()).is_some_and(|(state, _)| state != 'Z')
}

/// SIGKILL is delivered at once but processed asynchronously: allow a moment.
async fn assert_group_gone(pgid: i32) {
    for _ in 0..250 {
        if group_gone(pgid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("process group {pgid} survived the run");
}

#[tokio::test]
async fn output_reaches_the_log_while_the_agent_is_still_running() {
    let agent = Agent::new(
        r#"echo first-line
while [ ! -e "$HEW_DIR/go" ]; do sleep 0.05; done
echo second-line"#,
    );
    let (task, _stop, _events) = agent.spawn();
    agent.wait_for_output("first-line").await;
    // The agent cannot finish before `go` exists, so the line was logged live.
    assert!(!task.is_finished());
    std::fs::write(agent.path("go"), "").unwrap();
    let run = task.await.unwrap().unwrap();
    assert_eq!(run.ended, EndReason::Exited);
    assert_eq!(agent.stdout(), b"first-line\nsecond-line\n");
}

#[tokio::test]
async fn prompt_arrives_on_stdin_and_in_the_prompt_file_with_env_and_cwd() {
    let mut agent = Agent::new(
        r#"cat > stdin.txt
pwd > pwd.txt
printf '%s|%s|%s|%s' "$HEW_RUN_ID" "$HEW_TASK_ID" "$1" "${ANTHROPIC_MODEL-unset}" > env.txt
cp "$2" prompt_copy.txt"#,
    );
    agent
        .launch
        .template
        .extend(["{task_id}".into(), "{prompt_file}".into()]);
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::Exited);
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.error, None);
    assert!(!run.leaked);
    assert_eq!(run.usage.source, UsageSource::Unknown);
    let wt = &agent.launch.worktree;
    let read = |name: &str| std::fs::read_to_string(wt.join(name)).unwrap();
    assert_eq!(read("stdin.txt"), agent.launch.prompt);
    assert_eq!(read("prompt_copy.txt"), agent.launch.prompt);
    assert_eq!(
        read("pwd.txt").trim_end(),
        wt.canonicalize().unwrap().display().to_string()
    );
    assert_eq!(read("env.txt"), "run-1|demo-3f|demo-3f|unset");
    assert_group_gone(pid_of(&events)).await;
}

#[tokio::test]
async fn a_ten_megabyte_line_is_logged_whole_and_parsed() {
    let agent = Agent::new(
        r#"printf '{"type":"assistant","message":{"id":"m1","model":"claude-x","content":[{"type":"text","text":"'
head -c 10000000 /dev/zero | tr '\0' a
printf '"}],"usage":{"input_tokens":7,"output_tokens":1}}}\n'
echo tail-line"#,
    );
    let (run, _) = agent.run().await;
    let log = agent.stdout();
    assert_eq!(log.len(), 10_000_000 + 155);
    assert!(log.ends_with(b"}}}\ntail-line\n"));
    assert_eq!(run.usage.source, UsageSource::Partial);
    assert_eq!(run.usage.total.total(), 8);
    assert_eq!(run.model_seen.as_deref(), Some("claude-x"));
}

#[tokio::test]
async fn usage_snapshots_are_sent_only_when_usage_changes() {
    let agent = Agent::new(
        r#"A='{"type":"assistant","message":{"id":"m1","model":"m","usage":{"input_tokens":5,"output_tokens":1}}}'
echo "$A"; echo "$A"
echo '{"type":"assistant","message":{"id":"m2","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}'
echo '{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.25,"usage":{"input_tokens":8,"output_tokens":9},"modelUsage":{"m":{"inputTokens":8,"outputTokens":9}}}'"#,
    );
    let (run, events) = agent.run().await;
    let totals: Vec<(u64, UsageSource)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Usage(u) => Some((u.total.total(), u.source)),
            _ => None,
        })
        .collect();
    assert_eq!(
        totals,
        [
            (6, UsageSource::Partial),
            (10, UsageSource::Partial),
            (17, UsageSource::Result)
        ]
    );
    assert_eq!(run.usage.total.total(), 17);
    assert_eq!(run.reported_cost_usd, Some(0.25));
}

#[tokio::test]
async fn a_hang_is_reported_slow_then_timed_out_and_leaves_no_process() {
    let mut agent = Agent::new("sleep 600 & sleep 600");
    agent.launch.limits = Limits {
        timeout: Duration::from_secs(1),
        grace: Duration::from_secs(1),
        slow_after: Duration::from_millis(200),
        connect_timeout: LONG,
    };
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::TimedOut);
    assert_eq!(run.error, None, "a timeout is not the agent's error");
    let kinds: Vec<&AgentEvent> = events
        .iter()
        .filter(|e| !matches!(e, AgentEvent::Usage(_)))
        .collect();
    assert!(matches!(kinds[0], AgentEvent::Started { .. }), "{kinds:?}");
    assert_eq!(kinds[1], &AgentEvent::Slow);
    assert_eq!(
        kinds[2],
        &AgentEvent::Terminating {
            why: EndReason::TimedOut
        }
    );
    assert_eq!(kinds.len(), 3);
    assert_group_gone(pid_of(&events)).await;
}

/// A timeout interrupts first: an agent that reports its result on SIGINT (as Claude Code
/// does) exits with it, and its figure is exact.
#[tokio::test]
async fn a_timeout_interrupts_first_and_the_result_reported_on_sigint_is_exact() {
    let result = r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.0362104,"usage":{"input_tokens":10,"cache_creation_input_tokens":15451,"cache_read_input_tokens":18134,"output_tokens":697,"cache_creation":{"ephemeral_1h_input_tokens":15451,"ephemeral_5m_input_tokens":0}},"modelUsage":{"claude-haiku-4-5-20251001":{"inputTokens":10,"outputTokens":697,"cacheReadInputTokens":18134,"cacheCreationInputTokens":15451,"costUSD":0.0362104}}}"#;
    let mut agent = Agent::new(&format!(
        "RESULT='{result}'\ntrap 'echo \"$RESULT\"; exit 130' INT\ntrap '' TERM\nwhile :; do sleep 1; done"
    ));
    agent.launch.limits = Limits {
        timeout: Duration::from_secs(1),
        grace: Duration::from_secs(30),
        slow_after: LONG,
        connect_timeout: LONG,
    };
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::TimedOut);
    assert_eq!(run.exit_code, Some(130), "it exited on the SIGINT: {run:?}");
    assert_eq!(run.usage.source, hew_core::agent::UsageSource::Result);
    let t = run.usage.per_model["claude-haiku-4-5-20251001"];
    assert_eq!((t.cache_create, t.cache_create_1h), (15451, 15451));
    assert_eq!(run.reported_cost_usd, Some(0.0362104));
    assert_group_gone(pid_of(&events)).await;
}

#[tokio::test]
async fn an_agent_ignoring_sigterm_is_killed_after_the_grace_period() {
    let mut agent = Agent::new("trap '' TERM INT\nwhile :; do sleep 1; done");
    agent.launch.limits = Limits {
        timeout: Duration::from_secs(2),
        grace: Duration::from_secs(1),
        slow_after: LONG,
        connect_timeout: LONG,
    };
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::TimedOut);
    assert_eq!(run.signal, Some(9), "{run:?}");
    assert_group_gone(pid_of(&events)).await;
}

#[tokio::test]
async fn a_grandchild_holding_stdout_is_killed_and_reported_as_leaked() {
    let agent = Agent::new("sleep 600 &\necho $! > \"$HEW_DIR/grandchild\"\necho bye");
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::Exited);
    assert_eq!(run.exit_code, Some(0));
    assert!(run.leaked);
    assert_eq!(agent.stdout(), b"bye\n");
    let grandchild: i32 = std::fs::read_to_string(agent.path("grandchild"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_group_gone(pid_of(&events)).await;
    assert!(!alive(grandchild));
}

#[tokio::test]
async fn a_helper_that_closed_its_output_is_not_a_leak_but_is_killed() {
    let agent = Agent::new("sleep 600 >/dev/null 2>&1 &\necho bye");
    let (run, events) = agent.run().await;
    assert!(!run.leaked);
    assert_group_gone(pid_of(&events)).await;
}

#[tokio::test]
async fn graceful_stop_sends_sigint_to_the_group() {
    let agent = Agent::new(
        r#"trap 'echo interrupted > "$HEW_DIR/marker"; echo "$RESULT"; exit 3' INT
RESULT='{"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":4,"output_tokens":2},"modelUsage":{"m":{"inputTokens":4,"outputTokens":2}}}'
echo ready
while :; do sleep 0.1; done"#,
    );
    let (task, stop, mut events) = agent.spawn();
    agent.wait_for_output("ready").await;
    stop.send(Stop::Graceful).unwrap();
    let run = task.await.unwrap().unwrap();
    assert_eq!(run.ended, EndReason::Cancelled);
    assert_eq!(run.error, None, "a cancelled run is not the agent's error");
    let marker = std::fs::read_to_string(agent.path("marker")).unwrap();
    assert_eq!(marker, "interrupted\n");
    // SIGINT lets an agent end its turn and print its result: the usage is exact.
    assert_eq!(run.usage.source, UsageSource::Result);
    assert_eq!(run.usage.total.total(), 6);
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert!(seen.contains(&AgentEvent::Terminating {
        why: EndReason::Cancelled
    }));
    assert_group_gone(pid_of(&seen)).await;
}

#[tokio::test]
async fn stop_now_kills_at_once() {
    let agent = Agent::new("trap '' INT TERM\necho ready\nwhile :; do sleep 1; done");
    let (task, stop, mut events) = agent.spawn();
    agent.wait_for_output("ready").await;
    stop.send(Stop::Now).unwrap();
    let run = task.await.unwrap().unwrap();
    assert_eq!(run.ended, EndReason::Cancelled);
    assert_eq!(run.signal, Some(9));
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert_group_gone(pid_of(&seen)).await;
}

#[tokio::test]
async fn dropping_the_run_kills_the_whole_group() {
    let agent = Agent::new("sleep 600 &\necho $! > \"$HEW_DIR/grandchild\"\necho ready\nsleep 600");
    let (task, _stop, mut events) = agent.spawn();
    agent.wait_for_output("ready").await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert_group_gone(pid_of(&seen)).await;
    let grandchild: i32 = std::fs::read_to_string(agent.path("grandchild"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(grandchild));
}

#[tokio::test]
async fn a_missing_program_is_not_found_with_the_config_key() {
    let mut agent = Agent::new("");
    agent.launch.template = vec!["hew-no-such-agent-xyz".into()];
    let (_stop, stop_rx) = watch::channel(Stop::Run);
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = agent::run(&agent.launch, stop_rx, tx).await.unwrap_err();
    assert!(matches!(err, AgentError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("loop.agent.command"), "{err}");

    agent.launch.runtime = Runtime::Claude;
    agent.launch.program = Some("/nonexistent/bin/claude".into());
    let (_stop, stop_rx) = watch::channel(Stop::Run);
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = agent::run(&agent.launch, stop_rx, tx).await.unwrap_err();
    assert!(err.to_string().contains("loop.agent.runtime"), "{err}");
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failure_with_the_stderr_tail() {
    let agent = Agent::new("echo working\necho 'fatal: the widget broke' >&2\nexit 7");
    let (run, _) = agent.run().await;
    assert_eq!(run.ended, EndReason::Exited);
    assert_eq!(run.exit_code, Some(7));
    let failure = run.error.unwrap();
    assert_eq!(failure.class, ErrorClass::Other);
    assert_eq!(
        failure.message,
        "exited with code 7: fatal: the widget broke"
    );
    assert_eq!(run.stderr_tail, "fatal: the widget broke\n");
    let stderr = std::fs::read_to_string(&agent.launch.stderr_log).unwrap();
    assert_eq!(stderr, "fatal: the widget broke\n");
}

#[tokio::test]
async fn an_error_in_the_output_wins_over_the_exit_code() {
    let agent = Agent::new(
        r#"echo '{"type":"result","subtype":"success","is_error":true,"result":"API Error: 429 rate limited"}'
echo oops >&2
exit 1"#,
    );
    let (run, _) = agent.run().await;
    let failure = run.error.unwrap();
    assert_eq!(failure.class, ErrorClass::RateLimit);
    assert_eq!(failure.message, "API Error: 429 rate limited");
}

#[tokio::test]
async fn an_agent_that_never_reads_its_prompt_is_fine() {
    let mut agent = Agent::new("echo not reading");
    agent.launch.prompt = "x".repeat(4 * 1024 * 1024);
    let (run, _) = agent.run().await;
    assert_eq!(run.ended, EndReason::Exited);
    assert_eq!(run.error, None);
    let written = std::fs::metadata(&agent.launch.prompt_file).unwrap().len();
    assert_eq!(written, 4 * 1024 * 1024);
}

#[tokio::test]
async fn a_dropped_stop_sender_lets_the_agent_finish() {
    let agent = Agent::new("sleep 0.2\necho done");
    let (stop, stop_rx) = watch::channel(Stop::Run);
    drop(stop);
    let (tx, _rx) = mpsc::unbounded_channel();
    let run = agent::run(&agent.launch, stop_rx, tx).await.unwrap();
    assert_eq!(run.ended, EndReason::Exited);
    assert_eq!(agent.stdout(), b"done\n");
}

/// The lines of a captured stream, for a script to print.
fn captured(name: &str, keep: impl Fn(&str) -> bool) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/streams/");
    let text = std::fs::read_to_string(format!("{path}{name}")).unwrap();
    text.lines()
        .filter(|l| keep(l))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Codex's real output with no network: it never exits by itself, but its "waiting for
/// network" says it gave up; the agent is stopped then, not at its timeout.
#[tokio::test]
async fn an_agent_that_waits_for_the_network_is_stopped_as_unreachable() {
    let agent = Agent::new("cat \"$HEW_DIR/out.jsonl\"\nwhile :; do sleep 1; done");
    std::fs::write(
        agent.path("out.jsonl"),
        captured("codex-0.169-logged-out.jsonl", |_| true),
    )
    .unwrap();
    // The command runtime reads the stream in whichever format it recognises.
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::Unreachable, "{run:?}");
    let failure = run.error.expect("a failure");
    assert_eq!(
        failure.environment,
        Some(hew_core::agent::Environment::Network)
    );
    assert!(
        failure.message.contains("it stopped retrying"),
        "{}",
        failure.message
    );
    let retries: Vec<(u32, Option<u32>)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ApiRetry(r) => Some((r.attempt, r.max)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [(2, Some(5)), (3, Some(5)), (4, Some(5)), (5, Some(5))]
    );
    assert!(events.contains(&AgentEvent::Terminating {
        why: EndReason::Unreachable
    }));
    assert_group_gone(pid_of(&events)).await;
}

/// Claude's real `api_retry` lines, then silence: stopped after `connect_timeout`.
#[tokio::test]
async fn an_agent_showing_only_api_retries_is_stopped_after_the_connect_timeout() {
    let mut agent = Agent::new("cat \"$HEW_DIR/out.jsonl\"\nwhile :; do sleep 1; done");
    std::fs::write(
        agent.path("out.jsonl"),
        captured("claude-2.1.328-no-network.jsonl", |l| {
            l.contains("\"init\"") || l.contains("\"attempt\":1,") || l.contains("\"attempt\":2,")
        }),
    )
    .unwrap();
    agent.launch.limits.connect_timeout = Duration::from_secs(1);
    let (run, events) = agent.run().await;
    assert_eq!(run.ended, EndReason::Unreachable, "{run:?}");
    let failure = run.error.expect("a failure");
    assert_eq!(
        failure.environment,
        Some(hew_core::agent::Environment::Network)
    );
    assert!(
        failure.message.contains("2 connection errors"),
        "{}",
        failure.message
    );
    assert_group_gone(pid_of(&events)).await;
}

/// A reply from the model means the API was reachable: a later connection error does not
/// arm the connection timer, and the agent is left to its own timeout.
#[tokio::test]
async fn an_agent_that_reached_its_api_is_not_stopped_for_a_retry() {
    let mut agent = Agent::new(
        r#"echo '{"type":"assistant","message":{"id":"m1","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}'
echo '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"error_status":null,"error":"unknown"}'
sleep 2
echo '{"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":5,"output_tokens":1}}'"#,
    );
    agent.launch.limits.connect_timeout = Duration::from_millis(200);
    let (run, _) = agent.run().await;
    assert_eq!(run.ended, EndReason::Exited, "{run:?}");
    assert_eq!(run.error, None);
}
