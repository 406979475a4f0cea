//! The skill documents shipped with hew (`skills/core/*.md`), and installing them where
//! agent CLIs look for skills.
//!
//! Each document opens with front matter (`name`, `description`) in the format Claude Code
//! loads skills from: one directory per skill holding `SKILL.md`, under `.claude/skills/`
//! in a project or `~/.claude/skills/` for the user. `hew-execute` is also what the loop
//! puts first in every prompt (see `runner::worker_skill`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::runner::BUILTIN_SKILL;

/// One skill document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skill {
    /// Its name (the front matter's `name`, and its directory when installed).
    pub name: &'static str,
    /// The whole document, front matter included.
    pub text: &'static str,
}

/// Every skill hew ships.
pub const CORE_SKILLS: [Skill; 3] = [
    Skill {
        name: "hew-execute",
        text: BUILTIN_SKILL,
    },
    Skill {
        name: "hew-plan",
        text: include_str!("../../skills/core/hew-plan.md"),
    },
    Skill {
        name: "hew-decompose",
        text: include_str!("../../skills/core/hew-decompose.md"),
    },
];

impl Skill {
    /// The value of `key` in the front matter (`name`, `description`), if present.
    pub fn front_matter(&self, key: &str) -> Option<&'static str> {
        let rest = self.text.strip_prefix("---\n")?;
        let block = &rest[..rest.find("\n---")?];
        block.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key).then(|| v.trim())
        })
    }
}

/// What installing one skill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// The file did not exist; it was written.
    Created,
    /// It existed with other content and `force` was given; it was replaced.
    Replaced,
    /// It already had this content.
    UpToDate,
    /// It exists with other content (edited by someone?); left alone without `force`.
    Kept,
}

/// Writes every core skill to `<dir>/<name>/SKILL.md`. A file with other content is
/// replaced only with `force`. Returns each file and what was done.
pub fn install(dir: &Path, force: bool) -> io::Result<Vec<(PathBuf, Installed)>> {
    let mut done = Vec::new();
    for skill in CORE_SKILLS {
        let path = dir.join(skill.name).join("SKILL.md");
        let action = match fs::read_to_string(&path) {
            Ok(existing) if existing == skill.text => Installed::UpToDate,
            Ok(_) if !force => Installed::Kept,
            Ok(_) => Installed::Replaced,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Installed::Created,
            Err(e) => return Err(e),
        };
        if matches!(action, Installed::Created | Installed::Replaced) {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&path, skill.text)?;
        }
        done.push((path, action));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claude Code's rule: lowercase letters, digits and hyphens, at most 64 characters,
    /// matching the directory; a description of at most 1024 characters.
    #[test]
    fn every_skill_has_front_matter_a_loader_accepts() {
        for skill in CORE_SKILLS {
            assert_eq!(skill.front_matter("name"), Some(skill.name));
            assert!(skill.name.len() <= 64);
            assert!(
                skill
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            let description = skill.front_matter("description").unwrap_or_default();
            assert!(
                (20..=1024).contains(&description.len()),
                "{}: {description:?}",
                skill.name
            );
        }
    }

    #[test]
    fn install_creates_then_keeps_edits_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let first = install(dir.path(), false).unwrap();
        assert!(first.iter().all(|(_, a)| *a == Installed::Created));
        let plan = dir.path().join("hew-plan/SKILL.md");
        assert!(
            fs::read_to_string(&plan)
                .unwrap()
                .starts_with("---\nname: hew-plan\n")
        );

        fs::write(&plan, "my own version\n").unwrap();
        let again = install(dir.path(), false).unwrap();
        let action = |v: &[(PathBuf, Installed)], p: &Path| {
            v.iter().find(|(q, _)| q == p).map(|(_, a)| *a).unwrap()
        };
        assert_eq!(action(&again, &plan), Installed::Kept);
        assert_eq!(fs::read_to_string(&plan).unwrap(), "my own version\n");
        assert_eq!(
            action(&again, &dir.path().join("hew-execute/SKILL.md")),
            Installed::UpToDate
        );
        let forced = install(dir.path(), true).unwrap();
        assert_eq!(action(&forced, &plan), Installed::Replaced);
    }
}
