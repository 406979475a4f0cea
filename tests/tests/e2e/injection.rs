//! Text anyone can write to the tracker (titles, labels, descriptions) and text agents print
//! reaches neither an agent's command line as a flag nor the terminal as a control
//! sequence.

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker, write_script};
use serde_json::{Value, json};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs hew with `args`, expecting success; returns stdout and stderr together.
fn said(repo: &TestRepo, args: &[&str]) -> String {
    let out = repo.hew().args(args).assert();
    let o = out.get_output();
    assert!(
        o.status.success(),
        "hew {args:?} failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

fn argv_of(repo: &TestRepo, id: &str) -> (Vec<String>, Value) {
    let r = repo
        .agent_records()
        .into_iter()
        .find(|r| r["env"]["HEW_TASK_ID"] == id)
        .unwrap_or_else(|| panic!("{id} did not run"));
    let argv = r["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    (argv, r["env"].clone())
}

/// A `model:` label or tag that looks like a flag used to reach claude's argv as one
/// (`--model --dangerously-skip-permissions`). Such names are refused, the refusal is
/// reported, and the next rule chooses the model.
#[test]
fn a_model_name_from_the_tracker_never_becomes_a_flag() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.model]\ndefault = \"sonnet\"\n",
    );
    let label = repo.create_task(
        NewTask::new("hostile label").labels(&["model:--dangerously-skip-permissions"]),
    );
    let tag = repo.create_task(
        NewTask::new("hostile tag")
            .description("<!-- hew:model=-p -->")
            .labels(&["model:opus"]),
    );

    // The dry run shows the refusal and the rule that applied instead.
    let doc: Value =
        serde_json::from_str(&said(&repo, &["loop", "--dry-run", "--json"])).expect("dry run JSON");
    let rows = doc["tasks"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(
        (row(&label)["model"].clone(), row(&label)["rule"].clone()),
        (json!("sonnet"), json!("default"))
    );
    assert_eq!(
        row(&label)["rejected_models"][0]["model"],
        "--dangerously-skip-permissions"
    );
    assert_eq!(row(&label)["rejected_models"][0]["rule"], "label");
    assert_eq!(
        (row(&tag)["model"].clone(), row(&tag)["rule"].clone()),
        (json!("opus"), json!("label"))
    );
    assert_eq!(row(&tag)["rejected_models"][0]["rule"], "tag");
    let human = said(&repo, &["loop", "--dry-run"]);
    assert!(
        human.contains(&format!("Refused for {label}")) && human.contains("next rule"),
        "{human}"
    );

    said(&repo, &["loop", "-j", "1"]);
    for (id, model) in [(&label, "sonnet"), (&tag, "opus")] {
        let (argv, env) = argv_of(&repo, id);
        assert!(argv.contains(&format!("--model={model}")), "{id}: {argv:?}");
        assert!(
            !argv.iter().any(|a| a == "--dangerously-skip-permissions"),
            "{id}: a tracker value became a flag: {argv:?}"
        );
        assert_eq!(
            argv.iter().filter(|a| *a == "-p").count(),
            1,
            "{id}: only hew's own -p: {argv:?}"
        );
        assert_eq!(env["ANTHROPIC_MODEL"], model, "{id}");
    }
    let iters = repo.iterations();
    let it = iters
        .iter()
        .find(|i| i["task_id"] == label.as_str())
        .unwrap();
    assert_eq!(it["model"], "sonnet");
    assert!(
        it["notes"]
            .to_string()
            .contains("--dangerously-skip-permissions"),
        "the record names the refused name: {it:#}"
    );

    // The run-wide flag is checked too.
    let out = repo.hew().args(["loop", "--model=-x"]).assert().code(2);
    assert!(text(&out.get_output().stderr).contains("--model"));
}

const HOSTILE_TITLE: &str = "t\n✓ #99 closed\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}[2J";

fn assert_clean(what: &str, out: &str) {
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "{what}: a control sequence reached the terminal: {out:?}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("✓ #99")),
        "{what}: a forged line: {out}"
    );
}

/// Titles and agent output used to be printed raw: a newline forged a line of the live
/// output, OSC 52 wrote the clipboard, `ESC [2J` cleared the screen.
#[test]
fn tracker_text_and_agent_output_reach_the_terminal_escaped() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new(HOSTILE_TITLE));
    // The agent writes a file whose name holds the same sequences and says so in its
    // output.
    repo.scenario(&json!({ "tasks": { id.clone(): {
        "files": { "x\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}[2J.txt": "x" }
    }}}));
    assert_eq!(
        repo.show(&id)["title"],
        HOSTILE_TITLE,
        "the tracker kept it"
    );

    let dry = said(&repo, &["loop", "--dry-run"]);
    assert_clean("dry run", &dry);
    assert!(dry.contains("\\u{1b}[2J"), "{dry}");
    let run = said(&repo, &["loop"]);
    assert_clean("hew loop", &run);
    assert!(run.contains("t\\n✓ #99 closed"), "shown escaped: {run}");
    assert_eq!(repo.iterations()[0]["outcome"], "closed");
    assert_clean(
        "summary --tasks",
        &said(&repo, &["loop", "summary", "--tasks"]),
    );
    assert_clean(
        "summary --tasks --format markdown",
        &said(
            &repo,
            &["loop", "summary", "--tasks", "--format", "markdown"],
        ),
    );
    let logs = said(&repo, &["loop", "logs"]);
    assert_clean("logs", &logs);
    assert!(logs.contains("\\u{1b}]52;c;aGVsbG8=\\u{7}"), "{logs}");
    let raw = said(&repo, &["loop", "logs", "--raw"]);
    assert!(
        raw.contains("\\u001b]52"),
        "--raw is the agent's bytes: {raw}"
    );
}

/// An agent that prints binary used to have its bytes dumped on the terminal by
/// `hew loop logs`.
#[test]
fn binary_agent_output_is_a_note_in_logs() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let bin = tempfile::tempdir().unwrap();
    let agent = bin.path().join("binary-agent");
    write_script(
        &agent,
        "#!/bin/sh\ncat > /dev/null\nprintf '\\177ELF\\002\\001\\001\\000\\000\\033[2J\\377\\376\\n'\n",
    );
    repo.use_agent("command", &agent, "");
    repo.create_task(NewTask::new("prints binary"));
    said(&repo, &["loop"]);
    let logs = said(&repo, &["loop", "logs"]);
    assert!(logs.contains("binary output, 15 bytes"), "{logs}");
    assert!(
        !logs.contains('\u{1b}') && !logs.contains('\u{0}'),
        "{logs:?}"
    );
}
