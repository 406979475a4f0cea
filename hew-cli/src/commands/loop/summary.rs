//! `hew loop summary`: what a run did and spent, from its records, as a table for the
//! terminal, markdown for a pull request, or JSON. The end of `hew loop` prints the same
//! thing through [`render`].

use std::time::Duration;

use clap::{Args, ValueEnum};
use hew_core::agent::Tokens;
use hew_core::diverted::{Unlanded, unlanded_work, unmerged_commits};
use hew_core::records::{RecordError, RunDir, RunKind, RunStatus, list_runs};
use hew_core::summary::{Spend, Summary, read_summary};
use hew_core::time::Timestamp;

use crate::context::Context;
use crate::error::CliError;
use crate::escape::escape;
use crate::exit::Exit;
use crate::table::Table;

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// The run to sum up (`hew loop list` shows them).
    #[arg(long, value_name = "ID", conflicts_with = "last")]
    run_id: Option<String>,

    /// The latest run (the default).
    #[arg(long)]
    last: bool,

    /// Print machine-readable JSON.
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// `table` for the terminal, or `markdown` to paste in a pull request.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Also a row per iteration.
    #[arg(long)]
    tasks: bool,
}

/// How a summary is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for the terminal.
    Table,
    /// GitHub-flavoured markdown tables.
    Markdown,
}

pub fn summary(ctx: &Context, args: SummaryArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let run_id = match args.run_id {
        Some(id) => checked_run_id(&id)?,
        None => latest_run(&root)?,
    };
    let dir = RunDir::open(&root, &run_id);
    if !dir.has_record() {
        return Err(
            CliError::new(Exit::Failure, format!("no run `{run_id}` in `.hew/loop`"))
                .with_hint("`hew loop list` shows the runs"),
        );
    }
    if args.json {
        let (json, skipped) =
            summary_json(&root, &dir, args.tasks).map_err(|e| CliError::new(Exit::Failure, e))?;
        for e in &skipped {
            eprintln!("warning: skipped {e}");
        }
        crate::json::print(json);
    } else {
        let (summary, skipped) =
            read_summary(&dir, Timestamp::now()).map_err(|e| CliError::new(Exit::Failure, e))?;
        for e in &skipped {
            eprintln!("warning: skipped {e}");
        }
        let run = dir.read_run().ok();
        let unlanded = run.as_ref().and_then(|r| unlanded_work(&root, r));
        let into = run.as_ref().map_or("", |r| r.into.as_str());
        let kept = kept_work(&root, into, &summary);
        print!("{}", render(&summary, args.format, args.tasks));
        let bullet = match args.format {
            Format::Table => "note: ",
            Format::Markdown => "- ",
        };
        for line in unlanded.iter().flat_map(unlanded_lines) {
            println!("{bullet}{line}");
        }
        for k in &kept {
            println!("{bullet}{}", k.line());
        }
    }
    Ok(Exit::Success)
}

/// The summary of the run in `dir` as `--json` prints it (with a row per iteration when
/// `tasks`), and the records that could not be read.
pub fn summary_json(
    root: &std::path::Path,
    dir: &RunDir,
    tasks: bool,
) -> Result<(serde_json::Value, Vec<RecordError>), RecordError> {
    let (summary, skipped) = read_summary(dir, Timestamp::now())?;
    let run = dir.read_run().ok();
    let unlanded = run.as_ref().and_then(|r| unlanded_work(root, r));
    let into = run.as_ref().map_or("", |r| r.into.as_str());
    let mut json = summary.to_json(tasks);
    json["unlanded"] = unlanded
        .as_ref()
        .map_or(serde_json::Value::Null, unlanded_json);
    json["kept_branches"] = kept_work(root, into, &summary)
        .iter()
        .map(KeptWork::json)
        .collect();
    Ok((json, skipped))
}

/// What to tell the user about work that waits on a run branch: where it is, why, and the
/// command that lands it.
pub fn unlanded_lines(u: &Unlanded) -> Vec<String> {
    let why = u
        .reason
        .as_deref()
        .map(|r| format!(" ({})", crate::escape::escape(r)))
        .unwrap_or_default();
    vec![
        format!(
            "{} commit{} of this run {} on {}, not on {}{why}",
            u.commits,
            if u.commits == 1 { "" } else { "s" },
            if u.commits == 1 { "is" } else { "are" },
            u.branch,
            u.into
        ),
        format!("land them with `{}`", u.land_command()),
    ]
}

/// A branch the run kept with an agent's commits that its target still lacks.
#[derive(Debug, Clone)]
pub struct KeptWork {
    /// The branch.
    pub branch: String,
    /// The branch it would land on.
    pub into: String,
    /// Commits on `branch` that `into` lacks.
    pub commits: usize,
    /// The iteration that kept it (none: a recovery did).
    pub iter: Option<u32>,
    /// The task whose work it is.
    pub task_id: Option<String>,
}

impl KeptWork {
    /// The command that shows the work: `git log --oneline main..hew/demo-3`.
    pub fn inspect_command(&self) -> String {
        if self.into.is_empty() {
            format!("git log --oneline {}", self.branch)
        } else {
            format!("git log --oneline {}..{}", self.into, self.branch)
        }
    }

    /// One line for the user: where the work is, whose, and how to see it.
    pub fn line(&self) -> String {
        let whose = match (&self.task_id, self.iter) {
            (Some(task), Some(n)) => format!(" (task {}, iteration #{n})", escape(task)),
            _ => " (kept by a recovery)".to_owned(),
        };
        format!(
            "{} unmerged commit{} kept on {}{whose}: see {} with `{}`",
            self.commits,
            if self.commits == 1 { "" } else { "s" },
            escape(&self.branch),
            if self.commits == 1 { "it" } else { "them" },
            escape(&self.inspect_command())
        )
    }

    /// The same for `--json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "branch": self.branch,
            "into": self.into,
            "commits": self.commits,
            "iter": self.iter,
            "task_id": self.task_id,
            "inspect": self.inspect_command(),
        })
    }
}

/// The branches `summary` names as kept that still hold commits `into` lacks (a branch
/// merged or deleted since is no one's concern any more).
pub fn kept_work(root: &std::path::Path, into: &str, summary: &Summary) -> Vec<KeptWork> {
    summary
        .kept_branches
        .iter()
        .filter_map(|k| {
            let commits = unmerged_commits(root, &k.branch, into)?;
            Some(KeptWork {
                branch: k.branch.clone(),
                into: into.to_owned(),
                commits,
                iter: k.iter,
                task_id: k.task_id.clone(),
            })
        })
        .collect()
}

/// The same for `--json`.
pub fn unlanded_json(u: &Unlanded) -> serde_json::Value {
    serde_json::json!({
        "branch": u.branch,
        "into": u.into,
        "commits": u.commits,
        "reason": u.reason,
        "land": u.land_command(),
    })
}

/// Refuses an id that could reach outside `.hew/loop`.
pub(super) fn checked_run_id(id: &str) -> Result<String, CliError> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(CliError::new(
            Exit::Usage,
            format!("invalid run id `{}`", id.escape_default()),
        ))
    }
}

/// The id of the run that started last.
pub(super) fn latest_run(root: &std::path::Path) -> Result<String, CliError> {
    let (runs, errors) = list_runs(root);
    for e in &errors {
        eprintln!("warning: skipped {e}");
    }
    runs.last().map(|r| r.run_id.clone()).ok_or_else(|| {
        CliError::new(Exit::Failure, "no runs in this repository yet")
            .with_hint("`hew loop` starts one")
    })
}

/// The whole summary in `format`: header, totals, `by model` (when some iteration asked
/// for a model), `billed`, and with `tasks` a row per iteration.
pub fn render(s: &Summary, format: Format, tasks: bool) -> String {
    match format {
        Format::Table => render_table(s, tasks),
        Format::Markdown => render_markdown(s, tasks),
    }
}

fn render_table(s: &Summary, tasks: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("run {}  {}\n", s.run_id, state(s)));
    out.push_str(&format!(
        "started {}, {} {}, {} iteration{}\n",
        s.started_at,
        if s.in_progress() {
            "running for"
        } else {
            "ran"
        },
        duration(s.duration),
        s.iterations,
        plural(s.iterations)
    ));
    if let Some(e) = &s.error {
        out.push_str(&format!("error: {}\n", crate::escape::escape(e)));
    }
    if let Some(outcomes) = outcomes(s) {
        out.push_str(&format!("outcomes: {outcomes}\n"));
    }
    let t = &s.totals.tokens;
    out.push_str(&format!(
        "\ntokens: input {}, cache read {}, cache write {}, output {}, total {}{}\n",
        count(t.input),
        count(t.cache_read),
        count(t.cache_create),
        count(t.output),
        count(t.total()),
        cached_note(s)
    ));
    if let Some(extra) = write_and_search_note(t) {
        out.push_str(&format!("        {extra}\n"));
    }
    out.push_str(&format!(
        "cost: {}{}\n",
        cost(s.totals.cost_usd),
        reported_note(s)
    ));
    if !s.per_model.is_empty() {
        let mut table = Table::new([
            "MODEL",
            "ITERS",
            "CLOSED",
            "INPUT",
            "CACHE READ",
            "CACHE WRITE",
            "OUTPUT",
            "TOTAL",
            "COST",
        ])
        .right_align(&[1, 2, 3, 4, 5, 6, 7, 8]);
        for r in &s.per_model {
            let t = &r.spend.tokens;
            table.row([
                r.model.clone(),
                r.iters.to_string(),
                r.tasks_closed.to_string(),
                count(t.input),
                count(t.cache_read),
                count(t.cache_create),
                count(t.output),
                count(t.total()),
                cost(r.spend.cost_usd),
            ]);
        }
        out.push_str(&format!("\nby model (as requested):\n{table}"));
    }
    if !s.billed.is_empty() {
        let mut table = Table::new([
            "MODEL",
            "INPUT",
            "CACHE READ",
            "CACHE WRITE",
            "OUTPUT",
            "TOTAL",
            "COST",
        ])
        .right_align(&[1, 2, 3, 4, 5, 6]);
        for r in &s.billed {
            let t = &r.spend.tokens;
            table.row([
                r.model.clone(),
                count(t.input),
                count(t.cache_read),
                count(t.cache_create),
                count(t.output),
                count(t.total()),
                cost(r.spend.cost_usd),
            ]);
        }
        out.push_str(&format!("\nbilled (as consumed):\n{table}"));
    }
    if tasks && !s.tasks.is_empty() {
        let mut table = Table::new([
            "#",
            "TASK",
            "MODEL",
            "OUTCOME",
            "TIME",
            "TOTAL",
            "COST",
            "TESTED AT",
            "TITLE",
        ])
        .right_align(&[0, 4, 5, 6]);
        for t in &s.tasks {
            table.row([
                t.number.to_string(),
                t.task_id.clone(),
                t.model.clone().unwrap_or_else(|| "(default)".into()),
                t.outcome.to_string(),
                duration(t.duration),
                count(t.spend.tokens.total()),
                cost(t.spend.cost_usd),
                tested(t.tested_at.as_deref()),
                t.title.clone(),
            ]);
        }
        out.push_str(&format!("\niterations:\n{table}"));
    }
    for note in notes(s) {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

fn render_markdown(s: &Summary, tasks: bool) -> String {
    let mut out = format!("### hew run `{}`\n\n", s.run_id);
    out.push_str(&format!(
        "{} · started {} · {} · {} iteration{}\n",
        state(s),
        s.started_at,
        duration(s.duration),
        s.iterations,
        plural(s.iterations)
    ));
    if let Some(e) = &s.error {
        out.push_str(&format!(
            "\n**Error:** {}\n",
            cell(&crate::escape::escape(e))
        ));
    }
    if let Some(outcomes) = outcomes(s) {
        out.push_str(&format!("\n**Outcomes:** {outcomes}\n"));
    }
    let t = &s.totals.tokens;
    out.push_str("\n| | input | cache read | cache write | output | total | cached | cost |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| **total** | {} | {} | {} | {} | {} | {} | {} |\n",
        count(t.input),
        count(t.cache_read),
        count(t.cache_create),
        count(t.output),
        count(t.total()),
        s.cached_percent()
            .map_or("–".to_owned(), |p| format!("{p:.0}%")),
        cost(s.totals.cost_usd)
    ));
    if !s.per_model.is_empty() {
        out.push_str("\n#### By model (as requested)\n\n");
        out.push_str(
            "| model | iters | tasks closed | input | cache read | cache write | output | total \
             | cost |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &s.per_model {
            let t = &r.spend.tokens;
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&r.model),
                r.iters,
                r.tasks_closed,
                count(t.input),
                count(t.cache_read),
                count(t.cache_create),
                count(t.output),
                count(t.total()),
                cost(r.spend.cost_usd)
            ));
        }
    }
    if !s.billed.is_empty() {
        out.push_str("\n#### Billed (as consumed)\n\n");
        out.push_str("| model | input | cache read | cache write | output | total | cost |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for r in &s.billed {
            out.push_str(&format!(
                "| {} | {} |\n",
                cell(&r.model),
                spend_cells(&r.spend)
            ));
        }
    }
    if tasks && !s.tasks.is_empty() {
        out.push_str("\n#### Iterations\n\n");
        out.push_str("| # | task | title | model | outcome | time | total | cost | tested at |\n");
        out.push_str("|---:|---|---|---|---|---:|---:|---:|---|\n");
        for t in &s.tasks {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
                t.number,
                cell(&t.task_id),
                cell(&t.title),
                cell(t.model.as_deref().unwrap_or("(default)")),
                t.outcome,
                duration(t.duration),
                count(t.spend.tokens.total()),
                cost(t.spend.cost_usd),
                tested(t.tested_at.as_deref())
            ));
        }
    }
    let notes = notes(s);
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    out
}

/// The commit a task's work was verified at in the merge queue, short; `-` if it was not.
fn tested(commit: Option<&str>) -> String {
    commit.map_or_else(|| "-".into(), |c| c[..c.len().min(10)].to_owned())
}

fn spend_cells(s: &Spend) -> String {
    let t = &s.tokens;
    format!(
        "{} | {} | {} | {} | {} | {}",
        count(t.input),
        count(t.cache_read),
        count(t.cache_create),
        count(t.output),
        count(t.total()),
        cost(s.cost_usd)
    )
}

/// `finished (ready_empty)`, `running`, ...
pub(super) fn state(s: &Summary) -> String {
    let status = match s.status {
        RunStatus::Running => return "running (in progress)".to_owned(),
        RunStatus::Finished => "finished",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Failed => "failed",
        RunStatus::Crashed => "crashed",
    };
    let state = match s.stop_reason {
        Some(reason) => format!("{status} ({reason})"),
        None => format!("{status} (stop reason not recorded)"),
    };
    match s.kind {
        RunKind::Earlier => format!("{state}, recorded by earlier hew"),
        RunKind::Current => state,
    }
}

/// `closed 10, no_change 1`; `None` when nothing ran.
fn outcomes(s: &Summary) -> Option<String> {
    let parts: Vec<String> = s
        .outcomes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The agents' own estimate beside hew's, when every agent gave one.
fn reported_note(s: &Summary) -> String {
    match s.reported_cost_usd {
        Some(r) if s.iterations > 0 => format!(" (the agents' own estimate: {})", cost(Some(r))),
        _ => String::new(),
    }
}

fn cached_note(s: &Summary) -> String {
    s.cached_percent()
        .map_or(String::new(), |p| format!(" ({p:.0}% of input cached)"))
}

/// The cache write durations and web searches behind the totals, when there are any.
fn write_and_search_note(t: &Tokens) -> Option<String> {
    let mut parts = Vec::new();
    if t.cache_create > 0 {
        parts.push(format!(
            "cache writes: {} for 5 minutes, {} for 1 hour{}",
            count(t.cache_create_5m()),
            count(t.cache_create_1h),
            if t.cache_create_unsplit > 0 {
                format!(
                    ", {} of no reported duration (priced as 5-minute writes)",
                    count(t.cache_create_unsplit)
                )
            } else {
                String::new()
            }
        ));
    }
    if t.web_search_requests > 0 {
        parts.push(format!("web searches: {}", count(t.web_search_requests)));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn notes(s: &Summary) -> Vec<String> {
    let mut notes = Vec::new();
    if s.partial_usage > 0 {
        notes.push(format!(
            "{} iteration{} stopped before the agent's final figure: {} a lower bound",
            s.partial_usage,
            plural(s.partial_usage),
            if s.partial_usage == 1 {
                "its usage is"
            } else {
                "their usage is"
            }
        ));
    }
    if !s.cost_disagreements.is_empty() {
        let list: Vec<String> = s
            .cost_disagreements
            .iter()
            .map(|n| format!("#{n}"))
            .collect();
        notes.push(format!(
            "hew's cost and the agent's own differ by more than 1% on iteration{} {}: see \
             each iteration's notes, and `hew prices` against the provider's page",
            plural(s.cost_disagreements.len() as u32),
            list.join(", ")
        ));
    }
    if s.unknown_usage > 0 {
        notes.push(format!(
            "{} iteration{} printed no usage hew could read: not counted, cost unknown",
            s.unknown_usage,
            plural(s.unknown_usage)
        ));
    }
    // Blame prices only when there are tokens to price: with none, the usage note above
    // (or old records) is the reason.
    if s.totals.cost_usd.is_none() && s.iterations > 0 {
        if s.totals.tokens.total() > 0 {
            notes.push(
                "cost unknown: a model without a price (set one with \
                 `hew config set prices.<model>.input ...`), or records without costs"
                    .to_owned(),
            );
        } else if s.unknown_usage == 0 {
            notes.push("cost unknown: the records carry no cost".to_owned());
        }
    }
    notes
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `1234567` → `1,234,567`: exact, and readable.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `$0.0277`, `$12.34`, or `unknown`.
pub fn cost(usd: Option<f64>) -> String {
    match usd {
        None => "unknown".to_owned(),
        Some(x) if x >= 100.0 => format!("${x:.2}"),
        Some(x) => format!("${x:.4}"),
    }
}

/// `45s`, `4m12s`, `2h05m`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Text safe in a markdown table cell.
fn cell(text: &str) -> String {
    crate::escape::escape(&text.replace('\n', " ")).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_exact_with_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(22_570), "22,570");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(cost(Some(0.0277)), "$0.0277");
        assert_eq!(cost(Some(123.456)), "$123.46");
        assert_eq!(cost(None), "unknown");
        assert_eq!(duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(duration(Duration::from_secs(252)), "4m12s");
        assert_eq!(duration(Duration::from_secs(7500)), "2h05m");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
