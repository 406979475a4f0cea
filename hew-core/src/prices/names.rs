//! Model names as agents print them, reduced to the names the price table uses.
//!
//! The same model shows up as `claude-opus-4-5-20251101`, `claude-opus-4-5`,
//! `us.anthropic.claude-opus-4-5-20251101-v1:0` (Bedrock), `claude-opus-4-5@20251101`
//! (Vertex), `claude-sonnet-4-5[1m]` (Claude Code's 1M-context variant), or an alias.
//!
//! hew adds one decoration of its own to the names it records: a speed or service tier
//! (`claude-opus-4-6[fast]`, `gpt-5.5[priority]`), so that tokens billed at another rate
//! are kept apart from the same model's standard tokens, per model and in the summary.

/// A model name with its decorations taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelName {
    /// Lower case, without provider prefix, version suffix or `[1m]`; dates kept.
    pub base: String,
    /// The name ended in `[1m]`.
    pub one_m: bool,
    /// The tier hew recorded the tokens under (`fast`, `priority`, `flex`), if any.
    pub tier: Option<String>,
}

/// The tiers hew records as a `[tier]` suffix.
pub const TIERS: [&str; 3] = ["fast", "priority", "flex"];

impl ModelName {
    /// The base without a trailing date (`-20251101`, `-2025-08-07`) or `-latest`, if it
    /// had one.
    pub fn undated(&self) -> Option<&str> {
        let b = self.base.as_str();
        if let Some(rest) = b.strip_suffix("-latest") {
            return Some(rest);
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        // -YYYYMMDD
        if let Some((rest, date)) = b.rsplit_once('-')
            && date.len() == 8
            && digits(date)
        {
            return Some(rest);
        }
        // -YYYY-MM-DD
        let parts: Vec<&str> = b.rsplitn(4, '-').collect();
        if let [day, month, year, rest] = parts[..]
            && (year.len(), month.len(), day.len()) == (4, 2, 2)
            && [year, month, day].into_iter().all(digits)
        {
            return Some(rest);
        }
        None
    }
}

/// Takes a raw model name apart.
pub(crate) fn parse(raw: &str) -> ModelName {
    let mut s = raw.trim().to_ascii_lowercase();
    let mut tier = None;
    for t in TIERS {
        if let Some(rest) = s.strip_suffix(&format!("[{t}]")) {
            s = rest.to_owned();
            tier = Some(t.to_owned());
            break;
        }
    }
    let one_m = match s.strip_suffix("[1m]") {
        Some(rest) => {
            s = rest.to_owned();
            true
        }
        None => false,
    };
    // Bedrock: `[region.]anthropic.NAME[-vN[:M]]`.
    if let Some(at) = s.find("anthropic.") {
        s = s[at + "anthropic.".len()..].to_owned();
        if let Some((name, version)) = s.rsplit_once("-v")
            && !version.is_empty()
            && version.chars().all(|c| c.is_ascii_digit() || c == ':')
        {
            s = name.to_owned();
        }
    }
    // Vertex: `NAME@DATE`.
    if let Some((name, _)) = s.split_once('@') {
        s = name.to_owned();
    }
    ModelName {
        base: s,
        one_m,
        tier,
    }
}

/// The canonical name the built-in price table knows `model` by, if it knows it
/// (`claude-opus-4-5-20251101` → `claude-opus-4-5`, `sonnet` → `claude-sonnet-5-5`).
pub fn canonical_name(model: &str) -> Option<&'static str> {
    let table = super::PriceTable::builtin();
    let name = parse(model);
    table
        .find(&name.base)
        .or_else(|| name.undated().and_then(|u| table.find(u)))
        .map(|e| e.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_suffix_comes_off_before_the_context_suffix() {
        let n = parse("claude-opus-4-6[1m][fast]");
        assert_eq!(
            (n.base.as_str(), n.one_m, n.tier.as_deref()),
            ("claude-opus-4-6", true, Some("fast"))
        );
        let n = parse("gpt-5.5[priority]");
        assert_eq!(
            (n.base.as_str(), n.tier.as_deref()),
            ("gpt-5.5", Some("priority"))
        );
        assert_eq!(parse("gpt-5.5[turbo]").tier, None);
    }

    #[test]
    fn decorations_come_off() {
        let p = |s: &str| {
            let n = parse(s);
            (n.base.clone(), n.undated().map(str::to_owned), n.one_m)
        };
        assert_eq!(
            p("claude-opus-4-5-20251101"),
            (
                "claude-opus-4-5-20251101".into(),
                Some("claude-opus-4-5".into()),
                false
            )
        );
        assert_eq!(
            p(" Claude-Sonnet-4-5-20250929[1m] "),
            (
                "claude-sonnet-4-5-20250929".into(),
                Some("claude-sonnet-4-5".into()),
                true
            )
        );
        assert_eq!(
            p("us.anthropic.claude-opus-4-5-20251101-v1:0").1.as_deref(),
            Some("claude-opus-4-5")
        );
        assert_eq!(p("claude-opus-4-5@20251101").0, "claude-opus-4-5");
        assert_eq!(p("gpt-5-2025-08-07").1.as_deref(), Some("gpt-5"));
        assert_eq!(
            p("claude-3-7-sonnet-latest").1.as_deref(),
            Some("claude-3-7-sonnet")
        );
        assert_eq!(p("gpt-5.1").1, None);
        assert_eq!(p("sonnet[1m]"), ("sonnet".into(), None, true));
        assert_eq!(p("").0, "");
    }
}
