//! Fixtures: br 0.7.6's real output (captured by hand), bd-shaped output per
//! `formats/beads.md`, and output no tracker should print.

use super::*;

fn stream(text: &str) -> Vec<Value> {
    json_stream(text.as_bytes()).unwrap()
}

const BR_READY: &str = r#"[{"created_at":"2026-11-22T05:07:53.867502699Z","created_by":"unknown","id":"demo-snr","issue_type":"bug","labels":[],"priority":0,"status":"open","title":"Second","updated_at":"2026-11-22T05:07:53.867502699Z"},{"created_at":"2026-11-22T05:07:53.809221673Z","created_by":"unknown","description":"desc one","id":"demo-0fc","issue_type":"task","labels":["backend","model:opus"],"priority":1,"status":"open","title":"First task","updated_at":"2026-11-22T05:07:56.374210492Z"}]"#;

const BR_SHOW_NO_LABELS: &str = r#"[{"id":"demo-snr","title":"Second","status":"open","priority":0,"issue_type":"bug","created_at":"2026-11-22T05:07:53.867502699Z","created_by":"unknown","updated_at":"2026-11-22T05:08:27.457511049Z","source_repo":"demo","source_repo_path":"/tmp/brx/demo","compaction_level":0,"original_size":0}]"#;

const BR_CLAIMED: &str = r#"[{"id":"demo-0fc","title":"First task","status":"in_progress","priority":1,"assignee":"a","owner":null,"updated_at":"2026-11-22T05:08:02.501524194Z"}]"#;

const BR_CLAIM_REFUSED: &str = r#"{
  "error": {
    "code": "VALIDATION_FAILED",
    "message": "Validation failed: claim: issue demo-0fc already assigned to a",
    "hint": null,
    "retryable": true,
    "context": {
      "field": "claim",
      "reason": "issue demo-0fc already assigned to a"
    }
  }
}
"#;

const BR_CLOSED: &str = r#"[{"id":"demo-snr","title":"Second","status":"closed","closed_at":"2026-11-22T05:08:08.539993181+00:00","close_reason":"-done"}]"#;

const BR_CLOSE_SKIPPED: &str = r#"{"closed":[],"skipped":[{"id":"demo-hyo","reason":"blocked by: demo-plj — close the open blocker(s) first, or use --force to close anyway"}]}
{
  "error": {
    "code": "NOTHING_TO_DO",
    "message": "Nothing to do: all 1 issue(s) skipped — demo-hyo: blocked by: demo-plj",
    "hint": "Skipped issue(s) have open blocking dependencies.",
    "retryable": false,
    "context": {
      "reason": "all 1 issue(s) skipped — demo-hyo: blocked by: demo-plj"
    }
  }
}
"#;

const BR_NOT_INITIALIZED: &str = r#"{
  "error": {
    "code": "NOT_INITIALIZED",
    "message": "Beads not initialized: run 'br init' first",
    "hint": "Run: br init",
    "retryable": false,
    "context": null
  }
}"#;

#[test]
fn br_ready_reads_in_order_with_labels() {
    let tasks = task_list(stream(BR_READY)).unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["demo-snr", "demo-0fc"]);
    assert_eq!(tasks[0].labels, Some(vec![]));
    assert_eq!(tasks[0].description, "");
    assert_eq!(tasks[1].labels(), ["backend", "model:opus"]);
    assert_eq!(tasks[1].priority, Some(1));
    assert_eq!(tasks[1].issue_type, "task");
    assert_eq!(tasks[1].description, "desc one");
}

#[test]
fn br_show_without_labels_field_reads_as_unknown_labels() {
    let task = one_task(stream(BR_SHOW_NO_LABELS), "demo-snr")
        .unwrap()
        .unwrap();
    assert_eq!(task.labels, None);
    assert_eq!(task.priority, Some(0));
}

#[test]
fn br_partial_claim_record_reads() {
    let task = one_task(stream(BR_CLAIMED), "demo-0fc").unwrap().unwrap();
    assert_eq!(task.assignee.as_deref(), Some("a"));
    assert_eq!(task.status, "in_progress");
    assert_eq!(task.issue_type, "");
}

#[test]
fn br_errors_are_found_with_code_and_field() {
    let err = reported_error(&stream(BR_CLAIM_REFUSED)).unwrap();
    assert_eq!(err.code.as_deref(), Some("VALIDATION_FAILED"));
    assert_eq!(err.field.as_deref(), Some("claim"));
    assert!(err.message.contains("already assigned to a"));
    let err = reported_error(&stream(BR_NOT_INITIALIZED)).unwrap();
    assert_eq!(err.code.as_deref(), Some("NOT_INITIALIZED"));
    assert_eq!(reported_error(&stream(BR_READY)), None);
}

#[test]
fn br_close_confirms_or_says_why_not() {
    assert_eq!(close_refusal(&stream(BR_CLOSED), "demo-snr"), None);
    let values = stream(BR_CLOSE_SKIPPED);
    assert_eq!(values.len(), 2, "two JSON values in one output");
    let why = close_refusal(&values, "demo-hyo").unwrap();
    assert!(why.contains("blocked by: demo-plj"), "{why}");
    assert_eq!(
        reported_error(&values).unwrap().code.as_deref(),
        Some("NOTHING_TO_DO")
    );
}

#[test]
fn close_shapes_from_the_docs() {
    let ok = stream(r#"{"closed":[{"id":"d-1"}],"skipped":[]}"#);
    assert_eq!(close_refusal(&ok, "d-1"), None);
    let ok = stream(r#"{"closed":["d-1"],"skipped":[]}"#);
    assert_eq!(close_refusal(&ok, "d-1"), None);
    let missing = stream(r#"{"closed":[],"skipped":[]}"#);
    assert!(close_refusal(&missing, "d-1").is_some());
    let still_open = stream(r#"[{"id":"d-1","status":"open"}]"#);
    assert!(close_refusal(&still_open, "d-1").unwrap().contains("open"));
    assert_eq!(close_refusal(&[], "d-1"), None);
}

#[test]
fn bd_shapes_object_envelope_omitted_labels() {
    let object = r#"{"id":"bd-1","title":"t","priority":"P2","status":"open"}"#;
    let task = one_task(stream(object), "bd-1").unwrap().unwrap();
    assert_eq!(task.priority, Some(2));
    assert_eq!(task.labels, None);

    let enveloped = r#"{"schema_version":1,"data":[{"id":"bd-2","title":"t","priority":"1"}]}"#;
    let tasks = task_list(stream(enveloped)).unwrap();
    assert_eq!(tasks[0].id, "bd-2");
    assert_eq!(tasks[0].priority, Some(1));

    let listed = r#"{"issues":[{"id":"bd-3"}]}"#;
    assert_eq!(task_list(stream(listed)).unwrap()[0].id, "bd-3");

    // Go prints a nil slice as `null`.
    assert_eq!(task_list(stream("null")).unwrap(), vec![]);
    assert_eq!(task_list(stream("[]")).unwrap(), vec![]);
    assert_eq!(one_task(stream("[]"), "bd-1").unwrap(), None);
}

#[test]
fn bd_string_errors_are_found() {
    let err = reported_error(&stream(r#"{"error":"no issue found matching \"bd-9\""}"#)).unwrap();
    assert_eq!(err.code, None);
    assert!(err.message.contains("bd-9"));
}

#[test]
fn null_and_odd_fields_default() {
    let odd = r#"[{"id":"x-1","title":null,"description":null,"acceptance_criteria":null,
        "priority":null,"issue_type":null,"status":null,"labels":null,"assignee":null},
        {"id":"x-2","priority":"p3"},{"id":"x-3","priority":"urgent"},{"id":"x-4","priority":900},
        {"id":"x-5","priority":1.5}]"#;
    let tasks = task_list(stream(odd)).unwrap();
    assert_eq!(
        tasks[0],
        Task {
            id: "x-1".into(),
            ..Task::default()
        }
    );
    let priorities: Vec<_> = tasks.iter().map(|t| t.priority).collect();
    assert_eq!(priorities, [None, Some(3), None, None, None]);
}

#[test]
fn a_warning_line_before_the_json_is_skipped() {
    let text = "Warning: database is 3 versions old\n[{\"id\":\"x-1\"}]\n";
    assert_eq!(task_list(stream(text)).unwrap()[0].id, "x-1");
}

#[test]
fn garbage_empty_and_truncated_output_are_errors() {
    assert!(json_stream(b"Segmentation fault").is_err());
    assert!(json_stream(b"[{\"id\":\"x-1\",\"title\":\"tr").is_err());
    assert!(json_stream(b"[{\"id\":\"x-1\"}]\n{\"err").is_err());
    assert!(json_stream(&[0xff, 0xfe, 0x00]).is_err());
    assert!(json_stream(b"  \n").unwrap().is_empty());
    assert_eq!(task_list(vec![]).unwrap_err(), "no output");
}

#[test]
fn wrong_shapes_are_errors() {
    assert!(task_list(stream("42")).is_err());
    assert!(
        task_list(stream(r#"["x-1"]"#))
            .unwrap_err()
            .contains("issue 0")
    );
    assert!(
        task_list(stream(r#"[{"title":"no id"}]"#))
            .unwrap_err()
            .contains("id")
    );
    assert!(task_list(stream("[] []")).unwrap_err().contains("found 2"));
    assert!(one_task(stream(r#"[{"id":"a-1"},{"id":"a-2"}]"#), "a-3").is_err());
}

/// Mutated br and bd answers never panic the parsers.
#[test]
fn fuzz_tracker_answers_never_panic() {
    use crate::fuzz::{Rng, iterations};
    const SEEDS: [&str; 9] = [
        r#"[{"id":"demo-1","title":"t","status":"open","priority":1,"issue_type":"task","labels":["a","model:opus"]}]"#,
        r#"{"schema_version":1,"data":[{"id":"demo-2","priority":"P2","description":null}]}"#,
        r#"{"issues":[{"id":"x","assignee":"hew/h/1/r/w1","status":"in_progress"}],"total":1}"#,
        r#"{"error":{"code":"VALIDATION_FAILED","message":"already assigned to bob","retryable":false}}"#,
        r#"{"closed":[],"skipped":[{"id":"demo-1","reason":"blocked"}]}{"error":{"code":"NOTHING_TO_DO"}}"#,
        r#"[{"id":"demo-3","status":"closed","close_reason":"done"}]"#,
        r#"null"#,
        "Error: database is locked",
        "",
    ];
    for seed in 0..iterations(2000) {
        let mut rng = Rng::new(seed);
        let bytes = rng.mutate(&SEEDS);
        if let Ok(values) = json_stream(&bytes) {
            let _ = reported_error(&values);
            let _ = close_refusal(&values, "demo-1");
            let _ = one_task(values.clone(), "demo-1");
            let _ = task_list(values);
        }
    }
}
