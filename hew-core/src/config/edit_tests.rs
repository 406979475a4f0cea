//! Editing a config file: round trips, comments kept, tables created, bad edits refused.

use std::fs;

use super::*;

/// A config file in a fresh temporary directory, with `text` in it (none if empty).
fn file_with(text: &str) -> (tempfile::TempDir, ConfigFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hew/config.toml");
    if !text.is_empty() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
    }
    let file = ConfigFile::open(&path).unwrap();
    (dir, file)
}

#[test]
fn a_missing_file_is_empty_and_save_creates_it() {
    let (_dir, mut file) = file_with("");
    assert_eq!(file.get("loop.jobs").unwrap(), None);
    file.set("loop.jobs", "4").unwrap();
    file.save().unwrap();
    let text = fs::read_to_string(file.path()).unwrap();
    assert_eq!(text, "[loop]\njobs = 4\n");
    assert_eq!(
        ConfigFile::open(file.path())
            .unwrap()
            .get("loop.jobs")
            .unwrap(),
        Some("4".into())
    );
    let leftovers = fs::read_dir(file.path().parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1, "the temporary file is gone");
}

#[test]
fn set_creates_missing_tables() {
    let (_dir, mut file) = file_with("");
    file.set("loop.agent.timeout", "30m").unwrap();
    file.set("tracker.command", "br").unwrap();
    assert_eq!(
        file.text(),
        "[loop.agent]\ntimeout = \"30m\"\n\n[tracker]\ncommand = \"br\"\n"
    );
    assert_eq!(file.get("loop.agent.timeout").unwrap(), Some("30m".into()));
}

#[test]
fn set_keeps_comments_and_layout() {
    let text = "# my settings\n\n[loop]\n# four cores\njobs = 2 # was 1\nskip_types = [\"epic\"]\n\n[tracker] # beads\ncommand = \"bd\"\n";
    let (_dir, mut file) = file_with(text);
    file.set("loop.jobs", "3").unwrap();
    file.set("tracker.timeout", "1m").unwrap();
    assert_eq!(
        file.text(),
        "# my settings\n\n[loop]\n# four cores\njobs = 3 # was 1\nskip_types = [\"epic\"]\n\n[tracker] # beads\ncommand = \"bd\"\ntimeout = \"1m\"\n"
    );
}

#[test]
fn set_works_through_dotted_keys_and_inline_tables() {
    let (_dir, mut file) = file_with("loop.jobs = 2\ntracker = { command = \"br\" }\n");
    file.set("loop.retry.max", "5").unwrap();
    file.set("tracker.timeout", "5s").unwrap();
    assert_eq!(file.get("loop.retry.max").unwrap(), Some("5".into()));
    assert_eq!(file.get("tracker.timeout").unwrap(), Some("5s".into()));
    assert!(
        file.text()
            .contains("tracker = { command = \"br\", timeout = \"5s\" }"),
        "{}",
        file.text()
    );
    let config: crate::config::Config = toml::from_str(&file.text()).unwrap();
    assert_eq!(config.looping.retry.max, 5);
    assert_eq!(config.looping.jobs.get(), 2);
}

#[test]
fn maps_round_trip_whole_and_by_entry() {
    let (_dir, mut file) = file_with("");
    file.set("loop.model.by_priority", "P0=opus,P1=sonnet")
        .unwrap();
    assert_eq!(
        file.get("loop.model.by_priority").unwrap(),
        Some("P0=opus,P1=sonnet".into())
    );
    assert_eq!(
        file.get("loop.model.by_priority.P1").unwrap(),
        Some("sonnet".into())
    );
    assert_eq!(file.get("loop.model.by_priority.P2").unwrap(), None);

    file.set("loop.model.by_priority.P2", "haiku").unwrap();
    assert_eq!(
        file.get("loop.model.by_priority").unwrap(),
        Some("P0=opus,P1=sonnet,P2=haiku".into())
    );
    file.set("loop.model.by_priority.P0", "").unwrap();
    assert_eq!(
        file.get("loop.model.by_priority").unwrap(),
        Some("P1=sonnet,P2=haiku".into())
    );
    file.set("loop.model.by_priority", "P4=x").unwrap();
    assert_eq!(
        file.get("loop.model.by_priority").unwrap(),
        Some("P4=x".into())
    );
}

#[test]
fn a_map_entry_creates_the_map_as_a_table() {
    let (_dir, mut file) = file_with("");
    file.set("loop.model.by_type.bug", "opus").unwrap();
    assert_eq!(file.text(), "[loop.model.by_type]\nbug = \"opus\"\n");
    file.set("loop.model.by_type", "chore=haiku,bug=opus")
        .unwrap();
    assert_eq!(
        file.text(),
        "[loop.model.by_type]\nbug = \"opus\"\nchore = \"haiku\"\n"
    );
}

#[test]
fn a_priority_outside_p0_to_p4_is_refused_naming_the_allowed_keys() {
    let (_dir, mut file) = file_with("");
    let err = file.set("loop.model.by_priority.P9", "x").unwrap_err();
    assert_eq!(
        err.hint().unwrap(),
        "for example `hew config set loop.model.by_priority.P0 opus`"
    );
    let message = err.to_string();
    assert!(
        message.contains("`P9`") && message.contains("P0, P1, P2, P3, P4"),
        "{message}"
    );
    assert_eq!(file.text(), "");
}

#[test]
fn an_empty_value_clears_scalars_and_empties_lists_and_maps() {
    let (_dir, mut file) = file_with(
        "[loop]\njobs = 3\nskip_types = [\"epic\"]\n[loop.model]\ndefault = \"opus\"\nby_type = { bug = \"x\" }\n",
    );
    file.set("loop.jobs", "").unwrap();
    file.set("loop.model.default", "").unwrap();
    file.set("loop.skip_types", "").unwrap();
    file.set("loop.model.by_type", "").unwrap();
    assert_eq!(file.get("loop.jobs").unwrap(), None);
    assert_eq!(file.get("loop.model.default").unwrap(), None);
    assert_eq!(file.get("loop.skip_types").unwrap(), Some(String::new()));
    assert_eq!(file.get("loop.model.by_type").unwrap(), Some(String::new()));
    assert_eq!(
        file.text(),
        "[loop]\nskip_types = []\n[loop.model]\nby_type = {}\n"
    );
}

#[test]
fn unset_removes_keys_and_entries() {
    let (_dir, mut file) =
        file_with("[loop]\njobs = 3\n[loop.model.by_priority]\nP0 = \"opus\"\nP1 = \"x\"\n");
    assert!(file.unset("loop.jobs").unwrap());
    assert!(!file.unset("loop.jobs").unwrap());
    assert!(file.unset("loop.model.by_priority.P0").unwrap());
    assert_eq!(
        file.get("loop.model.by_priority").unwrap(),
        Some("P1=x".into())
    );
    assert!(file.unset("loop.model.by_priority").unwrap());
    assert_eq!(file.get("loop.model.by_priority.P1").unwrap(), None);
}

#[test]
fn bad_values_are_refused_and_leave_the_file_alone() {
    let text = "[loop]\njobs = 2\n";
    let (_dir, mut file) = file_with(text);
    let hint = file.set("loop.jobs", "0").unwrap_err().hint().unwrap();
    assert_eq!(hint, "for example `hew config set loop.jobs 4`");
    for (key, value) in [
        ("loop.jobs", "0"),
        ("loop.agent.timeout", "soon"),
        ("loop.agent.runtime", "gpt"),
    ] {
        let message = file.set(key, value).unwrap_err().to_string();
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(message.contains("config.toml"), "{message}");
    }
    assert_eq!(file.text(), text);
}

#[test]
fn unknown_keys_are_refused_with_a_hint() {
    let (_dir, mut file) = file_with("");
    let err = file.set("loop.jbos", "2").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unknown key `loop.jbos` in `{}`", file.path().display())
    );
    assert!(err.hint().unwrap().contains("`loop.jobs`"));
    assert!(file.get("nope").is_err());
}

#[test]
fn an_edit_that_leaves_another_bad_key_is_refused_but_the_bad_keys_can_be_removed() {
    let (_dir, mut file) = file_with("[loop]\njobs = 0\n[tracker]\ntimeout = 'soon'\n");
    let message = file.set("tracker.command", "br").unwrap_err().to_string();
    assert!(
        message.contains("`loop.jobs`") && message.contains("line 2"),
        "{message}"
    );
    file.unset("loop.jobs").unwrap();
    assert!(
        file.set("tracker.command", "br").is_err(),
        "tracker.timeout is still bad"
    );
    file.unset("tracker.timeout").unwrap();
    file.set("tracker.command", "br").unwrap();
}

#[test]
fn malformed_toml_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    fs::write(&path, "[loop]\njobs = 2\nskip_types = [\"epic\"\n").unwrap();
    let err = ConfigFile::open(&path).unwrap_err();
    match &err {
        ConfigError::Malformed {
            path: p,
            line,
            column,
            ..
        } => {
            assert_eq!(p, &path);
            assert_eq!((*line, *column), (3, 21), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("line 3, column 21: unclosed array"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn save_writes_through_a_symlink_and_keeps_permissions() {
    use std::os::unix::fs::{PermissionsExt, symlink};

    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("dotfiles/hew.toml");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, "[loop]\njobs = 2\n").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("config.toml");
    symlink(&real, &link).unwrap();

    let mut file = ConfigFile::open(&link).unwrap();
    file.set("loop.jobs", "3").unwrap();
    file.save().unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), "[loop]\njobs = 3\n");
    assert_eq!(
        fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn prices_are_set_and_removed_one_by_one_with_dotted_model_names() {
    let (_dir, mut file) = file_with("");
    file.set("prices.claude-opus-4-5.input", "5").unwrap();
    file.set("prices.\"gpt-5.1\".cache_read", "0.125").unwrap();
    assert_eq!(
        file.text(),
        "[prices.claude-opus-4-5]\ninput = 5.0\n\n[prices.\"gpt-5.1\"]\ncache_read = 0.125\n"
    );
    assert_eq!(
        file.get("prices.gpt-5.1.cache_read").unwrap(),
        Some("0.125".into())
    );
    assert!(file.set("prices.opus.input", "-1").is_err());
    assert!(file.set("prices.opus.inputs", "1").is_err());
    assert!(file.unset("prices.\"gpt-5.1\".cache_read").unwrap());
    file.set("prices.claude-opus-4-5.input", "").unwrap();
    let config: crate::config::Config = toml::from_str(&file.text()).unwrap();
    assert!(
        config
            .prices
            .values()
            .all(|p| p.input.is_none() && p.cache_read.is_none())
    );

    file.set("prices", "opus.output=20").unwrap();
    let config: crate::config::Config = toml::from_str(&file.text()).unwrap();
    assert_eq!(config.prices.len(), 1);
    assert_eq!(config.prices["opus"].output, Some(20.0));
}

/// Random keys, values and file contents never panic `set`, `get`, `unset` or loading, and
/// a refused `set` leaves the file as it was.
#[test]
fn fuzz_config_paths_values_and_files_never_panic() {
    use crate::fuzz::{Rng, iterations};
    const KEYS: [&str; 14] = [
        "prices.opus.input",
        "prices.\"gpt-5.1\".cache_read",
        "prices",
        "loop.budget.usd",
        "loop.model.by_priority.P1",
        "loop.model.by_priority",
        "loop.model.by_type.bug",
        "loop.agent.timeout",
        "loop.jobs",
        "loop.skip_types",
        "tracker.command",
        "loop..model",
        "loop.model.by_priority.P9.x",
        "",
    ];
    const VALUES: [&str; 10] = [
        "opus.input=5,\"gpt-5.1\".output=10",
        "0.125",
        "P0=opus,P1=sonnet",
        "45m",
        "4",
        "[\"a\", \"b\"]",
        "epic,chore",
        "",
        "=,=",
        "true",
    ];
    const FILES: [&str; 6] = [
        "[prices.opus]\ninput = 5.0\n[prices.\"gpt-5.1\"]\noutput = 10\n[loop.budget]\nusd = 2.5\n",
        "[loop]\njobs = 3 # three\n[loop.model]\nby_priority = { P0 = \"opus\" }\n",
        "[loop.agent]\ntimeout = \"45m\"\nruntime = \"codex\"\n",
        "[tracker]\ncommand = \"br\"\n",
        "loop = 3\n",
        "[loop\n",
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for seed in 0..iterations(400) {
        let mut rng = Rng::new(seed);
        let text = rng.mutate(&FILES);
        std::fs::write(&path, &text).unwrap();
        let _ = crate::config::load(&crate::config::LoadOptions {
            paths: crate::config::ConfigPaths {
                user: None,
                project: Some(path.clone()),
            },
            env: vec![],
            overrides: vec![],
        });
        let Ok(mut file) = ConfigFile::open(&path) else {
            continue;
        };
        let key = String::from_utf8_lossy(&rng.mutate(&KEYS)).into_owned();
        let value = String::from_utf8_lossy(&rng.mutate(&VALUES)).into_owned();
        let _ = file.get(&key);
        let before = file.text();
        if file.set(&key, &value).is_err() {
            assert_eq!(file.text(), before, "a refused set changed the document");
        }
        let _ = file.unset(&key);
    }
}
