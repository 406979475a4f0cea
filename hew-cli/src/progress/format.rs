//! How progress looks: the text of each line, laid out to a width, coloured or not. Pure
//! functions of their inputs (time included), so tests compare strings.

use std::time::Duration;

use hew_core::records::{IterRecord, Outcome};

use super::state::{AgentState, Progress, Worker};
use crate::escape::escape;

/// The longest title shown on a finished line.
const FINISHED_TITLE: usize = 32;
/// The widest the title column of live lines gets, however wide the terminal.
const LIVE_TITLE_MAX: usize = 48;
/// Narrower than this, the title column is dropped.
const LIVE_TITLE_MIN: usize = 8;
/// Task ids and model names wider than this are cut.
const NAME_MAX: usize = 24;

/// How to draw: colour or not, and how wide the terminal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub width: usize,
}

impl Style {
    /// No colour, 100 columns: what tests and pipes get.
    pub fn plain() -> Self {
        Self {
            color: false,
            width: 100,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const DIM: &str = "2";
const BOLD: &str = "1";

/// Column widths shared by the live lines of one frame, so they line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    iter: usize,
    id: usize,
    model: usize,
}

impl Columns {
    pub fn fit(workers: &[&Worker]) -> Self {
        let max = |f: &dyn Fn(&Worker) -> usize| workers.iter().map(|w| f(w)).max().unwrap_or(0);
        Self {
            iter: max(&|w| w.iter.to_string().len()),
            id: max(&|w| w.task_id.chars().count()).min(NAME_MAX),
            model: max(&|w| model_name(w.model.as_deref()).chars().count()).min(NAME_MAX),
        }
    }
}

fn model_name(model: Option<&str>) -> &str {
    model.filter(|m| !m.is_empty()).unwrap_or("(default)")
}

/// One running agent:
/// `w1  #3  demo-9s1  Fix the crash on empty input  opus    1m02s   18.2k tok  running`.
pub fn worker_line(w: &Worker, cols: &Columns, now: Duration, style: &Style) -> String {
    let head = format!(
        "w{:<2} #{:<iw$}  {}  ",
        w.slot,
        w.iter,
        pad(&cut(&w.task_id, cols.id), cols.id),
        iw = cols.iter
    );
    let retrying = match (w.state, w.retry) {
        (AgentState::Retrying, Some((attempt, max))) => Some(match max {
            Some(max) => format!("retry {attempt}/{max}"),
            None => format!("retry {attempt}"),
        }),
        _ => None,
    };
    let state = retrying.as_deref().unwrap_or(w.state.as_str());
    // The state padded to the longest one, so the title column does not move with it.
    let tail = format!(
        "  {}  {:>6}  {:>6} tok  {state:<11}",
        pad(&cut(model_name(w.model.as_deref()), cols.model), cols.model),
        elapsed(now.saturating_sub(w.since)),
        tokens(w.tokens),
    );
    let room = style
        .width
        .saturating_sub(width(&head) + width(&tail))
        .min(LIVE_TITLE_MAX);
    let line = if room >= LIVE_TITLE_MIN {
        format!("{head}{}{tail}", pad(&cut(&w.title, room), room))
    } else {
        // No room for a title: keep what identifies the agent and its state.
        format!("{}{}", head.trim_end(), tail)
    };
    let line = cut(&line, style.width).trim_end().to_owned();
    if !style.color {
        return line;
    }
    // Colour only the state word, and only when it survived the cut.
    match line.strip_suffix(state) {
        Some(rest) => format!("{rest}{}", style.paint(state_color(w.state), state)),
        None => line,
    }
}

fn state_color(state: AgentState) -> &'static str {
    match state {
        AgentState::Starting => DIM,
        AgentState::Running => GREEN,
        AgentState::Slow | AgentState::Retrying => YELLOW,
        AgentState::Terminating => RED,
        AgentState::Finishing => DIM,
    }
}

/// The run as a whole:
/// `3 done (2 closed, 1 no_change) · 2 running · 45.1k tokens · $0.12 · 2m10s`.
pub fn overall_line(p: &Progress, now: Duration, style: &Style) -> String {
    let mut parts = Vec::new();
    let outcomes: Vec<String> = Outcome::ALL
        .iter()
        .filter_map(|o| p.outcomes.get(o).map(|n| format!("{n} {o}")))
        .collect();
    parts.push(if outcomes.is_empty() {
        format!("{} done", p.done)
    } else {
        format!("{} done ({})", p.done, outcomes.join(", "))
    });
    let finishing = p
        .workers
        .values()
        .filter(|w| w.state == AgentState::Finishing)
        .count();
    parts.push(format!("{} running", p.workers.len() - finishing));
    if finishing > 0 {
        parts.push(format!("{finishing} finishing"));
    }
    if let Some(t) = &p.testing {
        let what = if t.bisecting { "bisecting" } else { "testing" };
        parts.push(format!(
            "merge queue: {what} {}, {} waiting",
            t.iters.len(),
            t.waiting
        ));
    }
    parts.push(format!("{} tokens", tokens(p.tokens())));
    if let Some(c) = p.cost_done {
        parts.push(cost(c));
    }
    parts.push(elapsed(now.saturating_sub(p.started.unwrap_or_default())));
    let mut line = parts.join(" · ");
    if p.stopping {
        line.push_str(" · stopping");
    }
    let line = cut(&line, style.width);
    style.paint(BOLD, &line)
}

/// A finished iteration, printed once as a whole line:
/// `✓ #3   closed     demo-9s1  Fix the crash  opus  18.6k tok  $0.0277  1m05s  merged 1a2b3c4d`.
pub fn finished_line(log: &IterRecord, style: &Style) -> String {
    let (mark, color) = match log.outcome {
        Outcome::Closed => ("✓", GREEN),
        Outcome::NoChange => ("○", YELLOW),
        Outcome::Cancelled => ("-", YELLOW),
        _ => ("✗", RED),
    };
    let mut line = format!(
        "{} {}  {}  {}  {}  {}  {} tok",
        style.paint(color, mark),
        pad(&format!("#{}", log.number), 3),
        style.paint(color, &pad(log.outcome.as_str(), 9)),
        escape(&log.task_id),
        cut(&escape(&log.title), FINISHED_TITLE),
        escape(model_name(log.model.as_deref())),
        tokens(log.usage.total.total()),
    );
    if let Some(c) = log.reported_cost_usd {
        line.push_str(&format!("  {}", cost(c)));
    }
    line.push_str(&format!(
        "  {}",
        elapsed(log.ended_at.since(log.started_at))
    ));
    if let Some(c) = &log.merge_commit {
        line.push_str(&format!("  merged {}", &c[..c.len().min(8)]));
    }
    if let Some(b) = &log.kept_branch {
        line.push_str(&format!("  work kept on {}", escape(b)));
    }
    if let Some(e) = &log.error {
        let first = e.lines().next().unwrap_or_default();
        line.push_str(&format!("  ({})", cut(&escape(first), 100)));
    }
    line
}

/// A task claimed, for plain output:
/// `  #3   started    demo-9s1  Fix the crash  opus (rule priority), worker 1`.
pub fn started_line(w: &Worker, rule: &str) -> String {
    format!(
        "  {}  {}  {}  {}  {} (rule {rule}), worker {}",
        pad(&format!("#{}", w.iter), 3),
        pad("started", 9),
        w.task_id,
        cut(&w.title, FINISHED_TITLE),
        model_name(w.model.as_deref()),
        w.slot
    )
}

/// A change of a running agent's state, for plain output:
/// `  #3   slow       demo-9s1  past loop.agent.slow_after`.
pub fn state_line(w: &Worker, what: &str) -> String {
    format!(
        "  {}  {}  {}  {what}",
        pad(&format!("#{}", w.iter), 3),
        pad(w.state.as_str(), 9),
        w.task_id
    )
}

/// `attempt 4/10`, or `attempt 4` when the agent did not say how many it makes.
pub fn retry(attempt: u32, max: Option<u32>) -> String {
    match max {
        Some(max) => format!("attempt {attempt}/{max}"),
        None => format!("attempt {attempt}"),
    }
}

/// `1234567` → `1.2M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `$0.0277`, `$12.40`.
pub fn cost(usd: f64) -> String {
    if usd < 1.0 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

/// `9s`, `1m05s`, `2h03m`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` characters, the last one an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn pad(s: &str, to: usize) -> String {
    format!("{s:<to$}")
}

/// A recovery, as lines for the user.
pub fn recovery_lines(r: &hew_core::recover::Recovery) -> Vec<String> {
    let mut lines = Vec::new();
    let list = |v: &[String]| v.join(", ");
    if !r.crashed_runs.is_empty() {
        lines.push(format!(
            "recovered crashed run(s): {}",
            list(&r.crashed_runs)
        ));
    }
    if !r.stopped_agents.is_empty() {
        let pids: Vec<String> = r.stopped_agents.iter().map(u32::to_string).collect();
        lines.push(format!(
            "stopped orphaned agent process group(s): {}",
            pids.join(", ")
        ));
    }
    if !r.released.is_empty() {
        lines.push(format!(
            "released task(s) left in progress: {}",
            list(&r.released)
        ));
    }
    if !r.closed.is_empty() {
        lines.push(format!(
            "closed task(s) whose work had landed before their run stopped: {}",
            list(&r.closed)
        ));
    }
    if !r.lease_expired.is_empty() {
        let what: Vec<String> = r
            .lease_expired
            .iter()
            .map(|(task, holder)| format!("{} (from {})", escape(task), escape(holder)))
            .collect();
        lines.push(format!(
            "took over task(s) whose lease ran out on another machine: {}",
            list(&what)
        ));
    }
    if !r.kept_branches.is_empty() {
        lines.push(format!(
            "kept branch(es) with unmerged work: {}",
            list(&r.kept_branches)
        ));
    }
    if !r.deleted_branches.is_empty() {
        lines.push(format!(
            "deleted branch(es) whose work had landed: {}",
            list(&r.deleted_branches)
        ));
    }
    lines.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
    lines
}
