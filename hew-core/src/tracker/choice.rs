//! Which tracker program to run, decided once, the same way for every command.
//!
//! `tracker.command` names it when set. Unset, the repository decides where it can: a
//! `.beads/` made by one tool is best read by that tool, so when its marks say which
//! made it and that tool is installed, that tool runs. Otherwise the first of `bd`, `br`
//! found on PATH runs, and with neither installed the answer is an error that names both.
//!
//! The marks (read from both tools' own files; neither tool records its name outright):
//!
//! - bd since v1 keeps a Dolt database: `.beads/dolt/` or `.beads/embeddeddolt/`, and a
//!   `metadata.json` naming `backend`, `dolt_mode` or `dolt_database`; bd before v1 wrote
//!   `last_bd_version` there. br cannot read a Dolt database at all, so these win.
//! - br keeps its own dot-files beside the database (`.br_history/`, `.br_recovery/`,
//!   `.br-db-openers-*.lock`), and the `.gitignore` it writes names `.br_history/`, which is
//!   what a fresh clone still has.
//!
//! A classic SQLite + JSONL `.beads/` with none of these marks is one either tool reads;
//! PATH order decides.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::TrackerError;

/// The trackers hew knows, in the order PATH is searched when nothing else decides.
pub const KNOWN_TRACKERS: [&str; 2] = ["bd", "br"];

/// The tracker to run and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackerChoice {
    /// The program: a name looked up on PATH, or a path.
    pub program: String,
    /// Why this one.
    pub reason: ChoiceReason,
}

/// Why a tracker was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ChoiceReason {
    /// `tracker.command` names it.
    Configured,
    /// `.beads/` was made by it, and it is on PATH.
    MadeBy {
        /// What in `.beads/` says so.
        mark: String,
    },
    /// Nothing configured, and the first known tracker on PATH.
    OnPath {
        /// The tool `.beads/` was made by when that tool is not installed.
        made_by_missing: Option<String>,
    },
}

impl fmt::Display for TrackerChoice {
    /// `br: .beads/ was made by br (it has .br_history/)`, `bd: on PATH`,
    /// `tracker.command = "br"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            ChoiceReason::Configured => write!(f, "tracker.command = {:?}", self.program),
            ChoiceReason::MadeBy { mark } => {
                write!(f, "{0}: .beads/ was made by {0} ({mark})", self.program)
            }
            ChoiceReason::OnPath {
                made_by_missing: None,
            } => write!(f, "{}: on PATH", self.program),
            ChoiceReason::OnPath {
                made_by_missing: Some(tool),
            } => write!(
                f,
                "{}: on PATH (.beads/ was made by {tool}, which is not on PATH)",
                self.program
            ),
        }
    }
}

/// Chooses the tracker: `configured` when it is set (not empty), else the tool that made
/// `beads_dir` when `on_path` finds it, else the first of [`KNOWN_TRACKERS`] on PATH.
/// Neither installed is [`TrackerError::NoneInstalled`].
pub fn choose_tracker(
    configured: Option<&str>,
    beads_dir: &Path,
    on_path: &dyn Fn(&str) -> bool,
) -> Result<TrackerChoice, TrackerError> {
    if let Some(program) = configured.filter(|c| !c.trim().is_empty()) {
        return Ok(TrackerChoice {
            program: program.to_owned(),
            reason: ChoiceReason::Configured,
        });
    }
    let made = made_by(beads_dir);
    if let Some((tool, mark)) = made.as_ref().filter(|(tool, _)| on_path(tool)) {
        return Ok(TrackerChoice {
            program: (*tool).to_owned(),
            reason: ChoiceReason::MadeBy { mark: mark.clone() },
        });
    }
    match KNOWN_TRACKERS.iter().find(|t| on_path(t)) {
        Some(program) => Ok(TrackerChoice {
            program: (*program).to_owned(),
            reason: ChoiceReason::OnPath {
                made_by_missing: made.map(|(tool, _)| tool.to_owned()),
            },
        }),
        None => Err(TrackerError::NoneInstalled),
    }
}

impl TrackerChoice {
    /// The tracker for the repository at `root`, `configured` being `tracker.command`:
    /// [`choose_tracker`] over the `.beads/` the tracker will use (`BEADS_DIR` when set,
    /// else the repository's) and the process's PATH.
    pub fn for_repo(configured: Option<&str>, root: &Path) -> Result<Self, TrackerError> {
        let beads_dir = std::env::var_os("BEADS_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| root.join(".beads"), |d| root.join(d));
        choose_tracker(configured, &beads_dir, &|name| find_program(name).is_some())
    }
}

/// Which tool made `beads_dir`, and the mark that says so; `None` when nothing says.
pub fn made_by(beads_dir: &Path) -> Option<(&'static str, String)> {
    for dir in ["dolt", "embeddeddolt"] {
        if beads_dir.join(dir).is_dir() {
            return Some(("bd", format!("it has {dir}/")));
        }
    }
    let meta = std::fs::read_to_string(beads_dir.join("metadata.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    if let Some(serde_json::Value::Object(meta)) = meta {
        let bd_field = ["backend", "dolt_mode", "dolt_database", "last_bd_version"]
            .into_iter()
            .find(|k| meta.get(*k).is_some_and(|v| !v.is_null()));
        if let Some(field) = bd_field {
            return Some(("bd", format!("its metadata.json has `{field}`")));
        }
    }
    for dir in [".br_history", ".br_recovery"] {
        if beads_dir.join(dir).is_dir() {
            return Some(("br", format!("it has {dir}/")));
        }
    }
    let ignore = std::fs::read_to_string(beads_dir.join(".gitignore")).unwrap_or_default();
    if ignore.lines().any(|l| l.trim().starts_with(".br_history")) {
        return Some(("br", "its .gitignore names .br_history/".to_owned()));
    }
    let br_files = std::fs::read_dir(beads_dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".br-"));
    if br_files {
        return Some(("br", "it has br's lock files".to_owned()));
    }
    None
}

/// Where `name` is: itself if it contains a `/`, else the first match on `PATH`. Only an
/// executable file counts.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(configured: Option<&str>, dir: &Path, installed: &[&str]) -> TrackerChoice {
        choose_tracker(configured, dir, &|n| installed.contains(&n)).unwrap()
    }

    #[test]
    fn a_configured_command_is_used_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let c = choose(Some("/opt/bd"), dir.path(), &[]);
        assert_eq!(c.program, "/opt/bd");
        assert_eq!(c.to_string(), "tracker.command = \"/opt/bd\"");
    }

    #[test]
    fn unset_or_empty_prefers_bd_then_br_on_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(choose(None, dir.path(), &["bd", "br"]).program, "bd");
        let c = choose(Some(""), dir.path(), &["br"]);
        assert_eq!(c.to_string(), "br: on PATH");
    }

    #[test]
    fn neither_installed_is_an_error_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let e = choose_tracker(None, dir.path(), &|_| false).unwrap_err();
        assert!(matches!(e, TrackerError::NoneInstalled));
        let message = e.to_string();
        assert!(
            message.contains("`bd`") && message.contains("`br`"),
            "{message}"
        );
    }

    #[test]
    fn a_beads_dir_made_by_br_picks_br_over_bd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "*.db\n.br_history/\n").unwrap();
        let c = choose(None, dir.path(), &["bd", "br"]);
        assert_eq!(c.program, "br");
        assert_eq!(
            c.to_string(),
            "br: .beads/ was made by br (its .gitignore names .br_history/)"
        );
        std::fs::write(dir.path().join(".br-db-openers-1.lock"), "").unwrap();
        assert_eq!(
            choose(None, dir.path(), &["bd", "br"]).to_string(),
            "br: .beads/ was made by br (its .gitignore names .br_history/)"
        );
        std::fs::remove_file(dir.path().join(".gitignore")).unwrap();
        assert_eq!(
            choose(None, dir.path(), &["bd", "br"]).to_string(),
            "br: .beads/ was made by br (it has br's lock files)"
        );
    }

    #[test]
    fn a_dolt_beads_dir_picks_bd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.json"),
            r#"{"database":"dolt","backend":"dolt","dolt_mode":"embedded"}"#,
        )
        .unwrap();
        assert_eq!(
            choose(None, dir.path(), &["br", "bd"]).to_string(),
            "bd: .beads/ was made by bd (its metadata.json has `backend`)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("embeddeddolt")).unwrap();
        assert_eq!(made_by(dir.path()).unwrap().0, "bd");
    }

    #[test]
    fn the_maker_missing_falls_back_to_path_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".br_history")).unwrap();
        let c = choose(None, dir.path(), &["bd"]);
        assert_eq!(
            c.to_string(),
            "bd: on PATH (.beads/ was made by br, which is not on PATH)"
        );
    }

    #[test]
    fn a_classic_beads_dir_without_marks_says_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.json"),
            r#"{"database":"beads.db","jsonl_export":"issues.jsonl"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("issues.jsonl"), "").unwrap();
        assert_eq!(made_by(dir.path()), None);
        assert_eq!(made_by(&dir.path().join("absent")), None);
    }

    #[test]
    fn br_init_leaves_a_mark() {
        // What `br init` wrote (br 0.7.6): metadata.json names no backend.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.json"),
            r#"{"database":"beads.db","jsonl_export":"issues.jsonl"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".gitignore"),
            "# Local history backups\n.br_history/\n",
        )
        .unwrap();
        assert_eq!(made_by(dir.path()).unwrap().0, "br");
    }
}
