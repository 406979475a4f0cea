//! The harness for hew's end-to-end tests: real git repositories in temp dirs, the real
//! `br` tracker, and the built `hew` binary with the user's own config kept out.
//!
//! The tracker binary is `br` unless `HEW_TEST_TRACKER` names another (e.g. `bd`). When it
//! is not installed, tests that need it are skipped with a note, unless `HEW_REQUIRE_BR=1`
//! (set by CI and `scripts/test.sh`), which turns a missing tracker into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

/// The tracker program the tests drive.
pub fn tracker_program() -> String {
    std::env::var("HEW_TEST_TRACKER").unwrap_or_else(|_| "br".to_owned())
}

/// The tracker behind a script that logs every call hew makes, one line each:
/// `<epoch ms> <arguments>`. Point hew at it with `HEW_TRACKER_COMMAND`.
pub struct LoggedTracker {
    _dir: TempDir,
    /// The script to run instead of the tracker.
    pub script: PathBuf,
    log: PathBuf,
}

impl LoggedTracker {
    /// `before` is shell run ahead of each call, with the call's arguments in `$*` (and the
    /// tracker in `$TRACKER`): a fault to inject, or nothing.
    pub fn new(before: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("calls.log");
        let script = dir.path().join("tracker.sh");
        write_script(
            &script,
            &format!(
                "#!/bin/sh\nTRACKER='{}'\nprintf '%s %s\\n' \"$(date +%s%3N)\" \"$*\" >> '{}'\n{before}\nexec \"$TRACKER\" \"$@\"\n",
                tracker_program(),
                log.display()
            ),
        );
        Self {
            _dir: dir,
            script,
            log,
        }
    }

    /// Like [`LoggedTracker::new`], with `fault` (shell) run once, just before hew's first
    /// claim that names task `id` reaches the tracker.
    pub fn before_first_claim_of(id: &impl std::fmt::Display, fault: &str) -> Self {
        Self::new(&format!(
            "case \"$*\" in *update*{id}*--claim*)\n\
               if [ ! -e \"$0.done\" ]; then : > \"$0.done\"; {fault}; fi;;\n\
             esac"
        ))
    }

    /// Every call logged so far.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether the tracker can be run. Panics when it is missing and `HEW_REQUIRE_BR` is set.
pub fn tracker_available() -> bool {
    let found = Command::new(tracker_program())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("HEW_REQUIRE_BR").is_none(),
            "`{}` is required (HEW_REQUIRE_BR is set) but not on PATH: run scripts/install-br.sh",
            tracker_program()
        );
        eprintln!(
            "note: `{}` not on PATH; skipping (install it with scripts/install-br.sh)",
            tracker_program()
        );
    }
    found
}

/// Skips the calling test (returns early) when the tracker is not installed.
#[macro_export]
macro_rules! require_tracker {
    () => {
        if !$crate::tracker_available() {
            return;
        }
    };
}

/// Headless Chromium (Debian's `chromium-headless-shell`), to render hew's HTML report:
/// `HEW_CHROMIUM` when set, else `chromium-headless-shell` on PATH or in `/usr/bin`. `None`
/// (and a note saying why the test is skipped) when it is missing, unless
/// `HEW_REQUIRE_CHROMIUM=1` (set by `scripts/test.sh`), which makes that a failure.
pub fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("HEW_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("chromium-headless-shell"))
                .collect::<Vec<_>>()
        }))
        .chain([PathBuf::from("/usr/bin/chromium-headless-shell")]);
    let found = candidates.into_iter().find(|c| c.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("HEW_REQUIRE_CHROMIUM").is_none(),
            "chromium-headless-shell is required (HEW_REQUIRE_CHROMIUM is set) but missing: \
             run scripts/install-chromium.sh"
        );
        eprintln!(
            "note: chromium-headless-shell not found; skipping (install it with \
             scripts/install-chromium.sh)"
        );
    }
    found
}

/// What headless Chromium made of a page: the DOM after its scripts ran, and its log
/// (console messages included).
pub struct Rendered {
    /// The serialized DOM.
    pub dom: String,
    /// Chromium's stderr with `--enable-logging=stderr`.
    pub log: String,
}

/// Loads the file `page` in headless Chromium `browser`, with no network and no sandbox
/// (tests run as root in CI), and returns what it rendered. With `screenshot`, also
/// writes a PNG of the page at 1400 px wide there.
pub fn render_page(browser: &Path, page: &Path, screenshot: Option<&Path>) -> Rendered {
    let profile = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new(browser);
    cmd.args([
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--proxy-server=127.0.0.1:9",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => cmd
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1400,2000")
            .arg("--hide-scrollbars"),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(url).output().expect("run chromium-headless-shell");
    assert!(out.status.success(), "chromium: {out:?}");
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `hew` binary built by this `cargo test` run.
pub fn hew_bin() -> PathBuf {
    // Test binaries live in target/<profile>/deps; the hew binary one level up.
    let exe = std::env::current_exe().expect("the test binary has a path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("hew{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// A task to create in the tracker.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub title: &'a str,
    pub priority: u8,
    pub issue_type: &'a str,
    pub description: &'a str,
    pub labels: &'a [&'a str],
}

impl<'a> NewTask<'a> {
    /// A P2 `task` with no description or labels.
    pub fn new(title: &'a str) -> Self {
        Self {
            title,
            priority: 2,
            issue_type: "task",
            description: "",
            labels: &[],
        }
    }
    pub fn priority(self, priority: u8) -> Self {
        Self { priority, ..self }
    }
    pub fn issue_type(self, issue_type: &'a str) -> Self {
        Self { issue_type, ..self }
    }
    pub fn description(self, description: &'a str) -> Self {
        Self {
            description,
            ..self
        }
    }
    pub fn labels(self, labels: &'a [&'a str]) -> Self {
        Self { labels, ..self }
    }
}

/// A git repository in a temp dir with one commit, optionally with a tracker, and a private
/// home for hew's user config.
pub struct TestRepo {
    dir: TempDir,
    home: TempDir,
}

impl TestRepo {
    /// A repository with one commit on `main`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hew-test-")
            .tempdir()
            .expect("temp dir");
        let home = tempfile::Builder::new()
            .prefix("hew-home-")
            .tempdir()
            .expect("temp dir");
        let repo = git2::Repository::init_opts(
            dir.path(),
            git2::RepositoryInitOptions::new().initial_head("main"),
        )
        .expect("git init");
        let mut cfg = repo.config().expect("repo config");
        cfg.set_str("user.name", "Test").expect("user.name");
        cfg.set_str("user.email", "test@example.com")
            .expect("user.email");
        std::fs::write(dir.path().join("README.md"), "# test repo\n").expect("write README");
        let mut index = repo.index().expect("index");
        index.add_path(Path::new("README.md")).expect("add");
        index.write().expect("write index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let sig = repo.signature().expect("signature");
        repo.commit(Some("HEAD"), &sig, &sig, "initial commit", &tree, &[])
            .expect("commit");
        Self { dir, home }
    }

    /// A repository with an initialised tracker (prefix `demo`).
    pub fn with_tracker() -> Self {
        let repo = Self::new();
        repo.tracker(&["init", "--prefix", "demo"]);
        repo
    }

    /// The top of the working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where `hew` reads its user config in this test.
    pub fn user_config(&self) -> PathBuf {
        self.home.path().join("config.toml")
    }

    /// Writes `.hew/config.toml`.
    pub fn write_project_config(&self, toml: &str) {
        let dir = self.path().join(".hew");
        std::fs::create_dir_all(&dir).expect("create .hew");
        std::fs::write(dir.join("config.toml"), toml).expect("write config");
    }

    /// Runs the tracker in the repo; panics with its output if it fails.
    pub fn tracker(&self, args: &[&str]) -> Output {
        let out = Command::new(tracker_program())
            .args(args)
            .current_dir(self.path())
            .env("HOME", self.home.path())
            .output()
            .expect("run the tracker");
        assert!(
            out.status.success(),
            "`{} {}` failed: {}{}",
            tracker_program(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs the tracker with `--json` and parses what it printed.
    pub fn tracker_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.tracker(&args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "tracker printed invalid JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Creates a task and returns its id.
    pub fn create_task(&self, t: NewTask<'_>) -> String {
        let priority = t.priority.to_string();
        let mut args = vec!["create", t.title, "-p", &priority, "-t", t.issue_type];
        if !t.description.is_empty() {
            args.extend(["-d", t.description]);
        }
        let created = self.tracker_json(&args);
        let id = first(&created)["id"]
            .as_str()
            .expect("created task has an id")
            .to_owned();
        for label in t.labels {
            self.tracker(&["label", "add", &id, label]);
        }
        id
    }

    /// Creates `n` plain tasks, `task 0` to `task <n-1>`, and returns their ids in order.
    pub fn create_tasks(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| self.create_task(NewTask::new(&format!("task {i}"))))
            .collect()
    }

    /// Makes `blocked` wait for `blocker`.
    pub fn block(&self, blocked: &str, blocker: &str) {
        self.tracker(&["dep", "add", blocked, blocker]);
    }

    /// The tracker's record of `id`.
    pub fn show(&self, id: &str) -> Value {
        first(&self.tracker_json(&["show", id])).clone()
    }

    /// Configures hew to start `agent` (the fake agent) for `runtime`: as the `claude` or
    /// `codex` binary, or as the `command` template's program. `extra` is appended to the
    /// project config.
    pub fn use_agent(&self, runtime: &str, agent: &Path, extra: &str) {
        let agent = agent.display();
        let how = match runtime {
            "command" => format!(
                "command = [\"{agent}\", \"--prompt-file\", \"{{prompt_file}}\", \"--model={{model}}\"]"
            ),
            _ => format!("binary = \"{agent}\""),
        };
        self.write_project_config(&format!(
            "[loop.agent]\nruntime = \"{runtime}\"\n{how}\ntimeout = \"2m\"\ngrace = \"2s\"\n{extra}\n"
        ));
    }

    /// Tells the fake agent what to do, per task id (see `tests/src/bin/fake-agent.rs`).
    pub fn scenario(&self, scenario: &Value) {
        std::fs::write(
            self.scenario_file(),
            serde_json::to_vec_pretty(scenario).expect("json"),
        )
        .expect("write scenario");
    }

    fn scenario_file(&self) -> PathBuf {
        self.home.path().join("scenario.json")
    }

    /// Where the fake agent records how it was started.
    pub fn agent_record_dir(&self) -> PathBuf {
        self.home.path().join("agent-records")
    }

    /// Every record the fake agent wrote: how it was started, with what, and when.
    pub fn agent_records(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.agent_record_dir()) else {
            return Vec::new();
        };
        let mut records: Vec<Value> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| {
                serde_json::from_slice(&std::fs::read(e.path()).expect("read"))
                    .expect("record json")
            })
            .collect();
        records.sort_by_key(|r| r["started_at"].as_u64());
        records
    }

    /// The iteration records of the only run so far.
    pub fn iterations(&self) -> Vec<Value> {
        let run = self.only_run_dir();
        let mut iters: Vec<Value> = std::fs::read_dir(run.join("iters"))
            .expect("iters dir")
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".json") && name.trim_end_matches(".json").parse::<u32>().is_ok()
            })
            .map(|e| {
                serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("iter json")
            })
            .collect();
        iters.sort_by_key(|i| i["number"].as_u64());
        iters
    }

    /// The iteration records of every run so far, in no particular order.
    pub fn all_iterations(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let Ok(runs) = std::fs::read_dir(self.path().join(".hew/loop")) else {
            return all;
        };
        for run in runs.flatten() {
            let Ok(iters) = std::fs::read_dir(run.path().join("iters")) else {
                continue;
            };
            for it in iters.flatten() {
                let name = it.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") && name.trim_end_matches(".json").parse::<u32>().is_ok()
                {
                    let bytes = std::fs::read(it.path()).expect("read");
                    all.push(serde_json::from_slice(&bytes).expect("iteration json"));
                }
            }
        }
        all
    }

    /// `run.json` of the only run so far.
    pub fn run_record(&self) -> Value {
        serde_json::from_slice(
            &std::fs::read(self.only_run_dir().join("run.json")).expect("run.json"),
        )
        .expect("run.json is JSON")
    }

    fn only_run_dir(&self) -> PathBuf {
        let runs: Vec<PathBuf> = std::fs::read_dir(self.path().join(".hew/loop"))
            .expect(".hew/loop")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        assert_eq!(runs.len(), 1, "expected one run, found {runs:?}");
        runs.into_iter().next().expect("one run")
    }

    /// The repository, opened with git2.
    pub fn git(&self) -> git2::Repository {
        git2::Repository::open(self.path()).expect("open repo")
    }

    /// The worktrees hew keeps between runs, checked to be idle: every linked worktree is
    /// an entry of the pool (`.git/hew/worktrees/pool/w<n>`) with HEAD detached, so no
    /// branch stays checked out there. Returns their paths.
    pub fn idle_pool(&self) -> Vec<PathBuf> {
        let git = self.git();
        let pool = self.path().join(".git/hew/worktrees/pool");
        let mut paths = Vec::new();
        let names = git.worktrees().expect("list worktrees");
        for i in 0..names.len() {
            let name = names.get(i).ok().flatten().expect("a worktree name");
            let wt = git.find_worktree(name).expect("open worktree");
            let path = wt.path().to_owned();
            assert!(
                name.starts_with("hew-pool-w") && path.starts_with(&pool),
                "worktree {name} at {} is not one kept between runs",
                path.display()
            );
            let linked = git2::Repository::open(&path).expect("open worktree");
            assert!(
                linked.head_detached().expect("read HEAD"),
                "worktree {name} still has a branch checked out"
            );
            paths.push(path);
        }
        paths
    }

    /// Local branches whose name starts with `prefix`.
    pub fn branches(&self, prefix: &str) -> Vec<String> {
        let repo = self.git();
        let branches = repo
            .branches(Some(git2::BranchType::Local))
            .expect("branches");
        let mut names: Vec<String> = branches
            .flatten()
            .filter_map(|(b, _)| b.name().ok().flatten().map(str::to_owned))
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }

    /// The content of `path` at the tip of `branch`, if the file is there.
    pub fn file_on(&self, branch: &str, path: &str) -> Option<String> {
        let repo = self.git();
        let tree = repo
            .find_branch(branch, git2::BranchType::Local)
            .ok()?
            .get()
            .peel_to_tree()
            .ok()?;
        let blob = tree
            .get_path(Path::new(path))
            .ok()?
            .to_object(&repo)
            .ok()?
            .peel_to_blob()
            .ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// `hew` started in this repo, with the tracker set and the user's own config and
    /// `HEW_*` environment kept out.
    pub fn hew(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.hew_std())
    }

    /// [`TestRepo::hew`] as a plain [`Command`], for runs the test signals or waits on.
    pub fn hew_std(&self) -> Command {
        let mut cmd = Command::new(hew_bin());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HEW_") {
                cmd.env_remove(&key);
            }
        }
        cmd.current_dir(self.path())
            .env("HOME", self.home.path())
            .env("HEW_USER_CONFIG", self.user_config())
            .env("HEW_TRACKER_COMMAND", tracker_program())
            .env("FAKE_AGENT_SCENARIO", self.scenario_file())
            .env("FAKE_AGENT_RECORD_DIR", self.agent_record_dir())
            .env("FAKE_AGENT_TRACKER", tracker_program())
            .env("NO_COLOR", "1");
        cmd
    }
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

/// The first record of a tracker answer that may be an array or a single object.
pub fn first(v: &Value) -> &Value {
    match v {
        Value::Array(items) => items.first().expect("a non-empty array"),
        other => other,
    }
}

/// Writes an executable shell script standing in for the tracker, for faults the real one
/// cannot produce (garbage output, hangs, odd exit codes). Returns its path.
pub fn stub_tracker(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("stub-tracker");
    write_script(&path, &format!("#!/bin/sh\n{body}\n"));
    path
}

/// Writes the executable `text` to `path` from a child process. Written from this process,
/// a test thread forking at that moment would hold the file open for writing until its
/// child execs, and running the script then would fail with "text file busy".
pub fn write_script(path: &Path, text: &str) {
    use std::io::Write;
    let mut sh = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("start sh");
    sh.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the script");
    assert!(
        sh.wait().expect("wait for sh").success(),
        "could not write {}",
        path.display()
    );
}

/// The pinned agent CLI `bin` of npm package `package` (`scripts/agent-versions`), as
/// `scripts/install-agents.sh` installs it, or `None` when it is not there and the tests
/// may skip: with `HEW_REQUIRE_AGENTS=1` (set by `scripts/test.sh` when node is there) a
/// missing install is a failure.
pub fn pinned_agent(package: &str, bin: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pins = std::fs::read_to_string(root.join("scripts/agent-versions")).expect("the pins");
    let version = pins
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(package)?.split_whitespace().next())
        .unwrap_or_else(|| panic!("{package} is not pinned in scripts/agent-versions"));
    let dir = std::env::var_os("HEW_AGENTS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/hew/agents")))?;
    let manifest = dir.join("node_modules").join(package).join("package.json");
    let installed = std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|json| json["version"].as_str() == Some(version));
    let program = dir.join("node_modules/.bin").join(bin);
    if installed && program.exists() {
        return Some(program);
    }
    let why = format!("{package} {version} is not installed: run scripts/install-agents.sh");
    if std::env::var_os("HEW_REQUIRE_AGENTS").is_some_and(|v| v == "1") {
        panic!("HEW_REQUIRE_AGENTS=1 but {why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// A beads database in a directory of its own, outside every repository: the backlog
/// several checkouts (or machines) share through `BEADS_DIR`.
pub struct SharedTracker {
    dir: TempDir,
}

impl SharedTracker {
    /// A new database, prefix `demo`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hew-backlog-")
            .tempdir()
            .expect("temp dir");
        let shared = Self { dir };
        shared.run(&["init", "--prefix", "demo"]);
        shared
    }

    /// `BEADS_DIR` for it.
    pub fn beads_dir(&self) -> PathBuf {
        self.dir.path().join(".beads")
    }

    /// Runs the tracker on it (with `--json`) from outside every repository; its output.
    pub fn run(&self, args: &[&str]) -> Value {
        let out = Command::new(tracker_program())
            .args(args)
            .arg("--json")
            .current_dir(std::env::temp_dir())
            .env("BEADS_DIR", self.beads_dir())
            .output()
            .expect("run the tracker");
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Creates a task; its id.
    pub fn create(&self, title: &str) -> String {
        let created = self.run(&["create", title, "-p", "2", "-t", "task"]);
        first(&created)["id"].as_str().expect("an id").to_owned()
    }

    /// The tracker's record of `id`.
    pub fn show(&self, id: &str) -> Value {
        first(&self.run(&["show", id])).clone()
    }
}

impl Default for SharedTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `git args` in `dir`, asserting it succeeds; its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits until `path` exists (a mark a script under test leaves), failing with `never`
/// after a generous bound.
pub fn wait_for_file(path: &Path, never: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "{never}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
