//! `hew prices`: the table hew charges at, its date, the 5-minute and 1-hour write prices,
//! and the user's overrides marked as such, as a table and as JSON.

use hew_tests::TestRepo;
use serde_json::Value;

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// The cells of the table row whose model cell starts with `model`.
fn cells(table: &str, model: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.split("  ").next() == Some(model) || l.starts_with(&format!("{model} (")))
        .unwrap_or_else(|| panic!("no row for {model} in:\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn model<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["models"]
        .as_array()
        .expect("models is an array")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {json:#}"))
}

const OVERRIDES: &str = r#"
[prices.claude-haiku-4-5]
cache_write_1h = 2.5

[prices."my-proxy-model"]
input = 0.5
output = 1.5
"#;

#[test]
fn the_table_shows_its_date_write_durations_and_overrides() {
    let repo = TestRepo::new();
    let plain = stdout(&repo.hew().arg("prices").assert().success());
    let first = plain.lines().next().unwrap_or_default();
    assert!(first.starts_with("Prices as of 20"), "{plain}");
    let header = plain
        .lines()
        .find(|l| l.starts_with("MODEL"))
        .unwrap_or_else(|| panic!("no header in:\n{plain}"));
    for column in [
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "WRITE 5M",
        "WRITE 1H",
        "FAST",
        "WEB SEARCH",
    ] {
        assert!(header.contains(column), "{column} missing: {header}");
    }
    // Haiku 4.5 at its list price: $1 in, $5 out, $0.10 read, $1.25 5-minute and $2
    // 1-hour writes, $10 per 1,000 searches.
    assert_eq!(
        cells(&plain, "claude-haiku-4-5"),
        [
            "claude-haiku-4-5",
            "1",
            "5",
            "0.1",
            "1.25",
            "2",
            "-",
            "10",
            "built-in"
        ]
    );
    assert!(!plain.contains("my-proxy-model"), "{plain}");

    repo.write_project_config(OVERRIDES);
    let over = stdout(&repo.hew().arg("prices").assert().success());
    assert_eq!(
        cells(&over, "claude-haiku-4-5"),
        [
            "claude-haiku-4-5",
            "1",
            "5",
            "0.1",
            "1.25",
            "2.5",
            "-",
            "10",
            "built-in + override"
        ]
    );
    assert_eq!(
        cells(&over, "my-proxy-model"),
        [
            "my-proxy-model",
            "0.5",
            "1.5",
            "-",
            "-",
            "1",
            "-",
            "-",
            "override"
        ]
    );
}

#[test]
fn json_parses_with_every_price_and_its_origin() {
    let repo = TestRepo::new();
    repo.write_project_config(OVERRIDES);
    let out = stdout(&repo.hew().args(["prices", "--json"]).assert().success());
    let json: Value = serde_json::from_str(&out).expect("hew prices --json prints JSON");

    let as_of = json["as_of"].as_str().expect("as_of is a date");
    assert_eq!(as_of.len(), "2026-01-01".len(), "{as_of}");
    assert!(!json["sources"].as_array().unwrap().is_empty());

    let haiku = model(&json, "claude-haiku-4-5");
    assert_eq!(haiku["origin"], "built_in_overridden");
    assert_eq!(haiku["input"], 1.0);
    assert_eq!(haiku["cache_write"], 1.25);
    assert_eq!(haiku["cache_write_1h"], 2.5);
    assert_eq!(haiku["cache_read"], 0.1);
    assert_eq!(haiku["web_search"], 10.0);

    let proxy = model(&json, "my-proxy-model");
    assert_eq!(proxy["origin"], "override");
    assert_eq!(proxy["input"], 0.5);
    assert_eq!(proxy["cache_read"], Value::Null);

    // Every row carries every field, `null` where there is no price.
    for m in json["models"].as_array().unwrap() {
        for field in [
            "name",
            "aliases",
            "origin",
            "input",
            "output",
            "cache_read",
            "cache_write",
            "cache_write_1h",
            "web_search",
            "fast_multiplier",
            "unpriced",
            "long_context_tiered",
        ] {
            assert!(m.get(field).is_some(), "{field} missing from {m}");
        }
    }
    // The fast-mode multiplier is given where the table has one.
    assert!(
        json["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["fast_multiplier"].as_f64().is_some_and(|x| x > 1.0)),
        "{json:#}"
    );
}
