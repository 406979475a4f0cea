//! `fake-agent`: the stand-in for a coding agent in hew's tests (never shipped).
//!
//! It behaves like `claude -p --output-format stream-json --verbose` or, when its first
//! argument is `exec`, like `codex exec --json`: it reads the whole prompt on stdin, works in
//! its cwd (codex: the `-C` dir), and prints the events those CLIs print.
//!
//! # Environment
//!
//! - `FAKE_AGENT_FORMAT` = `claude` | `codex` | `none` (plain text): overrides the
//!   detection from argv.
//! - `FAKE_AGENT_LOGGED_OUT=1`: `auth status` and `login status` answer logged out (they
//!   and `--version` are answered like the real CLIs, before any agent run).
//! - `FAKE_AGENT_SCENARIO`: path of a scenario file, or the scenario JSON itself when the
//!   value starts with `{`. Unset, or a missing file: default behaviour for every task.
//! - `FAKE_AGENT_RECORD_DIR`: where to record how it was started (see below).
//! - `FAKE_AGENT_TRACKER`: the tracker program for `close` (default `br`).
//! - From hew: `HEW_TASK_ID` (else the prompt's `id:` line, else `task`), `HEW_ATTEMPT`
//!   (default 1), `HEW_RUN_ID`, `HEW_WORKTREE`, `BEADS_DIR`, `ANTHROPIC_MODEL`.
//!
//! # Scenario
//!
//! `{"default": Behaviour, "tasks": {"<task-id>": Behaviour}}`. A task's entry overrides the
//! default field by field (and `usage` sub-field by sub-field). Every field is optional;
//! unknown fields are an error. Behaviour fields:
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `files` | `{"<id>.txt": "done by fake agent\n"}` | files to write (paths relative to the work dir) |
//! | `append` | `{}` | text to append to files (created if missing): shared-file conflicts |
//! | `commit` | `true` | `git add -A && git commit -m "<id>: fake work"` (skipped if nothing changed) |
//! | `commits` | `1` | number of commits; commit k ≥ 2 adds `<id>.<k>.txt` |
//! | `close` | `false` | `$FAKE_AGENT_TRACKER close <id> --reason "done by fake agent" --json` |
//! | `exit` | `0` | exit code |
//! | `sleep_ms` | `0` | time spread over the events before the result |
//! | `hang` | `false` | after init and the first assistant event, sleep forever (no work, no result) |
//! | `hang_after_work` | `false` | do the work (files, commits), then sleep forever (no result) |
//! | `ignore_sigterm` | `false` | block SIGTERM and SIGINT (only SIGKILL ends it) |
//! | `result_on_sigint` | `false` | with `hang`/`hang_after_work`: on SIGINT print the final message and result (as Claude Code does when interrupted) and exit 130 |
//! | `grandchild` | `false` | leave a `sleep 600` holding stdout open, then exit |
//! | `error_result` | none | `auth`/`rate_limit`/`server`/`bad_request`/`usage_limit`: an API error instead of any work; claude exits 1, codex 0 (unless `exit` is set) |
//! | `error_only_as` | none | `claude` or `codex`: `error_result` only when started as that CLI |
//! | `garbage` | `false` | non-JSON and unknown lines among the events |
//! | `big_line_bytes` | none | one valid JSON event line of exactly this many bytes before the result |
//! | `no_result` | `false` | no final `result` (codex: no last `turn.completed`), as if killed |
//! | `hook_event` | `true` | claude: a SessionStart hook event before `init` |
//! | `succeed_on_attempt` | none | N: attempts below N do no work and exit 1 |
//! | `models` | the model asked for, then haiku | one or two models for `modelUsage` |
//! | `usage` | see below | `{"main": T, "second": T, "codex_turns": [C, ...]}` |
//! | `cache_1h` | `false` | claude: cache writes are 1-hour writes (`usage.cache_creation.ephemeral_1h_input_tokens`, on the messages and the result), as for a subscription login |
//! | `fast` | `false` | claude: the main model in fast mode (`usage.speed: "fast"` on its messages and the result) |
//! | `web_searches` | `0` | claude: the main model's server-side web searches (`server_tool_use.web_search_requests`, `modelUsage[..].webSearchRequests`) |
//!
//! Models: with no `models`, the main model is `--model` (claude), else `ANTHROPIC_MODEL`,
//! else `claude-sonnet-4-5-20250929` (aliases `opus`, `sonnet`, `haiku` resolved to full
//! names); the second is `claude-haiku-4-5-20251001` (sonnet if the main one is haiku).
//!
//! Tokens (a `T` or `C` given replaces the default whole; its missing numbers are 0):
//! - `main` (claude `result.usage` and `modelUsage[model 1]`): input_tokens 1200,
//!   cache_creation_input_tokens 3000, cache_read_input_tokens 15000, output_tokens 450;
//! - `second` (`modelUsage[model 2]` only): 800, 0, 2000, 120;
//! - `codex_turns`: `[{input_tokens 5000, cached_input_tokens 3000, output_tokens 300},
//!   {7000, 6000, 500}]` (`reasoning_output_tokens` printed when non-zero).
//!
//! Claude's two assistant messages carry usage that sums (deduplicated by message id) to the
//! main input and cache numbers, with a placeholder `output_tokens` of 1 each. Costs use
//! list prices per model (opus 5/25/6.25/0.50, sonnet 3/15/3.75/0.30, haiku 1/5/1.25/0.10
//! USD per million, unknown names priced as sonnet; 1-hour writes at 2x input, fast mode
//! at 6x on Opus 4.6 and 2x on other models, $10 per 1,000 web searches); defaults:
//! $0.0261 + $0.0016 = $0.0277.
//!
//! # Record
//!
//! With `FAKE_AGENT_RECORD_DIR`, `<dir>/<task-id>.<attempt>.json` is written atomically at
//! the start (`ended_at` null) and again at the end: `argv` (without argv[0]), `cwd`,
//! `workdir`, `format`, `task_id`, `attempt`, `env` (`HEW_RUN_ID`, `HEW_TASK_ID`,
//! `HEW_ATTEMPT`, `HEW_WORKTREE`, `HEW_SLOT`, `BEADS_DIR`, `ANTHROPIC_MODEL`; null when
//! unset),
//! `requested_model` (`--model`/`-m`), `model`, `prompt`, `pid`, `pgid`, `started_at` and
//! `ended_at` (unix ms), `exit_code`, `commits`, `closed`.
//!
//! A fault of the fake agent itself (bad scenario, git failing) exits 97.

mod scenario;
mod stream;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use scenario::Plan;
use stream::{Format, Stream};

/// Exit code for a fault of the fake agent itself.
const SELF_FAULT: i32 = 97;

/// Reports a fault of the fake agent itself and exits 97.
fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("fake-agent: {msg}");
    std::process::exit(SELF_FAULT)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The value following `names` in argv (`--model M` or `--model=M`).
fn flag(argv: &[String], names: &[&str]) -> Option<String> {
    argv.iter().enumerate().find_map(|(i, a)| {
        names.iter().find_map(|n| {
            if a == n {
                argv.get(i + 1).cloned()
            } else {
                a.strip_prefix(n)?.strip_prefix('=').map(str::to_owned)
            }
        })
    })
}

/// What the run did, for the record.
#[derive(Default)]
pub struct Done {
    pub commits: u32,
    pub closed: bool,
    pub summary: String,
}

/// The free checks hew makes before a run, answered like the real CLIs: `--version`,
/// Claude's `auth status` (JSON, exit 1 when logged out) and Codex's `login status`.
/// `FAKE_AGENT_LOGGED_OUT=1` answers logged out. `None` for an agent run.
fn answer_check(argv: &[String]) -> Option<i32> {
    let logged_out = std::env::var("FAKE_AGENT_LOGGED_OUT").is_ok_and(|v| v == "1");
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--version"] => {
            println!("0.0.0 (fake agent)");
            Some(0)
        }
        ["auth", "status", ..] => {
            println!(
                "{{\n  \"loggedIn\": {},\n  \"authMethod\": \"{}\"\n}}",
                !logged_out,
                if logged_out { "none" } else { "fake" }
            );
            Some(i32::from(logged_out))
        }
        ["login", "status"] if logged_out => {
            eprintln!("Not logged in");
            Some(1)
        }
        ["login", "status"] => {
            eprintln!("Logged in using a fake key");
            Some(0)
        }
        _ => None,
    }
}

fn main() {
    let started_at = now_ms();
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(code) = answer_check(&argv) {
        std::process::exit(code);
    }
    let format = match std::env::var("FAKE_AGENT_FORMAT").ok().as_deref() {
        Some("claude") => Format::Claude,
        Some("codex") => Format::Codex,
        Some("none") => Format::None,
        Some(other) => die(format!(
            "FAKE_AGENT_FORMAT={other:?}: want claude, codex or none"
        )),
        None if argv.first().is_some_and(|a| a == "exec") => Format::Codex,
        None => Format::Claude,
    };
    if format == Format::Claude
        && flag(&argv, &["--output-format"]).as_deref() == Some("stream-json")
        && !argv.iter().any(|a| a == "--verbose")
    {
        eprintln!("Error: When using --print, --output-format=stream-json requires --verbose");
        std::process::exit(1);
    }

    let mut prompt = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut prompt) {
        die(format!("reading the prompt on stdin: {e}"));
    }
    let prompt = String::from_utf8_lossy(&prompt).into_owned();

    let env = |k: &str| std::env::var(k).ok();
    let task_id = env("HEW_TASK_ID")
        .filter(|s| !s.is_empty())
        .or_else(|| {
            prompt.lines().find_map(|l| {
                let id = l.trim().strip_prefix("id:")?.trim();
                (!id.is_empty()).then(|| id.to_owned())
            })
        })
        .unwrap_or_else(|| "task".to_owned());
    let attempt: u32 = match env("HEW_ATTEMPT") {
        None => 1,
        Some(a) => a
            .trim()
            .parse()
            .unwrap_or_else(|_| die(format!("HEW_ATTEMPT={a:?} is not a number"))),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|e| die(format!("no cwd: {e}")));
    let workdir = match (format, flag(&argv, &["-C", "--cd"])) {
        (Format::Codex, Some(dir)) => {
            std::fs::canonicalize(cwd.join(&dir)).unwrap_or_else(|e| die(format!("-C {dir}: {e}")))
        }
        _ => cwd.clone(),
    };
    let requested_model = match format {
        Format::Codex => flag(&argv, &["-m", "--model"]),
        _ => flag(&argv, &["--model"]),
    };
    let asked = requested_model.clone().or_else(|| env("ANTHROPIC_MODEL"));
    let plan = Plan::load(&task_id, attempt, format, asked.as_deref());

    let mut sigint = nix::sys::signal::SigSet::empty();
    if plan.result_on_sigint {
        sigint.add(nix::sys::signal::Signal::SIGINT);
        if let Err(e) = sigint.thread_block() {
            die(format!("blocking SIGINT: {e}"));
        }
    }
    // Sleeps forever, or until SIGINT when the result is to be reported on it.
    let hang = |out: &mut Stream, done: &Done| {
        if plan.result_on_sigint {
            if let Err(e) = sigint.wait() {
                die(format!("waiting for SIGINT: {e}"));
            }
            out.finish(done);
            std::process::exit(130);
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    };

    if plan.ignore_sigterm {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGTERM);
        set.add(nix::sys::signal::Signal::SIGINT);
        if let Err(e) = set.thread_block() {
            die(format!("blocking SIGTERM and SIGINT: {e}"));
        }
    }

    let env_keys = [
        "HEW_RUN_ID",
        "HEW_TASK_ID",
        "HEW_ATTEMPT",
        "HEW_WORKTREE",
        "HEW_SLOT",
        "BEADS_DIR",
        "ANTHROPIC_MODEL",
    ];
    let mut record = json!({
        "argv": argv,
        "cwd": cwd,
        "workdir": workdir,
        "format": format.name(),
        "task_id": task_id,
        "attempt": attempt,
        "env": env_keys.iter().map(|k| (k.to_string(), json!(env(k)))).collect::<serde_json::Map<_, _>>(),
        "requested_model": requested_model,
        "model": plan.models[0],
        "prompt": prompt,
        "pid": std::process::id(),
        "pgid": nix::unistd::getpgrp().as_raw(),
        "started_at": started_at,
        "ended_at": null,
        "exit_code": null,
        "commits": 0,
        "closed": false,
    });
    let record_dir = std::env::var_os("FAKE_AGENT_RECORD_DIR").map(PathBuf::from);
    let record_path = record_dir
        .as_ref()
        .map(|d| d.join(format!("{task_id}.{attempt}.json")));
    if let Some(path) = &record_path {
        write_record(path, &record);
    }

    let mut out = Stream::new(format, &task_id, attempt, &workdir, &plan);
    out.begin();
    let mut done = Done::default();
    if let Some(kind) = plan.error {
        out.api_error(kind);
    } else {
        out.work_started();
        if plan.hang {
            hang(&mut out, &done);
        }
        done = do_work(&plan, &task_id, &workdir);
        out.work_done(&done);
        if plan.hang_after_work {
            hang(&mut out, &done);
        }
        if plan.close {
            done.closed = close_task(&task_id, &workdir);
        }
        out.finish(&done);
    }

    if let Some(path) = &record_path {
        record["commits"] = json!(done.commits);
        record["closed"] = json!(done.closed);
        record["exit_code"] = json!(plan.exit);
        record["ended_at"] = json!(now_ms());
        write_record(path, &record);
    }
    if plan.grandchild {
        let spawned = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn();
        if let Err(e) = spawned {
            die(format!("spawning the grandchild: {e}"));
        }
    }
    std::process::exit(plan.exit);
}

/// Writes the files, appends, and commits the plan asks for.
fn do_work(plan: &Plan, task_id: &str, dir: &Path) -> Done {
    let mut done = Done::default();
    let mut touched = Vec::new();
    for (rel, text) in &plan.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| die(format!("mkdir {rel}: {e}")));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| die(format!("write {rel}: {e}")));
        touched.push(rel.clone());
    }
    for (rel, text) in &plan.append {
        use std::io::Write;
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| die(format!("mkdir {rel}: {e}")));
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap_or_else(|e| die(format!("append to {rel}: {e}")));
        touched.push(rel.clone());
    }
    let mut log = Vec::new();
    if plan.commit {
        for k in 1..=plan.commits {
            let message = if k == 1 {
                format!("{task_id}: fake work")
            } else {
                let extra = format!("{task_id}.{k}.txt");
                std::fs::write(dir.join(&extra), format!("fake work, part {k}\n"))
                    .unwrap_or_else(|e| die(format!("write {extra}: {e}")));
                touched.push(extra);
                format!("{task_id}: fake work, part {k}")
            };
            git(dir, &["add", "-A"]);
            if git(dir, &["status", "--porcelain"]).trim().is_empty() {
                continue;
            }
            let mut args = Vec::new();
            if git_ok(dir, &["config", "user.email"]).is_none() {
                args.extend([
                    "-c",
                    "user.name=fake agent",
                    "-c",
                    "user.email=fake@example.invalid",
                ]);
            }
            args.extend(["commit", "--quiet", "-m", &message]);
            git(dir, &args);
            log.push(git(dir, &["log", "-1", "--format=%h %s"]).trim().to_owned());
            done.commits += 1;
        }
    }
    done.summary = format!(
        "wrote {}; {} commit(s){}{}",
        if touched.is_empty() {
            "nothing".to_owned()
        } else {
            touched.join(", ")
        },
        done.commits,
        if log.is_empty() { "" } else { ": " },
        log.join("; ")
    );
    done
}

/// Runs git in `dir`; stdout when it succeeded.
fn git_ok(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs git in `dir`; a failure is a fault of the fake agent's setup.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| die(format!("running git: {e}")));
    if !out.status.success() {
        die(format!(
            "`git {}` failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Closes the task through the tracker (with `BEADS_DIR` as inherited). A failure is the
/// kind of thing a real agent runs into: reported on stderr, not fatal.
fn close_task(task_id: &str, dir: &Path) -> bool {
    let tracker = std::env::var("FAKE_AGENT_TRACKER").unwrap_or_else(|_| "br".to_owned());
    let out = Command::new(&tracker)
        .args(["close", task_id, "--reason", "done by fake agent", "--json"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "fake-agent: `{tracker} close {task_id}` failed ({}): {}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("fake-agent: cannot run `{tracker}`: {e}");
            false
        }
    }
}

/// Writes the record atomically: a temp file in the same dir, then a rename.
fn write_record(path: &Path, record: &Value) {
    let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(record).unwrap_or_else(|e| die(e));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| die(format!("record dir: {e}")));
    }
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .unwrap_or_else(|e| die(format!("writing {}: {e}", path.display())));
}
