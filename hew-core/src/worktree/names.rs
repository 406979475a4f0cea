//! The names hew gives to branches and worktrees, checked before git ever sees them.
//!
//! Task ids are validated when they are parsed ([`TaskId`]), but a branch name is also a
//! path under `.git/refs`, so every name is built here and checked once more against git's
//! own rule before it is used.

use git2::{Config, Reference, Signature};

use super::WorktreeError;
use crate::tracker::TaskId;

/// Longest run id accepted: ids appear in branch names, paths and worktree names.
const MAX_RUN_ID_LEN: usize = 100;

/// Who hew commits as when git has no `user.name`/`user.email` configured.
const FALLBACK_NAME: &str = "hew";
const FALLBACK_EMAIL: &str = "hew@localhost";

/// `refs/heads/<branch>`.
pub(crate) fn local_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// The branch for the `attempt`-th try of `task`: `hew/<id>`, then `hew/<id>-2`, ...
pub(crate) fn task_branch(task: &TaskId, attempt: u32) -> Result<String, WorktreeError> {
    let name = if attempt <= 1 {
        format!("hew/{task}")
    } else {
        format!("hew/{task}-{attempt}")
    };
    checked_branch(name)
}

/// `hew/run/<run-id>`, where a run's merges go when the target cannot be touched.
pub(crate) fn run_branch(run_id: &str) -> Result<String, WorktreeError> {
    checked_branch(format!("hew/run/{run_id}"))
}

/// The git worktree name of slot `slot` of run `run_id` (unique in the repository).
pub(crate) fn worktree_name(run_id: &str, slot: usize) -> String {
    format!("{}w{slot}", worktree_prefix(run_id))
}

/// What every worktree name of run `run_id` starts with.
pub(crate) fn worktree_prefix(run_id: &str) -> String {
    format!("hew-{run_id}-")
}

/// `name` if git accepts it as a local branch name.
fn checked_branch(name: String) -> Result<String, WorktreeError> {
    if Reference::is_valid_name(&local_ref(&name)) {
        Ok(name)
    } else {
        Err(invalid(
            "branch name",
            &name,
            "git refuses it as a ref name",
        ))
    }
}

/// Checks a run id: it becomes a directory, part of a worktree name and of a branch name.
pub(crate) fn validate_run_id(run_id: &str) -> Result<(), WorktreeError> {
    let bad = |reason| Err(invalid("run id", run_id, reason));
    if run_id.is_empty() {
        return bad("it is empty");
    }
    if run_id.len() > MAX_RUN_ID_LEN {
        return bad("it is longer than 100 characters");
    }
    if !run_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("only letters, digits, `.`, `_` and `-` are allowed");
    }
    if run_id == super::pool::POOL_DIR {
        return bad("it names the directory of worktrees kept between runs");
    }
    if run_id.starts_with(['-', '.']) {
        return bad("it must not start with `-` or `.`");
    }
    run_branch(run_id).map(drop)
}

fn invalid(what: &'static str, raw: &str, reason: &'static str) -> WorktreeError {
    let mut name: String = raw
        .chars()
        .take(60)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().count() > 60 {
        name.push('…');
    }
    WorktreeError::InvalidName { what, name, reason }
}

/// The signature for hew's merge commits: `user.name`/`user.email` from `config`, each
/// falling back to `hew <hew@localhost>` when unset or unusable (e.g. a `<` in the name).
pub(crate) fn signature(config: Option<&Config>) -> Result<Signature<'static>, git2::Error> {
    let get = |key: &str| {
        config
            .and_then(|c| c.get_string(key).ok())
            .filter(|v| !v.trim().is_empty())
    };
    let name = get("user.name").unwrap_or_else(|| FALLBACK_NAME.into());
    let email = get("user.email").unwrap_or_else(|| FALLBACK_EMAIL.into());
    Signature::now(&name, &email).or_else(|_| Signature::now(FALLBACK_NAME, FALLBACK_EMAIL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_branches_count_attempts_from_the_plain_name() {
        let id = TaskId::parse("bd-a1b2.3").unwrap();
        assert_eq!(task_branch(&id, 1).unwrap(), "hew/bd-a1b2.3");
        assert_eq!(task_branch(&id, 2).unwrap(), "hew/bd-a1b2.3-2");
    }

    #[test]
    fn run_ids_in_the_callers_format_make_valid_branches() {
        validate_run_id("20261122-052501-a1b2").unwrap();
        assert_eq!(
            run_branch("20261122-052501-a1b2").unwrap(),
            "hew/run/20261122-052501-a1b2"
        );
        assert_eq!(worktree_name("r1", 3), "hew-r1-w3");
    }

    #[test]
    fn run_ids_that_escape_paths_or_refs_are_refused() {
        let long = "r".repeat(101);
        for bad in [
            "", "a/b", "..", "a..b", "-x", ".x", "x.lock", "x.", "a b", "a\nb", &long,
        ] {
            assert!(validate_run_id(bad).is_err(), "{bad:?} should be refused");
        }
        let err = validate_run_id("a\nb").unwrap_err().to_string();
        assert!(err.contains("a\\nb"), "{err}");
    }

    #[test]
    fn signature_falls_back_to_hew_when_git_has_none() {
        let empty = Config::new().unwrap();
        let sig = signature(Some(&empty)).unwrap();
        assert_eq!(sig.name().unwrap(), "hew");
        assert_eq!(sig.email().unwrap(), "hew@localhost");
        let sig = signature(None).unwrap();
        assert_eq!(sig.name().unwrap(), "hew");
    }

    #[test]
    fn signature_uses_the_configured_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "[user]\n\tname = Ada\n\temail = ada@example.com\n").unwrap();
        let config = Config::open(&path).unwrap();
        let sig = signature(Some(&config)).unwrap();
        assert_eq!(sig.name().unwrap(), "Ada");
        assert_eq!(sig.email().unwrap(), "ada@example.com");
    }
}
