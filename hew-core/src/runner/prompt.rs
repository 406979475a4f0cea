//! The prompt an agent receives on stdin: the worker skill first, identical for every task
//! (so an agent's prompt cache can reuse it), then the task itself.

use std::fmt::Write as _;
use std::path::Path;

use crate::tracker::Task;

/// The built-in worker skill (`skills/core/hew-execute.md`).
pub const BUILTIN_SKILL: &str = include_str!("../../../skills/core/hew-execute.md");

/// Where a project may put its own worker skill, relative to the repository root.
pub const PROJECT_SKILL: &str = ".hew/skills/hew-execute.md";

/// The worker skill for the repository at `repo_root`: the project's own if it has one,
/// else the built-in one; front matter removed (it is for skill loaders, not the agent).
pub fn worker_skill(repo_root: &Path) -> std::io::Result<String> {
    let path = repo_root.join(PROJECT_SKILL);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BUILTIN_SKILL.to_owned(),
        Err(e) => return Err(e),
    };
    Ok(strip_front_matter(&text).trim().to_owned())
}

fn strip_front_matter(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + 5..],
        None => text,
    }
}

/// The whole prompt: `skill`, then the task record and the attempt number.
pub fn build_prompt(skill: &str, task: &Task, attempt: u32) -> String {
    let mut p = String::with_capacity(skill.len() + task.description.len() + 512);
    p.push_str(skill);
    p.push_str("\n\n---\n\n# Your task\n\n");
    let _ = writeln!(p, "id: {}", task.id);
    let _ = writeln!(p, "title: {}", task.title);
    if let Some(n) = task.priority {
        let _ = writeln!(p, "priority: P{n}");
    }
    if !task.issue_type.is_empty() {
        let _ = writeln!(p, "type: {}", task.issue_type);
    }
    if !task.labels().is_empty() {
        let _ = writeln!(p, "labels: {}", task.labels().join(", "));
    }
    let _ = writeln!(p, "attempt: {attempt}");
    if attempt > 1 {
        p.push_str("\nEarlier attempts did not finish this task; check the task's comments.\n");
    }
    for (heading, body) in [
        ("Description", &task.description),
        ("Acceptance criteria", &task.acceptance_criteria),
    ] {
        if !body.trim().is_empty() {
            let _ = write!(p, "\n## {heading}\n\n{}\n", body.trim_end());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            id: "demo-1".into(),
            title: "Fix the crash".into(),
            description: "It crashes on empty input.".into(),
            acceptance_criteria: "A test covers empty input.".into(),
            priority: Some(1),
            issue_type: "bug".into(),
            labels: Some(vec!["backend".into(), "model:opus".into()]),
            ..Task::default()
        }
    }

    #[test]
    fn the_skill_comes_first_then_the_task() {
        let p = build_prompt("SKILL TEXT", &task(), 1);
        assert!(p.starts_with("SKILL TEXT\n"));
        for line in [
            "id: demo-1",
            "title: Fix the crash",
            "priority: P1",
            "type: bug",
            "labels: backend, model:opus",
            "attempt: 1",
            "It crashes on empty input.",
            "A test covers empty input.",
        ] {
            assert!(p.contains(line), "{line:?} missing from:\n{p}");
        }
    }

    #[test]
    fn the_builtin_skill_loses_its_front_matter() {
        let dir = tempfile::tempdir().unwrap();
        let skill = worker_skill(dir.path()).unwrap();
        assert!(!skill.starts_with("---"), "{skill}");
        assert!(skill.contains("Work only in the current directory"));
    }

    #[test]
    fn a_project_skill_replaces_the_builtin_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".hew/skills")).unwrap();
        std::fs::write(
            dir.path().join(PROJECT_SKILL),
            "---\nname: x\n---\nOur own rules.\n",
        )
        .unwrap();
        assert_eq!(worker_skill(dir.path()).unwrap(), "Our own rules.");
    }
}
