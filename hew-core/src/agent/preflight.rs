//! Checks worth making before the first task is claimed: does the agent program run, and
//! is it logged in.
//!
//! A run whose agent cannot start or is logged out fails every task the same way; finding
//! out from the first task costs a claim, a worktree and a record, and finding out before
//! costs a second. Each check here is free (no model call) and quick:
//!
//! - `PROGRAM --version` for Claude and Codex. The `command` runtime's program is only
//!   looked for: running an arbitrary program to see whether it works could do work.
//! - Claude: `claude auth status` prints JSON (`"loggedIn"`, `"authMethod"`,
//!   `"apiKeySource"`) and exits 1 when logged out. It sees `ANTHROPIC_API_KEY` itself; a
//!   key in the environment passes even if an older CLI does not say so. A cloud provider
//!   (`CLAUDE_CODE_USE_BEDROCK`, `CLAUDE_CODE_USE_VERTEX`) or a token it does not report
//!   (`ANTHROPIC_AUTH_TOKEN`) turns a logged-out answer into a warning: the check cannot
//!   see those setups.
//! - Codex: `codex login status` says "Not logged in" (exit 1) even when `CODEX_API_KEY`
//!   would work, so its answer is only ever a warning.
//!
//! A failed check carries the [`Environment`] it stands for, so the CLI shows the same
//! fix as for the failure the first task would have had.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use super::{Environment, Runtime};

/// How long one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest detail kept from a program's output.
const MAX_DETAIL: usize = 300;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// All is well.
    Pass,
    /// Something may be wrong, but the check cannot tell for sure: the run goes on.
    Warn,
    /// The run cannot work: no task should be claimed.
    Fail,
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightCheck {
    /// What was checked: `agent version` or `agent login`.
    pub name: &'static str,
    /// Its result.
    pub status: CheckStatus,
    /// What was found, for the user.
    pub detail: String,
    /// For a failure or a warning: the environment problem it points at.
    pub environment: Option<Environment>,
}

/// Every check made, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The runtime checked.
    pub runtime: Runtime,
    /// The checks, in the order they ran.
    pub checks: Vec<PreflightCheck>,
}

impl Preflight {
    /// The first failed check: the reason not to start, if there is one.
    pub fn refusal(&self) -> Option<&PreflightCheck> {
        self.checks.iter().find(|c| c.status == CheckStatus::Fail)
    }

    /// The checks that passed with a warning.
    pub fn warnings(&self) -> impl Iterator<Item = &PreflightCheck> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Warn)
    }
}

/// Checks that the agent of `runtime` runs and is logged in. `program` is the configured
/// binary (`loop.agent.binary`, or the first element of `loop.agent.command` for the
/// `command` runtime); `None` means the runtime's usual name on PATH. Reads the
/// environment for API keys. Never fails itself: what goes wrong is a failed check.
pub async fn preflight(runtime: Runtime, program: Option<&Path>) -> Preflight {
    let env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let program: PathBuf = match (runtime, program) {
        (_, Some(p)) => p.to_owned(),
        (Runtime::Claude, None) => "claude".into(),
        (Runtime::Codex, None) => "codex".into(),
        (Runtime::Command, None) => {
            return Preflight {
                runtime,
                checks: vec![fail(
                    "agent version",
                    "the command runtime has no command (loop.agent.command)".into(),
                    Environment::Start,
                )],
            };
        }
    };
    let mut checks = Vec::new();
    let version = if runtime == Runtime::Command {
        found(&program)
    } else {
        version(&program).await
    };
    let runs = version.status == CheckStatus::Pass;
    checks.push(version);
    if runs {
        match runtime {
            Runtime::Claude => checks.push(claude_login(&program, &env).await),
            Runtime::Codex => checks.push(codex_login(&program, &env).await),
            Runtime::Command => {}
        }
    }
    Preflight { runtime, checks }
}

fn check(
    name: &'static str,
    status: CheckStatus,
    detail: String,
    environment: Option<Environment>,
) -> PreflightCheck {
    PreflightCheck {
        name,
        status,
        detail,
        environment,
    }
}

fn fail(name: &'static str, detail: String, environment: Environment) -> PreflightCheck {
    check(name, CheckStatus::Fail, detail, Some(environment))
}

/// The output of one short command.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `program args` with no stdin, bounded in time; `Err` says why it did not run.
async fn run(program: &Path, args: &[&str]) -> Result<Ran, String> {
    let mut command = Command::new(program);
    command
        .args(args.iter().map(OsStr::new))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("`{}` is not installed or not on PATH", program.display())
        }
        _ => format!("`{}` cannot be started: {e}", program.display()),
    })?;
    let out = tokio::time::timeout(CHECK_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "`{} {}` did not answer within {}s",
                program.display(),
                args.join(" "),
                CHECK_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("`{}` failed: {e}", program.display()))?;
    Ok(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `text` on one line, bounded.
fn short(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() <= MAX_DETAIL {
        return line;
    }
    let mut end = MAX_DETAIL;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// The command runtime's program: found on PATH or at its path, not run.
fn found(program: &Path) -> PreflightCheck {
    let on_path = |name: &OsStr| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    let exists = if program.components().count() > 1 {
        program.is_file()
    } else {
        on_path(program.as_os_str())
    };
    if exists {
        check(
            "agent version",
            CheckStatus::Pass,
            format!("`{}` found (not run)", program.display()),
            None,
        )
    } else {
        fail(
            "agent version",
            format!("`{}` is not installed or not on PATH", program.display()),
            Environment::Start,
        )
    }
}

/// `PROGRAM --version`.
async fn version(program: &Path) -> PreflightCheck {
    const NAME: &str = "agent version";
    match run(program, &["--version"]).await {
        Err(why) => fail(NAME, why, Environment::Start),
        Ok(ran) if ran.code == Some(0) => {
            let text = ran.stdout.lines().find(|l| !l.trim().is_empty());
            let detail = format!(
                "{} ({})",
                short(text.unwrap_or("(no version printed)")),
                program.display()
            );
            check(NAME, CheckStatus::Pass, detail, None)
        }
        Ok(ran) => fail(
            NAME,
            format!(
                "`{} --version` failed ({}): {}",
                program.display(),
                ran.code
                    .map_or("killed".to_owned(), |c| format!("exit code {c}")),
                short(&ran.stderr)
            ),
            Environment::Start,
        ),
    }
}

/// `claude auth status`.
async fn claude_login(program: &Path, env: &dyn Fn(&str) -> bool) -> PreflightCheck {
    const NAME: &str = "agent login";
    let ran = match run(program, &["auth", "status"]).await {
        Ok(ran) => ran,
        Err(why) => return check(NAME, CheckStatus::Warn, why, None),
    };
    let status: Option<Value> = serde_json::from_str(ran.stdout.trim()).ok();
    let field = |key: &str| status.as_ref().and_then(|s| s.get(key)).cloned();
    let logged_in = field("loggedIn").and_then(|v| v.as_bool());
    let method = field("authMethod")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let key_source = field("apiKeySource").and_then(|v| v.as_str().map(str::to_owned));
    match logged_in {
        Some(true) => {
            let detail = match key_source {
                Some(source) => format!("logged in ({method}, from {source})"),
                None => format!("logged in ({method})"),
            };
            check(NAME, CheckStatus::Pass, detail, None)
        }
        _ if env("ANTHROPIC_API_KEY") => check(
            NAME,
            CheckStatus::Pass,
            "ANTHROPIC_API_KEY is set".into(),
            None,
        ),
        Some(false) => {
            let unseen = [
                "CLAUDE_CODE_USE_BEDROCK",
                "CLAUDE_CODE_USE_VERTEX",
                "ANTHROPIC_AUTH_TOKEN",
            ]
            .into_iter()
            .find(|name| env(name));
            match unseen {
                Some(name) => check(
                    NAME,
                    CheckStatus::Warn,
                    format!(
                        "`claude auth status` says not logged in, but {name} is set, which it may not see"
                    ),
                    Some(Environment::Login),
                ),
                None => fail(
                    NAME,
                    "not logged in (`claude auth status`)".into(),
                    Environment::Login,
                ),
            }
        }
        None => check(
            NAME,
            CheckStatus::Warn,
            format!(
                "`claude auth status` gave no answer hew can read: {}",
                short(if ran.stdout.trim().is_empty() {
                    &ran.stderr
                } else {
                    &ran.stdout
                })
            ),
            Some(Environment::Login),
        ),
    }
}

/// `codex login status`: a warning at worst, since it does not see API keys.
async fn codex_login(program: &Path, env: &dyn Fn(&str) -> bool) -> PreflightCheck {
    const NAME: &str = "agent login";
    let ran = match run(program, &["login", "status"]).await {
        Ok(ran) => ran,
        Err(why) => return check(NAME, CheckStatus::Warn, why, None),
    };
    let said = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with("WARNING:"))
            .find(|l| !l.trim().is_empty())
            .map(short)
    };
    let answer = said(&ran.stdout)
        .or_else(|| said(&ran.stderr))
        .unwrap_or_default();
    if ran.code == Some(0) {
        return check(NAME, CheckStatus::Pass, answer, None);
    }
    let key = ["CODEX_API_KEY", "OPENAI_API_KEY"]
        .into_iter()
        .find(|name| env(name));
    let detail = match key {
        Some(name) => format!(
            "`codex login status` says \"{answer}\", but {name} is set, which it does not see"
        ),
        None => format!(
            "`codex login status` says \"{answer}\" and no CODEX_API_KEY is set; the agent may \
             not be able to work"
        ),
    };
    check(NAME, CheckStatus::Warn, detail, Some(Environment::Login))
}
