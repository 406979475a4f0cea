//! With `tracker.command` unset, hew finds the tracker itself: the tool that made `.beads/`
//! when it is installed, else `bd` on PATH, else `br`, else an error naming both installs.
//! Each test runs hew with a PATH it builds, holding only the programs the case needs.

use std::path::{Path, PathBuf};

use hew_tests::{TestRepo, require_tracker, tracker_program, write_script};

/// Where `name` is on this process's PATH.
fn on_path(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH"))
}

/// A directory for PATH holding links to `programs` (found on this process's PATH).
fn bin_dir(programs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in programs {
        std::os::unix::fs::symlink(on_path(p), dir.path().join(p)).unwrap();
    }
    dir
}

/// `hew ARGS` in `repo` with no `tracker.command` and `path` as PATH.
fn hew_unset(repo: &TestRepo, path: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    repo.hew()
        .env_remove("HEW_TRACKER_COMMAND")
        .env("PATH", path)
        .args(args)
        .assert()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// These cases are about `br`'s `.beads/`; with another test tracker they do not apply.
fn br_is_the_test_tracker() -> bool {
    tracker_program() == "br"
}

#[test]
fn only_br_installed_and_no_config_dry_run_lists_the_tasks() {
    require_tracker!();
    if !br_is_the_test_tracker() {
        return;
    }
    let repo = TestRepo::with_tracker();
    let ids = repo.create_tasks(2);
    assert!(!repo.path().join(".hew/config.toml").exists());
    let bin = bin_dir(&["br", "git"]);
    let out = hew_unset(&repo, bin.path(), &["loop", "--dry-run"]).success();
    let stdout = text(&out.get_output().stdout);
    for id in &ids {
        assert!(stdout.contains(id.as_str()), "{id} missing:\n{stdout}");
    }

    let out = hew_unset(&repo, bin.path(), &["doctor"]);
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.contains("✓ tracker ") && stdout.contains("br: .beads/ was made by br"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ tracker database"), "{stdout}");
}

#[test]
fn neither_tracker_installed_is_a_clear_error_naming_both_installs() {
    let repo = TestRepo::new();
    let bin = bin_dir(&["git"]);
    let out = hew_unset(&repo, bin.path(), &["loop", "--dry-run"]).code(4);
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("neither `bd` nor `br` is on PATH"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo install beads_rust"), "{stderr}");
    assert!(stderr.contains("npm install -g @beads/bd"), "{stderr}");
    assert!(out.get_output().stdout.is_empty());

    let out = hew_unset(&repo, bin.path(), &["doctor"]).code(1);
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.contains("✗ tracker") && stdout.contains("neither `bd` nor `br`"),
        "{stdout}"
    );
}

#[test]
fn a_beads_dir_made_by_br_picks_br_over_a_bd_on_path() {
    require_tracker!();
    if !br_is_the_test_tracker() {
        return;
    }
    let repo = TestRepo::with_tracker();
    let ids = repo.create_tasks(1);
    let bin = bin_dir(&["br", "git"]);
    let called = bin.path().join("bd-was-called");
    write_script(
        &bin.path().join("bd"),
        &format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\necho 'not the tracker' >&2\nexit 1\n",
            called.display()
        ),
    );
    let out = hew_unset(&repo, bin.path(), &["loop", "--dry-run"]).success();
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains(ids[0].as_str()), "{stdout}");
    assert!(!called.exists(), "bd was run: {:?}", std::fs::read(&called));

    let out = hew_unset(&repo, bin.path(), &["doctor"]);
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("br: .beads/ was made by br"), "{stdout}");
    assert!(!called.exists(), "bd was run by doctor");

    // Without a `.beads/` to go by, bd comes first.
    let empty = TestRepo::new();
    let out = hew_unset(&empty, bin.path(), &["doctor"]);
    let stdout = text(&out.get_output().stdout);
    assert!(stdout.contains("bd: on PATH"), "{stdout}");
}
