//! `hew config`: values set, read back, layered, and refused with a message naming the key
//! and the file.

use hew_tests::TestRepo;

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn a_map_set_whole_reads_back_whole_and_by_entry() {
    let repo = TestRepo::new();
    repo.write_project_config(
        "# routing for this repo: keep me\n[loop]\njobs = 3 # three at a time\n",
    );
    repo.hew()
        .args([
            "config",
            "set",
            "loop.model.by_priority",
            "P1=sonnet,P0=opus",
        ])
        .assert()
        .success();

    let got = repo
        .hew()
        .args(["config", "get", "loop.model.by_priority"])
        .assert()
        .success();
    assert_eq!(stdout(&got), "P0=opus,P1=sonnet\n");
    let got = repo
        .hew()
        .args(["config", "get", "loop.model.by_priority.P1"])
        .assert()
        .success();
    assert_eq!(stdout(&got), "sonnet\n");

    let text = std::fs::read_to_string(repo.path().join(".hew/config.toml")).unwrap();
    assert!(text.contains("# routing for this repo: keep me"), "{text}");
    assert!(text.contains("jobs = 3 # three at a time"), "{text}");
}

#[test]
fn an_out_of_range_priority_is_refused_naming_the_allowed_keys() {
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .args(["config", "set", "loop.model.by_priority.P9", "x"])
        .assert()
        .code(3);
    let err = stderr(&out);
    assert!(err.contains("P9"), "{err}");
    for p in ["P0", "P1", "P2", "P3", "P4"] {
        assert!(err.contains(p), "{p} missing from {err}");
    }
    assert!(
        !repo.path().join(".hew/config.toml").exists(),
        "a refused set must not write"
    );
}

#[test]
fn an_empty_value_clears_and_unset_removes() {
    let repo = TestRepo::new();
    repo.hew()
        .args(["config", "set", "loop.model.default", "haiku"])
        .assert()
        .success();
    assert_eq!(
        stdout(
            &repo
                .hew()
                .args(["config", "get", "loop.model.default"])
                .assert()
                .success()
        ),
        "haiku\n"
    );
    repo.hew()
        .args(["config", "set", "loop.model.default", ""])
        .assert()
        .success();
    repo.hew()
        .args(["config", "get", "loop.model.default"])
        .assert()
        .code(1);

    repo.hew()
        .args(["config", "set", "loop.jobs", "6"])
        .assert()
        .success();
    repo.hew()
        .args(["config", "unset", "loop.jobs"])
        .assert()
        .success();
    assert_eq!(
        stdout(
            &repo
                .hew()
                .args(["config", "get", "loop.jobs"])
                .assert()
                .success()
        ),
        "2\n"
    );
}

#[test]
fn layers_apply_lowest_first() {
    let repo = TestRepo::new();
    let get = |extra: &[(&str, &str)]| {
        let mut cmd = repo.hew();
        for (k, v) in extra {
            cmd.env(k, v);
        }
        stdout(&cmd.args(["config", "get", "loop.jobs"]).assert().success())
            .trim()
            .to_owned()
    };
    assert_eq!(get(&[]), "2", "built-in default");
    repo.hew()
        .args(["config", "set", "--user", "loop.jobs", "3"])
        .assert()
        .success();
    assert_eq!(get(&[]), "3", "user file over defaults");
    repo.hew()
        .args(["config", "set", "loop.jobs", "4"])
        .assert()
        .success();
    assert_eq!(get(&[]), "4", "project file over user file");
    assert_eq!(
        get(&[("HEW_LOOP_JOBS", "5")]),
        "5",
        "environment over files"
    );
    let user = std::fs::read_to_string(repo.user_config()).unwrap();
    assert!(
        user.contains("jobs = 3"),
        "--user writes the user file: {user}"
    );
}

#[test]
fn errors_name_the_key_and_the_file() {
    let repo = TestRepo::new();
    repo.write_project_config("[loop]\njobz = 3\n");
    let out = repo
        .hew()
        .args(["config", "get", "loop.jobs"])
        .assert()
        .code(3);
    let err = stderr(&out);
    assert!(
        err.contains("jobz") && err.contains(".hew/config.toml"),
        "{err}"
    );

    repo.write_project_config("[loop.agent]\ntimeout = \"45x\"\n");
    let err = stderr(&repo.hew().args(["loop", "--dry-run"]).assert().code(3));
    assert!(
        err.contains("loop.agent.timeout") && err.contains(".hew/config.toml"),
        "{err}"
    );

    repo.write_project_config("[loop]\njobs = = 3\n");
    let err = stderr(&repo.hew().args(["config", "list"]).assert().code(3));
    assert!(
        err.contains(".hew/config.toml") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .env("HEW_LOOP_JOBS", "0")
        .args(["config", "get", "loop.jobs"])
        .assert()
        .code(3);
    assert!(stderr(&out).contains("HEW_LOOP_JOBS"), "{}", stderr(&out));
}

#[test]
fn keys_lists_every_key_and_path_prints_the_file() {
    let repo = TestRepo::new();
    let keys = stdout(&repo.hew().args(["config", "keys"]).assert().success());
    for k in [
        "tracker.command",
        "loop.model.by_priority.<P0..P4>",
        "loop.model.by_type.<type>",
        "loop.agent.timeout",
    ] {
        assert!(keys.contains(k), "{k} missing from:\n{keys}");
    }
    let path = stdout(
        &repo
            .hew()
            .args(["config", "path", "--user"])
            .assert()
            .success(),
    );
    assert_eq!(path.trim(), repo.user_config().display().to_string());
    let path = stdout(&repo.hew().args(["config", "path"]).assert().success());
    assert!(path.trim().ends_with(".hew/config.toml"), "{path}");
}

#[test]
fn a_flag_overrides_every_layer() {
    let repo = TestRepo::new();
    repo.write_project_config("[loop]\njobs = 4\n");
    // --jobs is a flag of `hew loop`; the dry run prints the effective value.
    let bin = tempfile::tempdir().unwrap();
    let one_task =
        r#"echo '[{"id":"s-1","title":"t","priority":1,"issue_type":"task","labels":[]}]'"#;
    let stub = hew_tests::stub_tracker(bin.path(), one_task);
    let run = |args: &[&str]| {
        let out = repo
            .hew()
            .env("HEW_TRACKER_COMMAND", &stub)
            .env("HEW_LOOP_JOBS", "5")
            .args(args)
            .assert()
            .success();
        stdout(&out)
    };
    assert!(run(&["loop", "--dry-run"]).contains("1 task would run, 5 at a time"));
    assert!(run(&["loop", "--dry-run", "-j", "7"]).contains("1 task would run, 7 at a time"));
}

/// A zero timeout used to be taken as given: every agent was killed at once and every task
/// used up its retries. It is refused, from every layer, before anything is claimed.
#[test]
fn durations_that_cannot_work_are_refused_from_every_layer() {
    hew_tests::require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", crate::fake_agent(), "");
    let task = repo.create_task(hew_tests::NewTask::new("must not be touched"));
    let refused = |mut cmd: assert_cmd::Command, args: &[&str], key: &str, layer: &str| {
        let err = stderr(&cmd.arg("loop").args(args).assert().code(3));
        assert!(err.contains(key), "names the key: {err}");
        assert!(err.contains(layer), "names where it came from: {err}");
        assert!(err.contains("zero cannot work"), "says why: {err}");
    };
    refused(
        repo.hew(),
        &["--timeout", "0s"],
        "loop.agent.timeout",
        "command line",
    );
    let mut env = repo.hew();
    env.env("HEW_TRACKER_TIMEOUT", "0ms");
    refused(env, &[], "tracker.timeout", "HEW_TRACKER_TIMEOUT");
    let config = std::fs::read_to_string(repo.path().join(".hew/config.toml")).unwrap();
    repo.write_project_config(&format!("{config}\n[loop.budget]\nwall = \"0s\"\n"));
    refused(repo.hew(), &[], "loop.budget.wall", ".hew/config.toml");

    let t = repo.show(&task);
    assert_eq!(t["status"], "open", "{t:#}");
    assert!(t["labels"].as_array().is_none_or(|l| l.is_empty()), "{t:#}");
    assert!(repo.all_iterations().is_empty(), "nothing ran");
}
