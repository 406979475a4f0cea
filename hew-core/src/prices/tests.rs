use std::collections::{BTreeMap, HashSet};

use super::*;

fn tokens(input: u64, output: u64, cache_read: u64, cache_create: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_create,
        ..Default::default()
    }
}

fn usage(models: &[(&str, Tokens)]) -> Usage {
    let per_model: BTreeMap<String, Tokens> =
        models.iter().map(|(m, t)| ((*m).to_owned(), *t)).collect();
    let mut total = Tokens::default();
    for t in per_model.values() {
        total.add(t);
    }
    Usage {
        total,
        per_model,
        source: UsageSource::Result,
    }
}

#[test]
fn the_builtin_table_parses_is_dated_and_names_are_unique() {
    let table: PriceTable = toml::from_str(BUILTIN_PRICES).unwrap();
    assert_eq!(table.as_of.len(), "2026-11-22".len());
    assert!(!table.sources.is_empty());
    let mut seen = HashSet::new();
    for m in &table.models {
        for name in std::iter::once(&m.name).chain(&m.aliases) {
            assert!(seen.insert(name.clone()), "`{name}` is listed twice");
            assert_eq!(*name, parse(name).base, "`{name}` is not in canonical form");
        }
        let p = m.price;
        let prices = [p.input, p.output, p.cache_write, p.cache_read];
        if m.unpriced.is_some() {
            assert_eq!(p, ModelPrice::default(), "{} is unpriced", m.name);
        } else {
            assert!(p.input.is_some() && p.output.is_some() && p.cache_read.is_some());
        }
        assert!(prices.iter().flatten().all(|x| x.is_finite() && *x >= 0.0));
    }
}

#[test]
fn reference_prices_by_canonical_name_alias_and_dated_id() {
    let prices = Prices::default();
    let p = |m: &str| prices.price(m);
    let opus45 = ModelPrice {
        input: Some(5.0),
        output: Some(25.0),
        cache_write: Some(6.25),
        cache_write_1h: Some(10.0),
        cache_read: Some(0.5),
        web_search: Some(10.0),
    };
    assert_eq!(p("claude-opus-4-5-20251101"), Some(opus45));
    assert_eq!(p("claude-opus-4-8"), Some(opus45));
    assert_eq!(
        p("us.anthropic.claude-opus-4-5-20251101-v1:0"),
        Some(opus45)
    );
    assert_eq!(p("claude-opus-4-20250514").unwrap().input, Some(15.0));
    assert_eq!(p("claude-opus-4-1-20250805").unwrap().output, Some(75.0));
    let sonnet45 = p("claude-sonnet-4-5-20250929").unwrap();
    assert_eq!(
        (
            sonnet45.input,
            sonnet45.output,
            sonnet45.cache_write,
            sonnet45.cache_read
        ),
        (Some(3.0), Some(15.0), Some(3.75), Some(0.3))
    );
    let haiku45 = p("claude-haiku-4-5-20251001").unwrap();
    assert_eq!(
        (haiku45.input, haiku45.cache_write),
        (Some(1.0), Some(1.25))
    );
    let gpt5 = p("gpt-5").unwrap();
    assert_eq!(
        (gpt5.input, gpt5.output, gpt5.cache_read, gpt5.cache_write),
        (Some(1.25), Some(10.0), Some(0.125), None)
    );
    assert_eq!(p("gpt-5-codex"), Some(gpt5));
    assert_eq!(p("gpt-5-2025-08-07"), Some(gpt5));
    assert_eq!(p("gpt-5-mini").unwrap().input, Some(0.25));
    // Aliases are the models Claude Code resolves them to on the table's date.
    assert_eq!(p("opus"), p("claude-opus-5-5"));
    assert_eq!(p("sonnet").unwrap().input, Some(2.0));
    assert_eq!(canonical_name("opus"), Some("claude-opus-5-5"));
    assert_eq!(
        canonical_name("claude-sonnet-4-5-20250929[1m]"),
        Some("claude-sonnet-4-5")
    );
}

#[test]
fn unknown_and_unpriceable_models_have_no_price() {
    let prices = Prices::default();
    for model in [
        "gpt-9",
        "claude-opus-4-5x",
        "gpt-5.1-codex-max",
        "(default)",
        "",
        // Billed per request by prompt length: no exact figure from session totals.
        "haiku",
        "claude-haiku-5-5",
        // The 1M-context variant of a model with a long-context surcharge.
        "claude-sonnet-4-5-20250929[1m]",
    ] {
        assert_eq!(prices.price(model), None, "{model}");
    }
    // Where the 1M context costs the same, the suffix does not matter.
    assert_eq!(
        prices.price("claude-opus-4-6[1m]"),
        prices.price("claude-opus-4-6")
    );
}

#[test]
fn overrides_replace_fields_and_price_unknown_models() {
    let overrides: BTreeMap<String, ModelPrice> = [
        (
            "claude-opus-4-5-20251101".to_owned(),
            ModelPrice {
                input: Some(6.0),
                ..ModelPrice::default()
            },
        ),
        (
            "my-local-model".to_owned(),
            ModelPrice {
                input: Some(0.5),
                output: Some(1.0),
                ..ModelPrice::default()
            },
        ),
        (
            "claude-sonnet-4-5[1m]".to_owned(),
            ModelPrice {
                input: Some(6.0),
                output: Some(22.5),
                cache_write: Some(7.5),
                cache_read: Some(0.6),
                ..ModelPrice::default()
            },
        ),
        (
            "haiku".to_owned(),
            ModelPrice {
                input: Some(0.1),
                output: Some(0.5),
                cache_write: Some(0.125),
                cache_read: Some(0.01),
                ..ModelPrice::default()
            },
        ),
    ]
    .into();
    let prices = Prices::new(&overrides);
    let opus = prices.price("claude-opus-4-5").unwrap();
    assert_eq!((opus.input, opus.output), (Some(6.0), Some(25.0)));
    let local = prices.price("My-Local-Model").unwrap();
    assert_eq!((local.input, local.cache_read), (Some(0.5), None));
    assert_eq!(
        prices
            .price("claude-sonnet-4-5-20250929[1m]")
            .unwrap()
            .input,
        Some(6.0)
    );
    assert_eq!(prices.price("claude-sonnet-4-5").unwrap().input, Some(3.0));
    assert_eq!(
        prices.price("claude-haiku-5-5").unwrap().cache_read,
        Some(0.01)
    );

    // A kind of token without a price makes that model's cost unknown, only if used.
    let local_only = usage(&[("my-local-model", tokens(1_000_000, 1_000_000, 0, 0))]);
    assert_eq!(prices.cost(&local_only).total, Some(1.5));
    let with_cache = usage(&[("my-local-model", tokens(1, 1, 1, 0))]);
    assert_eq!(prices.cost(&with_cache).total, None);
}

#[test]
fn cost_is_per_model_and_unknown_never_zero() {
    let prices = Prices::default();
    // The fake agent's default run: sonnet 4.5 main loop, haiku 4.5 subagent.
    let u = usage(&[
        ("claude-sonnet-4-5-20250929", tokens(1200, 450, 15000, 3000)),
        ("claude-haiku-4-5-20251001", tokens(800, 120, 2000, 0)),
    ]);
    let cost = prices.cost(&u);
    assert_eq!(cost.per_model["claude-sonnet-4-5-20250929"], Some(0.0261));
    assert_eq!(cost.per_model["claude-haiku-4-5-20251001"], Some(0.0016));
    assert_eq!(cost.total, Some(0.0277));

    let mixed = usage(&[
        ("claude-opus-4-5", tokens(10, 10, 0, 0)),
        ("mystery-model", tokens(10, 0, 0, 0)),
        ("idle-model", tokens(0, 0, 0, 0)),
    ]);
    let cost = prices.cost(&mixed);
    assert_eq!(cost.total, None);
    assert_eq!(cost.per_model["mystery-model"], None);
    assert_eq!(cost.per_model["idle-model"], Some(0.0));
    assert!(cost.per_model["claude-opus-4-5"].is_some());

    assert_eq!(prices.cost(&Usage::unknown()).total, None);

    // Codex: cached input at the cached rate, no cache writes.
    let codex = usage(&[("gpt-5", tokens(3000, 800, 9000, 0))]);
    assert_eq!(prices.cost(&codex).total, Some(0.012875));
}

#[test]
fn sums_in_nanos_are_exact() {
    let parts = [0.1, 0.2, 0.3, 0.0277, 1e-9];
    let nanos: u64 = parts.iter().map(|p| usd_to_nanos(*p)).sum();
    assert_eq!(nanos, 627_700_001);
    assert_eq!(nanos_to_usd(nanos), 0.627700001);
}

#[test]
fn rows_show_the_table_under_overrides_and_mark_where_prices_come_from() {
    let overrides: BTreeMap<String, ModelPrice> = [
        (
            "sonnet".to_owned(),
            ModelPrice {
                cache_read: Some(0.5),
                ..ModelPrice::default()
            },
        ),
        (
            "my-proxy-model".to_owned(),
            ModelPrice {
                input: Some(1.0),
                output: Some(2.0),
                ..ModelPrice::default()
            },
        ),
    ]
    .into();
    let rows = Prices::new(&overrides).rows();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    };

    let haiku = row("claude-haiku-4-5");
    assert_eq!(haiku.origin, PriceOrigin::BuiltIn);
    assert_eq!((haiku.input, haiku.cache_write), (Some(1.0), Some(1.25)));
    assert_eq!(haiku.cache_write_1h, Some(2.0));

    // The alias's override lands on the model it stands for, field by field.
    let sonnet = rows
        .iter()
        .find(|r| r.aliases.iter().any(|a| a == "sonnet"))
        .unwrap();
    assert_eq!(sonnet.origin, PriceOrigin::BuiltInOverridden);
    assert_eq!(sonnet.cache_read, Some(0.5));
    assert!(sonnet.input.is_some());

    let proxy = row("my-proxy-model");
    assert_eq!(proxy.origin, PriceOrigin::Override);
    assert_eq!((proxy.input, proxy.cache_read), (Some(1.0), None));
    // The 1-hour write price a row leaves out is the 2x input hew charges.
    assert_eq!(proxy.cache_write_1h, Some(2.0));

    // A model listed without prices shows none, and says why.
    let unpriced = rows.iter().find(|r| r.unpriced.is_some()).unwrap();
    assert_eq!((unpriced.input, unpriced.output), (None, None));
}

/// Every model the pinned CLIs offer (Claude Code 2.1.328's catalog and aliases, Codex
/// 0.169.0's model list) is in the table: priced, or listed with the reason it is not.
#[test]
fn every_model_the_pinned_clis_offer_is_listed() {
    let table = PriceTable::builtin();
    let claude = [
        "fable",
        "opus",
        "sonnet",
        "haiku",
        "claude-fable-5-2",
        "claude-fable-5-1",
        "claude-fable-5",
        "claude-mythos-5-2",
        "claude-mythos-5-1",
        "claude-mythos-5",
        "claude-opus-5-5",
        "claude-opus-5",
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-opus-4-6",
        "claude-opus-4-5",
        "claude-opus-4-1",
        "claude-opus-4-0",
        "claude-sonnet-5-5",
        "claude-sonnet-5",
        "claude-sonnet-4-6",
        "claude-sonnet-4-5",
        "claude-sonnet-4-0",
        "claude-3-7-sonnet",
        "claude-3-5-sonnet",
        "claude-haiku-5-5",
        "claude-haiku-4-5",
        "claude-3-5-haiku",
    ];
    let codex = [
        "gpt-6-astra",
        "gpt-6.1-sol",
        "gpt-6.1-terra",
        "gpt-6-sol",
        "gpt-6-luna",
        "gpt-5.6-sol",
        "gpt-5.6-terra",
        "gpt-5.6-luna",
        "gpt-5.5",
    ];
    for name in claude.iter().chain(&codex) {
        assert!(table.find(name).is_some(), "{name} is not in the table");
    }

    let prices = Prices::default();
    // `fable` is Fable 5.2, whose fast mode costs twice the standard rate.
    let fable = prices.price("fable").unwrap();
    assert_eq!((fable.input, fable.cache_read), (Some(8.0), Some(0.2)));
    let fast = prices.price("claude-fable-5-2[fast]").unwrap();
    assert_eq!((fast.input, fast.cache_write_1h), (Some(16.0), Some(32.0)));
    // Opus 4.8's fast mode is gone: no price rather than a guess.
    assert_eq!(prices.price("claude-opus-4-8[fast]"), None);
    // A Codex model whose default window passes the long-context line has no price.
    assert_eq!(prices.price("gpt-6.1-terra"), None);
    let sol = prices.price("gpt-6.1-sol[priority]").unwrap();
    assert_eq!((sol.input, sol.cache_write), (Some(4.0), Some(5.0)));
}
