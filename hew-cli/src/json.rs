//! The one shape of every `--json` document a command prints once (docs/JSON.md): a JSON
//! object with `schema_version` and named fields, never a bare array, so a field can be
//! added later without breaking a reader. Errors still go to stderr as text, with the
//! usual exit code; the document, when there is one, goes to stdout.
//!
//! serde_json writes every control character in a string as `\uXXXX`, so text from the
//! tracker, agents or files can never put a terminal escape in the output, and nothing
//! here colours anything. `hew loop --json`, a stream of events, is the one output of
//! another shape: one object per line, each with its `event`.

use serde_json::Value;

/// The version of every `--json` document's shape. A field added is not a new version; a
/// field removed or changed in meaning is.
pub const SCHEMA_VERSION: u32 = 1;

/// `fields` (an object) with `schema_version` added.
pub fn document(mut fields: Value) -> Value {
    if let Value::Object(map) = &mut fields {
        map.insert("schema_version".into(), SCHEMA_VERSION.into());
    }
    fields
}

/// Prints `fields` as one `--json` document (see [`document`]), indented.
pub fn print(fields: Value) {
    println!("{:#}", document(fields));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_carries_the_schema_version_and_escapes_control_characters() {
        let doc = document(json!({"title": "red \u{1b}[31m text"}));
        assert_eq!(doc["schema_version"], 1);
        let text = format!("{doc:#}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("\\u001b[31m"), "{text}");
    }
}

#[cfg(test)]
mod documented {
    use clap::CommandFactory;

    use crate::commands::Cli;

    const DOC: &str = include_str!("../../docs/JSON.md");

    /// Every command path (`["loop", "summary"]`) whose arguments include `--json`.
    fn with_json(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<String>) {
        if cmd.get_arguments().any(|a| a.get_long() == Some("json")) {
            out.push(path.join(" "));
        }
        for sub in cmd.get_subcommands() {
            path.push(sub.get_name().to_owned());
            with_json(sub, path, out);
            path.pop();
        }
    }

    fn headings() -> Vec<&'static str> {
        DOC.lines().filter(|l| l.starts_with("## `hew ")).collect()
    }

    /// A command given `--json` later must be documented in docs/JSON.md to pass.
    #[test]
    fn every_command_with_json_is_documented() {
        let mut out = Vec::new();
        with_json(&Cli::command(), &mut Vec::new(), &mut out);
        assert!(out.len() >= 9, "{out:?}");
        for path in out {
            let path = path.trim_start();
            let wanted = format!("`hew {path} --");
            assert!(
                headings().iter().any(|h| h.contains(&wanted)),
                "docs/JSON.md has no section for `hew {path} --json`"
            );
        }
    }

    /// And every section of docs/JSON.md names a command that takes `--json`.
    #[test]
    fn every_documented_command_takes_json() {
        for heading in headings() {
            let command = heading
                .trim_start_matches("## `hew ")
                .split(" --")
                .next()
                .unwrap_or_default();
            let mut cmd = Cli::command();
            for word in command.split_whitespace() {
                cmd = cmd
                    .find_subcommand(word)
                    .unwrap_or_else(|| panic!("`{heading}`: no command `{word}`"))
                    .clone();
            }
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some("json")),
                "`{heading}`: `hew {command}` takes no --json"
            );
        }
    }
}
