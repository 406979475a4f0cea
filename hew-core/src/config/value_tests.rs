//! Text to value and back, for every kind.

use super::*;
use crate::config::keys::find_key;

fn origin() -> Origin {
    Origin::file("/c.toml")
}

/// `set`'s text for `key`, rendered back as `get` shows it (`None`: cleared).
fn round_trip(key: &str, raw: &str) -> Option<String> {
    let def = find_key(key).unwrap();
    from_text(def, raw, &origin()).unwrap().map(|v| render(&v))
}

/// The TOML `set` would store for `key`.
fn stored(key: &str, raw: &str) -> String {
    let def = find_key(key).unwrap();
    from_text(def, raw, &origin()).unwrap().unwrap().to_string()
}

fn refused(key: &str, raw: &str) -> ConfigError {
    let def = find_key(key).unwrap();
    from_text(def, raw, &origin()).unwrap_err()
}

#[test]
fn strings_and_paths_are_kept_as_given() {
    assert_eq!(stored("tracker.command", "br"), "\"br\"");
    assert_eq!(
        round_trip("tracker.command", "/opt/bd v2"),
        Some("/opt/bd v2".into())
    );
    assert_eq!(
        round_trip("loop.worktree.dir", "/tmp/wt"),
        Some("/tmp/wt".into())
    );
}

#[test]
fn integers_are_checked_against_their_range() {
    assert_eq!(stored("loop.jobs", "4"), "4");
    assert_eq!(round_trip("loop.retry.max", " 0 "), Some("0".into()));
    for bad in ["0", "-1", "two", "1.5", "4294967296"] {
        let err = refused("loop.jobs", bad);
        let message = err.to_string();
        assert!(
            message.contains("`loop.jobs`") && message.contains("/c.toml"),
            "{message}"
        );
        assert!(message.contains("at least 1"), "{message}");
    }
}

#[test]
fn bools_are_true_or_false() {
    assert_eq!(stored("loop.worktree.reuse", "false"), "false");
    assert_eq!(
        round_trip("loop.worktree.reuse", "true"),
        Some("true".into())
    );
    assert!(matches!(
        refused("loop.worktree.reuse", "yes"),
        ConfigError::InvalidValue { .. }
    ));
}

#[test]
fn durations_are_checked_and_stored_as_strings() {
    assert_eq!(stored("loop.agent.timeout", "45m"), "\"45m\"");
    assert_eq!(
        round_trip("loop.agent.grace", " 1h30m "),
        Some("1h30m".into())
    );
    let message = refused("loop.agent.timeout", "45").to_string();
    assert!(
        message.contains("`loop.agent.timeout`") && message.contains("duration"),
        "{message}"
    );
}

#[test]
fn enums_accept_their_values_only() {
    assert_eq!(stored("loop.agent.runtime", "codex"), "\"codex\"");
    let message = refused("loop.agent.runtime", "gpt").to_string();
    assert!(
        message.contains("`claude`, `codex`, `command`"),
        "{message}"
    );
}

#[test]
fn lists_read_commas_or_a_toml_array() {
    assert_eq!(
        stored("loop.skip_types", "epic, chore"),
        r#"["epic", "chore"]"#
    );
    assert_eq!(
        stored("loop.skip_types", r#"["a,b", ""]"#),
        r#"["a,b", ""]"#
    );
    assert_eq!(stored("loop.skip_types", ""), "[]");
    assert_eq!(
        round_trip("loop.skip_types", "epic,chore"),
        Some("epic,chore".into())
    );
    assert_eq!(round_trip("loop.skip_types", ""), Some(String::new()));
    assert_eq!(
        round_trip("loop.skip_types", r#"["a,b", "c"]"#),
        Some(r#"["a,b", "c"]"#.into())
    );
    assert_eq!(
        round_trip("loop.agent.command", r#"["x", ""]"#),
        Some(r#"["x", ""]"#.into())
    );
    assert!(matches!(
        refused("loop.skip_types", "a,,b"),
        ConfigError::InvalidValue { .. }
    ));
    assert!(matches!(
        refused("loop.skip_types", "[1, 2]"),
        ConfigError::InvalidValue { .. }
    ));
    assert!(matches!(
        refused("loop.skip_types", "[oops"),
        ConfigError::InvalidValue { .. }
    ));
}

#[test]
fn maps_read_pairs_and_render_sorted() {
    let key = "loop.model.by_priority";
    assert_eq!(
        stored(key, "P1=sonnet, P0=opus"),
        r#"{ P0 = "opus", P1 = "sonnet" }"#
    );
    assert_eq!(
        round_trip(key, "P1=sonnet,P0=opus"),
        Some("P0=opus,P1=sonnet".into())
    );
    assert_eq!(round_trip(key, ""), Some(String::new()));
    assert_eq!(
        round_trip(key, r#"{ P2 = "a,b" }"#),
        Some(r#"{ P2 = "a,b" }"#.into())
    );
    assert_eq!(
        round_trip("loop.model.by_type", "bug=opus,my-type=x"),
        Some("bug=opus,my-type=x".into())
    );
    assert!(matches!(
        refused(key, "P0"),
        ConfigError::InvalidValue { .. }
    ));
    assert!(matches!(
        refused(key, "P0=a,P0=b"),
        ConfigError::InvalidValue { .. }
    ));
    assert!(matches!(
        refused("loop.model.by_type", "a b=x"),
        ConfigError::MapKey { .. }
    ));
}

#[test]
fn map_keys_outside_the_allowed_set_are_named() {
    let err = refused("loop.model.by_priority", "P0=opus,P9=x");
    let message = err.to_string();
    assert!(
        message.contains("`P9`") && message.contains("P0, P1, P2, P3, P4"),
        "{message}"
    );
    assert!(
        err.hint()
            .unwrap()
            .contains("loop.model.by_priority.P0 opus")
    );
}

#[test]
fn empty_text_clears_scalars() {
    for key in [
        "tracker.command",
        "loop.jobs",
        "loop.model.default",
        "loop.agent.timeout",
        "loop.agent.runtime",
    ] {
        assert_eq!(round_trip(key, ""), None, "{key}");
    }
    assert!(entry_from_text("").is_none());
    assert_eq!(
        entry_from_text("opus").map(|v| render(&v)),
        Some("opus".into())
    );
}

#[test]
fn file_values_are_checked_by_kind() {
    let text = "a = 0\nb = '45x'\nc = ['x', 1]\nd = { P7 = 'x' }\ne = 'claude'\n";
    let doc = toml_edit::Document::parse(text).unwrap();
    let site = Site {
        origin: &origin(),
        text,
    };
    let check_key = |key: &str, field: &str| check(find_key(key).unwrap(), &doc[field], &site);

    let err = check_key("loop.jobs", "a").unwrap_err().to_string();
    assert!(
        err.contains("`loop.jobs`") && err.contains("line 1, column 5"),
        "{err}"
    );
    let err = check_key("tracker.timeout", "b").unwrap_err().to_string();
    assert!(err.contains("\"45x\"") && err.contains("line 2"), "{err}");
    assert!(check_key("loop.skip_types", "c").is_err());
    let err = check_key("loop.model.by_priority", "d")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`P7`") && err.contains("line 4, column 7"),
        "{err}"
    );
    assert!(check_key("loop.agent.runtime", "e").is_ok());
    assert!(check_key("loop.jobs", "e").is_err());
}

#[test]
fn every_example_converts_and_loads_into_the_config() {
    for def in crate::config::keys::keys() {
        let value = from_text(def, def.example, &origin()).unwrap().unwrap();
        let text = match def.path.rsplit_once('.') {
            Some((section, leaf)) => format!("[{section}]\n{leaf} = {value}\n"),
            None => format!("{} = {value}\n", def.path),
        };
        let parsed: Result<crate::config::Config, _> = toml::from_str(&text);
        assert!(parsed.is_ok(), "{text}: {:?}", parsed.err());
    }
}

#[test]
fn literals_of_the_wrong_kind_are_refused_quoting_the_text() {
    let message = refused("loop.skip_types", "[1, 2]").to_string();
    assert!(message.contains("found `[1, 2]`"), "{message}");
    assert_eq!(
        round_trip("loop.agent.command", "{prompt_file}"),
        Some("{prompt_file}".into())
    );
    let message = refused("loop.model.by_type", "[\"x\"]").to_string();
    assert!(message.contains("found `[\"x\"]`"), "{message}");
    let err = refused("loop.model.by_priority", "{ P9 = 'x' }");
    assert!(matches!(err, ConfigError::MapKey { .. }), "{err}");
}

#[test]
fn numbers_take_decimals_and_refuse_negatives() {
    assert_eq!(stored("loop.budget.usd", "5"), "5.0");
    assert_eq!(round_trip("loop.budget.usd", " 0.25 "), Some("0.25".into()));
    assert_eq!(round_trip("loop.budget.usd", ""), None);
    for bad in ["-1", "five", "NaN", "inf"] {
        let message = refused("loop.budget.usd", bad).to_string();
        assert!(message.contains("`loop.budget.usd`"), "{message}");
    }
    assert_eq!(stored("loop.budget.tokens", "2000000"), "2000000");
    assert!(matches!(
        refused("loop.budget.tokens", "0"),
        ConfigError::InvalidValue { .. }
    ));
}

#[test]
fn prices_read_pairs_or_a_toml_table() {
    assert_eq!(
        stored(
            "prices",
            "opus.input=5, opus.output=25,\"gpt-5.1\".cache_read=0.125"
        ),
        "{ \"gpt-5.1\" = { cache_read = 0.125 }, opus = { input = 5.0, output = 25.0 } }"
    );
    assert_eq!(
        stored("prices", "{ haiku = { input = 1, cache_write = 1.25 } }"),
        "{ haiku = { cache_write = 1.25, input = 1.0 } }"
    );
    assert_eq!(stored("prices", ""), "{}");
    let err = refused("prices", "opus.price=5");
    assert!(matches!(err, ConfigError::MapKey { .. }), "{err}");
    assert!(err.to_string().contains("cache_write"), "{err}");
    assert!(matches!(
        refused("prices", "opus.input=-5"),
        ConfigError::InvalidValue { .. }
    ));
    assert!(matches!(
        refused("prices", "opus.input=1,opus.input=2"),
        ConfigError::InvalidValue { .. }
    ));
    assert!(matches!(
        refused("prices", "{ opus = 5 }"),
        ConfigError::InvalidValue { .. }
    ));
}
