//! A config file shared with earlier hew loads: its keys are read or ignored, never fatal,
//! and what neither hew knows is still an error.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::{
    ConfigError, ConfigFile, ConfigPaths, EarlierKey, Effect, LoadOptions, Loaded, Origin,
    Priority, Runtime, load,
};

const EARLIER_CONFIG: &str = include_str!("../../../tests/fixtures/earlier-hew/config/config.toml");

fn user_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn load_user(path: &Path) -> Result<Loaded, ConfigError> {
    load(&LoadOptions {
        paths: ConfigPaths {
            user: Some(path.to_owned()),
            project: None,
        },
        ..LoadOptions::default()
    })
}

fn effects(keys: &[EarlierKey]) -> Vec<(&str, Effect)> {
    keys.iter()
        .map(|k| (k.key.as_str(), k.effect.clone()))
        .collect()
}

fn ignored(keys: &[EarlierKey]) -> Vec<&str> {
    keys.iter()
        .filter(|k| matches!(k.effect, Effect::Ignored(_)))
        .map(|k| k.key.as_str())
        .collect()
}

#[test]
fn an_earlier_hew_user_config_loads_with_its_shared_and_read_keys() {
    let (_dir, path) = user_file(EARLIER_CONFIG);
    let loaded = load_user(&path).unwrap();
    let cfg = loaded.config();
    let p0: Priority = "P0".parse().unwrap();
    assert_eq!(
        cfg.looping.model.by_priority.get(&p0).map(String::as_str),
        Some("opus")
    );
    assert_eq!(cfg.looping.model.default.as_deref(), Some("sonnet"));
    assert_eq!(
        cfg.looping.model.by_type.get("chore").map(String::as_str),
        Some("haiku")
    );
    assert_eq!(cfg.looping.agent.runtime, Runtime::Codex, "default_runtime");
    assert_eq!(
        cfg.looping.agent.fallback,
        Some(Runtime::Claude),
        "loop.fallback_runtime"
    );
    assert_eq!(
        cfg.looping.verify.command.as_deref(),
        Some("cargo test --workspace"),
        "loop.end_of_run.verify_command with verify_tests = true"
    );
    assert_eq!(
        ignored(loaded.earlier()),
        [
            "update_check",
            "default_scope",
            "git_track",
            "optional_skills.deps",
            "optional_skills.research",
            "optional_skills.security",
            "branching.strategy",
            "review.after_n_tasks",
            "review.after_epic",
            "review.batch_size",
            "craft.max_function_lines",
            "craft.symbol_trace",
            "compact.exempt",
            "loop.fallback_cooldown_iters",
            "loop.planner.enabled",
            "loop.planner.budget_tokens",
            "loop.end_of_run.verify_budget_wall",
        ]
    );
    let read: Vec<(&str, Effect)> = effects(loaded.earlier())
        .into_iter()
        .filter(|(_, e)| matches!(e, Effect::ReadAs(_)))
        .collect();
    assert_eq!(
        read,
        [
            ("default_runtime", Effect::ReadAs("loop.agent.runtime")),
            (
                "loop.fallback_runtime",
                Effect::ReadAs("loop.agent.fallback")
            ),
            (
                "loop.end_of_run.verify_tests",
                Effect::ReadAs("loop.verify.command")
            ),
            (
                "loop.end_of_run.verify_command",
                Effect::ReadAs("loop.verify.command")
            ),
        ]
    );
    let update = &loaded.earlier()[0];
    assert_eq!(
        update.origin,
        Origin::File {
            path: path.clone(),
            at: Some(crate::config::Position { line: 3, column: 1 })
        }
    );
    assert_eq!(
        update.effect,
        Effect::Ignored("this hew does not check for updates".into())
    );
}

#[test]
fn a_key_neither_hew_knows_is_still_an_error() {
    for (text, key) in [
        ("update_chekc = true\n", "update_chekc"),
        ("[loop.planner]\ncolour = \"red\"\n", "loop.planner.colour"),
        (
            "[branching]\nstrategy = \"epic\"\nmode = 1\n",
            "branching.mode",
        ),
    ] {
        let (_dir, path) = user_file(text);
        match load_user(&path) {
            Err(ConfigError::UnknownKey { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_bad_value_for_a_read_or_shared_key_stops_and_names_the_key() {
    let (_dir, path) = user_file("update_check = true\ndefault_runtime = \"gemini\"\n");
    let err = load_user(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("invalid value for `default_runtime` in `"),
        "{msg}"
    );
    assert!(
        msg.contains("line 2") && msg.contains("read as `loop.agent.runtime`"),
        "{msg}"
    );

    let (_dir, path) = user_file("update_check = true\n[loop.model.by_priority]\nP9 = \"opus\"\n");
    assert!(matches!(load_user(&path), Err(ConfigError::MapKey { .. })));

    let (_dir, path) = user_file("[loop.end_of_run]\nverify_tests = \"yes\"\n");
    let msg = load_user(&path).unwrap_err().to_string();
    assert!(msg.contains("`loop.end_of_run.verify_tests`"), "{msg}");
}

#[test]
fn the_verify_command_of_earlier_hew_is_read_only_when_it_ran() {
    let cases = [
        (
            "verify_tests = false\nverify_command = \"make test\"\n",
            None,
            "only with `loop.end_of_run.verify_tests = true`",
        ),
        (
            "verify_command = \"make test\"\n",
            None,
            "only with `loop.end_of_run.verify_tests = true`",
        ),
        (
            "verify_tests = true\n",
            None,
            "found the test command itself",
        ),
        (
            "verify_tests = true\nverify_command = \"make test\"\n",
            Some("make test"),
            "",
        ),
    ];
    for (body, command, why) in cases {
        let (_dir, path) = user_file(&format!("[loop.end_of_run]\n{body}"));
        let loaded = load_user(&path).unwrap();
        assert_eq!(
            loaded.config().looping.verify.command.as_deref(),
            command,
            "{body}"
        );
        for k in loaded.earlier() {
            match &k.effect {
                Effect::Ignored(reason) => assert!(reason.contains(why), "{body}: {reason}"),
                Effect::ReadAs(target) => assert_eq!(*target, "loop.verify.command"),
            }
        }
    }
}

#[test]
fn this_hews_own_key_in_the_same_file_wins() {
    let (_dir, path) = user_file(
        "default_runtime = \"codex\"\n[loop.agent]\nruntime = \"claude\"\n\
         [loop.verify]\ncommand = \"just test\"\n\
         [loop.end_of_run]\nverify_tests = true\nverify_command = \"make test\"\n",
    );
    let loaded = load_user(&path).unwrap();
    assert_eq!(loaded.config().looping.agent.runtime, Runtime::Claude);
    assert_eq!(
        loaded.config().looping.verify.command.as_deref(),
        Some("just test")
    );
    assert_eq!(
        ignored(loaded.earlier()),
        [
            "default_runtime",
            "loop.end_of_run.verify_tests",
            "loop.end_of_run.verify_command"
        ]
    );
}

#[test]
fn a_project_file_overrides_what_was_read_from_the_user_file() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user.toml");
    let project = dir.path().join("project.toml");
    fs::write(&user, "default_runtime = \"codex\"\n").unwrap();
    fs::write(&project, "[loop.agent]\nruntime = \"claude\"\n").unwrap();
    let loaded = load(&LoadOptions {
        paths: ConfigPaths {
            user: Some(user),
            project: Some(project),
        },
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(loaded.config().looping.agent.runtime, Runtime::Claude);
}

#[test]
fn config_set_keeps_earlier_keys_and_reports_them() {
    let (_dir, path) = user_file(EARLIER_CONFIG);
    let mut file = ConfigFile::open(&path).unwrap();
    file.set("loop.jobs", "3").unwrap();
    file.save().unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("[loop.planner]\nenabled = true"), "{text}");
    assert!(text.contains("jobs = 3"), "{text}");
    let file = ConfigFile::open(&path).unwrap();
    assert_eq!(ignored(&file.earlier().unwrap()).len(), 17);
}

#[test]
fn asking_for_a_key_of_earlier_hew_says_what_became_of_it() {
    let err = ConfigError::unknown_key("loop.planner.enabled", Origin::Override);
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("a key of earlier hew") && hint.contains("planner"),
        "{hint}"
    );
    let err = ConfigError::unknown_key("default_runtime", Origin::Override);
    assert!(err.hint().unwrap().contains("`loop.agent.runtime`"));
}
