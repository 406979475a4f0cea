//! Model routing: which model a task runs on, and which rule chose it.
//!
//! Model choice is the biggest lever on spend, so the rules are explicit and the winning
//! rule is recorded with every iteration. First match wins:
//!
//! 1. a tag in the description, `<!-- hew:model=NAME -->` (whitespace tolerant; a malformed
//!    tag is ignored, not an error);
//! 2. a label `model:NAME` (an empty value is ignored);
//! 3. `loop.model.by_priority.P<n>` for the task's priority;
//! 4. `loop.model.by_type.<issue_type>` (an empty type skips this step);
//! 5. `loop.model.default`;
//! 6. none: the agent's own default.
//!
//! Model names come from the tracker (tags and labels anyone with write access can set,
//! an agent creating tasks included) and end up in an agent's command line, so a name is
//! checked before any rule may choose it: ASCII letters and digits and `.` `_` `-` `:` `/`
//! `@` `[` `]` `+`, starting with a letter or a digit, at most [`MODEL_NAME_MAX`] long.
//! That covers every provider's naming (`claude-opus-4-1-20250805`, `sonnet[1m]`,
//! `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `claude-3-5-sonnet@20240620`,
//! `openai/gpt-5`) and can never read as a flag. A refused name is not an error: it is
//! recorded as [`Rejected`] and the next rule applies, so one hostile label cannot stop a
//! run nor choose the model.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{LoopModelConfig, Priority};
use crate::tracker::Task;

/// The model a task gets and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// The model name passed to the agent, as written by the user.
    pub model: String,
    /// The rule that chose it.
    pub rule: Rule,
}

/// Which rule chose a task's model. Recorded with every iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// `<!-- hew:model=NAME -->` in the description.
    Tag,
    /// A `model:NAME` label.
    Label,
    /// `loop.model.by_priority`.
    Priority,
    /// `loop.model.by_type`.
    Type,
    /// `loop.model.default`.
    Default,
    /// `--model` on the command line, for the whole run.
    Flag,
    /// A retry moved the task to a stronger model (`loop.model.escalate`).
    Escalate,
    /// No rule matched: the agent's own default model.
    None,
}

impl Rule {
    /// The name used in records and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::Label => "label",
            Self::Priority => "priority",
            Self::Type => "type",
            Self::Default => "default",
            Self::Flag => "flag",
            Self::Escalate => "escalate",
            Self::None => "none",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest model name accepted.
pub const MODEL_NAME_MAX: usize = 200;

/// A model name a rule gave that was refused, so the next rule applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The name as written (possibly hostile: render it escaped).
    pub model: String,
    /// The rule that gave it.
    pub rule: Rule,
    /// Why it was refused.
    pub reason: InvalidModel,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "model `{}` from rule {} refused ({}); the next rule applied",
            self.model, self.rule, self.reason
        )
    }
}

/// Why a model name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum InvalidModel {
    /// It starts with something other than a letter or a digit (`-` would read as a flag).
    #[error("a model name starts with a letter or a digit")]
    BadStart,
    /// It holds a character outside the allowed set.
    #[error("a model name holds only ASCII letters, digits and . _ - : / @ [ ] +")]
    BadChar,
    /// It is longer than [`MODEL_NAME_MAX`].
    #[error("a model name is at most 200 characters long")]
    TooLong,
}

/// Checks `name` (already trimmed, not empty) against the model name rules of the module
/// docs.
pub fn check_model_name(name: &str) -> Result<(), InvalidModel> {
    if name.len() > MODEL_NAME_MAX {
        return Err(InvalidModel::TooLong);
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(InvalidModel::BadStart);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-:/@[]+".contains(c);
    if !name.chars().all(allowed) {
        return Err(InvalidModel::BadChar);
    }
    Ok(())
}

/// How a task's model was routed: the winner, and the names refused on the way to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// The model chosen; `None` is the agent's default.
    pub resolved: Option<Resolved>,
    /// Names that rules before the winner gave and that were refused, in rule order.
    pub rejected: Vec<Rejected>,
}

/// Picks the model for `task` from `cfg`, first match wins (see the module docs).
/// `None` means no rule matched and the agent uses its own default.
pub fn resolve_model(task: &Task, cfg: &LoopModelConfig) -> Option<Resolved> {
    route_model(task, cfg).resolved
}

/// [`resolve_model`], with the names refused before the winner.
pub fn route_model(task: &Task, cfg: &LoopModelConfig) -> Routing {
    let mut routing = Routing::default();
    for (rule, model) in candidates(task, cfg) {
        let model = model.trim();
        if model.is_empty() {
            continue;
        }
        match check_model_name(model) {
            Ok(()) => {
                routing.resolved = Some(Resolved {
                    model: model.to_owned(),
                    rule,
                });
                break;
            }
            Err(reason) => routing.rejected.push(Rejected {
                model: model.to_owned(),
                rule,
                reason,
            }),
        }
    }
    routing
}

/// Every name a rule offers for `task`, in the order the rules are tried.
fn candidates<'a>(
    task: &'a Task,
    cfg: &'a LoopModelConfig,
) -> impl Iterator<Item = (Rule, &'a str)> + 'a {
    let tag = description_tag(&task.description).map(|m| (Rule::Tag, m));
    let labels = task
        .labels()
        .iter()
        .filter_map(|l| l.strip_prefix("model:"))
        .map(|m| (Rule::Label, m));
    let priority = task
        .priority
        .and_then(Priority::from_number)
        .and_then(|p| cfg.by_priority.get(&p))
        .map(|m| (Rule::Priority, m.as_str()));
    let issue_type = Some(task.issue_type.trim())
        .filter(|t| !t.is_empty())
        .and_then(|t| cfg.by_type.get(t))
        .map(|m| (Rule::Type, m.as_str()));
    let default = cfg.default.as_deref().map(|m| (Rule::Default, m));
    tag.into_iter()
        .chain(labels)
        .chain(priority)
        .chain(issue_type)
        .chain(default)
}

/// The model named by the first well-formed `<!-- hew:model=NAME -->` tag in `text`.
/// Whitespace is allowed around every part; a tag with no name, a name containing
/// whitespace, or no closing `-->` is skipped.
fn description_tag(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        let after = &rest[start + 4..];
        let end = after.find("-->")?;
        if let Some(name) = tag_body(&after[..end]) {
            return Some(name);
        }
        rest = &after[end + 3..];
    }
    None
}

/// `hew:model=NAME`, with optional whitespace around each token, gives `NAME`.
fn tag_body(body: &str) -> Option<&str> {
    let body = body.trim().strip_prefix("hew")?.trim_start();
    let body = body.strip_prefix(':')?.trim_start();
    let body = body.strip_prefix("model")?.trim_start();
    let name = body.strip_prefix('=')?.trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(description: &str, labels: &[&str], priority: Option<u8>, issue_type: &str) -> Task {
        Task {
            id: "demo-1".into(),
            title: "t".into(),
            description: description.into(),
            priority,
            issue_type: issue_type.into(),
            labels: Some(labels.iter().map(|s| s.to_string()).collect()),
            ..Task::default()
        }
    }

    fn cfg() -> LoopModelConfig {
        LoopModelConfig {
            default: Some("haiku".into()),
            by_priority: [(Priority::P0, "opus".into())].into(),
            by_type: [("bug".into(), "sonnet".into())].into(),
            escalate: vec![],
        }
    }

    fn pick(t: &Task, c: &LoopModelConfig) -> Option<(String, Rule)> {
        resolve_model(t, c).map(|r| (r.model, r.rule))
    }

    fn some(model: &str, rule: Rule) -> Option<(String, Rule)> {
        Some((model.into(), rule))
    }

    #[test]
    fn tag_beats_label() {
        let t = task(
            "x <!-- hew:model=tagged --> y",
            &["model:labelled"],
            Some(0),
            "bug",
        );
        assert_eq!(pick(&t, &cfg()), some("tagged", Rule::Tag));
    }

    #[test]
    fn label_beats_priority() {
        let t = task("", &["backend", "model:labelled"], Some(0), "bug");
        assert_eq!(pick(&t, &cfg()), some("labelled", Rule::Label));
    }

    #[test]
    fn priority_beats_type() {
        let t = task("", &[], Some(0), "bug");
        assert_eq!(pick(&t, &cfg()), some("opus", Rule::Priority));
    }

    #[test]
    fn type_beats_default() {
        let t = task("", &[], Some(2), "bug");
        assert_eq!(pick(&t, &cfg()), some("sonnet", Rule::Type));
    }

    #[test]
    fn default_when_nothing_else_matches() {
        let t = task("", &[], Some(3), "task");
        assert_eq!(pick(&t, &cfg()), some("haiku", Rule::Default));
    }

    #[test]
    fn none_without_any_rule() {
        let t = task("", &[], Some(3), "task");
        assert_eq!(pick(&t, &LoopModelConfig::default()), None);
    }

    #[test]
    fn tag_tolerates_inner_whitespace() {
        for d in [
            "<!--hew:model=a-->",
            "<!--   hew : model = a   -->",
            "text\n<!--\thew:model=a\n-->\nmore",
        ] {
            let t = task(d, &[], None, "");
            assert_eq!(
                pick(&t, &LoopModelConfig::default()),
                some("a", Rule::Tag),
                "{d:?}"
            );
        }
    }

    #[test]
    fn malformed_tags_are_ignored() {
        for d in [
            "<!-- hew:model= -->",
            "<!-- hew:model=two words -->",
            "<!-- hew:model=unclosed",
            "<!-- hew:modelx=a -->",
            "<!-- other:model=a -->",
            "hew:model=a",
            "<!-- hew model=a -->",
        ] {
            let t = task(d, &[], None, "");
            assert_eq!(pick(&t, &cfg()), some("haiku", Rule::Default), "{d:?}");
        }
    }

    #[test]
    fn first_well_formed_tag_wins_after_an_unrelated_comment() {
        let t = task(
            "<!-- note --> <!-- hew:model= --> <!-- hew:model=b -->",
            &[],
            None,
            "",
        );
        assert_eq!(pick(&t, &cfg()), some("b", Rule::Tag));
    }

    #[test]
    fn empty_label_value_is_ignored() {
        let t = task("", &["model:", "model:  "], Some(3), "task");
        assert_eq!(pick(&t, &cfg()), some("haiku", Rule::Default));
        let t = task("", &["model:", "model:second"], Some(3), "task");
        assert_eq!(pick(&t, &cfg()), some("second", Rule::Label));
    }

    #[test]
    fn unknown_labels_fall_through_to_priority() {
        let t = Task {
            labels: None,
            ..task("", &[], Some(0), "")
        };
        assert_eq!(pick(&t, &cfg()), some("opus", Rule::Priority));
    }

    #[test]
    fn missing_or_out_of_range_priority_skips_the_priority_rule() {
        assert_eq!(
            pick(&task("", &[], None, "bug"), &cfg()),
            some("sonnet", Rule::Type)
        );
        assert_eq!(
            pick(&task("", &[], Some(9), "bug"), &cfg()),
            some("sonnet", Rule::Type)
        );
    }

    #[test]
    fn empty_type_skips_the_type_rule() {
        let mut c = cfg();
        c.by_type.insert(String::new(), "never".into());
        assert_eq!(
            pick(&task("", &[], Some(3), ""), &c),
            some("haiku", Rule::Default)
        );
        assert_eq!(
            pick(&task("", &[], Some(3), "  "), &c),
            some("haiku", Rule::Default)
        );
    }

    #[test]
    fn names_that_could_read_as_a_flag_are_refused_and_the_next_rule_applies() {
        let t = task(
            "<!-- hew:model=--dangerously-skip-permissions -->",
            &["model:-x", "model:ok[1m]"],
            Some(3),
            "task",
        );
        let r = route_model(&t, &cfg());
        assert_eq!(
            r.resolved.map(|r| (r.model, r.rule)),
            some("ok[1m]", Rule::Label)
        );
        let refused: Vec<_> = r
            .rejected
            .iter()
            .map(|r| (r.model.as_str(), r.rule))
            .collect();
        assert_eq!(
            refused,
            [
                ("--dangerously-skip-permissions", Rule::Tag),
                ("-x", Rule::Label)
            ]
        );
        assert!(r.rejected[0].to_string().contains("next rule"));
        let t = task("", &["model:a b", "model:\x1b]52;c;x"], Some(3), "task");
        let r = route_model(&t, &cfg());
        assert_eq!(r.rejected.len(), 2);
        assert_eq!(r.resolved.unwrap().rule, Rule::Default);
    }

    #[test]
    fn real_model_names_pass_the_check() {
        for name in [
            "opus",
            "claude-opus-4-1-20250805",
            "sonnet[1m]",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-3-5-sonnet@20240620",
            "openai/gpt-5",
            "gpt-5.1-codex",
            "4o",
        ] {
            assert_eq!(check_model_name(name), Ok(()), "{name}");
        }
        assert_eq!(check_model_name("-m"), Err(InvalidModel::BadStart));
        assert_eq!(check_model_name(".x"), Err(InvalidModel::BadStart));
        assert_eq!(check_model_name("a;b"), Err(InvalidModel::BadChar));
        assert_eq!(check_model_name("é"), Err(InvalidModel::BadStart));
        assert_eq!(
            check_model_name(&"a".repeat(MODEL_NAME_MAX + 1)),
            Err(InvalidModel::TooLong)
        );
    }

    #[test]
    fn empty_configured_values_are_ignored() {
        let c = LoopModelConfig {
            default: Some(String::new()),
            by_priority: [(Priority::P1, " ".into())].into(),
            by_type: [("bug".into(), String::new())].into(),
            escalate: vec![],
        };
        assert_eq!(pick(&task("", &[], Some(1), "bug"), &c), None);
    }
}
