//! `hew loop logs`: what an agent did, read from its raw output
//! (`.hew/loop/<run-id>/iters/<n>.agent.jsonl`) and rendered by `crate::agent_log`, or
//! printed as it is with `--raw`. Rendered output is escaped (`crate::escape`): an agent
//! that prints control sequences does not reach the terminal with them; `--raw` does, by
//! its name. `--follow` tails an iteration still running until its
//! record is written.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Duration;

use clap::Args;
use hew_core::records::{IterRecord, RunDir, RunKind, RunRecord, list_runs, liveness};

use crate::agent_log::AgentLog;
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

/// How often `--follow` looks for more output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run (default: the latest).
    #[arg(long, value_name = "ID", conflicts_with = "last")]
    run_id: Option<String>,

    /// The latest run (the default).
    #[arg(long)]
    last: bool,

    /// Only this iteration (default: every iteration of the run, in order; with
    /// --follow, the newest).
    #[arg(long = "iter", value_name = "N")]
    iter: Option<u32>,

    /// Keep printing the iteration's output as it arrives, until it ends.
    #[arg(short, long)]
    follow: bool,

    /// Print the output exactly as the agent wrote it.
    #[arg(long)]
    raw: bool,
}

pub fn logs(ctx: &Context, args: LogsArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let run = pick_run(&root, args.run_id.as_deref())?;
    let dir = RunDir::open(&root, &run.run_id);
    let mut numbers = agent_outputs(&dir);
    let wanted: Vec<u32> = match (args.iter, args.follow) {
        (Some(n), _) => vec![n],
        (None, true) => numbers.pop().into_iter().collect(),
        (None, false) => numbers,
    };
    if wanted.is_empty() && run.kind() == RunKind::Earlier {
        return Err(CliError::new(
            Exit::Failure,
            format!(
                "run {} was recorded by earlier hew, which kept no agent output",
                run.run_id
            ),
        )
        .with_hint(format!(
            "`hew loop summary --run-id {} --tasks` shows its iterations",
            run.run_id
        )));
    }
    if wanted.is_empty() {
        return Err(CliError::new(
            Exit::Failure,
            format!("run {} has no agent output yet", run.run_id),
        ));
    }
    let (iters, _) = dir.read_iters();
    let several = wanted.len() > 1;
    for (i, n) in wanted.iter().enumerate() {
        let log = iters.iter().find(|it| it.number == *n);
        if !args.raw {
            if i > 0 {
                println!();
            }
            println!("{}", crate::escape::escape(&header(*n, log)));
        }
        let path = dir.agent_stdout(*n);
        if args.follow {
            follow(&dir, *n, args.raw)?;
        } else if !path.exists() {
            let err = CliError::new(
                Exit::Failure,
                format!("no output for iteration {n} of run {}", run.run_id),
            );
            return Err(if several {
                err
            } else {
                err.with_hint(format!(
                    "`hew loop logs --run-id {}` shows every iteration",
                    run.run_id
                ))
            });
        } else {
            let file = File::open(&path).map_err(|e| read_error(&path, e))?;
            print_stream(BufReader::new(file), args.raw, &mut AgentLog::new())
                .map_err(|e| read_error(&path, e))?;
        }
    }
    Ok(Exit::Success)
}

/// `══ #3 demo-k3f  Redesign the storage layer  (closed, opus, 22.6k tokens)`.
fn header(n: u32, log: Option<&IterRecord>) -> String {
    match log {
        Some(it) => format!(
            "══ #{n} {}  {}  ({}, {}, {} tokens)",
            it.task_id,
            it.title,
            it.outcome,
            it.model.as_deref().unwrap_or("(default)"),
            crate::progress::tokens(it.usage.total.total())
        ),
        None => format!("══ #{n}  (running, or ended without a record)"),
    }
}

fn read_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::new(
        Exit::Failure,
        format!("failed to read `{}`: {e}", path.display()),
    )
}

/// The run asked for, or the latest.
fn pick_run(root: &Path, id: Option<&str>) -> Result<RunRecord, CliError> {
    let (runs, _) = list_runs(root);
    let found = match id {
        Some(id) => runs.into_iter().find(|r| r.run_id == id),
        None => runs.into_iter().last(),
    };
    found.ok_or_else(|| match id {
        Some(id) => CliError::new(Exit::Failure, format!("no run `{id}` in this repository"))
            .with_hint("run ids are the directory names under .hew/loop/"),
        None => CliError::new(Exit::Failure, "no runs in this repository yet")
            .with_hint("start one with `hew loop`"),
    })
}

/// The iterations of `dir` that have agent output, in order.
fn agent_outputs(dir: &RunDir) -> Vec<u32> {
    let mut numbers: Vec<u32> = std::fs::read_dir(dir.path().join("iters"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".agent.jsonl")?
                .parse()
                .ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Prints every whole line of `input`, raw or rendered.
fn print_stream(mut input: impl BufRead, raw: bool, log: &mut AgentLog) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut out = std::io::stdout().lock();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        emit(&mut out, &line, raw, log)?;
    }
}

/// Writes one line of output, raw or rendered. A reader that went away (`| head`) ends
/// hew quietly, with SIGPIPE's exit code.
fn emit(out: &mut impl Write, line: &[u8], raw: bool, log: &mut AgentLog) -> std::io::Result<()> {
    let written = if raw {
        out.write_all(line).and_then(|()| out.flush())
    } else {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        log.line(body)
            .iter()
            .try_for_each(|l| writeln!(out, "{}", crate::escape::escape_text(l)))
            .and_then(|()| out.flush())
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        other => other,
    }
}

/// Prints iteration `n`'s output as it grows, until its record exists (the iteration
/// ended) or the run is no longer going; then prints the rest and returns.
fn follow(dir: &RunDir, n: u32, raw: bool) -> Result<(), CliError> {
    let path = dir.agent_stdout(n);
    let mut log = AgentLog::new();
    let mut out = std::io::stdout().lock();
    let mut file = None;
    let mut pending = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        // Look before reading: whatever was written before the end is then read below.
        let over = dir.iter_file(n).exists() || !run_going(dir);
        if file.is_none() {
            file = File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            loop {
                let got = f.read(&mut chunk).map_err(|e| read_error(&path, e))?;
                if got == 0 {
                    break;
                }
                pending.extend_from_slice(&chunk[..got]);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    emit(&mut out, &line, raw, &mut log).map_err(|e| read_error(&path, e))?;
                }
            }
        }
        if over {
            if !pending.is_empty() {
                emit(&mut out, &pending, raw, &mut log).map_err(|e| read_error(&path, e))?;
            }
            if file.is_none() {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("iteration {n} of run {} has no output", dir.run_id()),
                ));
            }
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

fn run_going(dir: &RunDir) -> bool {
    dir.read_run()
        .map(|r| liveness(&r).may_be_running())
        .unwrap_or(false)
}
