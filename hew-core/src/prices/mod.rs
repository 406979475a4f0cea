//! What tokens cost: a dated built-in price table, the user's overrides, and the cost of
//! one agent run.
//!
//! Prices change, so they are data (`prices.toml`, compiled in) that config can override
//! field by field (`prices."<model>".input = 3.0`). A model is found by its canonical name
//! or an alias, whatever date or provider decoration the agent put on it (see
//! [`canonical_name`]). A model with no price, or a token kind with no price, makes the
//! cost unknown: hew never shows $0 for something it could not price.
//!
//! A token's price depends on more than its model: a cache write costs 1.25× input for
//! five minutes and 2× for an hour (a table that gives no 1-hour price gets 2× input, as
//! the providers' pages list it); fast mode multiplies every token price of the models
//! that offer it (`fast_multiplier`); an OpenAI service tier (`priority`, `flex`)
//! multiplies its model's prices by the table's `service_tiers`; web searches are billed
//! per request (`web_search`, USD per 1,000). The tier is recorded on the model name
//! (`claude-opus-4-6[fast]`, see [`with_tier`]), so its tokens are priced apart.

mod listing;
mod names;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use crate::agent::usage::with_tier;
use crate::agent::{Tokens, Usage, UsageSource};
pub use listing::{PriceOrigin, PriceRow};
use names::{ModelName, parse};
pub use names::{TIERS, canonical_name};

/// Prices of one model in USD per million tokens; a missing field is not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPrice {
    /// Input tokens neither read from nor written to the cache.
    pub input: Option<f64>,
    /// Output tokens, reasoning included.
    pub output: Option<f64>,
    /// Input tokens written to the 5-minute cache (and writes of no known duration).
    pub cache_write: Option<f64>,
    /// Input tokens written to the 1-hour cache; when not given, 2× `input`.
    pub cache_write_1h: Option<f64>,
    /// Input tokens read from the cache.
    pub cache_read: Option<f64>,
    /// Server-side web searches, USD per 1,000 requests.
    pub web_search: Option<f64>,
}

impl ModelPrice {
    /// These prices, with every field `upper` sets replacing this one's.
    pub fn overlaid(self, upper: &ModelPrice) -> ModelPrice {
        ModelPrice {
            input: upper.input.or(self.input),
            output: upper.output.or(self.output),
            cache_write: upper.cache_write.or(self.cache_write),
            cache_write_1h: upper.cache_write_1h.or(self.cache_write_1h),
            cache_read: upper.cache_read.or(self.cache_read),
            web_search: upper.web_search.or(self.web_search),
        }
    }

    /// The 1-hour cache write price: as given, or 2× input.
    pub fn cache_write_1h_or_default(&self) -> Option<f64> {
        self.cache_write_1h.or(self.input.map(|i| i * 2.0))
    }

    /// Every token price multiplied by `factor` (a speed or service tier); the per-request
    /// web search price stays.
    pub fn scaled(self, factor: f64) -> ModelPrice {
        let x = |p: Option<f64>| p.map(|p| p * factor);
        ModelPrice {
            input: x(self.input),
            output: x(self.output),
            cache_write: x(self.cache_write),
            cache_write_1h: x(self.cache_write_1h_or_default()),
            cache_read: x(self.cache_read),
            web_search: self.web_search,
        }
    }

    /// What `tokens` cost at these prices, in USD; `None` when some kind of token that
    /// was used has no price.
    pub fn cost(&self, tokens: &Tokens) -> Option<f64> {
        let part = |count: u64, price: Option<f64>| match count {
            0 => Some(0.0),
            n => price.map(|p| n as f64 * p),
        };
        // Unsplit writes are priced as 5-minute writes (see `Tokens`).
        let writes_5m = tokens.cache_create - tokens.cache_create_1h.min(tokens.cache_create);
        let micro = part(tokens.input, self.input)?
            + part(tokens.output, self.output)?
            + part(writes_5m, self.cache_write)?
            + part(tokens.cache_create_1h, self.cache_write_1h_or_default())?
            + part(tokens.cache_read, self.cache_read)?
            // USD per 1,000 requests is 1,000 USD-millionths per request.
            + part(tokens.web_search_requests, self.web_search.map(|p| p * 1000.0))?;
        Some(round_usd(micro / 1e6))
    }
}

/// Rounds to a billionth of a dollar, so sums of recorded costs are exact in
/// [`usd_to_nanos`] units.
pub fn round_usd(usd: f64) -> f64 {
    (usd * 1e9).round() / 1e9
}

/// A cost in billionths of a dollar, for exact sums.
pub fn usd_to_nanos(usd: f64) -> u64 {
    // Saturating float-to-int conversion; costs are never negative.
    (usd * 1e9).round() as u64
}

/// The inverse of [`usd_to_nanos`].
pub fn nanos_to_usd(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// One model of the built-in table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedModel {
    /// The canonical name (`claude-opus-4-5`).
    pub name: String,
    /// Other names it answers to (`opus`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Why the model is listed without prices, if it is.
    #[serde(default)]
    pub unpriced: Option<String>,
    /// Its `[1m]` variant bills long requests at a higher rate, so it has no price.
    #[serde(default)]
    pub long_context_tiered: bool,
    /// Fast mode's prices as a multiple of the standard ones; `None`: no known fast price.
    #[serde(default)]
    pub fast_multiplier: Option<f64>,
    /// The prices.
    #[serde(flatten)]
    pub price: ModelPrice,
}

/// The built-in price table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// The day the prices were checked (`2026-11-22`).
    pub as_of: String,
    /// Where they were checked.
    #[serde(default)]
    pub sources: Vec<String>,
    /// OpenAI service tiers (`priority`, `flex`) as multiples of the standard prices.
    #[serde(default)]
    pub service_tiers: BTreeMap<String, f64>,
    /// The models.
    #[serde(rename = "model", default)]
    pub models: Vec<PricedModel>,
}

/// The text of the built-in table.
pub const BUILTIN_PRICES: &str = include_str!("prices.toml");

impl PriceTable {
    /// The built-in table, parsed once. (A test checks that it parses; were it ever not
    /// to, every cost would read unknown rather than hew failing.)
    pub fn builtin() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            toml::from_str(BUILTIN_PRICES).unwrap_or_else(|_| PriceTable {
                as_of: "unknown".into(),
                sources: Vec::new(),
                service_tiers: BTreeMap::new(),
                models: Vec::new(),
            })
        })
    }

    /// The model called `name` after normalisation (see [`canonical_name`]).
    fn find(&self, name: &str) -> Option<&PricedModel> {
        self.models
            .iter()
            .find(|m| m.name == name || m.aliases.iter().any(|a| a == name))
    }
}

/// The prices in effect: the built-in table under the user's overrides.
#[derive(Debug, Clone)]
pub struct Prices {
    table: &'static PriceTable,
    /// Overrides by canonical name (with `[1m]` kept for a long-context variant).
    overrides: BTreeMap<String, ModelPrice>,
}

impl Default for Prices {
    fn default() -> Self {
        Self::new(&BTreeMap::new())
    }
}

impl Prices {
    /// The built-in table under `overrides` (config's `prices`, keyed by any model name
    /// or alias).
    pub fn new(overrides: &BTreeMap<String, ModelPrice>) -> Self {
        let table = PriceTable::builtin();
        let mut by_name: BTreeMap<String, ModelPrice> = BTreeMap::new();
        for (name, price) in overrides {
            let key = override_key(table, &parse(name));
            let merged = by_name
                .get(&key)
                .copied()
                .unwrap_or_default()
                .overlaid(price);
            by_name.insert(key, merged);
        }
        Self {
            table,
            overrides: by_name,
        }
    }

    /// The built-in table's date.
    pub fn as_of(&self) -> &str {
        &self.table.as_of
    }

    /// The built-in table.
    pub fn table(&self) -> &'static PriceTable {
        self.table
    }

    /// The user's overrides, by the name they apply under.
    pub fn overrides(&self) -> &BTreeMap<String, ModelPrice> {
        &self.overrides
    }

    /// What is known of `model`'s prices; `None` when nothing is. A `[tier]` suffix
    /// (see [`with_tier`]) gives the tier's prices: the standard ones times the model's
    /// `fast_multiplier` or the table's service tier multiplier, under any override of
    /// `model[tier]` itself.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        let name = parse(model);
        let entry = self
            .table
            .find(&name.base)
            .or_else(|| name.undated().and_then(|undated| self.table.find(undated)));
        let canonical = entry.map_or(name.base.as_str(), |e| e.name.as_str());
        let tiered = name.one_m && entry.is_some_and(|e| e.long_context_tiered);
        let mut price = match entry {
            Some(e) if !tiered && e.unpriced.is_none() => Some(e.price),
            _ => None,
        };
        let mut layers = Vec::new();
        if !tiered {
            layers.push(canonical.to_owned());
        }
        if name.one_m {
            layers.push(format!("{canonical}[1m]"));
        }
        for key in layers {
            if let Some(upper) = self.overrides.get(&key) {
                price = Some(price.unwrap_or_default().overlaid(upper));
            }
        }
        if let Some(tier) = name.tier.as_deref() {
            let factor = match tier {
                "fast" => entry.and_then(|e| e.fast_multiplier),
                other => self.table.service_tiers.get(other).copied(),
            };
            price = price.zip(factor).map(|(p, f)| p.scaled(f));
            let key = override_key(self.table, &name);
            if let Some(upper) = self.overrides.get(&key) {
                price = Some(price.unwrap_or_default().overlaid(upper));
            }
        }
        price.filter(|p| *p != ModelPrice::default())
    }

    /// What `usage` cost: per model, and in total. A model without a price (or
    /// [`DEFAULT_MODEL_KEY`](crate::agent::usage::DEFAULT_MODEL_KEY), when the model is
    /// not known) has an unknown cost, which makes the total unknown; a model that used
    /// no tokens costs nothing. Unknown usage has an unknown cost.
    pub fn cost(&self, usage: &Usage) -> Cost {
        if usage.source == UsageSource::Unknown {
            return Cost {
                total: None,
                per_model: BTreeMap::new(),
            };
        }
        let per_model: BTreeMap<String, Option<f64>> = usage
            .per_model
            .iter()
            .map(|(model, tokens)| {
                let cost = if tokens.is_empty() {
                    Some(0.0)
                } else {
                    self.price(model).and_then(|p| p.cost(tokens))
                };
                (model.clone(), cost)
            })
            .collect();
        let total = per_model
            .values()
            .try_fold(0u64, |sum, c| Some(sum.saturating_add(usd_to_nanos((*c)?))))
            .map(nanos_to_usd);
        Cost { total, per_model }
    }
}

/// The key an override applies under: the canonical name of the model it names (so
/// `opus` and `claude-opus-5-5-20260101` override the same entry), `[1m]` kept.
fn override_key(table: &PriceTable, name: &ModelName) -> String {
    let canonical = table
        .find(&name.base)
        .or_else(|| name.undated().and_then(|u| table.find(u)))
        .map_or(name.base.as_str(), |e| e.name.as_str());
    let mut key = canonical.to_owned();
    if name.one_m {
        key.push_str("[1m]");
    }
    if let Some(tier) = &name.tier {
        key = with_tier(&key, tier);
    }
    key
}

/// How far hew's cost may stray from the agent's own before a run is flagged.
pub const CROSS_CHECK_TOLERANCE: f64 = 0.01;

/// A note when hew's cost and the agent's own estimate (Claude's `total_cost_usd`) of an
/// exact figure differ by more than [`CROSS_CHECK_TOLERANCE`]: a stale price table, a model
/// priced wrong, or writes whose duration the agent did not report. `None` when they
/// agree, or when either is unknown or the figure is not exact.
pub fn cost_disagreement(
    usage: &Usage,
    cost: Option<f64>,
    reported: Option<f64>,
) -> Option<String> {
    if usage.source != UsageSource::Result {
        return None;
    }
    let (cost, reported) = (cost?, reported?);
    let gap = (cost - reported).abs();
    if gap <= CROSS_CHECK_TOLERANCE * cost.abs().max(reported.abs()) || gap < 1e-9 {
        return None;
    }
    let unsplit = usage.total.cache_create_unsplit;
    let why = if unsplit > 0 {
        format!(
            " ({unsplit} cache writes of no reported duration were priced at the 5-minute rate)"
        )
    } else {
        " (check `hew prices` against the provider's price page)".to_owned()
    };
    Some(format!(
        "cost check: hew prices this run at ${cost:.6}, the agent at ${reported:.6}{why}"
    ))
}

/// The cost of one agent run.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// The sum over models; `None` if any model's cost is unknown.
    pub total: Option<f64>,
    /// Per model, as in the usage.
    pub per_model: BTreeMap<String, Option<f64>>,
}

#[cfg(test)]
mod captured_tests;
#[cfg(test)]
mod tests;
