//! Budgets: how much a run may spend in tokens, dollars and time before it stops starting
//! tasks.
//!
//! The scheduler tells [`Budget`] what it sees: each finished iteration (its recorded
//! figures are final) and each live usage snapshot of a running agent (a running total
//! for that iteration, replaced by the next one, never added). The spend is the finished
//! iterations plus the latest snapshot of each running one; a budget is crossed when the
//! spend reaches it. What to do then (stop scheduling, or stop the agents too) is the
//! scheduler's business.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::agent::Usage;
use crate::config::BudgetConfig;
use crate::prices::{Prices, usd_to_nanos};
use crate::records::{IterRecord, StopReason};

/// A budget that was crossed, and how.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Crossed {
    /// The stop reason naming the budget.
    pub reason: StopReason,
    /// What was spent against what was allowed, for people.
    pub message: String,
}

/// What a run has spent, against its limits.
#[derive(Debug)]
pub(crate) struct Budget {
    tokens: Option<u64>,
    usd_nanos: Option<u64>,
    wall: Option<Duration>,
    hard: bool,
    prices: Prices,
    started: Instant,
    /// Finished iterations, summed.
    done_tokens: u64,
    done_nanos: u64,
    /// Iterations already finished: a late live snapshot of one is ignored.
    finished: BTreeSet<u32>,
    /// The latest live figures of each running iteration: tokens and nano-dollars.
    live: BTreeMap<u32, (u64, u64)>,
    /// Some usage had no price, so the dollar figure is a lower bound; said once.
    unpriced_warned: bool,
    warnings: Vec<String>,
}

impl Budget {
    /// The limits of `config`, counted from `started`, costs at `prices`.
    pub fn new(config: &BudgetConfig, prices: Prices, started: Instant) -> Self {
        Self {
            tokens: config.tokens,
            usd_nanos: config.usd.map(usd_to_nanos),
            wall: config.wall.map(|w| w.get()),
            hard: config.hard,
            prices,
            started,
            done_tokens: 0,
            done_nanos: 0,
            finished: BTreeSet::new(),
            live: BTreeMap::new(),
            unpriced_warned: false,
            warnings: Vec::new(),
        }
    }

    /// Whether running agents are stopped when a budget is crossed.
    pub fn hard(&self) -> bool {
        self.hard
    }

    /// Iteration `iter` ended with the figures in `log`.
    pub fn finished(&mut self, log: &IterRecord) -> Option<Crossed> {
        self.live.remove(&log.number);
        self.finished.insert(log.number);
        let known_cost = match log.cost_usd {
            Some(cost) => usd_to_nanos(cost),
            None => {
                if log.usage.total.total() > 0 {
                    self.note_unpriced(&log.usage);
                }
                log.cost_per_model
                    .values()
                    .flatten()
                    .map(|c| usd_to_nanos(*c))
                    .sum()
            }
        };
        self.done_tokens = self.done_tokens.saturating_add(log.usage.total.total());
        self.done_nanos = self.done_nanos.saturating_add(known_cost);
        self.check_spend()
    }

    /// Iteration `iter` is running and has used `usage` so far.
    pub fn live(&mut self, iter: u32, usage: &Usage) -> Option<Crossed> {
        if self.finished.contains(&iter) {
            return None;
        }
        let cost = self.prices.cost(usage);
        if cost.total.is_none() && usage.total.total() > 0 {
            self.note_unpriced(usage);
        }
        let nanos = cost
            .per_model
            .values()
            .flatten()
            .map(|c| usd_to_nanos(*c))
            .sum();
        self.live.insert(iter, (usage.total.total(), nanos));
        self.check_spend()
    }

    /// The wall-clock budget, at `now`.
    pub fn check_wall(&self, now: Instant) -> Option<Crossed> {
        let wall = self.wall?;
        let elapsed = now.saturating_duration_since(self.started);
        (elapsed >= wall).then(|| Crossed {
            reason: StopReason::BudgetWall,
            message: format!(
                "the run has gone on for {}s, the wall-clock budget is {}s",
                elapsed.as_secs(),
                wall.as_secs()
            ),
        })
    }

    /// Warnings to pass on (usage that could not be priced against a dollar budget).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Tokens spent so far, running agents included.
    pub fn tokens_spent(&self) -> u64 {
        let live: u64 = self.live.values().map(|(t, _)| *t).sum();
        self.done_tokens.saturating_add(live)
    }

    /// Nano-dollars spent so far at known prices, running agents included.
    fn nanos_spent(&self) -> u64 {
        let live: u64 = self.live.values().map(|(_, n)| *n).sum();
        self.done_nanos.saturating_add(live)
    }

    fn check_spend(&self) -> Option<Crossed> {
        if let Some(limit) = self.tokens {
            let spent = self.tokens_spent();
            if spent >= limit {
                return Some(Crossed {
                    reason: StopReason::BudgetTokens,
                    message: format!("{spent} tokens used, the token budget is {limit}"),
                });
            }
        }
        if let Some(limit) = self.usd_nanos {
            let spent = self.nanos_spent();
            if spent >= limit {
                return Some(Crossed {
                    reason: StopReason::BudgetUsd,
                    message: format!(
                        "${:.4} spent, the budget is ${:.4}",
                        spent as f64 / 1e9,
                        limit as f64 / 1e9
                    ),
                });
            }
        }
        None
    }

    fn note_unpriced(&mut self, usage: &Usage) {
        if self.usd_nanos.is_none() || self.unpriced_warned {
            return;
        }
        self.unpriced_warned = true;
        let models: Vec<&str> = usage
            .per_model
            .keys()
            .filter(|m| self.prices.price(m).is_none())
            .map(String::as_str)
            .collect();
        let models = if models.is_empty() {
            "some usage".to_owned()
        } else {
            format!("`{}`", models.join("`, `"))
        };
        self.warnings.push(format!(
            "{models} has no price: its spend does not count toward the dollar budget \
             (set one with `hew config set prices.<model>.input ...`)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Tokens, UsageSource};
    use crate::config::HumanDuration;

    fn usage(model: &str, input: u64, output: u64) -> Usage {
        let tokens = Tokens {
            input,
            output,
            ..Tokens::default()
        };
        Usage {
            total: tokens,
            per_model: [(model.to_owned(), tokens)].into(),
            source: UsageSource::Result,
        }
    }

    fn finished(n: u32, usage: Usage, prices: &Prices) -> IterRecord {
        let mut log = IterRecord::started(n, "t", "t", 1, 1);
        let cost = prices.cost(&usage);
        log.cost_usd = cost.total;
        log.cost_per_model = cost.per_model;
        log.usage = usage;
        log
    }

    fn budget(tokens: Option<u64>, usd: Option<f64>) -> Budget {
        let config = BudgetConfig {
            tokens,
            usd,
            ..BudgetConfig::default()
        };
        Budget::new(&config, Prices::default(), Instant::now())
    }

    #[test]
    fn tokens_cross_when_the_spend_reaches_the_limit() {
        let prices = Prices::default();
        let mut b = budget(Some(1000), None);
        assert_eq!(
            b.finished(&finished(1, usage("gpt-5", 400, 100), &prices)),
            None
        );
        assert_eq!(b.tokens_spent(), 500);
        let crossed = b.finished(&finished(2, usage("gpt-5", 400, 100), &prices));
        assert_eq!(crossed.unwrap().reason, StopReason::BudgetTokens);
    }

    #[test]
    fn live_snapshots_replace_each_other_and_give_way_to_the_record() {
        let prices = Prices::default();
        let mut b = budget(Some(1000), None);
        assert_eq!(b.live(1, &usage("gpt-5", 300, 0)), None);
        assert_eq!(b.live(1, &usage("gpt-5", 600, 0)), None);
        assert_eq!(
            b.tokens_spent(),
            600,
            "a snapshot replaces the previous one"
        );
        assert_eq!(b.live(2, &usage("gpt-5", 300, 0)), None);
        assert_eq!(
            b.finished(&finished(1, usage("gpt-5", 650, 0), &prices)),
            None
        );
        assert_eq!(b.tokens_spent(), 950);
        // A snapshot that arrives after its iteration finished changes nothing.
        assert_eq!(b.live(1, &usage("gpt-5", 5000, 0)), None);
        assert_eq!(b.tokens_spent(), 950);
        let crossed = b.live(2, &usage("gpt-5", 350, 0)).unwrap();
        assert_eq!(crossed.reason, StopReason::BudgetTokens);
        assert!(crossed.message.contains("1000"), "{}", crossed.message);
    }

    #[test]
    fn dollars_count_priced_usage_and_warn_once_about_the_rest() {
        let prices = Prices::default();
        let mut b = budget(None, Some(0.02));
        // gpt-5: 1.25 per million input tokens: 10 000 tokens are $0.0125.
        assert_eq!(
            b.finished(&finished(1, usage("gpt-5", 10_000, 0), &prices)),
            None
        );
        assert_eq!(
            b.finished(&finished(2, usage("mystery", 10_000, 0), &prices)),
            None
        );
        let warnings = b.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("`mystery`"), "{warnings:?}");
        assert_eq!(b.live(3, &usage("mystery", 99, 0)), None);
        assert!(b.take_warnings().is_empty());
        let crossed = b.finished(&finished(4, usage("gpt-5", 10_000, 0), &prices));
        assert_eq!(crossed.unwrap().reason, StopReason::BudgetUsd);
    }

    #[test]
    fn wall_time_crosses_after_the_limit() {
        let config = BudgetConfig {
            wall: Some(HumanDuration::from_secs(60)),
            hard: true,
            ..BudgetConfig::default()
        };
        let start = Instant::now();
        let b = Budget::new(&config, Prices::default(), start);
        assert!(b.hard());
        assert_eq!(b.check_wall(start + Duration::from_secs(59)), None);
        let crossed = b.check_wall(start + Duration::from_secs(60)).unwrap();
        assert_eq!(crossed.reason, StopReason::BudgetWall);
        assert_eq!(
            budget(None, None).check_wall(start + Duration::from_secs(1 << 30)),
            None
        );
    }
}
