//! `hew loop report`: one run as a page to look at rather than read: a timeline of the
//! iterations on their worker slots, the spend by model, the outcomes, what needs a
//! person, and every iteration in a sortable table.
//!
//! The page is one self-contained HTML file: inline CSS and SVG, a few lines of script
//! for sorting, no network, no font or image from anywhere, and a Content-Security-Policy
//! that forbids loading any. It can be mailed, attached to a pull request or opened years
//! later from a disk with no network. Every string that came from outside hew (titles,
//! task ids, model names, errors, branch names) is escaped for HTML where it is written.
//!
//! It is read the way `hew loop summary` reads: the records of the run, one at a time, fed
//! to the same [`SummaryBuilder`], so its totals are the summary's to the cent, whether the
//! run finished, crashed, is still going (a record being written is skipped and reported)
//! or was recorded by earlier hew. Only the compact rows the page draws are kept, so a
//! night of 10,000 iterations renders in well under a second.

mod attention;
mod html;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use hew_core::diverted::unlanded_work;
use hew_core::records::{IterRecord, Outcome, RunDir, RunKind, RunRecord, Timings};
use hew_core::retry::EXHAUSTED_LABEL;
use hew_core::summary::{Summary, SummaryBuilder};
use hew_core::time::Timestamp;

use super::summary::{checked_run_id, kept_work, latest_run};
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

pub use attention::Attention;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run to show (`hew loop list` shows them).
    #[arg(long, value_name = "ID", conflicts_with = "last")]
    run_id: Option<String>,

    /// The latest run (the default).
    #[arg(long)]
    last: bool,

    /// Where to write the page: a file, or `-` for standard output (default:
    /// `.hew/loop/<run-id>/report.html`; for a run of earlier hew, whose directory is left
    /// as it was, `.hew/report-<run-id>.html`).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Open the page in the default browser once written (`xdg-open`, or `open` on macOS).
    #[arg(long)]
    open: bool,
}

/// One iteration as the page draws it: what its bar, its row and its title say.
#[derive(Debug, Clone)]
pub struct IterRow {
    pub number: u32,
    pub task_id: String,
    pub title: String,
    pub slot: usize,
    pub attempt: u32,
    pub model: Option<String>,
    pub outcome: Outcome,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub timings: Timings,
    pub tokens: u64,
    pub cost_usd: Option<f64>,
    /// Why it did not close, in one line, when it did not.
    pub reason: Option<String>,
    /// It ended with the task labelled `hew:exhausted`.
    pub exhausted: bool,
}

impl IterRow {
    fn new(it: &IterRecord) -> Self {
        let exhausted_note = format!("labelled {EXHAUSTED_LABEL}");
        Self {
            number: it.number,
            task_id: it.task_id.clone(),
            title: it.title.clone(),
            slot: it.slot,
            attempt: it.attempt,
            model: it.model.clone().filter(|m| !m.is_empty()),
            outcome: it.outcome,
            started_ms: it.started_at.unix_ms(),
            ended_ms: it.ended_at.unix_ms().max(it.started_at.unix_ms()),
            timings: it.timings,
            tokens: it.usage.total.total(),
            cost_usd: it.cost_usd,
            reason: attention::reason(it),
            exhausted: it.notes.iter().any(|n| n.starts_with(&exhausted_note)),
        }
    }
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub run: RunRecord,
    pub summary: Summary,
    pub iters: Vec<IterRow>,
    pub attention: Vec<Attention>,
    /// When the page was made (a run still going is shown as of then).
    pub generated_at: Timestamp,
}

pub fn report(ctx: &Context, args: ReportArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let run_id = match args.run_id {
        Some(id) => checked_run_id(&id)?,
        None => latest_run(&root)?,
    };
    if args.open && args.output.as_deref() == Some(Path::new("-")) {
        return Err(CliError::new(
            Exit::Usage,
            "--open needs a file to open, not `-o -` (standard output)",
        ));
    }
    let dir = RunDir::open(&root, &run_id);
    if !dir.has_record() {
        return Err(
            CliError::new(Exit::Failure, format!("no run `{run_id}` in `.hew/loop`"))
                .with_hint("`hew loop list` shows the runs"),
        );
    }
    // The tracker the run's commands name: the configured or chosen one.
    let tracker = ctx
        .load_config(Vec::new())
        .ok()
        .and_then(|c| ctx.tracker(&c, &root).ok())
        .map_or_else(|| "br".to_owned(), |t| t.program().to_owned());
    let report = read_report(&root, &dir, &tracker, Timestamp::now())?;
    let page = html::render(&report);

    match args.output.as_deref() {
        Some(p) if p == Path::new("-") => {
            let mut out = std::io::stdout().lock();
            out.write_all(page.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| {
                    CliError::new(Exit::Failure, format!("failed to write the report: {e}"))
                })?;
        }
        path => {
            let path = match path {
                Some(p) => ctx.cwd.join(p),
                // A run directory of earlier hew stays as it was: its page goes beside.
                None if dir.kind() == RunKind::Earlier => {
                    root.join(".hew").join(format!("report-{run_id}.html"))
                }
                None => dir.path().join("report.html"),
            };
            write_page(&path, &page)?;
            println!("{}", path.display());
            if args.open {
                open_in_browser(&path);
            }
        }
    }
    Ok(Exit::Success)
}

/// Reads the run in `dir` into what the page shows, in one pass over its records.
fn read_report(
    root: &Path,
    dir: &RunDir,
    tracker: &str,
    now: Timestamp,
) -> Result<Report, CliError> {
    let run = dir
        .read_run()
        .map_err(|e| CliError::new(Exit::Failure, e))?;
    let mut builder = SummaryBuilder::new(run.clone());
    let mut iters = Vec::new();
    let skipped = dir.for_each_iter(|it| {
        builder.add(&it);
        iters.push(IterRow::new(&it));
    });
    for e in &skipped {
        eprintln!("warning: skipped {e}");
    }
    iters.sort_by_key(|i| i.number);
    let summary = builder.finish(now);
    let kept = kept_work(root, &run.into, &summary);
    let unlanded = unlanded_work(root, &run);
    let attention = attention::needs_attention(&run, &iters, kept, unlanded, tracker);
    Ok(Report {
        run,
        summary,
        iters,
        attention,
        generated_at: now,
    })
}

fn write_page(path: &Path, page: &str) -> Result<(), CliError> {
    let failed = |e: std::io::Error| {
        CliError::new(
            Exit::Failure,
            format!("failed to write the report to `{}`: {e}", path.display()),
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, page).map_err(failed)
}

/// Hands `path` to the desktop's opener; a failure is a warning, the page is written.
fn open_in_browser(path: &Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = Command::new(opener)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!(
            "warning: `{opener}` could not open the report ({s}); open `{}` in a browser",
            path.display()
        ),
        Err(e) => eprintln!(
            "warning: could not run `{opener}` ({e}); open `{}` in a browser",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests;
