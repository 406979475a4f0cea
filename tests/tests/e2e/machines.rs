//! Several checkouts (or machines) on one backlog: the tracker lives outside the
//! repositories, named by `BEADS_DIR`, and every tracker call of hew and of its agents uses
//! it. Claims are read back and carry leases; a machine that dies leaves its tasks to be
//! taken over once their leases run out.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hew_tests::{LoggedTracker, SharedTracker, TestRepo, hew_bin, require_tracker};
use serde_json::{Value, json};

/// A repository with no tracker of its own, running the fake agent.
fn checkout() -> TestRepo {
    let repo = TestRepo::new();
    repo.use_agent("claude", crate::fake_agent(), "");
    repo
}

fn hew_on(repo: &TestRepo, shared: &SharedTracker, args: &[&str]) -> std::process::Output {
    let mut cmd = repo.hew_std();
    cmd.args(args).env("BEADS_DIR", shared.beads_dir());
    cmd.output().unwrap()
}

#[test]
fn two_checkouts_work_one_backlog_through_beads_dir_and_hand_it_to_their_agents() {
    require_tracker!();
    let shared = SharedTracker::new();
    let ids = [shared.create("first"), shared.create("second")];
    let (a, b) = (checkout(), checkout());
    // The agents close their tasks themselves: only the shared tracker can see that.
    for repo in [&a, &b] {
        repo.scenario(&json!({ "default": { "close": true, "commit": false, "files": {} } }));
    }

    for repo in [&a, &b] {
        let doctor = hew_on(repo, &shared, &["doctor"]);
        let said = String::from_utf8_lossy(&doctor.stdout);
        let line = said
            .lines()
            .find(|l| l.contains("tracker database"))
            .unwrap_or_else(|| panic!("no tracker database line: {said}"));
        assert!(
            line.starts_with('✓') && line.contains("from BEADS_DIR"),
            "{line}"
        );
        assert!(
            line.contains(&shared.beads_dir().display().to_string()),
            "{line}"
        );

        let out = hew_on(repo, &shared, &["loop", "-j", "1", "--max-iters", "1"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Each checkout took one task of the shared backlog, and its agent closed it there.
    let mut taken: Vec<String> = [&a, &b]
        .iter()
        .map(|r| {
            let its = r.iterations();
            assert_eq!(its.len(), 1);
            assert_eq!(its[0]["outcome"], "closed", "{:#}", its[0]);
            its[0]["task_id"].as_str().unwrap().to_owned()
        })
        .collect();
    taken.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(taken, want);
    for id in &ids {
        assert_eq!(shared.show(id)["status"], "closed", "{id}");
    }
    for repo in [&a, &b] {
        assert!(!repo.path().join(".beads").exists(), "a .beads/ appeared");
        let agent = &repo.agent_records()[0];
        assert_eq!(
            Path::new(agent["env"]["BEADS_DIR"].as_str().unwrap()),
            shared.beads_dir(),
            "{agent:#}"
        );
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The lease labels on a task: the Unix times they run out.
fn leases(task: &Value) -> Vec<u64> {
    task["labels"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.as_str()?.strip_prefix("hew:lease-")?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_claim_is_read_back_and_leased_before_it_runs() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", crate::fake_agent(), "");
    let ids = repo.create_tasks(2);
    let tracker = LoggedTracker::new("");
    let started = unix_now();
    let out = repo
        .hew()
        .args(["loop", "-j", "1"])
        .env("HEW_TRACKER_COMMAND", &tracker.script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let calls = tracker.calls();
    let calls: Vec<&str> = calls
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, args)| args))
        .collect();
    for id in &ids {
        // The calls about this task (another task's may come between them).
        let about: Vec<&str> = calls
            .iter()
            .copied()
            .filter(|c| c.split(' ').any(|w| w == id.as_str()))
            .collect();
        let claim = about
            .iter()
            .position(|c| c.starts_with(&format!("update {id} --claim")))
            .unwrap_or_else(|| panic!("{id} never claimed: {calls:#?}"));
        // One read-back, then the first lease: `loop.lease` (5m) from now.
        assert_eq!(about[claim + 1], format!("show {id} --json"), "{calls:#?}");
        let lease = about[claim + 2];
        assert!(
            lease.starts_with(&format!("update {id} --add-label hew:lease-")),
            "{lease}"
        );
        let until: u64 = lease
            .split("hew:lease-")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(
            (started + 299..=unix_now() + 301).contains(&until),
            "{until}"
        );
        let task = repo.show(id);
        assert_eq!(task["status"], "closed");
        // Done with: no lease label is left on it.
        assert!(leases(&task).is_empty(), "{task:#}");
    }
}

/// Processes whose environment has `HEW_RUN_ID=<run_id>`: a run's agents.
fn agents_of(run_id: &str) -> Vec<i32> {
    let want = format!("HEW_RUN_ID={run_id}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            env.split(|b| *b == 0)
                .any(|v| v == want.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// Makes `repo` a clone of `remote`'s main: the same history.
fn clone_of(repo: &TestRepo, remote: &Path) {
    for args in [
        vec!["remote", "add", "origin", remote.to_str().unwrap()],
        vec!["fetch", "-q", "origin"],
        vec!["reset", "-q", "--hard", "origin/main"],
    ] {
        let out = Command::new("git")
            .args(&args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_machine_killed_mid_run_leaves_its_tasks_to_another_once_their_leases_run_out() {
    require_tracker!();
    if !Command::new("unshare")
        .args(["-u", "-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: cannot make namespaces here (unshare -u -m)");
        return;
    }
    let shared = SharedTracker::new();
    let ids = [shared.create("first"), shared.create("second")];
    // Two clones of one bare remote.
    let (a, b) = (checkout(), checkout());
    let remote = tempfile::tempdir().unwrap();
    let bare = remote.path().join("origin.git");
    let out = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(a.path())
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    clone_of(&a, &bare);
    clone_of(&b, &bare);
    for repo in [&a, &b] {
        repo.use_agent("claude", crate::fake_agent(), "[loop]\nlease = \"3s\"\n");
    }
    // Machine A's agents would work for a long time; B's finish at once.
    a.scenario(&json!({ "default": { "sleep_ms": 600_000 } }));

    // Machine A: another host name and another machine id, in namespaces of its own.
    let fake_id = remote.path().join("machine-id");
    std::fs::write(&fake_id, "0123456789abcdef0123456789abcdef\n").unwrap();
    let template = a.hew_std();
    let mut machine_a = Command::new("unshare");
    machine_a
        .args(["-u", "-m", "sh", "-c"])
        .arg(format!(
            "hostname other && mount --bind '{}' /etc/machine-id && exec \"$0\" loop -j 2",
            fake_id.display()
        ))
        .arg(hew_bin())
        .current_dir(a.path())
        .env("BEADS_DIR", shared.beads_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, val) in template.get_envs() {
        match val {
            Some(v) => machine_a.env(key, v),
            None => machine_a.env_remove(key),
        };
    }
    let mut hew_a = machine_a.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = || {
        ids.iter().all(|id| {
            let t = shared.show(id);
            t["status"] == "in_progress" && !leases(&t).is_empty()
        })
    };
    while !held() {
        assert!(
            Instant::now() < deadline,
            "machine A never claimed both tasks"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let holder = shared.show(&ids[0])["assignee"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(holder.starts_with("hew/other@0123456789ab/"), "{holder}");
    // The machine dies, with its agents.
    hew_a.kill().unwrap();
    hew_a.wait().unwrap();
    let run_a = holder.rsplit('/').next().unwrap().to_owned();
    for pid in agents_of(&run_a) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    // A tracker call the dead hew had started (a renewal) may still land: wait for it,
    // as a machine that died would have no call left.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !working_in(a.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "machine A's processes never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Their leases must run out first (a lease that holds is left alone: see the
    // scheduler's tests).
    let until = ids
        .iter()
        .flat_map(|id| leases(&shared.show(id)))
        .max()
        .unwrap();
    while unix_now() <= until {
        std::thread::sleep(Duration::from_millis(100));
    }

    // Once they have run out, B takes them over and finishes them.
    let out = hew_on(&b, &shared, &["loop", "-j", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in &ids {
        let task = shared.show(id);
        assert_eq!(task["status"], "closed", "{task:#}");
        assert!(
            b.file_on("main", &format!("{id}.txt")).is_some(),
            "{id}'s work is not on main"
        );
    }
    let in_progress = shared.run(&["list", "--status", "in_progress"]);
    let listed = in_progress.get("issues").unwrap_or(&in_progress);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{in_progress:#}");
    let taken: Vec<Value> = b
        .all_iterations()
        .into_iter()
        .filter(|it| {
            it["notes"]
                .to_string()
                .contains(&format!("took over the claim of `{holder}`"))
        })
        .collect();
    assert_eq!(taken.len(), 2, "{:#?}", b.all_iterations());
    assert!(
        stdout.contains("took over task(s) whose lease ran out"),
        "{stdout}"
    );
}

/// Live processes whose working directory is `dir` or below.
fn working_in(dir: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(&dir).then_some(pid)
        })
        .collect()
}
