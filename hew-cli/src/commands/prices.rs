//! `hew prices`: the price table hew charges tokens at, built-in rows under the overrides
//! of config, so a user can hold it against the provider's page and bill.

use clap::Args;
use hew_core::prices::{PriceRow, Prices};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::table::Table;

#[derive(Debug, Args)]
pub struct PricesArgs {
    /// Print machine-readable JSON: `{"as_of", "sources", "unit", "service_tiers", "models":
    /// [{"name", "aliases", "origin", "input", "output", "cache_read", "cache_write",
    /// "cache_write_1h", "web_search", "fast_multiplier", "unpriced",
    /// "long_context_tiered"}]}`, `null` for a missing price.
    #[arg(long)]
    json: bool,
}

pub fn cmd_prices(ctx: &Context, args: PricesArgs) -> Result<Exit, CliError> {
    let config = ctx.load_config(Vec::new())?;
    let prices = Prices::new(&config.prices);
    let table = prices.table();
    let rows = prices.rows();
    if args.json {
        let out = json!({
            "as_of": table.as_of,
            "sources": table.sources,
            "unit": "USD per million tokens; web_search USD per 1,000 requests",
            "service_tiers": table.service_tiers,
            "models": rows,
        });
        crate::json::print(out);
        return Ok(Exit::Success);
    }
    println!(
        "Prices as of {} (built-in list prices), USD per million tokens; web search per 1,000.",
        table.as_of
    );
    for source in &table.sources {
        println!("  {source}");
    }
    println!();
    print!("{}", render(&rows));
    let tiers: Vec<String> = table
        .service_tiers
        .iter()
        .map(|(tier, x)| format!("{tier} x{}", number(*x)))
        .collect();
    if !tiers.is_empty() {
        println!();
        println!(
            "OpenAI service tiers, as a multiple of every token price: {}.",
            tiers.join(", ")
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|r| match (&r.unpriced, r.long_context_tiered) {
            (Some(why), _) => Some(format!("  {}: {why}", r.name)),
            (None, true) => Some(format!(
                "  {}[1m]: bills requests above 200K input tokens at a higher rate",
                r.name
            )),
            (None, false) => None,
        })
        .collect();
    if !notes.is_empty() {
        println!();
        println!(
            "Without a price (cost unknown; set one with `hew config set prices.<model>.input ...`):"
        );
        for note in notes {
            println!("{note}");
        }
    }
    Ok(Exit::Success)
}

/// The rows as an aligned table.
fn render(rows: &[PriceRow]) -> String {
    let mut table = Table::new([
        "MODEL",
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "WRITE 5M",
        "WRITE 1H",
        "FAST",
        "WEB SEARCH",
        "SOURCE",
    ])
    .right_align(&[1, 2, 3, 4, 5, 6, 7]);
    for r in rows {
        let name = match r.aliases.as_slice() {
            [] => r.name.clone(),
            aliases => format!("{} ({})", r.name, aliases.join(", ")),
        };
        table.row([
            name,
            price(r.input),
            price(r.output),
            price(r.cache_read),
            price(r.cache_write),
            price(r.cache_write_1h),
            r.fast_multiplier
                .map_or("-".to_owned(), |x| format!("x{}", number(x))),
            price(r.web_search),
            r.origin.as_str().to_owned(),
        ]);
    }
    table.to_string()
}

fn price(p: Option<f64>) -> String {
    p.map_or("-".to_owned(), number)
}

/// A price as written on a price page: no float noise (`0.30000000000000004`).
fn number(x: f64) -> String {
    let rounded = (x * 1e6).round() / 1e6;
    format!("{rounded}")
}
