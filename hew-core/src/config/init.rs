//! `hew init`: a project's `.hew/` directory with a config file that documents every key,
//! and the `.gitignore` that keeps run records out of git.
//!
//! The project file is the built-in defaults with every setting commented out, so it
//! changes nothing until the user uncomments a line: a project file that restated the
//! defaults would silently override the user's own file (`~/.config/hew/config.toml`).

use std::fs;
use std::path::{Path, PathBuf};

use super::defaults::DEFAULT_CONFIG;
use super::edit::ConfigFile;
use super::error::ConfigError;

/// What `.hew/.gitignore` must contain: run records stay out of git.
const GITIGNORE: &str = "# run records written by `hew loop`\nloop/\n";

/// What [`init_project`] did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Written anew.
    Created,
    /// Already there; left exactly as it was.
    Kept,
    /// Already there; a line was added.
    Updated,
}

/// The project config file `hew init` writes: every key of the defaults, commented out.
pub fn project_config_text() -> String {
    let mut out = String::from(
        "# hew settings for this repository (hew init). Every key is shown at its default,\n\
         # commented out: uncomment a line to change it, or use `hew config set KEY VALUE`.\n\
         # Settings here override the user's file and are overridden by HEW_* variables\n\
         # and flags.\n",
    );
    // The defaults' own header describes the defaults file: skip it.
    let body = DEFAULT_CONFIG
        .find("\n[")
        .map_or(DEFAULT_CONFIG, |i| &DEFAULT_CONFIG[i..]);
    for line in body.lines() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
            out.push_str(line);
        } else {
            out.push_str("# ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Creates `.hew/config.toml` (every key commented out) and
/// `.hew/.gitignore` in the repository at `root`. An existing config is never changed; an
/// existing `.gitignore` only gains the `loop/` line it lacks.
pub fn init_project(root: &Path) -> Result<Vec<(PathBuf, FileAction)>, ConfigError> {
    let dir = root.join(".hew");
    let config = dir.join("config.toml");
    let write = |path: &Path, text: &str| {
        fs::create_dir_all(&dir)
            .and_then(|()| fs::write(path, text))
            .map_err(|source| ConfigError::Write {
                path: path.to_owned(),
                source,
            })
    };
    let config_action = if config.exists() {
        FileAction::Kept
    } else {
        write(&config, &project_config_text())?;
        // What was written must load, like every file `hew config set` saves.
        ConfigFile::open(&config)?;
        FileAction::Created
    };

    let ignore = dir.join(".gitignore");
    let ignore_action = match fs::read_to_string(&ignore) {
        Ok(text)
            if text
                .lines()
                .any(|l| matches!(l.trim(), "loop/" | "loop" | "/loop/")) =>
        {
            FileAction::Kept
        }
        Ok(mut text) => {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(GITIGNORE);
            write(&ignore, &text)?;
            FileAction::Updated
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write(&ignore, GITIGNORE)?;
            FileAction::Created
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: ignore,
                source,
            });
        }
    };
    Ok(vec![(config, config_action), (ignore, ignore_action)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigPaths;
    use crate::config::{Config, LoadOptions, load};

    #[test]
    fn the_project_file_documents_everything_and_sets_nothing() {
        let text = project_config_text();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        fn leaves(t: &toml::Table) -> usize {
            t.values().map(|v| v.as_table().map_or(1, leaves)).sum()
        }
        assert_eq!(leaves(&parsed), 0, "{text}");
        for line in [
            "# jobs = 2",
            "# timeout = \"45m\"",
            "[loop.agent]",
            "# P0 = \"opus\"",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn init_writes_both_files_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let done = init_project(dir.path()).unwrap();
        assert!(done.iter().all(|(_, a)| *a == FileAction::Created));
        let config = dir.path().join(".hew/config.toml");
        let loaded = load(&LoadOptions {
            paths: ConfigPaths::new(Some(dir.path()), &|_| None),
            env: Vec::new(),
            overrides: Vec::new(),
        })
        .unwrap();
        assert_eq!(loaded.config(), &Config::default());

        fs::write(&config, "[loop]\njobs = 7\n").unwrap();
        fs::write(dir.path().join(".hew/.gitignore"), "*.tmp").unwrap();
        let again = init_project(dir.path()).unwrap();
        assert_eq!(again[0].1, FileAction::Kept);
        assert_eq!(again[1].1, FileAction::Updated);
        assert_eq!(fs::read_to_string(&config).unwrap(), "[loop]\njobs = 7\n");
        assert_eq!(
            fs::read_to_string(dir.path().join(".hew/.gitignore")).unwrap(),
            format!("*.tmp\n{GITIGNORE}")
        );
        assert_eq!(init_project(dir.path()).unwrap()[1].1, FileAction::Kept);
    }
}
