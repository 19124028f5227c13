//! The explanations of `check` errors and warnings in Chinese: each entry
//! pairs the English wording (with `{name}` holes for what varies: keys,
//! names, values, the parser's own words) with its Chinese wording. An
//! error that no entry matches is shown as it is. What fills a hole that
//! holds wording rather than a key or value ([`WORDING`]: `{what}`,
//! `{expected}`, `{lacks}`) is explained too when an entry matches all of
//! it (`mention of target "w"`, `a phone number ...`), so that nested
//! wording reads in one language.
//!
//! The English sides are the messages tocsin writes; the tests in
//! `tests/cli_lang.rs` make real errors and check that they are explained,
//! so that a changed English message shows up as a failing test.

use crate::alert::Language;
use crate::yaml::{SourceError, SourceErrors};

/// (English, Chinese). More specific entries come first.
const ENTRIES: &[(&str, &str)] = &[
    // --- YAML shapes (the deserializer's words)
    (
        "unknown field `{key}`, expected one of {list}",
        "未知的键 `{key}`，可用的键：{list}",
    ),
    (
        "unknown field `{key}`, expected `{one}`",
        "未知的键 `{key}`，可用的键：`{one}`",
    ),
    (
        "unknown field `{key}`, there are no fields",
        "未知的键 `{key}`，这里不接受任何键",
    ),
    ("unknown field `{key}`", "未知的键 `{key}`"),
    ("missing field `{key}`", "缺少必填的键 `{key}`"),
    (
        "unknown variant `{value}`, expected one of {list}",
        "无效的取值 `{value}`，可选：{list}",
    ),
    (
        "unknown variant `{value}`, expected `{one}`",
        "无效的取值 `{value}`，应为 `{one}`",
    ),
    (
        "invalid type: {got}, expected {want}",
        "类型不对：这里是 {got}，应为 {want}",
    ),
    (
        "invalid value: {got}, expected {want}",
        "取值无效：{got}，应为 {want}",
    ),
    (
        "expected sequence start",
        "这里应为列表（[...] 或 - 开头的各行）",
    ),
    ("expected mapping start", "这里应为映射（key: value）"),
    ("expected string scalar", "这里应为字符串"),
    ("invalid boolean", "这里应为 true 或 false"),
    ("invalid u16", "这里应为 0 到 65535 的整数"),
    ("invalid u32", "这里应为非负整数"),
    ("invalid u64", "这里应为非负整数"),
    ("invalid usize", "这里应为非负整数"),
    ("invalid i64", "这里应为整数"),
    ("invalid f64", "这里应为数字"),
    (
        "duplicate mapping key: {key}, set DuplicateKeyPolicy in Options if acceptable",
        "重复的键：{key}",
    ),
    ("cannot read {what}: {why}", "无法读取{what}：{why}"),
    ("no such file or directory", "文件或目录不存在"),
    // --- durations, conditions, severities, zones
    (
        "expected a duration like 30s, 5m or 1h30m, got {got} ({why})",
        "应为时长（如 30s、5m 或 1h30m），实际为 {got}（{why}）",
    ),
    (
        "expected a duration like 30s, 5m or 1h30m, got {got}",
        "应为时长（如 30s、5m 或 1h30m），实际为 {got}",
    ),
    (
        "expected a condition like \"> 8000\" (operator > >= < <= == != then a number), got {got}",
        "条件应形如 \"> 8000\"（运算符 > >= < <= == != 加一个数），实际为 {got}",
    ),
    (
        "expected severity warning or error (or a map {warning: \"> N\", error: \"> M\"}), got {got}",
        "级别应为 warning 或 error（或映射 {warning: \"> N\", error: \"> M\"}），实际为 {got}",
    ),
    (
        "expected missing, failed, {stuck: DURATION} or {slow: DURATION}, got {got}",
        "应为 missing、failed、{stuck: 时长} 或 {slow: 时长}，实际为 {got}",
    ),
    (
        "{key}: {got} is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)",
        "{key}：{got} 不是 IANA 时区名（如 Asia/Shanghai、Europe/Berlin、UTC）",
    ),
    (
        "{key}: {got} is not an IANA time zone (e.g. Asia/Shanghai)",
        "{key}：{got} 不是 IANA 时区名（如 Asia/Shanghai）",
    ),
    (
        "expected an address like 127.0.0.1:9750, got {got}",
        "应为监听地址（如 127.0.0.1:9750），实际为 {got}",
    ),
    (
        "expected an http(s) URL for Prometheus ({why})",
        "Prometheus 的地址应为 http(s) URL（{why}）",
    ),
    (
        "expected a ping_key of at least 16 characters from A-Z, a-z, 0-9, - and _",
        "ping_key 至少要有 16 个字符，只能用 A-Z、a-z、0-9、- 和 _",
    ),
    // --- rules
    ("invalid PromQL: {why}", "PromQL 无效：{why}"),
    (
        "cannot parse {what} template: {why}",
        "无法解析 {what} 模板：{why}",
    ),
    (
        "expected a `query:` (or Prometheus `expr:`, `heartbeat:` or `sql:`) for alert {name}",
        "告警 {name} 需要 `query:`（或 Prometheus 的 `expr:`、`heartbeat:`、`sql:`）",
    ),
    (
        "recording rule {name} skipped: tocsin evaluates recording rules only with prometheus.remote_write_url set",
        "记录规则 {name} 已跳过：只有设置了 prometheus.remote_write_url，tocsin 才会计算记录规则",
    ),
    // --- targets
    (
        "expected a target type ({list}), got {got}",
        "应为目标类型（{list}），实际为 {got}",
    ),
    (
        "`{key}` is not a key of {kind} targets (expected one of: {list})",
        "`{key}` 不是 {kind} 目标的键（可用的键：{list}）",
    ),
    (
        "email target {name} needs a top-level `mailer:` (SMTP server) or its own `host`",
        "email 目标 {name} 需要顶层的 `mailer:`（SMTP 服务器）或它自己的 `host`",
    ),
    (
        "{kind} target {name} needs a `{key}`",
        "{kind} 目标 {name} 缺少 `{key}`",
    ),
    (
        "`{key}` of target {name} is not an http(s) URL",
        "目标 {name} 的 `{key}` 不是 http(s) 地址",
    ),
    (
        "{what} name {name} is used twice; names of targets, target groups, contacts and contact groups must be unique",
        "{what}名 {name} 重复了；目标、目标组、联系人和联系人组的名字不能相同",
    ),
    // --- references: targets, contacts, groups, mentions
    (
        "{what} names {name}, but no target, target group, contact or contact group has that name",
        "{what} 引用了 {name}，但没有这个名字的目标、目标组、联系人或联系人组",
    ),
    (
        "{what} names {name}, but no contact or contact group has that name, and it is not {expected}; did you mean {other}?",
        "{what} 引用了 {name}，但没有这个名字的联系人或联系人组，它也不是{expected}；是不是想写 {other}？",
    ),
    (
        "{what} names {name}, but no contact or contact group has that name; did you mean {other}?",
        "{what} 引用了 {name}，但没有这个名字的联系人或联系人组；是不是想写 {other}？",
    ),
    (
        "{what} names {name}, but no contact or contact group has that name",
        "{what} 引用了 {name}，但没有这个名字的联系人或联系人组",
    ),
    (
        "{what} names {name}, but no contact or contact group has that name, and it is not {expected}",
        "{what} 引用了 {name}，但没有这个名字的联系人或联系人组，它也不是{expected}",
    ),
    (
        "{what} names {name}, but contact {contact} has {lacks}",
        "{what} 引用了 {name}，但联系人 {contact} 缺少 {lacks}",
    ),
    (
        "{what} names {name}: `mail:` takes a contact or contact group, and no contact or contact group is named {other}",
        "{what} 引用了 {name}：`mail:` 后应为联系人或联系人组，但没有名为 {other} 的联系人或联系人组",
    ),
    (
        "{what} names {name}, but there is no `phones.{way}` target to reach contacts by {way2}",
        "{what} 引用了 {name}，但没有 `phones.{way}` 目标来通过 {way2} 联系联系人",
    ),
    (
        "target group {group} lists {name}, but no target has that name",
        "目标组 {group} 列出了 {name}，但没有这个名字的目标",
    ),
    (
        "contact {name} has an email that is not an address: {got}",
        "联系人 {name} 的 email 不是邮箱地址：{got}",
    ),
    (
        "contact {name} has a phone that is not a number: {got} (expected E.164 like +8613800000000)",
        "联系人 {name} 的 phone 不是电话号码：{got}（应为 E.164 格式，如 +8613800000000）",
    ),
    // --- phrases inside the entries above
    ("mention of target {name}", "目标 {name} 的 mention"),
    ("users of target {name}", "目标 {name} 的 users"),
    (
        "a phone number (5 to 20 digits, optionally after +) or a WeCom userid written `userid:` and the id (e.g. userid:zhangsan)",
        "电话号码（5 到 20 位数字，可带前导 +），或写作 `userid:` 加 id 的企业微信 userid（如 userid:zhangsan）",
    ),
    (
        "a phone number (5 to 20 digits, optionally after +)",
        "电话号码（5 到 20 位数字，可带前导 +）",
    ),
    ("an open_id (ou_...)", "open_id（ou_...）"),
    ("no `{key}`", "`{key}`"),
    ("config", "配置文件"),
    ("target", "目标"),
    ("target group", "目标组"),
    ("contact", "联系人"),
    ("contact group", "联系人组"),
];

/// The holes that hold wording (explained in turn); the others hold keys,
/// names and values, which stay as written.
const WORDING: &[&str] = &["what", "expected", "lacks"];

/// How deep hole values are explained in turn.
const DEPTH: usize = 2;

/// `message` in `lang`: itself in English or when no entry matches.
pub fn explain(message: &str, lang: Language) -> String {
    match lang {
        Language::En => message.to_string(),
        Language::Zh => explain_zh(message, DEPTH).unwrap_or_else(|| message.to_string()),
    }
}

fn explain_zh(message: &str, depth: usize) -> Option<String> {
    ENTRIES.iter().find_map(|(en, zh)| {
        let holes = match_pattern(en, message)?;
        let mut out = zh.to_string();
        for (name, value) in holes {
            let value = if depth > 0 && WORDING.contains(&name.as_str()) {
                explain_zh(value, depth - 1).unwrap_or_else(|| value.to_string())
            } else {
                value.to_string()
            };
            out = out.replace(&format!("{{{name}}}"), &value);
        }
        Some(out)
    })
}

/// One error with its explanation in `lang`, at the same place.
pub fn explain_error(e: &SourceError, lang: Language) -> SourceError {
    SourceError {
        message: explain(&e.message, lang),
        ..e.clone()
    }
}

/// Every error explained in `lang`, one per line as [`SourceErrors`] shows them.
pub fn explain_errors(errors: &SourceErrors, lang: Language) -> String {
    SourceErrors(errors.0.iter().map(|e| explain_error(e, lang)).collect()).to_string()
}

/// The parts of `pattern`: literal text and `{name}` holes (a name is
/// lowercase letters, digits and `_`; other braces are literal).
enum Part<'a> {
    Lit(&'a str),
    Hole(&'a str),
}

fn parts(pattern: &str) -> Vec<Part<'_>> {
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut out = Vec::new();
    let (mut lit_start, mut i) = (0, 0);
    while let Some(open) = pattern[i..].find('{').map(|o| o + i) {
        let name = pattern[open + 1..]
            .find('}')
            .map(|c| &pattern[open + 1..open + 1 + c])
            .filter(|n| is_name(n));
        match name {
            Some(name) => {
                if open > lit_start {
                    out.push(Part::Lit(&pattern[lit_start..open]));
                }
                out.push(Part::Hole(name));
                i = open + name.len() + 2;
                lit_start = i;
            }
            None => i = open + 1,
        }
    }
    if lit_start < pattern.len() {
        out.push(Part::Lit(&pattern[lit_start..]));
    }
    out
}

/// The values of the holes when `message` reads as `pattern` (each hole
/// takes the shortest text up to the literal after it; a hole at the end
/// takes the rest), else None.
fn match_pattern<'m>(pattern: &str, message: &'m str) -> Option<Vec<(String, &'m str)>> {
    let parts = parts(pattern);
    let mut holes = Vec::new();
    let mut at = 0;
    let mut pending: Option<&str> = None;
    for (i, p) in parts.iter().enumerate() {
        match p {
            Part::Hole(name) => pending = Some(name),
            Part::Lit(lit) => {
                let last = i == parts.len() - 1;
                let found = match (pending, last) {
                    (None, _) => message[at..].starts_with(lit).then_some(at),
                    (Some(_), true) => message
                        .ends_with(lit)
                        .then(|| message.len() - lit.len())
                        .filter(|s| *s > at),
                    (Some(_), false) => message[at..].find(lit).map(|f| f + at).filter(|s| *s > at),
                }?;
                if let Some(name) = pending.take() {
                    holes.push((name.to_string(), &message[at..found]));
                }
                at = found + lit.len();
            }
        }
    }
    match pending {
        Some(name) if at < message.len() => holes.push((name.to_string(), &message[at..])),
        Some(_) => return None,
        None if at != message.len() => return None,
        None => {}
    }
    Some(holes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zh(m: &str) -> String {
        explain(m, Language::Zh)
    }

    #[test]
    fn entries_explain_their_messages_and_nested_phrases() {
        assert_eq!(zh("missing field `name`"), "缺少必填的键 `name`");
        assert_eq!(
            zh("expected a duration like 30s, 5m or 1h30m, got \"10x\" (unknown time unit \"x\")"),
            "应为时长（如 30s、5m 或 1h30m），实际为 \"10x\"（unknown time unit \"x\"）"
        );
        assert_eq!(
            zh(
                "mention of target \"w\" names \"zhangsna\", but no contact or contact group has that name, and it is not a phone number (5 to 20 digits, optionally after +)"
            ),
            "目标 \"w\" 的 mention 引用了 \"zhangsna\"，但没有这个名字的联系人或联系人组，它也不是电话号码（5 到 20 位数字，可带前导 +）"
        );
        assert_eq!(
            zh(
                "expected severity warning or error (or a map {warning: \"> N\", error: \"> M\"}), got \"fatal\""
            ),
            "级别应为 warning 或 error（或映射 {warning: \"> N\", error: \"> M\"}），实际为 \"fatal\""
        );
        assert_eq!(zh("something new"), "something new");
        assert_eq!(
            zh("unknown field `target`, expected `name`"),
            "未知的键 `target`，可用的键：`name`",
            "keys stay as written"
        );
        assert_eq!(
            zh(
                "target name \"a\" is used twice; names of targets, target groups, contacts and contact groups must be unique"
            ),
            "目标名 \"a\" 重复了；目标、目标组、联系人和联系人组的名字不能相同"
        );
        assert_eq!(
            explain("missing field `name`", Language::En),
            "missing field `name`"
        );
    }

    #[test]
    fn a_pattern_matches_whole_messages_only() {
        assert!(match_pattern("missing field `{key}`", "missing field `a` and more").is_none());
        assert!(match_pattern("invalid PromQL: {why}", "invalid PromQL: ").is_none());
        let h = match_pattern(
            "{kind} target {name} needs a `{key}`",
            "webhook target \"h\" needs a `url`",
        )
        .unwrap();
        assert_eq!(
            h,
            vec![
                ("kind".to_string(), "webhook"),
                ("name".to_string(), "\"h\""),
                ("key".to_string(), "url")
            ]
        );
    }
}
