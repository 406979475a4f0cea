//! `CliTracker` against stub trackers (small shell scripts) for what the real one will not
//! do on demand: be missing, print garbage or megabytes, hang, fail oddly, or answer the
//! way bd does. The main paths are tested against the real `br` in `tracker_br.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hew_core::tracker::{CliTracker, ReadyQuery, TaskId, Tracker, TrackerError};
use tempfile::TempDir;

/// A directory holding a stub tracker `tracker` whose body is `script`.
fn stub(script: &str) -> (TempDir, CliTracker) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker");
    // Written from a child process: written from here, a test thread forking meanwhile
    // would hold it open for writing until its child execs ("text file busy" on our exec).
    let mut sh = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut sh.stdin.take().unwrap(),
        format!("#!/bin/sh\n{script}\n").as_bytes(),
    )
    .unwrap();
    assert!(sh.wait().unwrap().success());
    let tracker = CliTracker::new(path.to_string_lossy(), dir.path().to_owned(), LONG);
    (dir, tracker)
}

const LONG: Duration = Duration::from_secs(60);

fn id(raw: &str) -> TaskId {
    TaskId::parse(raw).unwrap()
}

fn query() -> ReadyQuery {
    ReadyQuery {
        limit: 5,
        ..ReadyQuery::default()
    }
}

/// The arguments the stub received, one per line (it writes them to `argv`).
fn argv(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("argv")).unwrap();
    text.lines().map(str::to_owned).collect()
}

const RECORD_ARGV: &str = r#"printf '%s\n' "$@" > "$(dirname "$0")/argv""#;

#[tokio::test]
async fn a_tracker_not_on_path_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = CliTracker::new("hew-no-such-tracker", dir.path().to_owned(), LONG);
    let err = tracker.ready(&query()).await.unwrap_err();
    let TrackerError::Missing { program } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(program, "hew-no-such-tracker");
}

#[tokio::test]
async fn garbage_is_malformed_and_quoted() {
    let (_dir, tracker) = stub("echo 'Segmentation fault (core dumped)'");
    let err = tracker.ready(&query()).await.unwrap_err();
    let TrackerError::Malformed {
        excerpt, command, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(excerpt, "Segmentation fault (core dumped)");
    assert!(
        command.ends_with("tracker ready --json --limit 5 --sort priority"),
        "{command}"
    );
    assert!(err.to_string().contains("Segmentation fault"), "{err}");
}

#[tokio::test]
async fn a_megabyte_of_garbage_is_malformed_with_a_short_excerpt() {
    let (_dir, tracker) = stub("head -c 1000000 /dev/zero | tr '\\0' 'x'");
    let err = tracker.ready(&query()).await.unwrap_err();
    let TrackerError::Malformed { excerpt, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        excerpt.starts_with("xxxx") && excerpt.ends_with('…'),
        "{excerpt}"
    );
    assert!(excerpt.chars().count() <= 401, "{}", excerpt.len());
    assert!(err.to_string().len() < 1000);
}

#[tokio::test]
async fn truncated_json_is_malformed_not_empty() {
    let (_dir, tracker) = stub(r#"printf '[{"id":"bd-1","title":"cut her'"#);
    let err = tracker.ready(&query()).await.unwrap_err();
    assert!(matches!(err, TrackerError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn a_hanging_tracker_times_out_and_leaves_no_process() {
    let (dir, tracker) = stub(r#"sleep 600 & echo $$ $! > "$(dirname "$0")/pids"; wait"#);
    let tracker = CliTracker::new(
        tracker.program(),
        dir.path().to_owned(),
        Duration::from_secs(1),
    );
    let err = tracker.ready(&query()).await.unwrap_err();
    let TrackerError::TimedOut { after, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*after, Duration::from_secs(1));
    assert!(err.to_string().contains("within 1s"), "{err}");

    let pids = std::fs::read_to_string(dir.path().join("pids")).unwrap();
    let mut pids = pids.split_whitespace().map(|p| p.parse::<i32>().unwrap());
    let (shell, sleeper) = (pids.next().unwrap(), pids.next().unwrap());
    // Killed processes may stay zombies for a moment until their parent reaps them.
    let mut left = Vec::new();
    for _ in 0..100 {
        left = live_processes(|pid, pgrp| pid == sleeper || pgrp == shell);
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// Live (non-zombie) processes matching `wanted(pid, process group)`.
fn live_processes(wanted: impl Fn(i32, i32) -> bool) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) =
            std::fs::read_to_string(PathBuf::from("/proc").join(pid.to_string()).join("stat"))
        else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let pgrp = fields.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
        if fields.first() != Some(&"Z") && wanted(pid, pgrp) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test]
async fn an_odd_exit_code_is_failed_with_its_message() {
    let (_dir, tracker) = stub("echo 'config.yaml: unknown key foo' >&2; exit 7");
    let err = tracker.show(&id("bd-1")).await.unwrap_err();
    let TrackerError::Failed { status, detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status, "exit 7");
    assert_eq!(detail, "config.yaml: unknown key foo");
    assert!(
        err.to_string().contains("config.yaml: unknown key foo"),
        "{err}"
    );
}

#[tokio::test]
async fn a_killed_tracker_is_failed_naming_the_signal() {
    let (_dir, tracker) = stub("kill -9 $$");
    let err = tracker.release(&id("bd-1")).await.unwrap_err();
    let TrackerError::Failed { status, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status, "killed by signal 9");
}

#[tokio::test]
async fn br_json_errors_are_read_by_code() {
    let not_init = r#"echo '{"error":{"code":"NOT_INITIALIZED","message":"Beads not initialized: run '"'"'br init'"'"' first","hint":"Run: br init","retryable":false,"context":null}}'; exit 2"#;
    let (_dir, tracker) = stub(not_init);
    let err = tracker.ready(&query()).await.unwrap_err();
    let TrackerError::NotInitialized { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("br init"), "{detail}");

    let locked =
        r#"echo '{"error":{"code":"DATABASE_LOCKED","message":"database is locked"}}'; exit 2"#;
    let (_dir, tracker) = stub(locked);
    let err = tracker.ready(&query()).await.unwrap_err();
    let TrackerError::Failed { status, detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status, "exit 2, DATABASE_LOCKED");
    assert_eq!(detail, "database is locked");
}

#[tokio::test]
async fn bd_text_errors_are_read_by_words() {
    let (_dir, tracker) = stub("echo 'Error: issue bd-1 already claimed by alice' >&2; exit 1");
    let err = tracker.claim(&id("bd-1"), "bob").await.unwrap_err();
    let TrackerError::AlreadyClaimed { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("alice"), "{detail}");

    let (_dir, tracker) =
        stub(r#"echo '{"error":"no issue found matching \"bd-9\""}' >&2; exit 1"#);
    let err = tracker.show(&id("bd-9")).await.unwrap_err();
    assert!(matches!(err, TrackerError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn bd_shapes_are_absorbed() {
    // An envelope, an object instead of an array, labels omitted, priority as text.
    let (_dir, tracker) = stub(
        r#"echo '{"schema_version":1,"data":{"id":"bd-1","title":"t","priority":"P1","status":"open"}}'"#,
    );
    let task = tracker.show(&id("bd-1")).await.unwrap();
    assert_eq!(task.priority, Some(1));
    assert_eq!(task.labels, Some(vec![]));
    let ready = tracker.ready(&query()).await.unwrap();
    assert_eq!(
        (ready[0].id.as_str(), ready[0].labels.as_ref()),
        ("bd-1", None)
    );

    // A claim "succeeding" for someone else did not give us the task.
    let (_dir, tracker) =
        stub(r#"echo '[{"id":"bd-1","status":"in_progress","assignee":"alice"}]'"#);
    let err = tracker.claim(&id("bd-1"), "bob").await.unwrap_err();
    assert!(
        matches!(err, TrackerError::AlreadyClaimed { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn free_text_and_filters_reach_the_tracker_as_values_not_flags() {
    let (dir, tracker) = stub(&format!("{RECORD_ARGV}\necho '[]'"));
    let q = ReadyQuery {
        limit: 3,
        labels: vec!["model:opus".into(), "backend".into()],
        issue_type: Some("-bug".into()),
        parent: Some(id("bd-7")),
    };
    tracker.ready(&q).await.unwrap();
    let want = "ready --json --limit 3 --sort priority --label model:opus --label backend \
                --type=-bug --parent bd-7";
    assert_eq!(argv(dir.path()).join(" "), want);

    tracker.close(&id("bd-1"), "-x\ndone").await.unwrap();
    assert_eq!(
        argv(dir.path()),
        ["close", "bd-1", "--reason=-x", "done", "--json"]
    );
    tracker.add_comment(&id("bd-1"), "--help").await.unwrap();
    assert_eq!(
        argv(dir.path()),
        ["comments", "add", "bd-1", "--json", "--", "--help"]
    );
    tracker.claim(&id("bd-1"), "hew/h/r/w1").await.unwrap_err();
    assert_eq!(
        argv(dir.path()),
        [
            "update",
            "bd-1",
            "--claim",
            "--actor",
            "hew/h/r/w1",
            "--json"
        ]
    );
    tracker.release(&id("bd-1")).await.unwrap();
    assert_eq!(
        argv(dir.path()),
        [
            "update",
            "bd-1",
            "--status",
            "open",
            "--assignee",
            "",
            "--json"
        ]
    );
    tracker
        .remove_label(&id("bd-1"), "hew:conflict")
        .await
        .unwrap();
    assert_eq!(
        argv(dir.path()),
        ["label", "remove", "bd-1", "hew:conflict", "--json"]
    );

    let err = tracker.claim(&id("bd-1"), "-rf").await.unwrap_err();
    assert!(matches!(err, TrackerError::Invalid(_)), "{err:?}");
}
