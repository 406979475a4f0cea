//! A git remote as the merge target (`loop.merge.remote`): several clones, one bare
//! remote, one tracker through `BEADS_DIR`. Work lands by push, each task once; a push that
//! finds the branch moved is merged and tested again; an unreachable remote is waited for.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hew_tests::{SharedTracker, TestRepo, git, require_tracker, wait_for_file};
use serde_json::{Value, json};

/// The status of task `id`.
fn status(backlog: &SharedTracker, id: &str) -> String {
    backlog.show(id)["status"].as_str().unwrap().to_owned()
}

/// A bare remote made from a first repository, and `n` clones of it (the first among
/// them), each landing on `origin` with `extra` config.
fn machines(n: usize, extra: &str) -> (tempfile::TempDir, PathBuf, Vec<TestRepo>) {
    let clones: Vec<TestRepo> = (0..n).map(|_| TestRepo::new()).collect();
    let remote = tempfile::tempdir().unwrap();
    let bare = remote.path().join("origin.git");
    git(
        remote.path(),
        &[
            "clone",
            "-q",
            "--bare",
            clones[0].path().to_str().unwrap(),
            "origin.git",
        ],
    );
    for repo in &clones {
        git(
            repo.path(),
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        git(repo.path(), &["fetch", "-q", "origin"]);
        git(repo.path(), &["reset", "-q", "--hard", "origin/main"]);
        repo.use_agent(
            "claude",
            crate::fake_agent(),
            &format!("[loop.merge]\nremote = \"origin\"\n{extra}"),
        );
    }
    (remote, bare, clones)
}

/// How often each task's merge is on the remote's main, by task id, from the merge
/// commits' messages (`Merge hew/<id> (<id>: <title>)`).
fn merges_on_remote(bare: &Path) -> std::collections::BTreeMap<String, usize> {
    let log = git(bare, &["log", "--first-parent", "--format=%s", "main"]);
    let mut seen = std::collections::BTreeMap::new();
    for subject in log.lines() {
        if let Some(rest) = subject.strip_prefix("Merge hew/")
            && let Some((_, inner)) = rest.split_once(" (")
            && let Some((id, _)) = inner.split_once(':')
        {
            *seen.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

/// Runs hew with `args` in every clone at once, and waits for each to succeed.
fn run_together(clones: &[TestRepo], backlog: &SharedTracker, args: &[&str]) {
    let runs: Vec<_> = clones
        .iter()
        .map(|repo| {
            hew(repo, backlog, args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn hew(repo: &TestRepo, backlog: &SharedTracker, args: &[&str]) -> Command {
    let mut cmd = repo.hew_std();
    cmd.args(args).env("BEADS_DIR", backlog.beads_dir());
    cmd
}

#[test]
fn three_clones_land_every_task_once_on_one_remote() {
    require_tracker!();
    let backlog = SharedTracker::new();
    let ids: Vec<String> = (0..24)
        .map(|n| backlog.create(&format!("task {n}")))
        .collect();
    let (_remote, bare, clones) = machines(3, "");
    let before = git(clones[0].path(), &["rev-parse", "main"]);
    for repo in &clones {
        repo.scenario(&json!({ "default": { "sleep_ms": 200 } }));
    }
    run_together(&clones, &backlog, &["loop", "-j", "2"]);

    let merges = merges_on_remote(&bare);
    for id in &ids {
        assert_eq!(status(&backlog, id), "closed", "{id}");
        assert_eq!(
            merges.get(id),
            Some(&1),
            "{id} is on the remote once: {merges:?}"
        );
        git(&bare, &["cat-file", "-e", &format!("main:{id}.txt")]);
    }
    assert_eq!(merges.len(), ids.len());
    // Every clone did some of the work, and no local branch was moved under its user.
    for repo in &clones {
        assert_eq!(git(repo.path(), &["rev-parse", "main"]), before);
        assert!(!repo.iterations().is_empty(), "a clone ran nothing");
    }
}

#[test]
fn two_clones_pushing_at_once_both_land_and_the_second_is_tested_again() {
    require_tracker!();
    let backlog = SharedTracker::new();
    let ids = [backlog.create("left"), backlog.create("right")];
    let barrier = tempfile::tempdir().unwrap();
    // Each run's verify waits until both runs verify: they then push at the same moment.
    let verify = format!(
        "[loop.verify]\ncommand = \"touch '{0}/'$HEW_RUN_ID; while [ $(ls '{0}' | wc -l) -lt 2 ]; do sleep 0.05; done\"\n",
        barrier.path().display()
    );
    let (_remote, bare, clones) = machines(2, &verify);
    run_together(&clones, &backlog, &["loop", "-j", "1", "--max-iters", "1"]);
    let merges = merges_on_remote(&bare);
    let ran: Vec<Value> = clones.iter().flat_map(|r| r.iterations()).collect();
    for id in &ids {
        assert_eq!(status(&backlog, id), "closed", "{id}: {ran:#?}");
        assert_eq!(merges.get(id), Some(&1), "{merges:?}");
    }
    let notes: Vec<String> = clones
        .iter()
        .flat_map(|r| r.iterations())
        .map(|it| it["notes"].to_string())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("origin/main moved")),
        "one push found the branch moved and was merged and tested again: {notes:?}"
    );
}

#[test]
fn merges_wait_for_an_unreachable_remote_and_no_task_is_closed_before_its_push() {
    require_tracker!();
    let backlog = SharedTracker::new();
    let id = backlog.create("lands late");
    let marks = tempfile::tempdir().unwrap();
    let (verifying, go_on) = (marks.path().join("verifying"), marks.path().join("go-on"));
    let verify = format!(
        "[loop.verify]\ncommand = \"touch '{}'; while [ ! -e '{}' ]; do sleep 0.05; done\"\n",
        verifying.display(),
        go_on.display()
    );
    let (remote, bare, clones) = machines(1, &verify);
    let mut run = hew(&clones[0], &backlog, &["loop", "-j", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&verifying, "the queue never verified");
    // The remote goes away while the merge is tested.
    let away = remote.path().join("moved-away.git");
    std::fs::rename(&bare, &away).unwrap();
    std::fs::write(&go_on, "").unwrap();
    let mut events = BufReader::new(run.stdout.take().unwrap()).lines();
    let warned = events.by_ref().map_while(Result::ok).any(|line| {
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        event["event"] == "warning"
            && event["message"]
                .as_str()
                .is_some_and(|m| m.contains("could not reach remote `origin`"))
    });
    assert!(warned, "no warning that the remote could not be reached");
    assert_eq!(
        status(&backlog, &id),
        "in_progress",
        "closed before its push"
    );
    // Back again: the push goes through.
    std::fs::rename(&away, &bare).unwrap();
    let rest: Vec<String> = events.map_while(Result::ok).collect();
    let exit = run.wait().unwrap();
    assert!(exit.success(), "{rest:?}");
    assert_eq!(status(&backlog, &id), "closed");
    assert_eq!(merges_on_remote(&bare).get(&id), Some(&1));
}

#[test]
fn doctor_says_whether_the_remote_target_answers() {
    require_tracker!();
    let backlog = SharedTracker::new();
    let (remote, bare, clones) = machines(1, "");
    let doctor = || hew(&clones[0], &backlog, &["doctor"]).output().unwrap();
    let line = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip_while(|l| !l.contains("merge target"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let out = doctor();
    assert!(out.status.success(), "{}", line(&out));
    assert!(
        line(&out).contains("origin/main (remote, at "),
        "{}",
        line(&out)
    );

    std::fs::rename(&bare, remote.path().join("gone.git")).unwrap();
    let out = doctor();
    assert_eq!(out.status.code(), Some(1));
    let said = line(&out);
    assert!(
        said.contains("✗ merge target") && said.contains("could not reach remote `origin`"),
        "{said}"
    );
    assert!(
        said.contains("fix: check that `git fetch origin` works"),
        "{said}"
    );
}
