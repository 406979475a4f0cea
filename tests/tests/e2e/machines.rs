//! Several checkouts (or machines) on one backlog: the tracker lives outside the
//! repositories, named by `BEADS_DIR`, and every tracker call of hew and of its agents uses
//! it.

use std::path::Path;

use hew_tests::{TestRepo, first, require_tracker, tracker_program};
use serde_json::{Value, json};

/// A beads database in a directory of its own, outside every repository.
struct SharedTracker {
    dir: tempfile::TempDir,
}

impl SharedTracker {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hew-backlog-")
            .tempdir()
            .unwrap();
        let shared = Self { dir };
        shared.run(&["init", "--prefix", "demo"]);
        shared
    }

    /// `BEADS_DIR` for it.
    fn beads_dir(&self) -> std::path::PathBuf {
        self.dir.path().join(".beads")
    }

    /// Runs the tracker on it from anywhere (here: the temp dir's parent).
    fn run(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = std::process::Command::new(tracker_program())
            .args(&args)
            .current_dir(std::env::temp_dir())
            .env("BEADS_DIR", self.beads_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn create(&self, title: &str) -> String {
        let created = self.run(&["create", title, "-p", "2", "-t", "task"]);
        first(&created)["id"].as_str().unwrap().to_owned()
    }

    fn show(&self, id: &str) -> Value {
        first(&self.run(&["show", id])).clone()
    }
}

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
