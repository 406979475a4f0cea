//! The command line and environment of each runtime, kept pure so they can be tested
//! without starting anything.
//!
//! The prompt always goes on stdin, never as an argument: Claude's list flags
//! (`--allowedTools`, `--mcp-config`) swallow a trailing positional argument, and a prompt
//! in argv is visible to every user on the machine.
//!
//! The model goes as one argument, `--model=NAME`, never as `--model NAME`: both CLIs
//! (commander.js for Claude, clap for Codex) take the text after `=` as the value whatever
//! it looks like, so no name can be read as a flag even if it got past the checks of
//! `model::route_model`.

use std::io;
use std::path::{Path, PathBuf};

use super::{AgentError, Launch};
use crate::agent::Runtime;

/// The program and arguments that start the agent described by `launch`.
pub fn command_line(launch: &Launch) -> Result<(PathBuf, Vec<String>), AgentError> {
    let model = model_of(launch);
    match launch.runtime {
        Runtime::Claude => {
            let mut args: Vec<String> = ["-p", "--output-format", "stream-json", "--verbose"]
                .map(String::from)
                .into();
            if let Some(model) = model {
                args.push(format!("--model={model}"));
            }
            if let Some(mode) = launch.permission_mode.as_deref().filter(|m| !m.is_empty()) {
                args.extend(["--permission-mode".into(), mode.into()]);
            }
            if let Some(usd) = launch.max_budget_usd.filter(|u| u.is_finite() && *u > 0.0) {
                args.extend(["--max-budget-usd".into(), usd.to_string()]);
            }
            if !launch.allowed_tools.is_empty() {
                args.push("--allowedTools".into());
                args.extend(launch.allowed_tools.iter().cloned());
            }
            if let Some(file) = &launch.mcp_config {
                args.extend([
                    "--mcp-config".into(),
                    path_arg(file)?,
                    "--strict-mcp-config".into(),
                ]);
            }
            Ok((program_or(launch, "claude"), args))
        }
        Runtime::Codex => {
            let mut args: Vec<String> = vec!["exec".into(), "--json".into()];
            if let Some(model) = model {
                args.push(format!("--model={model}"));
            }
            args.extend([
                "-C".into(),
                path_arg(&launch.worktree)?,
                "--sandbox".into(),
                "workspace-write".into(),
                "--skip-git-repo-check".into(),
                // Read the prompt from stdin.
                "-".into(),
            ]);
            Ok((program_or(launch, "codex"), args))
        }
        Runtime::Command => {
            let mut argv = launch
                .template
                .iter()
                .map(|item| substitute(item, launch))
                .collect::<Result<Vec<_>, _>>()?;
            let program = match (&launch.program, argv.is_empty()) {
                (Some(program), true) => program.clone(),
                (Some(program), false) => {
                    argv.remove(0);
                    program.clone()
                }
                (None, true) => {
                    return Err(AgentError::InvalidTemplate {
                        reason: "it is empty: the `command` runtime needs a program to run".into(),
                    });
                }
                (None, false) => PathBuf::from(argv.remove(0)),
            };
            if program.as_os_str().is_empty() {
                return Err(AgentError::InvalidTemplate {
                    reason: "its first element (the program) is empty".into(),
                });
            }
            Ok((program, argv))
        }
    }
}

/// The variables added to the inherited environment: the caller's, plus the provider's
/// model variable so a global setting in the user's shell cannot override the model.
pub(crate) fn environment(launch: &Launch) -> Vec<(String, String)> {
    let mut env = launch.env.clone();
    if launch.runtime == Runtime::Claude
        && let Some(model) = model_of(launch)
    {
        env.push(("ANTHROPIC_MODEL".into(), model.into()));
    }
    env
}

/// The model to pass, if any (an empty name means none).
fn model_of(launch: &Launch) -> Option<&str> {
    launch.model.as_deref().filter(|m| !m.is_empty())
}

fn program_or(launch: &Launch, default: &str) -> PathBuf {
    launch
        .program
        .clone()
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A path as an argument; arguments are text, so a path that is not UTF-8 is refused
/// rather than silently mangled.
fn path_arg(path: &Path) -> Result<String, AgentError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| AgentError::Io {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path is not valid UTF-8"),
        })
}

/// Replaces the known placeholders inside `item`, in one pass (a substituted value is
/// never substituted again). Unknown `{...}` text is left alone.
fn substitute(item: &str, launch: &Launch) -> Result<String, AgentError> {
    const NAMES: [&str; 4] = ["{prompt_file}", "{model}", "{task_id}", "{worktree}"];
    let mut out = String::with_capacity(item.len());
    let mut rest = item;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        match NAMES.into_iter().find(|name| after.starts_with(name)) {
            Some(name) => {
                let value = match name {
                    "{prompt_file}" => path_arg(&launch.prompt_file)?,
                    "{model}" => model_of(launch).unwrap_or("").to_owned(),
                    "{task_id}" => launch.task_id.as_str().to_owned(),
                    _ => path_arg(&launch.worktree)?,
                };
                out.push_str(&value);
                rest = &after[name.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Limits;
    use crate::tracker::TaskId;
    use std::time::Duration;

    fn launch(runtime: Runtime) -> Launch {
        Launch {
            runtime,
            program: None,
            template: Vec::new(),
            permission_mode: None,
            max_budget_usd: None,
            allowed_tools: Vec::new(),
            mcp_config: None,
            model: None,
            task_id: TaskId::parse("demo-3f").unwrap(),
            worktree: "/wt/slot-1".into(),
            prompt: "do it".into(),
            prompt_file: "/run/3.prompt.md".into(),
            env: vec![("HEW_RUN_ID".into(), "r1".into())],
            stdout_log: "/run/3.agent.jsonl".into(),
            stderr_log: "/run/3.agent.stderr".into(),
            limits: Limits {
                timeout: Duration::from_secs(60),
                grace: Duration::from_secs(1),
                slow_after: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(120),
            },
        }
    }

    fn argv(l: &Launch) -> (String, Vec<String>) {
        let (program, args) = command_line(l).unwrap();
        (program.display().to_string(), args)
    }

    #[test]
    fn claude_without_model_or_options() {
        let l = launch(Runtime::Claude);
        let (program, args) = argv(&l);
        assert_eq!(program, "claude");
        assert_eq!(args, ["-p", "--output-format", "stream-json", "--verbose"]);
        assert_eq!(environment(&l), [("HEW_RUN_ID".into(), "r1".into())]);
    }

    #[test]
    fn claude_with_model_tools_and_mcp_sets_the_model_variable_too() {
        let mut l = launch(Runtime::Claude);
        l.model = Some("opus".into());
        l.permission_mode = Some("acceptEdits".into());
        l.max_budget_usd = Some(2.5);
        l.allowed_tools = vec!["Bash(git commit:*)".into(), "Edit".into()];
        l.mcp_config = Some("/cfg/mcp.json".into());
        l.program = Some("/opt/claude".into());
        let (program, args) = argv(&l);
        assert_eq!(program, "/opt/claude");
        assert_eq!(
            args,
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--model=opus",
                "--permission-mode",
                "acceptEdits",
                "--max-budget-usd",
                "2.5",
                "--allowedTools",
                "Bash(git commit:*)",
                "Edit",
                "--mcp-config",
                "/cfg/mcp.json",
                "--strict-mcp-config"
            ]
        );
        let env = environment(&l);
        assert!(
            env.contains(&("ANTHROPIC_MODEL".into(), "opus".into())),
            "{env:?}"
        );
    }

    #[test]
    fn codex_with_and_without_model() {
        let mut l = launch(Runtime::Codex);
        let (program, args) = argv(&l);
        assert_eq!(program, "codex");
        let tail = [
            "-C",
            "/wt/slot-1",
            "--sandbox",
            "workspace-write",
            "--skip-git-repo-check",
            "-",
        ];
        assert_eq!(args, [&["exec", "--json"][..], &tail].concat());
        l.model = Some("gpt-5".into());
        let (_, args) = argv(&l);
        assert_eq!(
            args,
            [&["exec", "--json", "--model=gpt-5"][..], &tail].concat()
        );
        // No ANTHROPIC_MODEL for codex.
        assert_eq!(environment(&l).len(), 1);
    }

    #[test]
    fn a_model_that_looks_like_a_flag_stays_a_value() {
        for runtime in [Runtime::Claude, Runtime::Codex] {
            let mut l = launch(runtime);
            l.model = Some("--dangerously-skip-permissions".into());
            let (_, args) = argv(&l);
            assert!(
                args.contains(&"--model=--dangerously-skip-permissions".to_owned()),
                "{args:?}"
            );
            assert!(
                !args.contains(&"--dangerously-skip-permissions".to_owned()),
                "{args:?}"
            );
        }
    }

    #[test]
    fn command_substitutes_placeholders_inside_elements() {
        let mut l = launch(Runtime::Command);
        l.model = Some("sonnet".into());
        l.template = [
            "my-agent",
            "--model={model}",
            "{prompt_file}",
            "task:{task_id}@{worktree}",
            "{unknown} {",
        ]
        .map(String::from)
        .into();
        let (program, args) = argv(&l);
        assert_eq!(program, "my-agent");
        assert_eq!(
            args,
            [
                "--model=sonnet",
                "/run/3.prompt.md",
                "task:demo-3f@/wt/slot-1",
                "{unknown} {"
            ]
        );
        l.model = None;
        assert_eq!(argv(&l).1[0], "--model=");
        l.program = Some("/bin/other".into());
        let (program, args) = argv(&l);
        assert_eq!(program, "/bin/other");
        assert_eq!(args.len(), 4);
    }

    #[test]
    fn a_substituted_value_is_not_substituted_again() {
        let mut l = launch(Runtime::Command);
        l.model = Some("{task_id}".into());
        l.template = vec!["a".into(), "{model}".into()];
        assert_eq!(argv(&l).1, ["{task_id}"]);
    }

    #[test]
    fn empty_template_is_invalid_with_a_hint() {
        let l = launch(Runtime::Command);
        let err = command_line(&l).unwrap_err();
        assert!(matches!(err, AgentError::InvalidTemplate { .. }), "{err:?}");
        let mut l = launch(Runtime::Command);
        l.template = vec!["{model}".into()];
        assert!(matches!(
            command_line(&l),
            Err(AgentError::InvalidTemplate { .. })
        ));
    }
}
