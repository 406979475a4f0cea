//! `hew doctor`: checks everything a run needs — the git repository, the tracker and its
//! database, the agent program, the configuration — and what earlier runs left behind.
//! One line per check, with the fix under each failure; exits non-zero if any failed.

use std::path::{Path, PathBuf};

use clap::Args;
use hew_core::agent::{CheckStatus, preflight};
use hew_core::config::{Config, Effect};
use hew_core::records::{Liveness, RunKind, RunStatus, list_runs, liveness};
use hew_core::repo::current_branch;
use hew_core::tracker::{
    CliTracker, Database, KNOWN_TRACKERS, ReadyQuery, Tracker, TrackerChoice, TrackerError,
};
use hew_core::worktree::{PruneOptions, find_leftovers};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::program::{agent_program, find_program};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as machine-readable JSON (docs/JSON.md); the exit code is the same.
    #[arg(long)]
    json: bool,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// Passed, but something may be wrong that the check cannot see.
    pub warning: bool,
    /// What was found.
    pub detail: String,
    /// How to fix a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            passed: true,
            warning: false,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            name,
            passed: true,
            warning: true,
            detail: detail.into(),
            fix,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            name,
            passed: false,
            warning: false,
            detail: detail.into(),
            fix,
        }
    }

    /// The check in `hew doctor --json`.
    fn to_json(&self) -> serde_json::Value {
        let status = match (self.passed, self.warning) {
            (false, _) => "fail",
            (true, true) => "warn",
            (true, false) => "pass",
        };
        serde_json::json!({
            "name": self.name,
            "status": status,
            "detail": self.detail,
            "fix": self.fix,
        })
    }

    /// `✓ tracker     br 0.7.6`, and `      fix: ...` under a failure.
    pub fn print(&self) {
        let mark = match (self.passed, self.warning) {
            (false, _) => "✗",
            (true, true) => "!",
            (true, false) => "✓",
        };
        println!(
            "{mark} {:<18} {}",
            self.name,
            crate::escape::escape_text(&self.detail)
        );
        if let Some(fix) = &self.fix {
            println!("  {:<18} fix: {}", "", crate::escape::escape_text(fix));
        }
    }
}

pub fn cmd_doctor(ctx: &Context, args: DoctorArgs) -> Result<Exit, CliError> {
    let mut checks = Vec::new();
    let root = match ctx.repo_root() {
        Ok(root) => {
            let branch = match current_branch(&root) {
                Ok(Some(b)) => format!("on branch {b}"),
                Ok(None) => "HEAD detached (pass --into BRANCH to hew loop)".to_owned(),
                Err(e) => e.to_string(),
            };
            checks.push(Check::pass(
                "git repository",
                format!("{} ({branch})", root.display()),
            ));
            Some(root)
        }
        Err(e) => {
            checks.push(Check::fail(
                "git repository",
                e.message.clone(),
                e.hints.first().cloned(),
            ));
            None
        }
    };
    let config = match ctx.load_config_values(Vec::new()) {
        Ok(loaded) => {
            let files: Vec<String> = loaded
                .files()
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            let mut detail = if files.is_empty() {
                "built-in defaults (no config file)".to_owned()
            } else {
                format!("valid: {}", files.join(", "))
            };
            let ignored = loaded
                .earlier()
                .iter()
                .filter(|k| matches!(k.effect, Effect::Ignored(_)))
                .count();
            if ignored > 0 {
                detail.push_str(&format!(
                    "; {ignored} key{} of earlier hew ignored (`hew config list` says why)",
                    if ignored == 1 { "" } else { "s" }
                ));
            }
            checks.push(Check::pass("config", detail));
            Some(loaded.into_config())
        }
        Err(e) => {
            checks.push(Check::fail(
                "config",
                e.message.clone(),
                e.hints.first().cloned(),
            ));
            None
        }
    };
    // Without a valid config, check what the defaults would use.
    let config = config.unwrap_or_default();
    let dir = root.as_deref().unwrap_or(&ctx.cwd);
    checks.extend(super::block_on(tracker_checks(&config, dir))?);
    checks.extend(super::block_on(agent_checks(&config))?);
    if let Some(root) = &root {
        checks.push(stale_runs_check(root));
        checks.push(leftovers_check(root, &config));
        checks.push(unlanded_check(root));
        checks.push(super::block_on(merge_target_check(root, &config))?);
    }

    let failed = checks.iter().filter(|c| !c.passed).count();
    if args.json {
        let tracker = TrackerChoice::for_repo(config.tracker.command.as_deref(), dir).ok();
        crate::json::print(serde_json::json!({
            "passed": failed == 0,
            "failed": failed,
            "tracker": tracker,
            "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        }));
        return Ok(if failed == 0 {
            Exit::Success
        } else {
            Exit::Failure
        });
    }
    for c in &checks {
        c.print();
    }
    if failed == 0 {
        println!("\nall {} checks passed", checks.len());
        Ok(Exit::Success)
    } else {
        println!("\n{failed} of {} checks failed", checks.len());
        Ok(Exit::Failure)
    }
}

/// The tracker program (and its version), then its database in `dir`.
pub async fn tracker_checks(config: &Config, dir: &Path) -> Vec<Check> {
    let choice = match TrackerChoice::for_repo(config.tracker.command.as_deref(), dir) {
        Ok(choice) => choice,
        Err(e) => {
            return vec![Check::fail(
                "tracker",
                e.to_string(),
                crate::hints::tracker(&e),
            )];
        }
    };
    let tracker = CliTracker::new(
        choice.program.clone(),
        dir.to_owned(),
        config.tracker.timeout.get(),
    );
    let program = choice.program.as_str();
    let version = match tracker.version().await {
        Ok(v) => {
            let at = find_program(program)
                .map(|p| format!(" at {}", p.display()))
                .unwrap_or_default();
            Check::pass("tracker", format!("{choice}; {v}{at}"))
        }
        Err(e) => {
            let detail = match &e {
                TrackerError::Missing { .. } => {
                    format!("{choice}, which is not installed or not on PATH")
                }
                other => format!("{choice}; {other}"),
            };
            let mut fix = crate::hints::tracker(&e);
            if matches!(e, TrackerError::Missing { .. }) {
                if let Some(other) = KNOWN_TRACKERS
                    .iter()
                    .find(|t| **t != program && find_program(t).is_some())
                {
                    fix = Some(format!(
                        "{other} is installed: `hew config set tracker.command {other}`, or \
                         unset it to choose on each run (`hew config unset tracker.command`)"
                    ));
                }
            }
            return vec![Check::fail("tracker", detail, fix)];
        }
    };
    let query = ReadyQuery {
        limit: 1,
        ..ReadyQuery::default()
    };
    // Where every tracker call of a run, and every agent, finds the database.
    let located = Database::locate(dir);
    let database = match tracker.ready(&query).await {
        Ok(_) => Check::pass(
            "tracker database",
            format!("{}; answers (`ready` works)", located.describe()),
        ),
        Err(e @ TrackerError::NotInitialized { .. }) => Check::fail(
            "tracker database",
            format!("no beads database at {}", located.describe()),
            crate::hints::tracker(&e),
        ),
        Err(e) => Check::fail("tracker database", e.to_string(), crate::hints::tracker(&e)),
    };
    vec![version, database]
}

/// The agent program, then the same checks `hew loop` makes before its first claim: the
/// agent runs (`--version`) and is logged in where the CLI can tell.
async fn agent_checks(config: &Config) -> Vec<Check> {
    let found = agent_check(config);
    if !found.passed {
        return vec![found];
    }
    let agent = &config.looping.agent;
    let program = agent_program(config).map(PathBuf::from);
    let checked = preflight(agent.runtime, program.as_deref()).await;
    let runtime = checked.runtime;
    checked
        .checks
        .into_iter()
        .map(|c| {
            let fix = c
                .environment
                .map(|e| crate::hints::agent_environment(&e, runtime));
            // The version check stands for the program: it keeps the `agent` name.
            let name = match c.name {
                "agent version" => "agent",
                other => other,
            };
            let detail = match c.name {
                "agent version" => format!("{runtime}: {}", c.detail),
                _ => c.detail,
            };
            match c.status {
                CheckStatus::Pass => Check::pass(name, detail),
                CheckStatus::Warn => Check::warn(name, detail, fix),
                CheckStatus::Fail => Check::fail(name, detail, fix),
            }
        })
        .collect()
}

fn agent_check(config: &Config) -> Check {
    let runtime = config.looping.agent.runtime.as_str();
    let Some(program) = agent_program(config) else {
        return Check::fail(
            "agent",
            format!("runtime `{runtime}` has no command"),
            Some(
                "set the argv to run: `hew config set loop.agent.command '[\"my-agent\", \"{prompt_file}\"]'`"
                    .into(),
            ),
        );
    };
    match find_program(&program) {
        Some(path) => Check::pass("agent", format!("{runtime}: {}", path.display())),
        None => Check::fail(
            "agent",
            format!("{runtime}: `{program}` is not installed or not on PATH"),
            Some(format!(
                "install it, or point at it with `hew config set loop.agent.binary /path/to/{}` \
                 (or choose another runtime: `hew config set loop.agent.runtime codex`)",
                Path::new(&program)
                    .file_name()
                    .map_or(program.clone(), |n| n.to_string_lossy().into_owned())
            )),
        ),
    }
}

/// Runs recorded as running whose process is gone from this host.
fn stale_runs_check(root: &Path) -> Check {
    let (runs, errors) = list_runs(root);
    let stale: Vec<String> = runs
        .iter()
        .filter(|r| liveness(r) == Liveness::Stale)
        .map(|r| format!("{} (pid {})", r.run_id, r.pid))
        .collect();
    let running = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running && liveness(r).may_be_running())
        .count();
    if !stale.is_empty() {
        return Check::fail(
            "stale runs",
            format!("recorded as running but dead: {}", stale.join(", ")),
            Some(
                "`hew loop prune --apply` marks them crashed and removes their worktrees; \
                 tasks they claimed stay in_progress until released \
                 (`br update <id> --status open --assignee \"\"`)"
                    .into(),
            ),
        );
    }
    let mut detail = match running {
        0 => "none".to_owned(),
        n => format!("none ({n} running now)"),
    };
    let earlier = runs.iter().filter(|r| r.kind() == RunKind::Earlier).count();
    if earlier > 0 {
        detail.push_str(&format!(
            "; {earlier} finished run{} recorded by earlier hew",
            if earlier == 1 { "" } else { "s" }
        ));
    }
    if !errors.is_empty() {
        detail.push_str(&format!("; {} unreadable run records", errors.len()));
    }
    Check::pass("stale runs", detail)
}

/// Run branches (`hew/run/*`) holding work their target lacks: tasks closed, work not
/// where the user expects it.
fn unlanded_check(root: &Path) -> Check {
    let here = current_branch(root).ok().flatten();
    let found = hew_core::diverted::unlanded_run_branches(root, here.as_deref());
    if found.is_empty() {
        return Check::pass("unlanded work", "none");
    }
    let what: Vec<String> = found
        .iter()
        .map(|u| format!("{} ({} commits not on {})", u.branch, u.commits, u.into))
        .collect();
    let fixes: Vec<String> = found
        .iter()
        .map(|u| format!("`{}`", u.land_command()))
        .collect();
    Check::fail(
        "unlanded work",
        format!("merges diverted from a dirty checkout: {}", what.join(", ")),
        Some(format!("land it with {}", fixes.join("; then "))),
    )
}

/// Where work lands and how it is checked: the local branch, or `loop.merge.remote`,
/// which must answer for the branch checked out here.
async fn merge_target_check(root: &Path, config: &Config) -> Check {
    let verify = &config.looping.verify;
    let checked = match verify.command.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(command) => format!(
            "`{}` verified on {}",
            crate::escape::escape(command),
            match verify.on {
                hew_core::config::VerifyOn::Merge => "the merged result",
                hew_core::config::VerifyOn::Branch => "the task's branch",
                hew_core::config::VerifyOn::Both => "the task's branch, then the merged result",
            }
        ),
        None => "no verify command".to_owned(),
    };
    let branch = current_branch(root).ok().flatten();
    let Some(name) = config.looping.merge.remote.as_deref() else {
        let target = branch.unwrap_or_else(|| "the branch --into names".into());
        return Check::pass("merge target", format!("{target} (local); {checked}"));
    };
    let Some(branch) = branch else {
        return Check::warn(
            "merge target",
            format!("remote `{name}`; HEAD is detached, so the branch is --into's"),
            None,
        );
    };
    let remote = hew_core::remote::Remote::new(root, name, &branch);
    match remote.ls_remote().await {
        Ok(tip) => Check::pass(
            "merge target",
            format!(
                "{} (remote, at {}; answers); {checked}",
                remote.display(),
                &tip[..tip.len().min(10)]
            ),
        ),
        Err(e) => Check::fail(
            "merge target",
            e.to_string(),
            Some(crate::hints::remote(&e)),
        ),
    }
}

/// Worktrees of runs that are over.
fn leftovers_check(root: &Path, config: &Config) -> Check {
    let may_be_running = super::r#loop::run_may_be_running(root);
    let opts = PruneOptions {
        dir: config.looping.worktree.dir.as_deref(),
        into: "",
        branches: false,
    };
    match find_leftovers(root, &opts, &may_be_running) {
        Ok(found) if found.runs.is_empty() => Check::pass("leftover worktrees", "none"),
        Ok(found) => {
            let n: usize = found.runs.iter().map(|r| r.worktrees.len().max(1)).sum();
            let ids: Vec<&str> = found.runs.iter().map(|r| r.run_id.as_str()).collect();
            Check::fail(
                "leftover worktrees",
                format!("{n} from ended runs: {}", ids.join(", ")),
                Some("`hew loop prune` lists them; `hew loop prune --apply` removes them".into()),
            )
        }
        Err(e) => Check::fail("leftover worktrees", e.to_string(), None),
    }
}
