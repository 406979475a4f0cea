//! Drawing progress on a real terminal (indicatif), or printing it as plain or JSON lines.
//! The only part of the display that reads the clock and the terminal size.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use hew_core::agent::Stop;
use hew_core::runner::RunEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};
use tokio::sync::{mpsc, watch};

use super::format::Style;
use super::state::{Line, Progress, Stream};

/// How often live lines are redrawn when nothing happens (elapsed times move).
const TICK: Duration = Duration::from_millis(500);
/// Live redraws per second at most.
const REFRESH_HZ: u8 = 10;

/// How a run is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live lines on a terminal.
    Live,
    /// Whole lines only.
    Plain,
    /// The events as JSON lines.
    Json,
}

impl Mode {
    /// `--json` streams events; `--quiet`, or stdout not a terminal, gives plain lines.
    pub fn choose(json: bool, quiet: bool) -> Self {
        if json {
            Self::Json
        } else if quiet || !std::io::stdout().is_terminal() || term_is_dumb() {
            Self::Plain
        } else {
            Self::Live
        }
    }
}

fn term_is_dumb() -> bool {
    std::env::var("TERM").is_ok_and(|t| t == "dumb")
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
fn color_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && !term_is_dumb() && std::io::stdout().is_terminal()
}

fn style_now(color: bool) -> Style {
    let (_, cols) = console::Term::stdout().size();
    Style {
        color,
        // One column spare: writing the last column makes some terminals wrap.
        width: usize::from(cols).saturating_sub(1).max(20),
    }
}

/// Shows the run's events until the runner drops its sender. `stop` is watched so the
/// live display can say the run is stopping (printing anything else would break it).
pub async fn show(
    mode: Mode,
    mut events: mpsc::UnboundedReceiver<RunEvent>,
    stop: watch::Receiver<Stop>,
) {
    let start = Instant::now();
    match mode {
        Mode::Json => {
            while let Some(ev) = events.recv().await {
                print_json(&ev, start.elapsed());
            }
        }
        Mode::Plain => {
            let mut progress = Progress::new();
            let style = Style {
                color: color_wanted(),
                ..Style::plain()
            };
            while let Some(ev) = events.recv().await {
                for line in progress.apply(&ev, start.elapsed(), &style) {
                    print_line(&line);
                }
            }
        }
        Mode::Live => live(events, stop, start).await,
    }
}

fn print_line(line: &Line) {
    match line.stream {
        Stream::Out => println!("{}", line.text),
        Stream::Err => eprintln!("{}", line.text),
    }
}

/// One event as one JSON line: `event` (its kind) first, the event's own fields, then
/// `elapsed_ms` since the display started.
fn print_json(ev: &RunEvent, elapsed: Duration) {
    match serde_json::to_string(ev) {
        Ok(json) => {
            let ms = elapsed.as_millis();
            let mut out = std::io::stdout().lock();
            let body = json.strip_suffix('}').unwrap_or(&json);
            let _ = writeln!(out, "{body},\"elapsed_ms\":{ms}}}").and_then(|()| out.flush());
        }
        Err(e) => eprintln!("warning: failed to write an event as JSON: {e}"),
    }
}

async fn live(
    mut events: mpsc::UnboundedReceiver<RunEvent>,
    mut stop: watch::Receiver<Stop>,
    start: Instant,
) {
    let color = color_wanted();
    let _tty = TtyGuard::new();
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(REFRESH_HZ));
    let mut bars: Vec<ProgressBar> = Vec::new();
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(TICK);
    let mut watching_stop = true;
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let style = style_now(color);
                // Warnings too go through indicatif, above the live lines: a line written
                // to stderr meanwhile reaches the screen in no fixed order with the
                // redraws and leaves stale copies of live lines behind.
                for line in progress.apply(&ev, start.elapsed(), &style) {
                    if !line.plain_only {
                        let _ = multi.println(&line.text);
                    }
                }
            }
            _ = tick.tick() => {}
            changed = stop.changed(), if watching_stop => {
                if changed.is_err() {
                    watching_stop = false;
                    continue;
                }
                let now = *stop.borrow_and_update();
                let message = match now {
                    Stop::Run => None,
                    Stop::Graceful => Some(
                        "stopping: no new tasks; running agents get SIGINT, then are killed \
                         after the grace period (Ctrl-C again to kill now)",
                    ),
                    Stop::Now => Some("stopping now"),
                };
                if let Some(m) = message {
                    progress.stopping = true;
                    let _ = multi.println(m);
                }
            }
        }
        redraw(
            &multi,
            &mut bars,
            &progress.frame(start.elapsed(), &style_now(color)),
        );
    }
    for bar in bars.drain(..) {
        bar.finish_and_clear();
        multi.remove(&bar);
    }
    let _ = multi.clear();
}

/// Makes the live lines show `frame`: one indicatif bar per line, added or removed at the
/// end as the count changes (the lines are recomputed whole, so which bar shows which
/// line does not matter).
fn redraw(multi: &MultiProgress, bars: &mut Vec<ProgressBar>, frame: &[String]) {
    while bars.len() > frame.len() {
        if let Some(bar) = bars.pop() {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
    while bars.len() < frame.len() {
        let style =
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
        bars.push(multi.add(ProgressBar::new_spinner().with_style(style)));
    }
    for (bar, line) in bars.iter().zip(frame) {
        bar.set_message(line.clone());
    }
}

/// While live lines are drawn, Ctrl-C must not disturb them. By default the terminal
/// discards output it has not yet shown when it sends SIGINT (a redraw cut in half, so
/// the screen no longer matches what indicatif drew and a stale line stays behind) and
/// echoes `^C` into the lines. This sets `NOFLSH` and clears `ECHOCTL` on the terminal,
/// and puts the settings back when dropped.
struct TtyGuard {
    saved: Option<Termios>,
}

impl TtyGuard {
    fn new() -> Self {
        let stdout = std::io::stdout();
        let saved = tcgetattr(&stdout).ok();
        if let Some(old) = &saved {
            let mut quiet = old.clone();
            quiet.local_flags.insert(LocalFlags::NOFLSH);
            quiet.local_flags.remove(LocalFlags::ECHOCTL);
            if tcsetattr(&stdout, SetArg::TCSANOW, &quiet).is_err() {
                return Self { saved: None };
            }
        }
        Self { saved }
    }
}

impl Drop for TtyGuard {
    fn drop(&mut self) {
        if let Some(old) = &self.saved {
            let _ = tcsetattr(std::io::stdout(), SetArg::TCSANOW, old);
        }
    }
}
