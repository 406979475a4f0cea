//! Snapshot tests of the display: a recorded event sequence (`hew loop -j 4 --json` over
//! the fake agent: three tasks merged, one with no change, one failed, one timed out after
//! being slow) is replayed at its recorded times and the rendered text compared with
//! `hew-cli/tests/snapshots/`. Set `HEW_BLESS=1` to rewrite the expected files after an
//! intended change, then review the diff.

use std::path::PathBuf;
use std::time::Duration;

use hew_core::runner::RunEvent;

use super::format::Style;
use super::state::{Progress, Stream};

const FOUR_WORKERS: &str = include_str!("../../tests/snapshots/four-workers.events.jsonl");

/// The events of a recording, each with the time it arrived.
fn recording(text: &str) -> Vec<(Duration, RunEvent)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let at = Duration::from_millis(v["elapsed_ms"].as_u64().unwrap());
            (at, serde_json::from_value(v).unwrap())
        })
        .collect()
}

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("HEW_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with HEW_BLESS=1)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the snapshot (HEW_BLESS=1 rewrites it):\n{}",
        diff(&expected, actual)
    );
}

fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i), a.get(i));
        if x != y {
            out.push_str(&format!(
                "line {}:\n- {}\n+ {}\n",
                i + 1,
                x.unwrap_or(&""),
                y.unwrap_or(&"")
            ));
        }
    }
    out
}

/// What a terminal shows over the run: after each event, the lines printed for it (`>`
/// stdout, `!` stderr) and the live lines at that moment (`|`).
fn live_transcript(events: &[(Duration, RunEvent)], style: &Style) -> String {
    let mut p = Progress::new();
    let mut out = String::new();
    for (at, ev) in events {
        let kind = serde_json::to_value(ev).unwrap()["event"]
            .as_str()
            .unwrap()
            .to_owned();
        out.push_str(&format!("@{:>5}ms {kind}\n", at.as_millis()));
        for line in p.apply(ev, *at, style) {
            if !line.plain_only {
                let mark = if line.stream == Stream::Out { '>' } else { '!' };
                out.push_str(&format!("{mark} {}\n", line.text));
            }
        }
        for line in p.frame(*at, style) {
            out.push_str(&format!("| {line}\n"));
        }
    }
    out
}

/// What a pipe gets: whole lines only.
fn plain_transcript(events: &[(Duration, RunEvent)]) -> String {
    let mut p = Progress::new();
    let mut out = String::new();
    for (at, ev) in events {
        for line in p.apply(ev, *at, &Style::plain()) {
            let name = if line.stream == Stream::Out {
                "out"
            } else {
                "err"
            };
            out.push_str(&format!("{name}: {}\n", line.text));
        }
    }
    out
}

#[test]
fn four_workers_live() {
    let events = recording(FOUR_WORKERS);
    check(
        "four-workers.live.txt",
        &live_transcript(&events, &Style::plain()),
    );
}

#[test]
fn four_workers_plain() {
    check(
        "four-workers.plain.txt",
        &plain_transcript(&recording(FOUR_WORKERS)),
    );
}

/// On a narrow terminal the title goes first; every line still fits.
#[test]
fn four_workers_on_a_narrow_terminal() {
    let events = recording(FOUR_WORKERS);
    let style = Style {
        color: false,
        width: 60,
    };
    let text = live_transcript(&events, &style);
    for line in text.lines().filter(|l| l.starts_with("| ")) {
        assert!(line.chars().count() <= 62, "too wide: {line:?}");
    }
    check("four-workers.narrow.txt", &text);
}

#[test]
fn colour_marks_states_and_outcomes_and_nothing_else_changes() {
    let events = recording(FOUR_WORKERS);
    let color = Style {
        color: true,
        width: 100,
    };
    let painted = live_transcript(&events, &color);
    assert!(painted.contains("\x1b[33mslow\x1b[0m"), "{painted}");
    assert!(painted.contains("\x1b[32m✓\x1b[0m"), "{painted}");
    let stripped = strip_ansi(&painted);
    assert_eq!(stripped, live_transcript(&events, &Style::plain()));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `--json` output replays as the same events: the stream is a faithful record.
#[test]
fn recorded_events_round_trip_through_json() {
    for (_, ev) in recording(FOUR_WORKERS) {
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.starts_with("{\"event\":"), "{json}");
        let back: RunEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }
}

/// Live tokens add up the running agents' stream figures and the finished iterations'
/// final ones; a slow agent being stopped stays "terminating".
#[test]
fn tokens_and_states_follow_the_events() {
    let events = recording(FOUR_WORKERS);
    let mut p = Progress::new();
    let mut saw_terminating = false;
    for (at, ev) in &events {
        p.apply(ev, *at, &Style::plain());
        if let RunEvent::AgentTerminating { iter } = ev {
            saw_terminating = true;
            assert_eq!(p.workers[iter].state.as_str(), "terminating");
        }
        if let RunEvent::AgentSlow { iter } = ev
            && let Some(w) = p.workers.get(iter)
        {
            assert_ne!(w.state.as_str(), "running");
        }
    }
    assert!(saw_terminating);
    assert_eq!(p.done, 6);
    assert!(p.workers.is_empty());
    assert!(p.frame(Duration::from_secs(60), &Style::plain()).is_empty());
    // 5 iterations with a final 22.6k each, one timed out with a partial 11.1k.
    assert_eq!(p.tokens(), 5 * 22_570 + 11_101);
}
