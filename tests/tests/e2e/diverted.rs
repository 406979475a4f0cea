//! Work diverted to `hew/run/<run-id>` by a dirty main checkout stays visible until it
//! lands: the summary, the list of runs and `hew doctor` name the branch and the command
//! that lands it, and stop once it has landed.

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::Value;

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn git(repo: &TestRepo, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(repo.path())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn diverted_work_is_named_with_its_landing_command_until_it_lands() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("work"));
    std::fs::write(repo.path().join("README.md"), "# my edit in progress\n").unwrap();
    repo.hew().arg("loop").assert().success();
    let run_id = repo.run_record()["run_id"].as_str().unwrap().to_owned();
    let branch = format!("hew/run/{run_id}");
    let land = format!("git switch main && git merge {branch}");
    assert_eq!(repo.show(&id)["status"], "closed");
    assert!(repo.file_on("main", &format!("{id}.txt")).is_none());

    let summary = stdout(&repo.hew().args(["loop", "summary"]).assert().success());
    assert!(
        summary.contains(&branch) && summary.contains(&land),
        "{summary}"
    );
    let json: Value = serde_json::from_str(&stdout(
        &repo
            .hew()
            .args(["loop", "summary", "--json"])
            .assert()
            .success(),
    ))
    .unwrap();
    assert_eq!(json["unlanded"]["branch"], branch.as_str(), "{json:#}");
    assert_eq!(json["unlanded"]["land"], land.as_str(), "{json:#}");
    let list = stdout(&repo.hew().args(["loop", "list"]).assert().success());
    assert!(list.contains(&branch) && list.contains(&land), "{list}");
    let doctor = stdout(&repo.hew().arg("doctor").assert().code(1));
    assert!(
        doctor.contains("unlanded work") && doctor.contains(&branch) && doctor.contains(&land),
        "{doctor}"
    );

    // The user lands it as told; nobody mentions it again.
    git(&repo, &["stash"]);
    git(&repo, &["merge", "-q", "--no-edit", &branch]);
    assert!(repo.file_on("main", &format!("{id}.txt")).is_some());
    for args in [&["loop", "summary"][..], &["loop", "list"], &["doctor"]] {
        let out = repo.hew().args(args).assert();
        let said = stdout(&out);
        assert!(!said.contains(&branch), "{args:?}: {said}");
    }
}
