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
    for cmd in ["loop", "config"] {
        assert!(stdout.contains(cmd), "{cmd} missing from help:\n{stdout}");
    }
}
