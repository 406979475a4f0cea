//! The report as HTML: pure rendering of a [`Report`] into one self-contained page.
//!
//! Written by hand into one `String` rather than through a template engine: the page has
//! six sections and one loop each, and the one rule that matters, that text from outside
//! is escaped, is easiest to keep where every value is written ([`esc`]). Sizes are
//! fixed in SVG user units and the charts scale to the window (`viewBox`), so the page
//! needs no layout script. The stages inside an iteration's bar are listed once, in
//! [`STAGES`]; their colours and the legend come from that list.

use std::fmt::Write as _;

use hew_core::records::{Outcome, Timings};
use hew_core::summary::Spend;

use super::{Attention, IterRow, Report};
use crate::commands::r#loop::summary::{cost, count, duration, state};

/// A stage of an iteration, drawn as a segment inside its bar.
pub struct Stage {
    /// Its name, in the legend and the bar's title.
    pub name: &'static str,
    /// Its colour.
    pub colour: &'static str,
    /// How long it took.
    pub ms: fn(&Timings) -> u64,
}

/// The stages inside an iteration's bar, in the order they happen, each drawn as long as
/// it took, one after the other from the bar's start. The rest of the bar (claiming,
/// reading the worktree, tracker calls) is the bar's own colour: its outcome.
pub const STAGES: &[Stage] = &[
    Stage {
        name: "checkout",
        colour: "#7fa7e8",
        ms: |t| t.checkout_ms,
    },
    Stage {
        name: "agent",
        colour: "#1f3f7a",
        ms: |t| t.agent_ms,
    },
    Stage {
        name: "verify",
        colour: "#e0b040",
        ms: |t| t.verify_ms,
    },
    Stage {
        name: "queue",
        colour: "#c9b8e6",
        ms: |t| t.queue_ms,
    },
    Stage {
        name: "merge",
        colour: "#9b6bd3",
        ms: |t| t.merge_ms,
    },
];

/// Each outcome's colour, on bars, rows and the outcome chart.
fn outcome_colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Closed => "#3a9d5d",
        Outcome::NoChange => "#9aa3ad",
        Outcome::VerifyFailed => "#e08a2c",
        Outcome::MergeConflict => "#b25bc4",
        Outcome::AgentFailed => "#d64545",
        Outcome::TimedOut => "#8c5a2b",
        Outcome::Cancelled => "#c8ccd1",
    }
}

/// The most entries of one kind the attention list shows; a long night's failures are
/// in the table.
const ATTENTION_SHOWN: usize = 100;

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

// The timeline's geometry, in SVG user units.
const LABEL_W: f64 = 64.0;
const PLOT_W: f64 = 1100.0;
const LANE_H: f64 = 24.0;
const BAR_H: f64 = 18.0;
const STAGE_H: f64 = 6.0;
const AXIS_H: f64 = 22.0;

/// `text` safe anywhere in HTML (content or a quoted attribute), with control
/// characters made visible as `hew loop summary` shows them.
pub fn esc(text: &str) -> String {
    let text = crate::escape::escape(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(4096 + r.iters.len() * 450);
    let s = &r.summary;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <title>hew run {}</title><style>{CSS}",
        esc(&s.run_id)
    );
    for o in Outcome::ALL {
        let _ = write!(
            out,
            ".o-{0} rect,rect.o-{0}{{fill:{1}}}.k-{0}{{background:{1}}}\
             tr.o-{0} td:nth-child(7){{color:{1}}}",
            o.as_str(),
            outcome_colour(o)
        );
    }
    // After the outcomes: a stage's colour wins over its bar's.
    for stage in STAGES {
        let _ = write!(
            out,
            "rect.s-{0}{{fill:{1}}}.k-{0}{{background:{1}}}",
            stage.name, stage.colour
        );
    }
    out.push_str("</style></head><body>\n");
    header(&mut out, r);
    timeline(&mut out, r);
    spend(&mut out, r);
    outcomes(&mut out, r);
    attention(&mut out, r);
    table(&mut out, r);
    let _ = write!(
        out,
        "<footer>Made by hew {} at {} from the records in <code>.hew/loop/{}</code>.</footer>\n\
         <script>{SCRIPT}</script></body></html>\n",
        env!("CARGO_PKG_VERSION"),
        r.generated_at,
        esc(&s.run_id)
    );
    out
}

fn header(out: &mut String, r: &Report) {
    let s = &r.summary;
    let closed = s.outcomes.get(&Outcome::Closed).copied().unwrap_or(0);
    let _ = write!(
        out,
        "<header><h1>hew run <code>{}</code></h1><p class=\"state\">{} · started {} · {} \
         {}{}</p>",
        esc(&s.run_id),
        esc(&state(s)),
        s.started_at,
        if s.in_progress() {
            "running for"
        } else {
            "ran"
        },
        duration(s.duration),
        if r.run.into.is_empty() {
            String::new()
        } else {
            format!(" · into <code>{}</code>", esc(&r.run.into))
        }
    );
    if let Some(e) = &s.error {
        let _ = write!(out, "<p class=\"error\">error: {}</p>", esc(e));
    }
    out.push_str("</header>\n<section id=\"totals\" class=\"cards\">");
    let cards = [
        ("iterations", "total-iterations", s.iterations.to_string()),
        ("tasks closed", "total-closed", closed.to_string()),
        ("tokens", "total-tokens", count(s.totals.tokens.total())),
        ("cost", "total-cost", cost(s.totals.cost_usd)),
        (
            "needs attention",
            "total-attention",
            r.attention.len().to_string(),
        ),
    ];
    for (label, id, value) in cards {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"k\">{label}</div><div class=\"v\" id=\"{id}\">{value}</div></div>"
        );
    }
    out.push_str("</section>\n");
}

/// A time offset for the axis: `0`, `45s`, `10m`, `1h30m`.
pub(super) fn tick_label(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => "0".to_owned(),
        1..60 => format!("{s}s"),
        60..3600 if s % 60 == 0 => format!("{}m", s / 60),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The tick step: the first of a few round steps that gives at most 10 ticks.
pub(super) fn tick_step(span_ms: u64) -> u64 {
    const STEPS: [u64; 20] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        172_800, 604_800,
    ];
    STEPS
        .iter()
        .map(|s| s * 1000)
        .find(|step| span_ms / step <= 10)
        .unwrap_or(604_800_000)
}

fn timeline(out: &mut String, r: &Report) {
    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    if r.iters.is_empty() {
        out.push_str("<p class=\"empty\">No iteration yet.</p></section>\n");
        return;
    }
    let run_start = r.summary.started_at.unix_ms();
    let run_end = run_start + u64::try_from(r.summary.duration.as_millis()).unwrap_or(0);
    let t0 = r
        .iters
        .iter()
        .map(|i| i.started_ms)
        .min()
        .unwrap_or(run_start)
        .min(run_start);
    let t1 = r
        .iters
        .iter()
        .map(|i| i.ended_ms)
        .max()
        .unwrap_or(run_end)
        .max(run_end);
    let span = (t1 - t0).max(1);
    let x = |ms: u64| LABEL_W + (ms.saturating_sub(t0)) as f64 * PLOT_W / span as f64;
    let len = |ms: u64| ms as f64 * PLOT_W / span as f64;
    let mut slots: Vec<usize> = r.iters.iter().map(|i| i.slot).collect();
    slots.sort_unstable();
    slots.dedup();
    let lane = |slot: usize| slots.binary_search(&slot).unwrap_or(0);
    let height = AXIS_H + LANE_H * slots.len() as f64 + 4.0;

    out.push_str("<p class=\"legend\">");
    for o in Outcome::ALL {
        if r.summary.outcomes.get(&o).copied().unwrap_or(0) > 0 {
            let _ = write!(out, "<span><i class=\"k-{0}\"></i>{0}</span>", o.as_str());
        }
    }
    out.push_str(" &nbsp; stages: ");
    for stage in STAGES {
        let _ = write!(out, "<span><i class=\"k-{0}\"></i>{0}</span>", stage.name);
    }
    let _ = write!(
        out,
        "</p><svg id=\"timeline-chart\" viewBox=\"0 0 {w} {height}\" width=\"100%\" \
         role=\"img\" aria-label=\"iterations over time, one lane per worker slot\">",
        w = LABEL_W + PLOT_W + 8.0
    );
    let step = tick_step(span);
    let mut t = 0;
    while t <= span {
        let tx = x(t0 + t);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{AXIS_H}\" y2=\"{height}\"/>\
             <text class=\"tl\" x=\"{tx:.1}\" y=\"14\">{}</text>",
            tick_label(t)
        );
        t += step;
    }
    for (n, slot) in slots.iter().enumerate() {
        let y = AXIS_H + LANE_H * n as f64;
        let _ = write!(
            out,
            "<text class=\"lane\" x=\"4\" y=\"{:.1}\">slot {slot}</text>",
            y + LANE_H / 2.0 + 4.0
        );
    }
    for it in &r.iters {
        let y = (AXIS_H + LANE_H * lane(it.slot) as f64 + (LANE_H - BAR_H) / 2.0).round();
        let bx = x(it.started_ms);
        let bw = len(it.ended_ms - it.started_ms).max(0.6);
        // Every byte here is paid 10,000 times on a long night: no class on the bar (its
        // group's outcome colours it), whole units where they are whole.
        let _ = write!(
            out,
            "<g class=\"o-{}\"><title>{}</title>\
             <rect x=\"{bx:.1}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{BAR_H}\"/>",
            it.outcome.as_str(),
            bar_title(it)
        );
        let mut sx = bx;
        for stage in STAGES {
            let w = len((stage.ms)(&it.timings)).min(bx + bw - sx);
            if w >= 0.3 {
                let _ = write!(
                    out,
                    "<rect class=\"s-{}\" x=\"{sx:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{STAGE_H}\"/>",
                    stage.name,
                    y + BAR_H - STAGE_H
                );
            }
            sx += w.max(0.0);
        }
        out.push_str("</g>");
    }
    out.push_str("</svg></section>\n");
}

/// `15ms` under a second, else as the summary writes durations.
fn stage_time(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        duration(std::time::Duration::from_millis(ms))
    }
}

/// What hovering a bar says: task, title, model, outcome, time, tokens, cost, stages.
fn bar_title(it: &IterRow) -> String {
    let stages: Vec<String> = STAGES
        .iter()
        .map(|s| (s.name, (s.ms)(&it.timings)))
        .filter(|(_, ms)| *ms > 0)
        .map(|(name, ms)| format!("{name} {}", stage_time(ms)))
        .collect();
    let mut t = format!(
        "#{} {} {}\n{} · {} · {} · {} tokens · {}",
        it.number,
        esc(&it.task_id),
        esc(&it.title),
        esc(it.model.as_deref().unwrap_or("(default)")),
        it.outcome.as_str(),
        duration(std::time::Duration::from_millis(
            it.ended_ms - it.started_ms
        )),
        count(it.tokens),
        cost(it.cost_usd)
    );
    if !stages.is_empty() {
        let _ = write!(t, "\n{}", stages.join(" · "));
    }
    if let Some(reason) = &it.reason {
        let _ = write!(t, "\n{}", esc(reason));
    }
    t
}

/// One bar chart of spend, by cost when every cost is known, else by tokens.
fn spend_chart(out: &mut String, id: &str, rows: &[(&str, Spend)]) {
    let by_cost = rows.iter().all(|(_, s)| s.cost_usd.is_some())
        && rows.iter().any(|(_, s)| s.cost_usd.unwrap_or(0.0) > 0.0);
    let value = |s: &Spend| {
        if by_cost {
            s.cost_usd.unwrap_or(0.0)
        } else {
            s.tokens.total() as f64
        }
    };
    let max = rows.iter().map(|(_, s)| value(s)).fold(0.0, f64::max);
    let (label_w, bar_w, row_h) = (260.0, 520.0, 26.0);
    let _ = write!(
        out,
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" \
         aria-label=\"{} by model\">",
        label_w + bar_w + 260.0,
        row_h * rows.len() as f64 + 4.0,
        if by_cost { "cost" } else { "tokens" }
    );
    for (n, (model, s)) in rows.iter().enumerate() {
        let y = row_h * n as f64 + 2.0;
        let w = if max > 0.0 {
            value(s) / max * bar_w
        } else {
            0.0
        };
        let _ = write!(
            out,
            "<text class=\"ml\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\
             <rect class=\"sb\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
             <text class=\"mv\" x=\"{:.1}\" y=\"{:.1}\">{} · {} tokens</text>",
            label_w - 8.0,
            y + 16.0,
            esc(model),
            w.max(1.0),
            row_h - 6.0,
            label_w + w.max(1.0) + 6.0,
            y + 16.0,
            cost(s.cost_usd),
            count(s.tokens.total())
        );
    }
    out.push_str("</svg>");
}

fn spend_cells(out: &mut String, s: &Spend) {
    let t = &s.tokens;
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"tt\">{}</td><td class=\"cost\">{}</td>",
        count(t.input),
        count(t.cache_read),
        count(t.cache_create),
        count(t.output),
        count(t.total()),
        cost(s.cost_usd)
    );
}

const SPEND_HEAD: &str = "<th>input</th><th>cache read</th><th>cache write</th><th>output</th>\
                          <th>total</th><th>cost</th>";

fn spend(out: &mut String, r: &Report) {
    let s = &r.summary;
    out.push_str("<section id=\"spend\"><h2>Spend</h2>");
    if !s.per_model.is_empty() {
        out.push_str("<h3>By model, as requested</h3>");
        let rows: Vec<(&str, Spend)> = s
            .per_model
            .iter()
            .map(|m| (m.model.as_str(), m.spend))
            .collect();
        spend_chart(out, "chart-requested", &rows);
        let _ = write!(
            out,
            "<table id=\"by-model\" class=\"num\"><thead><tr><th>model</th><th>iters</th>\
             <th>closed</th>{SPEND_HEAD}</tr></thead><tbody>"
        );
        for m in &s.per_model {
            let _ = write!(
                out,
                "<tr><td class=\"m\">{}</td><td>{}</td><td>{}</td>",
                esc(&m.model),
                m.iters,
                m.tasks_closed
            );
            spend_cells(out, &m.spend);
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    if !s.billed.is_empty() {
        out.push_str("<h3>Billed, by the models that consumed the tokens</h3>");
        let rows: Vec<(&str, Spend)> = s
            .billed
            .iter()
            .map(|m| (m.model.as_str(), m.spend))
            .collect();
        spend_chart(out, "chart-billed", &rows);
        let _ = write!(
            out,
            "<table id=\"billed\" class=\"num\"><thead><tr><th>model</th>{SPEND_HEAD}</tr>\
             </thead><tbody>"
        );
        for m in &s.billed {
            let _ = write!(out, "<tr><td class=\"m\">{}</td>", esc(&m.model));
            spend_cells(out, &m.spend);
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<table id=\"spend-total\" class=\"num\"><thead><tr><th></th>");
    out.push_str(SPEND_HEAD);
    out.push_str("</tr></thead><tbody><tr><td class=\"m\">total</td>");
    spend_cells(out, &s.totals);
    out.push_str("</tr></tbody></table></section>\n");
}

fn outcomes(out: &mut String, r: &Report) {
    let s = &r.summary;
    out.push_str("<section id=\"outcomes\"><h2>Outcomes</h2>");
    let total: u32 = s.outcomes.values().sum();
    if total == 0 {
        out.push_str("<p class=\"empty\">No iteration yet.</p></section>\n");
        return;
    }
    out.push_str("<svg class=\"stack\" viewBox=\"0 0 1000 28\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"outcomes\">");
    let mut x = 0.0;
    for (o, n) in s.outcomes.iter().filter(|(_, n)| **n > 0) {
        let w = f64::from(*n) * 1000.0 / f64::from(total);
        let _ = write!(
            out,
            "<rect class=\"o-{0}\" x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"28\"><title>{0}: {n}</title></rect>",
            o.as_str()
        );
        x += w;
    }
    out.push_str("</svg><ul class=\"counts\">");
    for (o, n) in s.outcomes.iter().filter(|(_, n)| **n > 0) {
        let _ = write!(
            out,
            "<li data-outcome=\"{0}\"><i class=\"k-{0}\"></i>{0} <b>{n}</b></li>",
            o.as_str()
        );
    }
    out.push_str("</ul></section>\n");
}

fn attention(out: &mut String, r: &Report) {
    out.push_str("<section id=\"attention\"><h2>Needs attention</h2>");
    if r.attention.is_empty() {
        out.push_str(
            "<p class=\"empty\">Nothing: every task this run worked on closed, and no work \
             waits on a branch.</p></section>\n",
        );
        return;
    }
    out.push_str("<ul id=\"attention-list\">");
    // Work waiting outside the target first (diverted, then kept branches), then tasks;
    // at most ATTENTION_SHOWN of each kind: past that, the table says the rest.
    let kind = |a: &Attention| match a {
        Attention::Diverted(_) => 0,
        Attention::Kept(_) => 1,
        Attention::Failed { .. } | Attention::Exhausted { .. } => 2,
    };
    let mut more = [0usize; 3];
    let mut shown: Vec<&Attention> = Vec::new();
    for (k, more) in more.iter_mut().enumerate() {
        let all: Vec<&Attention> = r.attention.iter().filter(|a| kind(a) == k).collect();
        *more = all.len().saturating_sub(ATTENTION_SHOWN);
        shown.extend(all.into_iter().take(ATTENTION_SHOWN));
    }
    for a in shown {
        match a {
            Attention::Failed {
                iter,
                task_id,
                title,
                outcome,
                reason,
                command,
            } => {
                let _ = write!(
                    out,
                    "<li class=\"a-failed\"><span class=\"tag k-{o}\">{o}</span> <b>{}</b> \
                     (#{iter}) {}: {}<code>{}</code></li>",
                    esc(task_id),
                    esc(title),
                    esc(reason),
                    esc(command),
                    o = outcome.as_str()
                );
            }
            Attention::Exhausted {
                iter,
                task_id,
                title,
                reason,
                command,
            } => {
                let _ = write!(
                    out,
                    "<li class=\"a-exhausted\"><span class=\"tag k-agent_failed\">exhausted</span> \
                     <b>{}</b> (#{iter}) {}: retries used up after {}; to retry it: \
                     <code>{}</code></li>",
                    esc(task_id),
                    esc(title),
                    esc(reason),
                    esc(command)
                );
            }
            Attention::Kept(k) => {
                let _ = write!(
                    out,
                    "<li class=\"a-kept\"><span class=\"tag k-merge_conflict\">kept branch</span> \
                     {} unmerged commit{} on <b>{}</b>{}: <code>{}</code></li>",
                    k.commits,
                    if k.commits == 1 { "" } else { "s" },
                    esc(&k.branch),
                    match (&k.task_id, k.iter) {
                        (Some(task), Some(n)) => format!(" (task {}, #{n})", esc(task)),
                        _ => " (kept by a recovery)".to_owned(),
                    },
                    esc(&k.inspect_command())
                );
            }
            Attention::Diverted(u) => {
                let _ = write!(
                    out,
                    "<li class=\"a-diverted\"><span class=\"tag k-verify_failed\">diverted</span> \
                     {}<code>{}</code></li>",
                    esc(&crate::commands::r#loop::summary::unlanded_lines(u)[0]),
                    esc(&u.land_command())
                );
            }
        }
    }
    out.push_str("</ul>");
    let [_, kept, tasks] = more;
    if kept > 0 {
        let _ = write!(
            out,
            "<p class=\"hint\">And {} more kept branches: <code>hew loop summary</code> \
             names them all.</p>",
            count(kept as u64)
        );
    }
    if tasks > 0 {
        let _ = write!(
            out,
            "<p class=\"hint\">And {} more tasks that did not close: sort the iterations \
             by outcome to see them.</p>",
            count(tasks as u64)
        );
    }
    out.push_str("</section>\n");
}

fn table(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"iterations\"><h2>Iterations</h2><p class=\"hint\">Click a column to \
         sort by it; again to reverse.</p><table id=\"iters\"><thead><tr><th data-num>#</th>\
         <th>task</th><th>title</th><th data-num>slot</th><th data-num>attempt</th>\
         <th>model</th><th>outcome</th><th data-num>started</th><th data-num>time</th>\
         <th data-num>tokens</th><th data-num>cost</th></tr></thead><tbody>\n",
    );
    let t0 = r.summary.started_at.unix_ms();
    for it in &r.iters {
        let offset = it.started_ms.saturating_sub(t0);
        let took = it.ended_ms - it.started_ms;
        let _ = writeln!(
            out,
            "<tr class=\"o-{o}\"><td>{}<td>{}<td>{}<td>{}<td>{}<td>{}<td>{o}\
             <td>+{}<td>{}<td>{}<td>{}",
            it.number,
            esc(&it.task_id),
            esc(&it.title),
            it.slot,
            it.attempt,
            esc(it.model.as_deref().unwrap_or("(default)")),
            tick_label(offset),
            duration(std::time::Duration::from_millis(took)),
            count(it.tokens),
            cost(it.cost_usd),
            o = it.outcome.as_str(),
        );
    }
    out.push_str("</tbody></table></section>\n");
}
