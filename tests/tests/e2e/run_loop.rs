//! `hew loop`: tasks claimed, run by the fake agent in their own worktrees, merged back,
//! closed and recorded, against real git and the real `br`.

use std::path::Path;

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker};
use serde_json::{Value, json};

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn run_loop(repo: &TestRepo, args: &[&str]) -> assert_cmd::assert::Assert {
    let out = repo.hew().arg("loop").args(args).assert();
    let o = out.get_output();
    assert!(
        o.status.success(),
        "hew loop failed ({:?}):\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn outcome_of<'a>(iters: &'a [Value], id: &str) -> &'a Value {
    iters
        .iter()
        .find(|i| i["task_id"] == id)
        .unwrap_or_else(|| panic!("no iteration for {id}: {iters:#?}"))
}

#[test]
fn twelve_independent_tasks_run_four_at_a_time_and_all_land() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.scenario(&json!({ "default": { "sleep_ms": 400 } }));
    let ids = repo.create_tasks(12);

    let out = run_loop(&repo, &["-j", "4"]);
    assert!(stdout(&out).contains("closed 12"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(": up to 4 agents at once, merging into main"),
        "{}",
        stdout(&out)
    );

    for id in &ids {
        assert_eq!(
            repo.show(id)["status"],
            "closed",
            "{id} not closed in the tracker"
        );
        assert!(
            repo.file_on("main", &format!("{id}.txt")).is_some(),
            "{id}'s change is not on main"
        );
        assert!(
            repo.path().join(format!("{id}.txt")).exists(),
            "main's working tree was not updated"
        );
    }
    let iters = repo.iterations();
    assert_eq!(iters.len(), 12);
    assert!(iters.iter().all(|i| i["outcome"] == "closed"), "{iters:#?}");
    let run_dir = repo
        .path()
        .join(".hew/loop")
        .join(repo.run_record()["run_id"].as_str().unwrap());
    for i in &iters {
        let raw = run_dir.join(format!("iters/{}.agent.jsonl", i["number"]));
        let raw = std::fs::read_to_string(&raw).unwrap();
        assert!(
            raw.lines().last().unwrap().contains("\"type\":\"result\""),
            "raw agent output kept"
        );
        assert_eq!(i["usage"]["source"], "result");
    }
    assert!(iters.iter().all(|i| i["merge_commit"].is_string()));
    // Each iteration says where its time went: every step it took was measured.
    for i in &iters {
        let t = &i["timings"];
        for step in ["ready_ms", "claim_ms", "agent_ms", "tracker_ms"] {
            assert!(t[step].as_u64().unwrap() > 0, "{step} not measured: {t}");
        }
        for step in [
            "checkout_ms",
            "inspect_ms",
            "merge_ms",
            "release_ms",
            "verify_ms",
        ] {
            assert!(t[step].is_u64(), "{step} missing: {t}");
        }
        assert!(
            t["agent_ms"].as_u64().unwrap() >= 400,
            "the agent slept 400 ms: {t}"
        );
    }
    let run = repo.run_record();
    assert_eq!(run["status"], "finished");
    assert_eq!(run["stop_reason"], "ready_empty");

    // Nothing left behind but the slots' worktrees, kept for the next run: detached and
    // clean. No task branches.
    let kept = repo.idle_pool();
    assert_eq!(kept.len(), 4, "one per slot: {kept:?}");
    for path in &kept {
        let wt = git2::Repository::open(path).unwrap();
        assert!(
            wt.statuses(None).unwrap().is_empty(),
            "{} is not clean",
            path.display()
        );
    }
    assert_eq!(repo.branches("hew/"), Vec::<String>::new());
    let git = repo.git();
    let status = git.statuses(None).unwrap();
    assert!(
        status.iter().all(|s| !s
            .status()
            .intersects(git2::Status::WT_MODIFIED | git2::Status::INDEX_MODIFIED)),
        "main's working tree is dirty after the run"
    );

    // Real concurrency: at some moment, more than one agent was running.
    let spans: Vec<(u64, u64)> = repo
        .agent_records()
        .iter()
        .map(|r| {
            (
                r["started_at"].as_u64().unwrap(),
                r["ended_at"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(spans.len(), 12);
    let overlapping = spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlapping, "no two agents ran at the same time: {spans:?}");
}

#[test]
fn a_chain_runs_in_order_and_each_task_sees_the_work_before_it() {
    require_tracker!();
    check_chain(false);
}

#[test]
fn a_chain_whose_agents_close_their_own_tasks_still_builds_on_each_merge() {
    require_tracker!();
    // Closing A unblocks B in the tracker before hew has merged A's work: B must still
    // start from the merge.
    check_chain(true);
}

/// A chain A → B → C run with three workers: each task starts after the one before it
/// ended, on a base that contains its merge.
fn check_chain(agents_close: bool) {
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.scenario(&json!({ "default": { "close": agents_close } }));
    let a = repo.create_task(NewTask::new("A"));
    let b = repo.create_task(NewTask::new("B"));
    let c = repo.create_task(NewTask::new("C"));
    repo.block(&b, &a);
    repo.block(&c, &b);
    run_loop(&repo, &["-j", "3"]);

    let iters = repo.iterations();
    let git = repo.git();
    for (before, after) in [(&a, &b), (&b, &c)] {
        let (x, y) = (outcome_of(&iters, before), outcome_of(&iters, after));
        assert_eq!(
            (x["outcome"].as_str(), y["outcome"].as_str()),
            (Some("closed"), Some("closed"))
        );
        assert!(y["number"].as_u64() > x["number"].as_u64());
        assert!(
            y["started_at"].as_str() >= x["ended_at"].as_str(),
            "{after} started before {before} ended"
        );
        // The later task's branch started from a commit that contains the earlier merge.
        let base = git2::Oid::from_str(y["base"].as_str().unwrap()).unwrap();
        let merged = git2::Oid::from_str(x["merge_commit"].as_str().unwrap()).unwrap();
        assert!(
            base == merged || git.graph_descendant_of(base, merged).unwrap(),
            "{after} did not see {before}'s work"
        );
    }
}

#[test]
fn each_routing_rule_reaches_the_agent_as_flag_and_environment() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.model]\ndefault = \"m-default\"\nby_priority = { P0 = \"m-priority\" }\nby_type = { bug = \"m-type\" }\n",
    );
    let cases = [
        (
            repo.create_task(NewTask::new("tagged").description("<!-- hew:model=m-tag -->")),
            "m-tag",
        ),
        (
            repo.create_task(NewTask::new("labelled").labels(&["model:m-label"])),
            "m-label",
        ),
        (
            repo.create_task(NewTask::new("urgent").priority(0)),
            "m-priority",
        ),
        (
            repo.create_task(NewTask::new("a bug").issue_type("bug")),
            "m-type",
        ),
        (repo.create_task(NewTask::new("plain")), "m-default"),
    ];
    run_loop(&repo, &["-j", "2"]);

    let records = repo.agent_records();
    let mut skill_prefix: Option<String> = None;
    for (id, model) in &cases {
        let r = records
            .iter()
            .find(|r| r["env"]["HEW_TASK_ID"] == id.as_str())
            .expect("agent ran");
        let argv: Vec<&str> = r["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let wanted = format!("--model={model}");
        assert!(argv.contains(&wanted.as_str()), "{id}: {argv:?}");
        assert_eq!(r["env"]["ANTHROPIC_MODEL"], *model);
        assert_eq!(r["env"]["HEW_ATTEMPT"], "1");
        assert!(
            r["env"]["HEW_RUN_ID"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        let beads = Path::new(r["env"]["BEADS_DIR"].as_str().unwrap());
        assert_eq!(
            beads.canonicalize().unwrap(),
            repo.path().join(".beads").canonicalize().unwrap()
        );
        // (The worktree is gone after the run, so compare the paths as given.)
        let wt = Path::new(r["env"]["HEW_WORKTREE"].as_str().unwrap());
        assert_eq!(
            wt,
            Path::new(r["cwd"].as_str().unwrap()),
            "HEW_WORKTREE is the agent's cwd"
        );
        assert!(
            argv.starts_with(&["-p", "--output-format", "stream-json", "--verbose"]),
            "{argv:?}"
        );
        // The agent ran in its own worktree (by default under .git/hew/worktrees), never
        // in the main checkout.
        let cwd = Path::new(r["cwd"].as_str().unwrap());
        let worktrees = repo
            .path()
            .canonicalize()
            .unwrap()
            .join(".git/hew/worktrees");
        assert!(
            cwd.starts_with(&worktrees),
            "agent ran in {cwd:?}, not under {worktrees:?}"
        );
        let prompt = r["prompt"].as_str().unwrap();
        assert!(prompt.contains(&format!("id: {id}")));
        let prefix = prompt.split("# Your task").next().unwrap().to_owned();
        assert!(
            prefix.contains("Work only in the current directory"),
            "the skill comes first"
        );
        match &skill_prefix {
            None => skill_prefix = Some(prefix),
            Some(p) => assert_eq!(
                p, &prefix,
                "the skill text must be identical for every task"
            ),
        }
        let it = outcome_of(&repo.iterations(), id).clone();
        assert_eq!(it["model"], *model);
    }
    let rules: Vec<String> = cases
        .iter()
        .map(|(id, _)| {
            outcome_of(&repo.iterations(), id)["rule"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(rules, ["tag", "label", "priority", "type", "default"]);
}

#[test]
fn a_forced_model_applies_to_every_task() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("tagged").description("<!-- hew:model=m-tag -->"));
    run_loop(&repo, &["--model", "m-flag"]);
    let r = &repo.agent_records()[0];
    assert_eq!(r["env"]["ANTHROPIC_MODEL"], "m-flag");
    let it = outcome_of(&repo.iterations(), &id).clone();
    assert_eq!(
        (it["model"].as_str(), it["rule"].as_str()),
        (Some("m-flag"), Some("flag"))
    );
}

#[test]
fn a_merge_conflict_keeps_the_work_and_releases_the_task_labelled() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let a = repo.create_task(NewTask::new("first"));
    let b = repo.create_task(NewTask::new("second"));
    repo.scenario(&json!({
        "default": { "sleep_ms": 500 },
        "tasks": {
            a.clone(): { "files": { "shared.txt": "from the first task\n" } },
            b.clone(): { "files": { "shared.txt": "from the second task\n" } }
        }
    }));
    // Both start from the same base; whichever merges second conflicts. Stop there.
    run_loop(&repo, &["-j", "2", "--max-iters", "2"]);

    let iters = repo.iterations();
    let mut outcomes: Vec<&str> = iters
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["closed", "merge_conflict"]);
    let lost = iters
        .iter()
        .find(|i| i["outcome"] == "merge_conflict")
        .unwrap();
    let id = lost["task_id"].as_str().unwrap().to_owned();
    let kept = lost["kept_branch"]
        .as_str()
        .expect("the conflicting branch is kept")
        .to_owned();
    assert_eq!(repo.branches("hew/"), vec![kept.clone()]);
    let content = repo
        .file_on(&kept, "shared.txt")
        .expect("the work is on the kept branch");
    assert!(content.starts_with("from the"), "{content}");

    let task = repo.show(&id);
    assert_eq!(task["status"], "open");
    let labels: Vec<&str> = task["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"hew:conflict") && labels.contains(&"hew:retry-1"),
        "{labels:?}"
    );
    let comments = task["comments"].to_string();
    assert!(
        comments.contains(&kept),
        "the comment names the branch: {comments}"
    );
    // The summary names the kept work and the command that shows it, in text and JSON.
    let inspect = format!("git log --oneline main..{kept}");
    let summary = stdout(&repo.hew().args(["loop", "summary"]).assert().success());
    assert!(
        summary.contains(&format!("kept on {kept}")) && summary.contains(&inspect),
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
    assert_eq!(
        json["kept_branches"][0]["branch"],
        kept.as_str(),
        "{json:#}"
    );
    assert_eq!(json["kept_branches"][0]["task_id"], id.as_str(), "{json:#}");
    assert_eq!(json["kept_branches"][0]["inspect"], inspect.as_str());

    // The next run retries it on a fresh base: it lands, the marks go, the first attempt's
    // branch stays.
    let again = repo.hew().args(["loop"]).assert();
    assert!(again.get_output().status.success());
    let task = repo.show(&id);
    assert_eq!(task["status"], "closed");
    assert!(
        task["labels"]
            .as_array()
            .is_none_or(|l| l.iter().all(|x| !x.as_str().unwrap().starts_with("hew:")))
    );
    assert!(
        repo.branches("hew/").contains(&kept),
        "nothing an agent committed is deleted"
    );
}

#[test]
fn outcomes_without_good_work_release_the_task() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "claude",
        fake_agent(),
        "[loop.verify]\ncommand = \"test ! -e fails-verify.txt\"\n",
    );
    let nothing = repo.create_task(NewTask::new("does nothing"));
    let crashes = repo.create_task(NewTask::new("crashes"));
    let unverified = repo.create_task(NewTask::new("fails verify"));
    repo.scenario(&json!({ "tasks": {
        nothing.clone(): { "commit": false, "files": {} },
        crashes.clone(): { "exit": 1, "commit": false },
        unverified.clone(): { "files": { "fails-verify.txt": "x\n" } }
    }}));
    run_loop(&repo, &["-j", "3"]);

    let iters = repo.iterations();
    assert_eq!(outcome_of(&iters, &nothing)["outcome"], "no_change");
    assert_eq!(outcome_of(&iters, &crashes)["outcome"], "agent_failed");
    let v = outcome_of(&iters, &unverified);
    assert_eq!(v["outcome"], "verify_failed");
    assert_eq!(v["verify"]["passed"], false);
    assert!(
        repo.file_on("main", "fails-verify.txt").is_none(),
        "unverified work must not be merged"
    );
    assert!(
        v["kept_branch"].is_string(),
        "the unverified commit is kept on its branch"
    );
    for id in [&nothing, &crashes, &unverified] {
        let t = repo.show(id);
        assert_eq!(t["status"], "open", "{id} was not released");
        assert!(
            t["assignee"].as_str().unwrap_or("").is_empty(),
            "{id} still assigned"
        );
    }
}

#[test]
fn the_codex_runtime_runs_a_task_end_to_end() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("codex", fake_agent(), "[loop.model]\ndefault = \"gpt-5\"\n");
    let id = repo.create_task(NewTask::new("codex task"));
    run_loop(&repo, &[]);
    let it = outcome_of(&repo.iterations(), &id).clone();
    assert_eq!(it["outcome"], "closed");
    let argv = repo.agent_records()[0]["argv"].to_string();
    for part in [
        "exec",
        "--json",
        "--model=gpt-5",
        "-C",
        "--sandbox",
        "workspace-write",
        "--skip-git-repo-check",
    ] {
        assert!(
            argv.contains(&format!("\"{part}\"")),
            "{part} missing from {argv}"
        );
    }
    assert!(
        it["usage"]["total"]["output"].as_u64().unwrap() > 0,
        "codex usage was counted: {it:#}"
    );
}

/// Codex's sandbox keeps the worktree's git directory read-only, so a real Codex agent
/// cannot commit: what it leaves is committed for it, merged, and the task closed.
#[test]
fn what_a_codex_agent_leaves_uncommitted_is_committed_for_it_and_lands() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("codex", fake_agent(), "");
    let id = repo.create_task(NewTask::new("codex work"));
    repo.scenario(&json!({ "default": { "commit": false } }));
    run_loop(&repo, &[]);

    let it = outcome_of(&repo.iterations(), &id).clone();
    assert_eq!(it["outcome"], "closed", "{it:#}");
    assert_eq!(it["commits"].as_array().unwrap().len(), 1, "{it:#}");
    assert!(
        it["notes"]
            .to_string()
            .contains("committed what the Codex agent left"),
        "{it:#}"
    );
    assert!(repo.file_on("main", &format!("{id}.txt")).is_some());
    assert_eq!(repo.show(&id)["status"], "closed");
}

#[test]
fn the_command_runtime_runs_a_task_end_to_end() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent(
        "command",
        fake_agent(),
        "[loop.model]\ndefault = \"m-cmd\"\n",
    );
    let id = repo.create_task(NewTask::new("command task"));
    run_loop(&repo, &[]);
    let it = outcome_of(&repo.iterations(), &id).clone();
    assert_eq!(it["outcome"], "closed");
    let argv = repo.agent_records()[0]["argv"].to_string();
    assert!(argv.contains("--model=m-cmd"), "{argv}");
    assert!(
        argv.contains(".prompt.md"),
        "{{prompt_file}} was substituted: {argv}"
    );
}

#[test]
fn a_committed_tracker_database_does_not_stop_merges_into_main() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("work"));
    // Users commit .beads/issues.jsonl; the tracker rewrites it on every claim.
    let git = repo.git();
    let mut index = git.index().unwrap();
    index
        .add_all([".beads"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    let sig = git.signature().unwrap();
    git.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "track the tracker",
        &tree,
        &[&head],
    )
    .unwrap();

    let out = run_loop(&repo, &[]);
    assert!(
        !stdout(&out).contains("instead"),
        "merges were diverted: {}",
        stdout(&out)
    );
    assert!(repo.file_on("main", &format!("{id}.txt")).is_some());
    assert!(repo.run_record()["diverted"].is_null());
}

#[test]
fn a_dirty_main_checkout_is_never_touched_and_work_goes_to_a_run_branch() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("work"));
    std::fs::write(repo.path().join("README.md"), "# my edit in progress\n").unwrap();

    let out = run_loop(&repo, &[]);
    let run = repo.run_record();
    let run_branch = format!("hew/run/{}", run["run_id"].as_str().unwrap());
    assert!(
        stdout(&out).contains(&run_branch),
        "the user is told where the work went: {}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("README.md")).unwrap(),
        "# my edit in progress\n"
    );
    assert!(
        repo.file_on("main", &format!("{id}.txt")).is_none(),
        "main must not move"
    );
    assert!(
        repo.file_on(&run_branch, &format!("{id}.txt")).is_some(),
        "the work is on {run_branch}"
    );
    assert!(run["diverted"].is_string());
    assert_eq!(outcome_of(&repo.iterations(), &id)["outcome"], "closed");
}

#[test]
fn max_iters_stops_scheduling() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_tasks(3);
    run_loop(&repo, &["--max-iters", "2", "-j", "1"]);
    assert_eq!(repo.iterations().len(), 2);
    assert_eq!(repo.run_record()["stop_reason"], "max_iters");
}

#[test]
fn a_missing_agent_stops_the_run_with_a_clear_error_and_releases_the_task() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", Path::new("/nonexistent/claude"), "");
    let id = repo.create_task(NewTask::new("work"));
    let out = repo.hew().args(["loop"]).assert().code(1);
    let text = format!(
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(text.contains("/nonexistent/claude"), "{text}");
    // Found before the first claim: the environment, not the task.
    assert_eq!(repo.run_record()["stop_reason"], "environment");
    let t = repo.show(&id);
    assert_eq!(t["status"], "open");
    assert!(t["assignee"].as_str().unwrap_or("").is_empty());
}

#[test]
fn run_records_stay_out_of_git() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_task(NewTask::new("work"));
    run_loop(&repo, &[]);
    let ignore = std::fs::read_to_string(repo.path().join(".hew/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "loop/"), "{ignore}");
    assert!(
        repo.git()
            .status_should_ignore(Path::new(".hew/loop/x/run.json"))
            .unwrap()
    );
}

#[test]
fn without_reuse_each_task_gets_a_fresh_worktree_and_none_is_left() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[loop.worktree]\nreuse = false\ndir = \"{}\"\n",
        dir.path().display()
    );
    repo.use_agent("claude", fake_agent(), &extra);
    let ids: Vec<String> = (0..3)
        .map(|i| repo.create_task(NewTask::new(&format!("t{i}"))))
        .collect();
    run_loop(&repo, &["-j", "1"]);
    let cwds: std::collections::HashSet<String> = repo
        .agent_records()
        .iter()
        .map(|r| r["cwd"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        cwds.iter()
            .all(|c| Path::new(c).starts_with(dir.path().canonicalize().unwrap())),
        "{cwds:?}"
    );
    for id in &ids {
        assert!(repo.file_on("main", &format!("{id}.txt")).is_some());
    }
    assert!(repo.git().worktrees().unwrap().is_empty());
    let left: Vec<_> = walk_files(dir.path());
    assert!(left.is_empty(), "files left in the worktree dir: {left:?}");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn an_agent_that_closes_its_own_task_is_recorded_so_with_or_without_work() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let with_work = repo.create_task(NewTask::new("closes and commits"));
    let without = repo.create_task(NewTask::new("closes, nothing to commit"));
    repo.scenario(&json!({
        "default": { "close": true },
        "tasks": { without.clone(): { "commit": false } }
    }));

    run_loop(&repo, &["-j", "1"]);

    let iters = repo.iterations();
    let it = outcome_of(&iters, &with_work);
    assert_eq!(it["outcome"], "closed");
    assert!(
        it["merge_commit"].is_string(),
        "its work was merged: {it:#}"
    );
    assert_eq!(it["agent_closed"], true);
    assert_eq!(
        it["notes"],
        json!([]),
        "closing it again is not a failure: {it:#}"
    );
    assert!(repo.file_on("main", &format!("{with_work}.txt")).is_some());
    let it = outcome_of(&iters, &without);
    assert_eq!(it["outcome"], "closed");
    assert_eq!(it["agent_closed"], true);
    for id in [&with_work, &without] {
        assert_eq!(repo.show(id)["status"], "closed");
    }
}

/// A `ready` page full of tasks the loop leaves out (epics, here) does not end the run:
/// the tracker is asked again for more, past them.
#[test]
fn a_ready_page_full_of_left_out_tasks_does_not_hide_the_runnable_one_after_it() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    for n in 0..12 {
        repo.create_task(
            NewTask::new(&format!("epic {n}"))
                .issue_type("epic")
                .priority(0),
        );
    }
    let task = repo.create_task(NewTask::new("the only runnable task").priority(3));

    run_loop(&repo, &["-j", "1"]);

    assert_eq!(repo.show(&task)["status"], "closed");
    assert_eq!(outcome_of(&repo.iterations(), &task)["outcome"], "closed");
}

#[test]
fn what_an_agent_leaves_uncommitted_is_noted_and_never_reaches_the_slots_next_task() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let messy = repo.create_task(NewTask::new("leaves a mess").priority(0));
    let next = repo.create_task(NewTask::new("runs after it").priority(1));
    repo.scenario(&json!({
        "tasks": { messy.clone(): {
            "commit": false,
            "close": true,
            "files": { "scratch/notes.txt": "left behind\n", "README.md": "overwritten\n" }
        } }
    }));

    run_loop(&repo, &["-j", "1"]);

    let iters = repo.iterations();
    let it = outcome_of(&iters, &messy);
    assert_eq!(
        it["notes"],
        json!(["the agent left uncommitted changes; they were discarded"]),
        "{it:#}"
    );
    let it = outcome_of(&iters, &next);
    assert_eq!(it["outcome"], "closed");
    assert_eq!(it["slot"], outcome_of(&iters, &messy)["slot"]);
    assert!(repo.file_on("main", &format!("{next}.txt")).is_some());
    assert_eq!(
        repo.file_on("main", "scratch/notes.txt"),
        None,
        "the next task, which commits all it finds, found the mess"
    );
    assert_ne!(
        repo.file_on("main", "README.md").as_deref(),
        Some("overwritten\n")
    );
}

#[test]
fn a_task_taken_by_someone_else_as_the_run_claims_is_skipped_and_the_rest_run() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let taken = repo.create_task(NewTask::new("taken").priority(0));
    let second = repo.create_task(NewTask::new("second").priority(1));
    let third = repo.create_task(NewTask::new("third").priority(2));
    // The tracker as hew calls it, except that someone else claims `taken` just before
    // hew's first claim reaches the tracker.
    let tracker = hew_tests::LoggedTracker::before_first_claim_of(
        &taken,
        &format!("\"$TRACKER\" update {taken} --claim --actor someone-else --json >/dev/null"),
    );
    repo.hew()
        .env("HEW_TRACKER_COMMAND", &tracker.script)
        .args(["loop", "-j", "2"])
        .assert()
        .success();

    let t = repo.show(&taken);
    assert_eq!(t["status"], "in_progress");
    assert_eq!(t["assignee"], "someone-else", "{t}");
    let ran = tasks_run(&repo);
    assert!(!ran.contains(&taken.to_string()), "{ran:?}");
    for id in [&second, &third] {
        assert_eq!(repo.show(id)["status"], "closed", "{id}");
        assert!(ran.contains(&id.to_string()), "{id} ran: {ran:?}");
    }
}

#[test]
fn a_task_deleted_as_the_run_claims_it_is_skipped_and_the_rest_run() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let gone = repo.create_task(NewTask::new("deleted meanwhile").priority(0));
    let second = repo.create_task(NewTask::new("second").priority(1));
    let third = repo.create_task(NewTask::new("third").priority(2));
    // Someone deletes `gone` between hew's `ready` and its claim.
    let tracker = hew_tests::LoggedTracker::before_first_claim_of(
        &gone,
        &format!("\"$TRACKER\" delete {gone} --json >/dev/null"),
    );
    repo.hew()
        .env("HEW_TRACKER_COMMAND", &tracker.script)
        .args(["loop", "-j", "2"])
        .assert()
        .success();

    let ran = tasks_run(&repo);
    assert!(!ran.contains(&gone.to_string()), "{ran:?}");
    for id in [&second, &third] {
        assert_eq!(repo.show(id)["status"], "closed", "{id}");
    }
}

/// The ids of the tasks the run's iterations ran, in iteration order.
fn tasks_run(repo: &TestRepo) -> Vec<String> {
    repo.iterations()
        .iter()
        .map(|i| i["task_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_next_run_starts_in_the_worktree_the_last_one_kept_with_its_build_cache() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    std::fs::write(repo.path().join(".git/info/exclude"), "target/\n").unwrap();
    let first = repo.create_task(NewTask::new("first"));
    run_loop(&repo, &["-j", "1"]);
    let kept = repo.idle_pool();
    assert_eq!(kept.len(), 1, "{kept:?}");
    // What a build in the first run left: ignored, so kept.
    std::fs::create_dir_all(kept[0].join("target")).unwrap();
    std::fs::write(kept[0].join("target/cache.bin"), "warm").unwrap();

    let second = repo.create_task(NewTask::new("second"));
    let out = run_loop(&repo, &["-j", "1"]);
    assert!(stdout(&out).contains("closed 1"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(": one agent at a time, merging into main"),
        "{}",
        stdout(&out)
    );
    let cwd_of = |id: &str| {
        let records = repo.agent_records();
        let r = records
            .iter()
            .find(|r| r["env"]["HEW_TASK_ID"] == id)
            .expect("the agent ran");
        std::path::PathBuf::from(r["cwd"].as_str().unwrap())
    };
    assert_eq!(cwd_of(&first), cwd_of(&second), "the same slot worktree");
    assert_eq!(cwd_of(&second), kept[0].canonicalize().unwrap());
    assert_eq!(
        std::fs::read_to_string(kept[0].join("target/cache.bin")).unwrap(),
        "warm"
    );
    assert!(repo.file_on("main", &format!("{second}.txt")).is_some());
    assert_eq!(repo.idle_pool(), kept);
}
