//! What tokens cost: a dated built-in price table, the user's overrides, and the cost of
//! one agent run.
//!
//! Prices change, so they are data (`prices.toml`, compiled in) that config can override
//! field by field (`prices."<model>".input = 3.0`). A model is found by its canonical name
//! or an alias, whatever date or provider decoration the agent put on it (see
//! [`canonical_name`]). A model with no price, or a token kind with no price, makes the
//! cost unknown: hew never shows $0 for something it could not price.

mod names;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::agent::{Tokens, Usage, UsageSource};
pub use names::canonical_name;
use names::{ModelName, parse};

/// Prices of one model in USD per million tokens; a missing field is not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPrice {
    /// Input tokens neither read from nor written to the cache.
    pub input: Option<f64>,
    /// Output tokens, reasoning included.
    pub output: Option<f64>,
    /// Input tokens written to the cache.
    pub cache_write: Option<f64>,
    /// Input tokens read from the cache.
    pub cache_read: Option<f64>,
}

impl ModelPrice {
    /// These prices, with every field `upper` sets replacing this one's.
    pub fn overlaid(self, upper: &ModelPrice) -> ModelPrice {
        ModelPrice {
            input: upper.input.or(self.input),
            output: upper.output.or(self.output),
            cache_write: upper.cache_write.or(self.cache_write),
            cache_read: upper.cache_read.or(self.cache_read),
        }
    }

    /// What `tokens` cost at these prices, in USD; `None` when some kind of token that
    /// was used has no price.
    pub fn cost(&self, tokens: &Tokens) -> Option<f64> {
        let part = |count: u64, price: Option<f64>| match count {
            0 => Some(0.0),
            n => price.map(|p| n as f64 * p),
        };
        let micro = part(tokens.input, self.input)?
            + part(tokens.output, self.output)?
            + part(tokens.cache_create, self.cache_write)?
            + part(tokens.cache_read, self.cache_read)?;
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

    /// What is known of `model`'s prices; `None` when nothing is.
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
                let cost = match tokens.total() {
                    0 => Some(0.0),
                    _ => self.price(model).and_then(|p| p.cost(tokens)),
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
    if name.one_m {
        format!("{canonical}[1m]")
    } else {
        canonical.to_owned()
    }
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
mod tests;
