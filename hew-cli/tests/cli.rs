//! The binary's own surface: version, help, and usage errors. (Behaviour is tested end to
//! end in the `tests` crate; this file also makes `cargo test` build the `hew` binary.)

use assert_cmd::Command;

fn hew() -> Command {
    Command::cargo_bin("hew").expect("the hew binary is built")
}

#[test]
fn prints_its_version() {
    let out = hew().arg("--version").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.trim(), format!("hew {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = hew().arg("frobnicate").assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("frobnicate"));
}

#[test]
fn help_lists_the_commands() {
    let out = hew().arg("--help").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for cmd in [
        "init",
        "loop",
        "config",
        "doctor",
        "skills",
        "completions",
        "man",
    ] {
        assert!(stdout.contains(cmd), "{cmd} missing from help:\n{stdout}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_hew()"),
        ("zsh", "#compdef hew"),
        ("fish", "complete -c hew"),
    ] {
        let out = hew().args(["completions", shell]).assert().success();
        let script = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(script.contains(marker), "{shell}: {marker} missing");
        assert!(script.contains("prune"), "{shell}: subcommands missing");
    }
    hew().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn the_man_page_is_roff_and_covers_the_commands() {
    let out = hew().arg("man").assert().success();
    let page = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(page.starts_with(".ie"), "{}", &page[..page.len().min(200)]);
    assert!(page.contains(".TH hew 1"), "no title header");
    assert!(page.contains("doctor"));

    let dir = tempfile::tempdir().unwrap();
    hew()
        .args(["man", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    for page in ["hew.1", "hew-loop.1", "hew-loop-prune.1", "hew-doctor.1"] {
        assert!(dir.path().join(page).exists(), "{page} not written");
    }
}
