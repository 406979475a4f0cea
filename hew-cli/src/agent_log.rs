//! An agent's raw output (`iters/<n>.agent.jsonl`: Claude's stream-json or Codex's
//! `exec --json`) rendered for people: what the agent said, each tool call with its main
//! argument, the start of each tool result, and the final tokens and cost.
//!
//! Lenient like the usage parsers: unknown events are skipped, a line that is not JSON is
//! shown as it is, and nothing here can fail.

use serde_json::Value;

use crate::progress::{cost, tokens};

/// Longest tool argument or result shown, in characters.
const ARG_MAX: usize = 160;
/// Longest non-JSON line shown.
const RAW_MAX: usize = 300;

/// Renders one line of output at a time.
#[derive(Debug, Default)]
pub struct AgentLog;

impl AgentLog {
    pub fn new() -> Self {
        Self
    }

    /// The lines to show for one line of the agent's output (without its newline).
    pub fn line(&mut self, raw: &[u8]) -> Vec<String> {
        if is_binary(raw) {
            return vec![format!("  (binary output, {} bytes, not shown)", raw.len())];
        }
        let text = String::from_utf8_lossy(raw);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Vec::new();
        }
        let Ok(event) = serde_json::from_str::<Value>(trimmed) else {
            return vec![format!("  {}", cut(trimmed, RAW_MAX))];
        };
        let kind = str_at(&event, "type").unwrap_or("");
        match kind {
            "system" => system(&event),
            "assistant" => assistant(&event),
            "user" => user(&event),
            "result" => result(&event),
            "thread.started" => vec![format!(
                "── codex thread {}",
                str_at(&event, "thread_id").unwrap_or("?")
            )],
            "item.completed" => codex_item(&event["item"]),
            "turn.completed" => vec![format!("■ turn done: {}", codex_usage(&event["usage"]))],
            "turn.failed" => vec![format!(
                "✗ turn failed: {}",
                str_at(&event["error"], "message").unwrap_or("(no message)")
            )],
            "error" => vec![format!(
                "✗ error: {}",
                str_at(&event, "message").unwrap_or("(no message)")
            )],
            _ => Vec::new(),
        }
    }
}

/// Output that is not text: a NUL byte, or bytes that are not UTF-8. Shown as a note, not
/// as bytes the terminal would try to interpret.
fn is_binary(raw: &[u8]) -> bool {
    raw.contains(&0) || std::str::from_utf8(raw).is_err()
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn num_at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn system(event: &Value) -> Vec<String> {
    if str_at(event, "subtype") != Some("init") {
        return Vec::new();
    }
    let tools = event["tools"].as_array().map_or(0, Vec::len);
    vec![format!(
        "── session started: model {}, {tools} tools, in {}",
        str_at(event, "model").unwrap_or("?"),
        str_at(event, "cwd").unwrap_or("?")
    )]
}

fn assistant(event: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for block in event["message"]["content"].as_array().into_iter().flatten() {
        match str_at(block, "type") {
            Some("text") => {
                let text = str_at(block, "text").unwrap_or("").trim();
                out.extend(text.lines().map(str::to_owned));
            }
            Some("tool_use") => {
                let name = str_at(block, "name").unwrap_or("?");
                let arg = main_argument(name, &block["input"]);
                out.push(format!("→ {name}  {}", cut(&first_line(&arg), ARG_MAX)));
            }
            _ => {}
        }
    }
    out
}

/// The argument that says what a tool call does: the command, the file, the pattern.
fn main_argument(tool: &str, input: &Value) -> String {
    let key = match tool {
        "Bash" => "command",
        "Read" | "Write" | "Edit" | "MultiEdit" => "file_path",
        "NotebookEdit" => "notebook_path",
        "Grep" | "Glob" => "pattern",
        "WebFetch" => "url",
        "WebSearch" => "query",
        "Task" => "description",
        "TodoWrite" => {
            let n = input["todos"].as_array().map_or(0, Vec::len);
            return format!("{n} todos");
        }
        _ => "",
    };
    if let Some(v) = str_at(input, key) {
        return v.to_owned();
    }
    // Another tool (an MCP one): its first text argument, else the input as JSON.
    input
        .as_object()
        .and_then(|m| m.values().find_map(Value::as_str))
        .map_or_else(|| input.to_string(), str::to_owned)
}

fn user(event: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for block in event["message"]["content"].as_array().into_iter().flatten() {
        if str_at(block, "type") != Some("tool_result") {
            continue;
        }
        let text = match &block["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| str_at(p, "text"))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        };
        let mark = if block["is_error"].as_bool() == Some(true) {
            "✗"
        } else {
            "←"
        };
        out.push(format!("  {mark} {}", summary(&text)));
    }
    out
}

fn result(event: &Value) -> Vec<String> {
    let subtype = str_at(event, "subtype").unwrap_or("?");
    let u = &event["usage"];
    let input = num_at(u, "input_tokens");
    let output = num_at(u, "output_tokens");
    let read = num_at(u, "cache_read_input_tokens");
    let write = num_at(u, "cache_creation_input_tokens");
    let mut models_total = 0;
    if let Some(models) = event["modelUsage"].as_object() {
        for m in models.values() {
            models_total += num_at(m, "inputTokens")
                + num_at(m, "outputTokens")
                + num_at(m, "cacheReadInputTokens")
                + num_at(m, "cacheCreationInputTokens");
        }
    }
    let total = if models_total > 0 {
        models_total
    } else {
        input + output + read + write
    };
    let mut parts = vec![format!("■ result: {subtype}")];
    if let Some(n) = event["num_turns"].as_u64() {
        parts.push(format!("{n} turns"));
    }
    if let Some(ms) = event["duration_ms"].as_u64() {
        parts.push(format!("{:.1}s", ms as f64 / 1000.0));
    }
    parts.push(format!(
        "{} tokens (input {}, output {}, cache read {}, cache write {})",
        tokens(total),
        tokens(input),
        tokens(output),
        tokens(read),
        tokens(write)
    ));
    if let Some(usd) = event["total_cost_usd"].as_f64() {
        parts.push(cost(usd));
    }
    let mut out = vec![parts.join(" · ")];
    if event["is_error"].as_bool() == Some(true)
        && let Some(text) = str_at(event, "result")
    {
        out.push(format!("  ✗ {}", summary(text)));
    }
    out
}

fn codex_item(item: &Value) -> Vec<String> {
    match str_at(item, "type") {
        Some("agent_message") => str_at(item, "text")
            .unwrap_or("")
            .trim()
            .lines()
            .map(str::to_owned)
            .collect(),
        Some("command_execution") => {
            let cmd = str_at(item, "command").unwrap_or("?");
            let mut out = vec![format!("→ $ {}", cut(&first_line(cmd), ARG_MAX))];
            let exit = item["exit_code"].as_i64();
            let output = str_at(item, "aggregated_output").unwrap_or("");
            let mark = if exit.is_some_and(|c| c != 0) {
                "✗"
            } else {
                "←"
            };
            let code = match exit {
                Some(c) if c != 0 => format!(" (exit {c})"),
                _ => String::new(),
            };
            out.push(format!("  {mark} {}{code}", summary(output)));
            out
        }
        Some("file_change") => item["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "→ {} {}",
                    str_at(c, "kind").unwrap_or("change"),
                    str_at(c, "path").unwrap_or("?")
                )
            })
            .collect(),
        Some("mcp_tool_call") => vec![format!(
            "→ {}.{}",
            str_at(item, "server").unwrap_or("?"),
            str_at(item, "tool").unwrap_or("?")
        )],
        Some("web_search") => vec![format!(
            "→ search  {}",
            str_at(item, "query").unwrap_or("?")
        )],
        Some("error") => vec![format!(
            "✗ {}",
            str_at(item, "message").unwrap_or("(no message)")
        )],
        _ => Vec::new(),
    }
}

fn codex_usage(u: &Value) -> String {
    let input = num_at(u, "input_tokens");
    let cached = num_at(u, "cached_input_tokens");
    let output = num_at(u, "output_tokens");
    format!(
        "{} tokens (input {}, of which cached {}, output {})",
        tokens(input + output),
        tokens(input),
        tokens(cached),
        tokens(output)
    )
}

/// The first line of `text`, cut, and how many more lines there were.
fn summary(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".to_owned();
    }
    let more = text.lines().count().saturating_sub(1);
    let first = cut(text.lines().next().unwrap_or(""), ARG_MAX);
    match more {
        0 => first,
        1 => format!("{first}  (+1 line)"),
        n => format!("{first}  (+{n} lines)"),
    }
}

fn first_line(text: &str) -> String {
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or("").to_owned();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_output_is_a_note_not_bytes() {
        let mut log = AgentLog::new();
        assert_eq!(
            log.line(b"\x7fELF\x02\x01\x00\x00\xff\xfe"),
            ["  (binary output, 10 bytes, not shown)"]
        );
        assert_eq!(
            log.line(b"\xc3\x28 text"),
            ["  (binary output, 7 bytes, not shown)"]
        );
        assert_eq!(log.line("café".as_bytes()), ["  café"]);
    }

    fn render(lines: &[&str]) -> Vec<String> {
        let mut log = AgentLog::new();
        lines.iter().flat_map(|l| log.line(l.as_bytes())).collect()
    }

    #[test]
    fn claude_events_read_as_a_conversation() {
        let out = render(&[
            r#"{"type":"system","subtype":"hook_response","hook_name":"SessionStart"}"#,
            r#"{"type":"system","subtype":"init","model":"claude-opus-4-5","cwd":"/wt/w1","tools":["Bash","Read"]}"#,
            r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Reading the code first.\nThen fixing it."}]}}"#,
            r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"src/lib.rs"}}]}}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"line one\nline two\nline three"}]}}"#,
            r#"{"type":"assistant","message":{"id":"m2","content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"cargo test -p core","description":"Run tests"}}]}}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"error: 1 test failed"}],"is_error":true}]}}"#,
            r#"{"type":"assistant","message":{"id":"m3","content":[{"type":"tool_use","id":"t3","name":"mcp__db__query","input":{"sql":"select 1"}}]}}"#,
            "plain text from a hook",
            r#"{"type":"something_new","x":1}"#,
            r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":12345,"num_turns":3,"total_cost_usd":0.0277,"usage":{"input_tokens":1200,"cache_creation_input_tokens":3000,"cache_read_input_tokens":15000,"output_tokens":450},"modelUsage":{"a":{"inputTokens":1200,"outputTokens":450,"cacheReadInputTokens":15000,"cacheCreationInputTokens":3000},"b":{"inputTokens":800,"outputTokens":120,"cacheReadInputTokens":2000}}}"#,
        ]);
        assert_eq!(
            out,
            [
                "── session started: model claude-opus-4-5, 2 tools, in /wt/w1",
                "Reading the code first.",
                "Then fixing it.",
                "→ Read  src/lib.rs",
                "  ← line one  (+2 lines)",
                "→ Bash  cargo test -p core",
                "  ✗ error: 1 test failed",
                "→ mcp__db__query  select 1",
                "  plain text from a hook",
                "■ result: success · 3 turns · 12.3s · 22.6k tokens (input 1.2k, output 450, \
                 cache read 15.0k, cache write 3.0k) · $0.0277",
            ]
        );
    }

    #[test]
    fn codex_events_read_as_a_conversation() {
        let out = render(&[
            r#"{"type":"thread.started","thread_id":"th1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"i0","type":"reasoning","text":"**Plan**"}}"#,
            r#"{"type":"item.started","item":{"id":"i1","type":"command_execution","command":"ls","status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"i1","type":"command_execution","command":"bash -lc ls","aggregated_output":"a\nb\n","exit_code":0}}"#,
            r#"{"type":"item.completed","item":{"id":"i2","type":"file_change","changes":[{"path":"/w/a.rs","kind":"update"}]}}"#,
            r#"{"type":"item.completed","item":{"id":"i3","type":"agent_message","text":"Done."}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":5000,"cached_input_tokens":3000,"output_tokens":300}}"#,
            r#"{"type":"turn.failed","error":{"message":"rate limited"}}"#,
        ]);
        assert_eq!(
            out,
            [
                "── codex thread th1",
                "→ $ bash -lc ls",
                "  ← a  (+1 line)",
                "→ update /w/a.rs",
                "Done.",
                "■ turn done: 5.3k tokens (input 5.0k, of which cached 3.0k, output 300)",
                "✗ turn failed: rate limited",
            ]
        );
    }

    #[test]
    fn long_arguments_and_huge_lines_are_cut() {
        let long = "x".repeat(5000);
        let line = format!(
            r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","name":"Bash","input":{{"command":"{long}"}}}}]}}}}"#
        );
        let out = render(&[&line, &long]);
        assert_eq!(out.len(), 2);
        assert!(
            out.iter().all(|l| l.chars().count() <= RAW_MAX + 2),
            "{out:?}"
        );
    }
}
