//! Every `--json` output against docs/JSON.md: each documented command is run on a
//! repository with a finished run, its stdout must parse as one object carrying every
//! documented field with the documented type, and hold no terminal escape even when a task
//! title has one. A command documented there but not run here fails the test, so a new
//! document comes with its check.

use std::collections::BTreeMap;

use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::Value;

use crate::fake_agent;

const DOC: &str = include_str!("../../../docs/JSON.md");

/// One row of a field table: `a[].b`, its allowed JSON kinds, whether it may be absent.
struct Field {
    path: String,
    kinds: Vec<String>,
    optional: bool,
}

/// The field tables of docs/JSON.md, by section heading (`hew config keys --json`). The
/// event stream, which is not one document, has no table.
fn documented() -> BTreeMap<String, Vec<Field>> {
    let mut out: BTreeMap<String, Vec<Field>> = BTreeMap::new();
    let mut section = None;
    for line in DOC.lines() {
        if let Some(h) = line.strip_prefix("## `") {
            section = Some(h.split('`').next().unwrap_or_default().to_owned());
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(section), [_, path, kind, _, ..]) = (&section, cells.as_slice()) else {
            continue;
        };
        let Some(path) = path.strip_prefix('`').and_then(|p| p.strip_suffix('`')) else {
            continue;
        };
        let optional = kind.ends_with(", optional");
        let kinds = kind
            .trim_end_matches(", optional")
            .split(" or ")
            .map(str::to_owned)
            .collect();
        out.entry(section.clone()).or_default().push(Field {
            path: path.to_owned(),
            kinds,
            optional,
        });
    }
    out
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `field` in `doc`: every value its path reaches (through every element of each
/// `[]` array, past `null` parents) is present and of a documented kind.
fn check(command: &str, doc: &Value, field: &Field) {
    let mut here = vec![doc];
    let segments: Vec<&str> = field.path.split('.').collect();
    for (i, seg) in segments.iter().enumerate() {
        let (name, each) = match seg.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (*seg, false),
        };
        let last = i + 1 == segments.len();
        let mut next = Vec::new();
        for v in here {
            if v.is_null() {
                continue;
            }
            let Some(found) = v.get(name) else {
                assert!(
                    field.optional,
                    "{command}: `{}` is documented but missing in {v:#}",
                    field.path
                );
                continue;
            };
            if each && !last {
                let items = found
                    .as_array()
                    .unwrap_or_else(|| panic!("{command}: `{name}` is not an array: {found}"));
                next.extend(items);
            } else if last {
                let kind = kind_of(found);
                let ok = field.kinds.iter().any(|k| k == kind)
                    || (kind == "integer" && field.kinds.iter().any(|k| k == "number"));
                assert!(
                    ok,
                    "{command}: `{}` is {kind} ({found}), documented as {}",
                    field.path,
                    field.kinds.join(" or ")
                );
            } else {
                next.push(found);
            }
        }
        here = next;
    }
}

#[test]
fn every_documented_json_output_parses_and_carries_its_fields() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_tasks(1);
    repo.hew()
        .args(["loop", "--max-iters", "1"])
        .assert()
        .success();
    repo.create_task(NewTask::new("red \u{1b}[31m title").labels(&["model:opus"]));

    let runs: BTreeMap<&str, Vec<&str>> = [
        ("hew config keys --json", vec!["config", "keys", "--json"]),
        ("hew config list --json", vec!["config", "list", "--json"]),
        (
            "hew config get --json",
            vec!["config", "get", "loop.jobs", "--json"],
        ),
        ("hew doctor --json", vec!["doctor", "--json"]),
        (
            "hew loop --dry-run --json",
            vec!["loop", "--dry-run", "--json"],
        ),
        ("hew loop list --json", vec!["loop", "list", "--json"]),
        ("hew loop prune --json", vec!["loop", "prune", "--json"]),
        (
            "hew loop summary --json",
            vec!["loop", "summary", "--json", "--tasks"],
        ),
        ("hew prices --json", vec!["prices", "--json"]),
    ]
    .into_iter()
    .collect();
    let docs = documented();
    assert_eq!(
        docs.keys().map(String::as_str).collect::<Vec<_>>(),
        runs.keys().copied().collect::<Vec<_>>(),
        "docs/JSON.md and this test must name the same commands"
    );

    for (command, fields) in &docs {
        let out = repo.hew().args(&runs[command.as_str()]).output().unwrap();
        assert!(
            !out.stdout.contains(&0x1b),
            "{command} printed a terminal escape"
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{command}: not JSON ({e}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(doc.is_object(), "{command}: not an object");
        assert_eq!(doc["schema_version"], 1, "{command}");
        for field in fields {
            check(command, &doc, field);
        }
        // Every top-level field is documented.
        for key in doc.as_object().unwrap().keys() {
            assert!(
                fields.iter().any(|f| f.path == *key
                    || f.path.starts_with(&format!("{key}."))
                    || f.path.starts_with(&format!("{key}[]"))),
                "{command}: `{key}` is printed but not documented"
            );
        }
    }

    // The non-empty parts the checks above walked through.
    let dry: Value = serde_json::from_slice(
        &repo
            .hew()
            .args(["loop", "--dry-run", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(dry["tasks"][0]["title"], "red \u{1b}[31m title");
    let list: Value = serde_json::from_slice(
        &repo
            .hew()
            .args(["loop", "list", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(list["runs"].as_array().map(Vec::len), Some(1));
}

#[test]
fn config_get_of_an_unset_key_prints_null_and_exits_1() {
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .args(["config", "get", "loop.model.default", "--json"])
        .assert()
        .code(1);
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"schema_version": 1, "key": "loop.model.default", "value": null})
    );
    let out = repo
        .hew()
        .args(["config", "get", "no.such.key", "--json"])
        .assert()
        .code(3);
    assert!(out.get_output().stdout.is_empty());
}

#[test]
fn doctor_json_keeps_the_exit_code_of_a_failed_check() {
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", "hew-no-such-tracker")
        .args(["doctor", "--json"])
        .assert()
        .code(1);
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["passed"], false);
    let tracker = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tracker")
        .unwrap();
    assert_eq!(tracker["status"], "fail");
    assert_eq!(doc["tracker"]["reason"]["rule"], "configured");
}
