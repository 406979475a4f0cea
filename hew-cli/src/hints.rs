//! What the user can do about an error: the `hint:` lines under it. hew-core returns typed
//! errors and says what went wrong; what to do about it is said here, where the user is.

use hew_core::agent::{Environment, Runtime};
use hew_core::tracker::TrackerError;
use hew_core::worktree::WorktreeError;

/// What to do about a tracker failure, when hew knows.
pub fn tracker(e: &TrackerError) -> Option<String> {
    match e {
        TrackerError::Missing { program } => Some(format!(
            "install br with `cargo install beads_rust` (or install bd), or point \
             `tracker.command` at it: `hew config set tracker.command br` \
             (currently `{program}`)"
        )),
        TrackerError::NoneInstalled => Some(
            "install br with `cargo install beads_rust`, or bd with `npm install -g @beads/bd` \
             (or `brew install beads`, or `go install github.com/steveyegge/beads/cmd/bd@latest`); \
             or point `tracker.command` at one: `hew config set tracker.command /path/to/br`"
                .into(),
        ),
        TrackerError::NotInitialized { program, .. } => Some(format!(
            "run `{program} init` in the repository, or set BEADS_DIR to an existing \
             `.beads` directory"
        )),
        TrackerError::NotFound { .. } => Some(
            "the task may have been deleted or the id mistyped: list tasks with the \
                  tracker's `list` command"
                .into(),
        ),
        TrackerError::AlreadyClaimed { .. } => None,
        TrackerError::Malformed { .. } => Some(
            "check that `tracker.command` is bd or br and that its version is supported \
             (run it with `--version`)"
                .into(),
        ),
        TrackerError::TimedOut { .. } => Some(
            "raise `tracker.timeout` (e.g. `hew config set tracker.timeout 2m`), or check \
             that no other process holds the tracker's lock"
                .into(),
        ),
        TrackerError::Failed { .. } => {
            Some("run the command by hand to see its full output".into())
        }
        TrackerError::Io { .. } => Some(
            "check that the tracker is executable and that the working directory exists".into(),
        ),
        TrackerError::Invalid(_) => Some(
            "labels are letters, digits, `_`, `:` and `-` (at most 50 characters); actors \
             are printable text"
                .into(),
        ),
    }
}

/// What to do about a repository or worktree failure, when hew knows.
pub fn worktree(e: &WorktreeError) -> Option<String> {
    match e {
        WorktreeError::Open { .. } => {
            Some("run hew from inside a git repository with a working tree".into())
        }
        WorktreeError::DetachedHead { .. } => Some(
            "check out the branch work should be merged into (`git switch BRANCH`), or name \
             it with `--into BRANCH`"
                .into(),
        ),
        WorktreeError::Unborn { .. } => Some(
            "make a first commit (e.g. `git commit --allow-empty -m init`), then run hew again"
                .into(),
        ),
        WorktreeError::NoSuchBranch { branch, .. } => Some(format!(
            "`--into` takes an existing local branch: create it with `git branch {branch}` \
             or pick one from `git branch --list`"
        )),
        WorktreeError::InvalidName { .. } => None,
        WorktreeError::NoFreeBranchName { base, .. } => Some(format!(
            "delete old attempts you no longer need: `git branch -D {base}-N`"
        )),
        WorktreeError::Blocked { .. } => Some(
            "commit or stash the changes in that working tree, or switch it to another branch"
                .into(),
        ),
        WorktreeError::TargetKeptMoving { .. } => {
            Some("something else is committing to that branch; pass `--into` another branch".into())
        }
        WorktreeError::Git { .. } if e.is_lock_held() => Some(
            "another git process holds a lock file; if none is running, remove the stale \
             `.lock` file named above"
                .into(),
        ),
        WorktreeError::Git { .. } => None,
        WorktreeError::Io { .. } => {
            Some("check the permissions and free space of that path".into())
        }
    }
}

/// What to do about an agent failure that is the environment's, for the agent of `runtime`.
pub fn agent_environment(environment: &Environment, runtime: Runtime) -> String {
    match (environment, runtime) {
        (Environment::Login, Runtime::Claude) => "log Claude Code in with `claude auth login` \
             (check with `claude auth status`), or set ANTHROPIC_API_KEY"
            .into(),
        (Environment::Login, Runtime::Codex) => {
            "log Codex in with `codex login`, or set CODEX_API_KEY".into()
        }
        (Environment::Login, Runtime::Command) => {
            "log the agent in, or give it its API key in the environment".into()
        }
        (Environment::Network, _) => "check the network: the agent could not reach its API \
             (a proxy, DNS or firewall?); `loop.agent.connect_timeout` says how long hew waits"
            .into(),
        (Environment::UsageLimit { resets_at }, _) => {
            let when = match resets_at {
                Some(at) => format!("it resets at {}", utc(*at)),
                None => "wait until it resets".into(),
            };
            format!("the account's usage limit is reached: {when}, or use another account or plan")
        }
        (Environment::Model, _) => "check the model name: `hew config get loop.model.default` \
             and the `loop.model.*` rules (the agent does not know that model, or this account \
             may not use it)"
            .into(),
        (Environment::Flag, _) => "the agent refused its command line: check \
             `loop.agent.permission_mode` and `loop.agent.command`, and that the agent's \
             version is one hew supports (`scripts/agent-versions`)"
            .into(),
        (Environment::Start, Runtime::Command) => {
            "check that the program of `loop.agent.command` runs by hand".into()
        }
        (Environment::Start, Runtime::Claude) => {
            "install Claude Code (`npm install -g @anthropic-ai/claude-code`) and check that \
             `claude --version` runs, or point at it with \
             `hew config set loop.agent.binary /path/to/claude`"
                .into()
        }
        (Environment::Setup, _) => "fix the command of `loop.worktree.setup` (the end of its \
             output is in the iteration records, `.hew/loop/<run-id>/iters/`; run it by hand in \
             a worktree to see all of it), raise `loop.worktree.setup_timeout` if it needs \
             longer, or unset it"
            .into(),
        (Environment::Start, _) => format!(
            "install Codex (`npm install -g @openai/codex`) and check that `{runtime} --version` \
             runs, or point at it with `hew config set loop.agent.binary /path/to/{runtime}`"
        ),
    }
}

/// Unix seconds as `2026-12-06 21:05 UTC`.
fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// The fix for a remote merge target (`loop.merge.remote`) hew could not fetch from.
pub fn remote(e: &hew_core::remote::RemoteError) -> String {
    match e {
        hew_core::remote::RemoteError::Unreachable { remote, .. } => format!(
            "check that `git fetch {remote}` works in this repository (network, the remote's \
             URL, `git remote -v`, and an ssh agent or credential helper that needs no prompt), \
             or unset loop.merge.remote to land on the local branch"
        ),
        hew_core::remote::RemoteError::Failed { .. } => "check that the remote named by \
             loop.merge.remote exists (`git remote -v`) and has the branch hew merges into \
             (`--into BRANCH`)"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_error_but_a_refused_claim_has_a_hint() {
        let missing = TrackerError::Missing {
            program: "br".into(),
        };
        let hint = tracker(&missing).unwrap();
        assert!(hint.contains("cargo install beads_rust"), "{hint}");
        assert!(hint.contains("hew config set tracker.command br"), "{hint}");
        let timed_out = TrackerError::TimedOut {
            command: "br ready".into(),
            after: Duration::from_secs(3),
        };
        assert!(tracker(&timed_out).unwrap().contains("tracker.timeout"));
        assert!(timed_out.to_string().contains("within 3s"), "{timed_out}");
        let not_init = TrackerError::NotInitialized {
            program: "br".into(),
            command: "br ready".into(),
            detail: "x".into(),
        };
        assert!(tracker(&not_init).unwrap().contains("br init"));
        let claimed = TrackerError::AlreadyClaimed {
            id: "d-1".into(),
            command: "br update".into(),
            detail: "x".into(),
        };
        assert_eq!(tracker(&claimed), None);
    }

    #[test]
    fn environment_failures_name_their_fix() {
        let login = agent_environment(&Environment::Login, Runtime::Claude);
        assert!(login.contains("claude auth login"), "{login}");
        assert!(login.contains("ANTHROPIC_API_KEY"), "{login}");
        let login = agent_environment(&Environment::Login, Runtime::Codex);
        assert!(login.contains("CODEX_API_KEY"), "{login}");
        let network = agent_environment(&Environment::Network, Runtime::Codex);
        assert!(network.contains("check the network"), "{network}");
        let model = agent_environment(&Environment::Model, Runtime::Claude);
        assert!(model.contains("model name"), "{model}");
        let limit = Environment::UsageLimit {
            resets_at: Some(1_760_000_000),
        };
        let limit = agent_environment(&limit, Runtime::Claude);
        assert!(limit.contains("2025-10-09 08:53 UTC"), "{limit}");
        let start = agent_environment(&Environment::Start, Runtime::Codex);
        assert!(start.contains("codex --version"), "{start}");
    }

    #[test]
    fn repository_errors_name_the_git_command_that_fixes_them() {
        let path = std::path::PathBuf::from("/r");
        let detached = WorktreeError::DetachedHead { path: path.clone() };
        assert!(worktree(&detached).unwrap().contains("--into"));
        let unborn = WorktreeError::Unborn {
            path: path.clone(),
            branch: "main".into(),
        };
        assert!(worktree(&unborn).unwrap().contains("make a first commit"));
        let missing = WorktreeError::NoSuchBranch {
            branch: "release".into(),
            path,
        };
        assert!(worktree(&missing).unwrap().contains("git branch release"));
    }
}
