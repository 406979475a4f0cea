//! Layer precedence and error reporting when loading, with real files.

use std::fs;
use std::path::Path;

use super::*;

/// A user file and a project file in a temporary directory (empty text: no file).
struct Setup {
    _dir: tempfile::TempDir,
    paths: ConfigPaths,
}

fn setup(user: &str, project: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let user_path = dir.path().join("home/.config/hew/config.toml");
    let project_root = dir.path().join("repo");
    let paths = ConfigPaths {
        user: Some(user_path.clone()),
        project: Some(project_root.join(".hew/config.toml")),
    };
    for (path, text) in [
        (&user_path, user),
        (paths.project.as_ref().unwrap(), project),
    ] {
        if !text.is_empty() {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }
    Setup { _dir: dir, paths }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_with(
    setup: &Setup,
    env: &[(&str, &str)],
    overrides: &[(&str, &str)],
) -> Result<Loaded, ConfigError> {
    load(&LoadOptions {
        paths: setup.paths.clone(),
        env: pairs(env),
        overrides: pairs(overrides),
    })
}

#[test]
fn defaults_apply_when_nothing_else_is_set() {
    let setup = setup("", "");
    let loaded = load_with(&setup, &[], &[]).unwrap();
    assert_eq!(loaded.config(), &Config::default());
    assert!(loaded.files().is_empty());
    assert_eq!(loaded.effective("loop.jobs").unwrap(), Some("2".into()));
    assert_eq!(loaded.effective("loop.model.default").unwrap(), None);
}

#[test]
fn the_user_file_beats_the_defaults() {
    let setup = setup("[loop]\njobs = 3\n", "");
    let loaded = load_with(&setup, &[], &[]).unwrap();
    assert_eq!(loaded.config().looping.jobs.get(), 3);
    assert_eq!(loaded.config().tracker.command, None);
    assert_eq!(loaded.files(), [setup.paths.user.clone().unwrap()]);
}

#[test]
fn the_project_file_beats_the_user_file() {
    let setup = setup("[loop]\njobs = 3\nretry.max = 7\n", "[loop]\njobs = 4\n");
    let config = load_with(&setup, &[], &[]).unwrap().into_config();
    assert_eq!(config.looping.jobs.get(), 4);
    assert_eq!(config.looping.retry.max, 7);
}

#[test]
fn the_environment_beats_the_project_file() {
    let setup = setup(
        "[loop]\njobs = 3\n",
        "[loop]\njobs = 4\n[tracker]\ncommand = 'bd'\n",
    );
    let env = [
        ("HEW_LOOP_JOBS", "5"),
        ("HEW_TRACKER_COMMAND", "br"),
        ("HEW_RUN_ID", "x"),
        ("HEW_USER_CONFIG", "/nope"),
        ("PATH", "/bin"),
    ];
    let config = load_with(&setup, &env, &[]).unwrap().into_config();
    assert_eq!(config.looping.jobs.get(), 5);
    assert_eq!(config.tracker.command.as_deref(), Some("br"));
}

#[test]
fn overrides_beat_the_environment() {
    let setup = setup("", "[loop]\njobs = 4\n");
    let loaded = load_with(&setup, &[("HEW_LOOP_JOBS", "5")], &[("loop.jobs", "6")]).unwrap();
    assert_eq!(loaded.config().looping.jobs.get(), 6);
    assert_eq!(loaded.effective("loop.jobs").unwrap(), Some("6".into()));
}

#[test]
fn maps_merge_entry_by_entry_across_layers() {
    let setup = setup(
        "[loop.model.by_priority]\nP0 = 'opus'\nP1 = 'sonnet'\nP2 = 'haiku'\n",
        "[loop.model]\nby_priority.P1 = 'opus'\n",
    );
    let env = [("HEW_LOOP_MODEL_BY_PRIORITY", "P2=x")];
    let loaded = load_with(&setup, &env, &[("loop.model.by_priority.P0", "")]).unwrap();
    assert_eq!(
        loaded.effective("loop.model.by_priority").unwrap(),
        Some("P1=opus,P2=x".into())
    );
    assert_eq!(
        loaded.effective("loop.model.by_priority.P1").unwrap(),
        Some("opus".into())
    );
    assert_eq!(loaded.effective("loop.model.by_priority.P0").unwrap(), None);
    let models: Vec<&str> = loaded
        .config()
        .looping
        .model
        .by_priority
        .values()
        .map(String::as_str)
        .collect();
    assert_eq!(models, ["opus", "x"]);
}

#[test]
fn an_empty_optional_string_means_unset() {
    let setup = setup(
        "[loop.model]\ndefault = 'opus'\n[loop.verify]\ncommand = 'make'\n",
        "[loop.model]\ndefault = ''\n",
    );
    let loaded = load_with(&setup, &[("HEW_LOOP_VERIFY_COMMAND", "")], &[]).unwrap();
    assert_eq!(loaded.config().looping.model.default, None);
    assert_eq!(loaded.config().looping.verify.command, None);
    assert_eq!(loaded.effective("loop.model.default").unwrap(), None);
    // An empty variable for a key with a default changes nothing.
    let loaded = load_with(&setup, &[("HEW_LOOP_JOBS", "")], &[]).unwrap();
    assert_eq!(loaded.config().looping.jobs.get(), 2);
}

#[test]
fn list_gives_every_set_key_with_maps_whole() {
    let setup = setup(
        "[loop.model]\nby_type = { bug = 'opus', chore = 'haiku' }\ndefault = 'sonnet'\n",
        "",
    );
    let list = load_with(&setup, &[], &[]).unwrap().list();
    let get = |key: &str| list.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("loop.model.by_type"), Some("bug=opus,chore=haiku"));
    assert_eq!(get("loop.model.by_priority"), Some(""));
    assert_eq!(get("loop.model.default"), Some("sonnet"));
    assert_eq!(get("loop.agent.timeout"), Some("45m"));
    assert_eq!(get("loop.skip_types"), Some("epic"));
    assert_eq!(get("loop.worktree.dir"), None);
    assert_eq!(get("tracker.command"), None);
    assert_eq!(
        list.first().map(|(k, _)| k.as_str()),
        Some("tracker.timeout")
    );
}

#[test]
fn malformed_files_are_named_with_line_and_column() {
    let setup = setup("", "[loop]\njobs = = 2\n");
    let err = load_with(&setup, &[], &[]).unwrap_err();
    let project = setup.paths.project.clone().unwrap();
    match &err {
        ConfigError::Malformed {
            path, line, column, ..
        } => {
            assert_eq!(path, &project);
            assert_eq!((*line, *column), (2, 8), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_keys_are_named_with_their_file() {
    let setup = setup("[loop]\njobs = 2\n\n[loop.agent]\ntimeot = '5m'\n", "");
    let err = load_with(&setup, &[], &[]).unwrap_err();
    let user = setup.paths.user.clone().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "unknown key `loop.agent.timeot` in `{}` at line 5, column 1",
            user.display()
        )
    );
    assert!(err.hint().unwrap().contains("`loop.agent.timeout`"));

    let err = load_with(&self::setup("", ""), &[], &[("loop.jbs", "2")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown key `loop.jbs` in the command line"
    );
}

#[test]
fn bad_values_are_refused_naming_key_and_file() {
    for (text, key) in [
        ("[loop]\njobs = 0\n", "loop.jobs"),
        ("[loop.agent]\ntimeout = '45'\n", "loop.agent.timeout"),
        ("[loop.agent]\nruntime = 'gpt'\n", "loop.agent.runtime"),
        ("[tracker]\ncommand = 3\n", "tracker.command"),
        (
            "[loop.model.by_priority]\nP0 = 1\n",
            "loop.model.by_priority.P0",
        ),
    ] {
        let setup = setup("", text);
        let err = load_with(&setup, &[], &[]).unwrap_err();
        assert!(
            err.hint().unwrap().starts_with("write it like `"),
            "{:?}",
            err.hint()
        );
        let message = err.to_string();
        let project = setup.paths.project.clone().unwrap();
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(
            message.contains(&format!("`{}` at line 2", project.display())),
            "{message}"
        );
    }
}

#[test]
fn file_value_hints_show_the_toml_to_write() {
    let duration = setup("", "[loop.agent]\ntimeout = 3\n");
    let err = load_with(&duration, &[], &[]).unwrap_err();
    assert_eq!(err.hint().unwrap(), "write it like `timeout = \"45m\"`");
    let entry = setup("", "[loop.model.by_priority]\nP1 = 2\n");
    let err = load_with(&entry, &[], &[]).unwrap_err();
    assert_eq!(err.hint().unwrap(), "write it like `P1 = \"opus\"`");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let setup = setup("", "");
    let err = load_with(&setup, &[("HEW_LOOP_AGENT_GRACE", "soon")], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value for `loop.agent.grace` in environment variable `HEW_LOOP_AGENT_GRACE`: \
         expected a duration like `45m` or `1h30m` (units ms, s, m, h, d), found `soon`"
    );
    assert!(err.hint().unwrap().contains("HEW_LOOP_AGENT_GRACE=10s"));
    let err = load_with(&setup, &[("HEW_LOOP_MODEL_BY_PRIORITY", "P9=x")], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::MapKey { .. }), "{err}");
}

#[test]
fn user_path_comes_from_hew_user_config_then_xdg_then_home() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let all = env(&[
        ("HEW_USER_CONFIG", "/a/c.toml"),
        ("XDG_CONFIG_HOME", "/x"),
        ("HOME", "/h"),
    ]);
    assert_eq!(
        ConfigPaths::new(None, &all).user.unwrap(),
        Path::new("/a/c.toml")
    );
    let xdg = env(&[
        ("HEW_USER_CONFIG", ""),
        ("XDG_CONFIG_HOME", "/x"),
        ("HOME", "/h"),
    ]);
    assert_eq!(
        ConfigPaths::new(None, &xdg).user.unwrap(),
        Path::new("/x/hew/config.toml")
    );
    let home = env(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/h")]);
    assert_eq!(
        ConfigPaths::new(None, &home).user.unwrap(),
        Path::new("/h/.config/hew/config.toml")
    );
    assert_eq!(ConfigPaths::new(None, &env(&[])).user, None);

    let paths = ConfigPaths::new(Some(Path::new("/repo")), &home);
    assert_eq!(
        paths.get(Scope::Project).unwrap(),
        Path::new("/repo/.hew/config.toml")
    );
    assert_eq!(paths.get(Scope::User), paths.user.as_deref());
}

#[test]
fn prices_merge_model_by_model_and_price_by_price_across_layers() {
    let setup = setup(
        "[prices.claude-opus-4-5]\ninput = 5\noutput = 25\n[prices.\"gpt-5.1\"]\ninput = 1.25\n",
        "[prices]\nclaude-opus-4-5.output = 20.0\nmine = { input = 0.5, output = 1 }\n",
    );
    let env = [("HEW_PRICES", "mine.output=2")];
    let loaded = load_with(&setup, &env, &[("prices.claude-opus-4-5.input", "")]).unwrap();
    let prices = &loaded.config().prices;
    let opus = prices["claude-opus-4-5"];
    assert_eq!((opus.input, opus.output), (None, Some(20.0)));
    assert_eq!(prices["gpt-5.1"].input, Some(1.25));
    assert_eq!(
        (prices["mine"].input, prices["mine"].output),
        (Some(0.5), Some(2.0))
    );
    assert_eq!(
        loaded.effective("prices.mine.output").unwrap(),
        Some("2".into())
    );
    assert_eq!(
        loaded.effective("prices.\"gpt-5.1\".input").unwrap(),
        Some("1.25".into())
    );
    assert_eq!(
        loaded.effective("prices.claude-opus-4-5.input").unwrap(),
        None
    );
}

#[test]
fn budgets_are_unset_by_default_and_read_from_every_layer() {
    let setup = setup("[loop.budget]\ntokens = 1000\n", "");
    let loaded = load_with(&setup, &[("HEW_LOOP_BUDGET_USD", "2.5")], &[]).unwrap();
    let budget = &loaded.config().looping.budget;
    assert_eq!(budget.tokens, Some(1000));
    assert_eq!(budget.usd, Some(2.5));
    assert_eq!(budget.wall, None);
    assert!(!budget.hard);
    assert_eq!(
        Config::default().looping.budget,
        crate::config::BudgetConfig::default()
    );
}
