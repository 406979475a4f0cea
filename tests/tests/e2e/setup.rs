//! `hew init` and `hew doctor`: setting a repository up, and checking it.

use std::path::Path;

use hew_tests::{TestRepo, require_tracker};

fn fake_agent() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fake-agent"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn doctor_without_a_tracker_database_prints_the_fix_and_fails() {
    require_tracker!();
    let repo = TestRepo::new();
    let out = repo.hew().arg("doctor").assert().code(1);
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("✓ git repository"), "{stdout}");
    assert!(stdout.contains("✗ tracker database"), "{stdout}");
    assert!(
        stdout.contains("fix: run `br init` in the repository"),
        "{stdout}"
    );
    assert!(stdout.contains("checks failed"), "{stdout}");
}

#[test]
fn doctor_with_a_missing_tracker_program_names_the_setting() {
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .env("HEW_TRACKER_COMMAND", "no-such-tracker-hew-test")
        .arg("doctor")
        .assert()
        .code(1);
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.contains("✗ tracker") && stdout.contains("tracker.command"),
        "{stdout}"
    );
}

#[test]
fn doctor_passes_on_a_repository_ready_to_run() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let out = repo.hew().arg("doctor").assert();
    let stdout = text(&out.get_output().stdout);
    assert!(out.get_output().status.success(), "{stdout}");
    for line in [
        "✓ tracker ",
        "✓ tracker database",
        "✓ agent",
        "✓ config",
        "✓ stale runs",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
}

#[test]
fn doctor_refuses_a_logged_out_claude_with_the_login_fix() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let out = repo
        .hew()
        .arg("doctor")
        .env("FAKE_AGENT_LOGGED_OUT", "1")
        .env_remove("ANTHROPIC_API_KEY")
        .assert()
        .code(1);
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("✓ agent "), "{stdout}");
    assert!(stdout.contains("0.0.0 (fake agent)"), "{stdout}");
    assert!(stdout.contains("✗ agent login"), "{stdout}");
    assert!(stdout.contains("claude auth login"), "{stdout}");

    // A key in the environment is a login.
    let out = repo
        .hew()
        .arg("doctor")
        .env("FAKE_AGENT_LOGGED_OUT", "1")
        .env("ANTHROPIC_API_KEY", "sk-ant-dummy")
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("✓ agent login"), "{stdout}");
}

#[test]
fn doctor_only_warns_about_a_codex_login_it_cannot_see() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("codex", fake_agent(), "");
    let out = repo
        .hew()
        .arg("doctor")
        .env("FAKE_AGENT_LOGGED_OUT", "1")
        .env("CODEX_API_KEY", "dummy")
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("! agent login"), "{stdout}");
    assert!(stdout.contains("CODEX_API_KEY is set"), "{stdout}");
}

#[test]
fn doctor_outside_a_repository_fails_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    let out = repo
        .hew()
        .current_dir(dir.path())
        .arg("doctor")
        .assert()
        .code(1);
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("✗ git repository"), "{stdout}");
    assert!(
        stdout.contains("fix: run hew inside a git repository"),
        "{stdout}"
    );
}

#[test]
fn init_creates_config_and_gitignore_and_never_overwrites_a_config() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let out = repo.hew().arg("init").assert().success();
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.contains("created                .hew/config.toml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("created                .hew/.gitignore"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ tracker database"), "{stdout}");
    let config = repo.path().join(".hew/config.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("# jobs = 2"), "{written}");
    assert!(
        std::fs::read_to_string(repo.path().join(".hew/.gitignore"))
            .unwrap()
            .lines()
            .any(|l| l == "loop/")
    );
    // Every key commented out: the file sets no value (its map tables are empty, and
    // maps merge key by key).
    let listed = repo
        .hew()
        .args(["config", "list", "--project"])
        .assert()
        .success();
    let listed = text(&listed.get_output().stdout);
    assert!(listed.lines().all(|l| l.ends_with(" = ")), "{listed}");

    std::fs::write(&config, "[loop]\njobs = 5 # mine\n").unwrap();
    let out = repo.hew().arg("init").assert().success();
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.contains("kept (already there)   .hew/config.toml"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "[loop]\njobs = 5 # mine\n"
    );
}

#[test]
fn init_without_a_tracker_database_says_what_is_missing() {
    require_tracker!();
    let repo = TestRepo::new();
    let out = repo.hew().arg("init").assert().success();
    let stdout = text(&out.get_output().stdout);
    assert!(repo.path().join(".hew/config.toml").exists());
    assert!(stdout.contains("✗ tracker database"), "{stdout}");
    assert!(stdout.contains("br init"), "{stdout}");
}

#[test]
fn skills_install_where_claude_code_finds_them() {
    let repo = TestRepo::new();
    let out = repo.hew().args(["skills", "install"]).assert().success();
    let stdout = text(&out.get_output().stdout);
    for name in ["hew-execute", "hew-plan", "hew-decompose"] {
        let file = repo
            .path()
            .join(".claude/skills")
            .join(name)
            .join("SKILL.md");
        let body = std::fs::read_to_string(&file).unwrap();
        assert!(body.starts_with(&format!("---\nname: {name}\n")), "{body}");
        assert!(
            stdout.contains(&format!("installed      {}", file.display())),
            "{stdout}"
        );
    }
    // An edited skill is kept unless forced.
    let plan = repo.path().join(".claude/skills/hew-plan/SKILL.md");
    std::fs::write(&plan, "ours\n").unwrap();
    let out = repo
        .hew()
        .args(["skills", "install", "--project"])
        .assert()
        .success();
    assert!(text(&out.get_output().stdout).contains("kept (edited)"));
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "ours\n");
    repo.hew()
        .args(["skills", "install", "--project", "--force"])
        .assert()
        .success();
    assert_ne!(std::fs::read_to_string(&plan).unwrap(), "ours\n");

    // --user: under $HOME.
    let home = tempfile::tempdir().unwrap();
    repo.hew()
        .env("HOME", home.path())
        .args(["skills", "install", "--user"])
        .assert()
        .success();
    assert!(
        home.path()
            .join(".claude/skills/hew-decompose/SKILL.md")
            .exists()
    );
}
