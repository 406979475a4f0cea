//! The price table as hew believes it, row by row, for `hew prices`: every built-in model
//! with the user's overrides laid over it, then every override that names something the
//! table does not list (a model of its own, a `[1m]` variant, a `[fast]` or service tier).
//!
//! A row gives the prices a token of that model is charged at, not the raw table: the
//! 1-hour write price the table leaves out is shown as the 2× input hew charges, and a
//! model the table lists without prices shows none (its cost is unknown) unless an
//! override gives some. That is what a user checks against the provider's page and bill.

use serde::Serialize;

use super::{ModelPrice, Prices};

/// Where a row's prices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceOrigin {
    /// The built-in table alone.
    BuiltIn,
    /// The built-in table, with some fields overridden in config.
    BuiltInOverridden,
    /// Config alone: the table does not list the name.
    Override,
}

impl PriceOrigin {
    /// A short label for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BuiltIn => "built-in",
            Self::BuiltInOverridden => "built-in + override",
            Self::Override => "override",
        }
    }
}

/// One model's prices as hew charges them, USD per million tokens (web searches per
/// 1,000 requests); `None`: no price, so tokens of that kind cost unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceRow {
    /// The canonical name, or the override's key.
    pub name: String,
    /// Other names it answers to.
    pub aliases: Vec<String>,
    /// Where the prices come from.
    pub origin: PriceOrigin,
    /// Input tokens neither read from nor written to the cache.
    pub input: Option<f64>,
    /// Output tokens.
    pub output: Option<f64>,
    /// Cache reads.
    pub cache_read: Option<f64>,
    /// 5-minute cache writes (and writes of no reported duration).
    pub cache_write: Option<f64>,
    /// 1-hour cache writes (2× input when the table gives none).
    pub cache_write_1h: Option<f64>,
    /// Web searches, USD per 1,000.
    pub web_search: Option<f64>,
    /// Fast mode's prices as a multiple of these; `None`: fast mode has no known price.
    pub fast_multiplier: Option<f64>,
    /// Why the table lists the model without prices.
    pub unpriced: Option<String>,
    /// Its `[1m]` variant bills long requests at a higher rate and has no price.
    pub long_context_tiered: bool,
}

impl PriceRow {
    fn new(name: String, aliases: Vec<String>, origin: PriceOrigin, p: Option<ModelPrice>) -> Self {
        let p = p.unwrap_or_default();
        Self {
            name,
            aliases,
            origin,
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
            cache_write_1h: p.cache_write_1h_or_default(),
            web_search: p.web_search,
            fast_multiplier: None,
            unpriced: None,
            long_context_tiered: false,
        }
    }
}

impl Prices {
    /// Every model hew can price or knows it cannot, in the table's order, then the
    /// overrides for names the table does not list, by name.
    pub fn rows(&self) -> Vec<PriceRow> {
        let mut rows = Vec::new();
        for model in &self.table.models {
            let over = self.overrides.get(&model.name);
            let base = match &model.unpriced {
                Some(_) => None,
                None => Some(model.price),
            };
            let price = match (base, over) {
                (base, Some(over)) => Some(base.unwrap_or_default().overlaid(over)),
                (base, None) => base,
            };
            let origin = match (over, &model.unpriced) {
                (None, _) => PriceOrigin::BuiltIn,
                (Some(_), None) => PriceOrigin::BuiltInOverridden,
                (Some(_), Some(_)) => PriceOrigin::Override,
            };
            let mut row = PriceRow::new(model.name.clone(), model.aliases.clone(), origin, price);
            row.fast_multiplier = model.fast_multiplier;
            row.unpriced = model.unpriced.clone();
            row.long_context_tiered = model.long_context_tiered;
            rows.push(row);
        }
        for key in self.overrides.keys() {
            if self.table.models.iter().any(|m| &m.name == key) {
                continue;
            }
            // `price` resolves a `[1m]` or tier key the way a recorded model name is.
            rows.push(PriceRow::new(
                key.clone(),
                Vec::new(),
                PriceOrigin::Override,
                self.price(key),
            ));
        }
        rows
    }
}
