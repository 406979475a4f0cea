//! The events the fake agent prints: Claude Code's `stream-json`, Codex's `exec --json`, or
//! plain text. One JSON object per line, flushed as it happens.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::Done;
use crate::scenario::{ApiError, Billing, Plan, Tokens, cost, round};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Claude,
    Codex,
    None,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::None => "none",
        }
    }
}

/// How many pauses `sleep_ms` is spread over.
const PAUSES: u32 = 4;

/// Lines that are not events: hew must skip them and keep the rest of the stream.
const GARBAGE: &[&str] = &[
    "Warning: this line is not JSON (fake agent garbage)",
    r#"{"type":"assistant","message":{"id":"msg_trunc"#,
    "",
    "\u{1b}[33m[hook] pre-commit: ok\u{1b}[0m",
    "[1, 2, 3]",
    r#"{"type":"fake_unknown_event","payload":{"n":42}}"#,
];

/// `v` as one line, with `type` (and `subtype`) first as the real CLIs print them.
fn typed(v: &Value) -> String {
    let mut rest = v.clone();
    let Some(map) = rest.as_object_mut() else {
        return v.to_string();
    };
    let mut head = String::from("{");
    for key in ["type", "subtype"] {
        if let Some(val) = map.remove(key) {
            head.push_str(&format!("{}:{val},", json!(key)));
        }
    }
    let tail = rest.to_string();
    if tail == "{}" {
        head.pop();
        head + "}"
    } else {
        head + &tail[1..]
    }
}

/// FNV-1a: stable ids from the task id and attempt.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn uuid(seed: &str) -> String {
    let (a, b) = (hash(seed), hash(&format!("{seed}#")));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

pub struct Stream<'a> {
    format: Format,
    task_id: String,
    session: String,
    workdir: String,
    plan: &'a Plan,
    started: Instant,
    events: u32,
    items: u32,
}

impl<'a> Stream<'a> {
    pub fn new(
        format: Format,
        task_id: &str,
        attempt: u32,
        workdir: &Path,
        plan: &'a Plan,
    ) -> Self {
        Self {
            format,
            task_id: task_id.to_owned(),
            session: uuid(&format!("{task_id}/{attempt}")),
            workdir: workdir.display().to_string(),
            plan,
            started: Instant::now(),
            events: 0,
            items: 0,
        }
    }

    /// Prints one line and flushes; a closed stdout is ignored (the reader went away).
    fn raw(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }

    /// Prints a Claude event with the session id and a fresh uuid.
    fn claude(&mut self, mut event: Value) {
        self.events += 1;
        event["session_id"] = json!(self.session);
        event["uuid"] = json!(uuid(&format!("{}/{}", self.session, self.events)));
        self.raw(&typed(&event));
    }

    fn pause(&self) {
        if !self.plan.sleep.is_zero() {
            std::thread::sleep(self.plan.sleep / PAUSES);
        }
    }

    fn garbage(&self) {
        if self.plan.garbage {
            for line in GARBAGE {
                self.raw(line);
            }
        }
    }

    fn model(&self) -> &str {
        &self.plan.models[0]
    }

    fn next_item(&mut self) -> String {
        self.items += 1;
        format!("item_{}", self.items - 1)
    }

    /// Hook event, init / thread and turn start.
    pub fn begin(&mut self) {
        match self.format {
            Format::Claude => {
                if self.plan.hook_event {
                    self.claude(json!({"type": "system", "subtype": "hook_response",
                        "hook_name": "SessionStart:startup", "hook_event": "SessionStart",
                        "stdout": "", "stderr": "", "exit_code": 0}));
                }
                let init = json!({"type": "system", "subtype": "init", "cwd": self.workdir,
                    "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite"],
                    "mcp_servers": [], "model": self.model(), "permissionMode": "default",
                    "slash_commands": [], "apiKeySource": "ANTHROPIC_API_KEY",
                    "claude_code_version": "2.0.0-fake", "output_style": "default",
                    "agents": [], "skills": [], "plugins": []});
                self.claude(init);
            }
            Format::Codex => {
                self.raw(&typed(
                    &json!({"type": "thread.started", "thread_id": self.session}),
                ));
                self.raw(r#"{"type":"turn.started"}"#);
            }
            Format::None => self.raw(&format!("fake agent: working on {}", self.task_id)),
        }
        self.garbage();
        self.pause();
    }

    /// An API error instead of any work.
    pub fn api_error(&mut self, kind: ApiError) {
        for _ in 1..PAUSES {
            self.pause();
        }
        match self.format {
            Format::Claude => {
                let zero = Tokens::default();
                let text = kind.claude_message();
                let message = self.message(2, json!({"type": "text", "text": text}), &zero, 0);
                // As Claude Code 2.1.x prints an API error: the kind on the assistant
                // message, the status and `terminal_reason` on the result.
                self.claude(json!({"type": "assistant", "message": message,
                    "parent_tool_use_id": null, "error": kind.claude_kind(),
                    "is_api_error_message": true}));
                let mut result = self.result_event(&zero, false);
                result["subtype"] = json!("error_during_execution");
                result["is_error"] = json!(true);
                result["result"] = json!(text);
                result["num_turns"] = json!(1);
                result["terminal_reason"] = json!("api_error");
                result["api_error_status"] = json!(kind.status());
                self.claude(result);
            }
            Format::Codex => {
                let msg = kind.codex_message();
                self.raw(&typed(&json!({"type": "error", "message": msg})));
                self.raw(&typed(
                    &json!({"type": "turn.failed", "error": {"message": msg}}),
                ));
            }
            Format::None => self.raw(&format!("error: {}", kind.claude_message())),
        }
    }

    /// Assistant message `n` (1 or 2) as Claude prints it, one content block per line.
    /// Message 1 carries the cache writes and half the input; both a placeholder output.
    fn message(&self, n: u64, block: Value, t: &Tokens, placeholder: u64) -> Value {
        let half = |x: u64| if n == 1 { x - x / 2 } else { x / 2 };
        let cache_write = if n == 1 {
            t.cache_creation_input_tokens
        } else {
            0
        };
        let model = if placeholder == 0 {
            "<synthetic>"
        } else {
            self.model()
        };
        let mut usage = json!({"input_tokens": half(t.input_tokens),
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": half(t.cache_read_input_tokens),
            "cache_creation": self.cache_creation(cache_write),
            "output_tokens": placeholder, "service_tier": "standard"});
        if self.plan.fast && placeholder > 0 {
            usage["speed"] = json!("fast");
        }
        if n == 2 && placeholder > 0 && self.plan.web_searches > 0 {
            usage["server_tool_use"] = json!({"web_search_requests": self.plan.web_searches});
        }
        json!({"id": format!("msg_fake{:016x}_{n}", hash(&self.session)), "type": "message",
            "role": "assistant", "model": model, "content": [block],
            "stop_reason": null, "stop_sequence": null, "usage": usage})
    }

    /// `usage.cache_creation`: `writes` split by duration, all of one kind.
    fn cache_creation(&self, writes: u64) -> Value {
        let (m5, h1) = if self.plan.cache_1h {
            (0, writes)
        } else {
            (writes, 0)
        };
        json!({"ephemeral_5m_input_tokens": m5, "ephemeral_1h_input_tokens": h1})
    }

    fn tool_id(&self) -> String {
        format!("toolu_fake{:016x}", hash(&self.session))
    }

    fn command(&self) -> String {
        format!("git add -A && git commit -m '{}: fake work'", self.task_id)
    }

    /// The first assistant message (text, then the tool call that does the work).
    pub fn work_started(&mut self) {
        match self.format {
            Format::Claude => {
                let text = format!("I'll make the change for {} and commit it.", self.task_id);
                let tool = json!({"type": "tool_use", "id": self.tool_id(), "name": "Bash",
                    "input": {"command": self.command(), "description": "Commit the change"}});
                for block in [json!({"type": "text", "text": text}), tool] {
                    let message = self.message(1, block, &self.plan.main, 1);
                    self.claude(json!({"type": "assistant", "message": message,
                        "parent_tool_use_id": null}));
                }
            }
            Format::Codex => {
                let id = self.next_item();
                self.raw(&typed(&json!({"type": "item.completed", "item": {"id": id,
                    "type": "reasoning", "text": "**Planning the change**"}})));
                let id = self.next_item();
                self.raw(&self.command_item(&id, "", None));
            }
            Format::None => {}
        }
        self.pause();
    }

    fn command_item(&self, id: &str, output: &str, exit: Option<i32>) -> String {
        let (kind, status) = match exit {
            None => ("item.started", "in_progress"),
            Some(_) => ("item.completed", "completed"),
        };
        typed(
            &json!({"type": kind, "item": {"id": id, "type": "command_execution",
            "command": format!("bash -lc \"{}\"", self.command()),
            "aggregated_output": output, "exit_code": exit, "status": status}}),
        )
    }

    /// The tool's result.
    pub fn work_done(&mut self, done: &Done) {
        match self.format {
            Format::Claude => {
                let content = json!([{"tool_use_id": self.tool_id(), "type": "tool_result",
                    "content": done.summary, "is_error": false}]);
                self.claude(json!({"type": "user",
                    "message": {"role": "user", "content": content},
                    "parent_tool_use_id": null,
                    "tool_use_result": {"stdout": done.summary, "stderr": "",
                        "interrupted": false, "isImage": false}}));
            }
            Format::Codex => {
                let id = format!("item_{}", self.items - 1);
                self.raw(&self.command_item(&id, &done.summary, Some(0)));
                let changes: Vec<Value> = (self.plan.files.keys())
                    .chain(self.plan.append.keys())
                    .map(|p| json!({"path": Path::new(&self.workdir).join(p), "kind": "update"}))
                    .collect();
                if !changes.is_empty() {
                    let id = self.next_item();
                    self.raw(&typed(&json!({"type": "item.completed", "item": {"id": id,
                        "type": "file_change", "changes": changes, "status": "completed"}})));
                }
            }
            Format::None => self.raw(&done.summary),
        }
        self.garbage();
        self.pause();
    }

    /// The closing message, the optional big line, and the result.
    pub fn finish(&mut self, done: &Done) {
        let text = format!("Done with {}: {}", self.task_id, done.summary);
        match self.format {
            Format::Claude => {
                let message =
                    self.message(2, json!({"type": "text", "text": text}), &self.plan.main, 1);
                self.claude(json!({"type": "assistant", "message": message,
                    "parent_tool_use_id": null}));
            }
            Format::Codex => {
                let turns = self.plan.codex_turns.len();
                // Like codex-rs's exec, every `turn.completed` carries the thread's running
                // total, not the turn's own figure.
                let (mut input, mut cached, mut output, mut reasoning) = (0u64, 0u64, 0u64, 0u64);
                for (i, turn) in self.plan.codex_turns.iter().enumerate() {
                    if i > 0 {
                        self.raw(r#"{"type":"turn.started"}"#);
                    }
                    let id = self.next_item();
                    let said = if i == 0 {
                        text.clone()
                    } else {
                        "Checked the change.".to_owned()
                    };
                    self.raw(&typed(&json!({"type": "item.completed", "item": {"id": id,
                        "type": "agent_message", "text": said}})));
                    if i + 1 == turns {
                        self.big_line();
                        self.pause();
                        if self.plan.no_result {
                            return;
                        }
                    }
                    input += turn.input_tokens;
                    cached += turn.cached_input_tokens;
                    output += turn.output_tokens;
                    reasoning += turn.reasoning_output_tokens;
                    let mut usage = json!({"input_tokens": input,
                        "cached_input_tokens": cached,
                        "output_tokens": output});
                    if reasoning > 0 {
                        usage["reasoning_output_tokens"] = json!(reasoning);
                    }
                    self.raw(&typed(&json!({"type": "turn.completed", "usage": usage})));
                }
                return;
            }
            Format::None => self.raw(&text),
        }
        self.big_line();
        self.pause();
        if self.format == Format::Claude && !self.plan.no_result {
            let mut result = self.result_event(&self.plan.main, true);
            if self.plan.exit != 0 {
                result["subtype"] = json!("error_during_execution");
                result["is_error"] = json!(true);
            }
            result["result"] = json!(text);
            self.claude(result);
        }
    }

    /// A valid event line of exactly `big_line_bytes` bytes (or that many `x` if too small).
    fn big_line(&mut self) {
        let Some(n) = self.plan.big_line_bytes else {
            return;
        };
        let skeleton = |fill: &str| {
            typed(&match self.format {
                Format::Codex => json!({"type": "item.completed", "item": {"id": "item_big",
                "type": "command_execution", "command": "bash -lc \"cat big.log\"",
                "aggregated_output": fill, "exit_code": 0, "status": "completed"}}),
                _ => json!({"type": "user", "message": {"role": "user", "content": [
                {"tool_use_id": self.tool_id(), "type": "tool_result", "content": fill}]},
                "parent_tool_use_id": null, "session_id": self.session}),
            })
        };
        let base = skeleton("").len();
        let line = if self.format == Format::None || n < base {
            "x".repeat(n)
        } else {
            skeleton(&"x".repeat(n - base))
        };
        self.raw(&line);
    }

    /// Claude's final `result` over `main`, with `modelUsage` over every model.
    fn result_event(&self, main: &Tokens, with_models: bool) -> Value {
        let mut model_usage = serde_json::Map::new();
        let mut total = 0.0;
        if with_models {
            let plan = self.plan;
            // Fast mode and web searches are the main loop's; a subagent's writes take the
            // session's cache duration too.
            let billings = [
                Billing {
                    cache_1h: plan.cache_1h,
                    fast: plan.fast,
                    web_searches: plan.web_searches,
                },
                Billing {
                    cache_1h: plan.cache_1h,
                    ..Billing::default()
                },
            ];
            for ((model, t), billing) in plan.models.iter().zip([main, &plan.second]).zip(billings)
            {
                let usd = cost(model, t, billing);
                total += usd;
                model_usage.insert(
                    model.clone(),
                    json!({"inputTokens": t.input_tokens,
                    "outputTokens": t.output_tokens,
                    "cacheReadInputTokens": t.cache_read_input_tokens,
                    "cacheCreationInputTokens": t.cache_creation_input_tokens,
                    "webSearchRequests": billing.web_searches, "costUSD": usd,
                    "contextWindow": 200_000}),
                );
            }
        }
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut usage = json!({"input_tokens": main.input_tokens,
            "cache_creation_input_tokens": main.cache_creation_input_tokens,
            "cache_read_input_tokens": main.cache_read_input_tokens,
            "output_tokens": main.output_tokens,
            "server_tool_use": {"web_search_requests": self.plan.web_searches},
            "service_tier": "standard"});
        if self.plan.cache_1h {
            usage["cache_creation"] = self.cache_creation(main.cache_creation_input_tokens);
        }
        if self.plan.fast {
            usage["speed"] = json!("fast");
        }
        json!({"type": "result", "subtype": "success", "is_error": false,
            "duration_ms": ms, "duration_api_ms": ms / 2, "num_turns": 2, "result": "",
            "total_cost_usd": round(total), "usage": usage,
            "modelUsage": model_usage, "permission_denials": []})
    }
}
