//! PromQL as Prometheus 2.42 (`promtool check rules`) takes it.
//!
//! The grammar is `promql-parser`'s. That parser follows newer Prometheus
//! releases, so on top of it this module refuses what 2.42 refuses (functions
//! added later, quoted label names, durations without a unit, `fill`
//! modifiers) and accepts what 2.42 accepts (`holt_winters`, `smoothed` /
//! `anchored` as plain names). `promql-parser` reports no positions; the
//! offset of an error is found here from the tokens the message names, and
//! is `None` when it cannot be told.

use std::sync::Once;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr, Function};
use promql_parser::util::{ExprVisitor, walk_expr};

/// A PromQL expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PromqlError {
    /// What was expected, in the words of the parser.
    pub message: String,
    /// Byte offset in the expression the error is about, when known.
    pub offset: Option<usize>,
}

/// Names `promql-parser` reserves as keywords that Prometheus 2.42 treats as
/// ordinary names. Each is replaced by a name of the same length (so offsets
/// hold) before parsing, and put back in messages.
const NEWER_KEYWORDS: [(&str, &str); 7] = [
    ("smoothed", "smoothe_"),
    ("anchored", "anchore_"),
    ("fill_left", "fill_lef_"),
    ("fill_right", "fill_righ_"),
    ("fill", "fil_"),
    ("limit_ratio", "limit_rati_"),
    ("limitk", "limit_"),
];

/// The functions of Prometheus 2.42 (`promql/parser/functions.go`).
pub(crate) const FUNCTIONS_2_42: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Parses `expr` as Prometheus 2.42 would.
pub fn check(expr: &str) -> Result<(), PromqlError> {
    register_holt_winters();
    let tokens = tokenize(expr);
    let renamed = rename_newer_keywords(expr, &tokens);
    let ast = parser::parse(&renamed).map_err(|raw| {
        let message = restore_keywords(&raw);
        let offset = locate(&message, expr, &tokens);
        PromqlError { message, offset }
    })?;
    lexical_check(&tokens)?;
    let mut calls = FunctionCheck { unknown: None };
    // The visitor never fails; it records the first unknown function.
    let _ = walk_expr(&mut calls, &ast);
    if let Some(name) = calls.unknown {
        return Err(PromqlError {
            message: format!("unknown function with name '{name}'"),
            offset: call_offset(&tokens, &name),
        });
    }
    Ok(())
}

/// 2.42 has `holt_winters` (renamed `double_exponential_smoothing` later).
fn register_holt_winters() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let f = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // Fails only if a later promql-parser has it built in, which is as good.
        let _ = parser::register_extra_functions(vec![f]);
    });
}

struct FunctionCheck {
    unknown: Option<String>,
}

impl ExprVisitor for FunctionCheck {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        if let Expr::Call(call) = expr
            && !FUNCTIONS_2_42.contains(&call.func.name)
            && self.unknown.is_none()
        {
            self.unknown = Some(call.func.name.to_string());
        }
        Ok(self.unknown.is_none())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Str,
    /// Starts with a digit or a dot: a number or a duration.
    Num,
    /// An operator or punctuation (`(`, `{`, `=~`, `+`...).
    Op,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
}

/// A forgiving tokenizer: enough to find names, strings, numbers and
/// brackets; the real grammar check is `promql-parser`'s.
fn tokenize(expr: &str) -> Vec<Token<'_>> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    if bytes[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                Kind::Str
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':' if !(c == b':' && in_brackets(&out)) => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b"_:".contains(&bytes[i]))
                {
                    i += 1;
                }
                Kind::Ident
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    let exponent = matches!(bytes[i], b'e' | b'E')
                        && bytes.get(i + 1).is_some_and(|b| matches!(b, b'+' | b'-'))
                        && !expr[start..i].starts_with("0x");
                    i += if exponent { 2 } else { 1 };
                }
                Kind::Num
            }
            _ => {
                let two = bytes.get(i..i + 2).unwrap_or_default();
                i += if [b"!=", b"=~", b"!~", b"==", b"<=", b">="]
                    .iter()
                    .any(|op| two == *op)
                {
                    2
                } else {
                    // One character, whole (it may be multi-byte).
                    expr[i..].chars().next().map_or(1, char::len_utf8)
                };
                Kind::Op
            }
        };
        out.push(Token {
            kind,
            text: &expr[start..i.min(bytes.len())],
            start,
        });
    }
    out
}

/// Whether the tokens so far leave an open `[` (a `:` there is a subquery colon).
fn in_brackets(tokens: &[Token<'_>]) -> bool {
    let mut depth = 0i32;
    for t in tokens.iter().filter(|t| t.kind == Kind::Op) {
        match t.text {
            "[" => depth += 1,
            "]" => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

fn rename_newer_keywords(expr: &str, tokens: &[Token<'_>]) -> String {
    let mut out = expr.to_string();
    for t in tokens.iter().filter(|t| t.kind == Kind::Ident) {
        if let Some((_, stand_in)) = NEWER_KEYWORDS.iter().find(|(k, _)| *k == t.text) {
            out.replace_range(t.start..t.start + t.text.len(), stand_in);
        }
    }
    out
}

fn restore_keywords(message: &str) -> String {
    let mut out = message.to_string();
    for (keyword, stand_in) in NEWER_KEYWORDS {
        out = out.replace(stand_in, keyword);
    }
    out
}

/// What 2.42's lexer refuses and `promql-parser` takes.
fn lexical_check(tokens: &[Token<'_>]) -> Result<(), PromqlError> {
    #[derive(PartialEq)]
    enum Open {
        Paren,
        LabelList,
        Brace,
        Bracket,
    }
    let err = |message: String, t: &Token<'_>| {
        Err(PromqlError {
            message,
            offset: Some(t.start),
        })
    };
    let mut stack: Vec<Open> = Vec::new();
    let mut after_colon = false;
    for (i, t) in tokens.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        match (t.kind, t.text) {
            (Kind::Op, "(") => {
                let grouping = prev.is_some_and(|p| {
                    p.kind == Kind::Ident
                        && matches!(
                            p.text,
                            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                        )
                });
                stack.push(if grouping {
                    Open::LabelList
                } else {
                    Open::Paren
                });
            }
            (Kind::Op, "{") => stack.push(Open::Brace),
            (Kind::Op, "[") => {
                stack.push(Open::Bracket);
                after_colon = false;
            }
            (Kind::Op, ")" | "}" | "]") => {
                stack.pop();
            }
            (Kind::Op, ":") if stack.last() == Some(&Open::Bracket) => after_colon = true,
            (Kind::Str, _) => match stack.last() {
                Some(Open::Brace)
                    if !prev.is_some_and(|p| matches!(p.text, "=" | "!=" | "=~" | "!~")) =>
                {
                    return err(
                        format!(
                            "unexpected string {:?} in label matching, expected identifier or \"}}\"",
                            t.text
                        ),
                        t,
                    );
                }
                Some(Open::LabelList) => {
                    return err(
                        format!(
                            "unexpected string {:?} in grouping opts, expected label",
                            t.text
                        ),
                        t,
                    );
                }
                _ => {}
            },
            (Kind::Num, _) if is_bare_number(t.text) => {
                if stack.last() == Some(&Open::Bracket) {
                    return err(
                        if after_colon {
                            format!(
                                "unexpected number {:?} in subquery selector, expected duration or \"]\"",
                                t.text
                            )
                        } else {
                            "missing unit character in duration".to_string()
                        },
                        t,
                    );
                }
                let after_offset = match prev {
                    Some(p) if p.text == "-" => i
                        .checked_sub(2)
                        .and_then(|p| tokens.get(p))
                        .is_some_and(|p| p.text == "offset"),
                    Some(p) => p.text == "offset",
                    None => false,
                };
                if after_offset {
                    return err(
                        format!(
                            "unexpected number {:?} in offset, expected duration",
                            t.text
                        ),
                        t,
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A number with no unit: digits and dots, or hexadecimal.
fn is_bare_number(text: &str) -> bool {
    text.starts_with("0x")
        || text.starts_with("0X")
        || text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn call_offset(tokens: &[Token<'_>], name: &str) -> Option<usize> {
    tokens
        .windows(2)
        .find(|w| w[0].kind == Kind::Ident && w[0].text == name && w[1].text == "(")
        .map(|w| w[0].start)
}

/// The quoted name in a message: `... 'rate'` or `... "rate"`.
fn quoted(message: &str) -> Option<&str> {
    let end = message.rfind(['\'', '"'])?;
    let q = message.as_bytes()[end] as char;
    let start = message[..end].rfind(q)?;
    Some(&message[start + 1..end])
}

/// Where in `expr` the error `message` of `promql-parser` is.
fn locate(message: &str, expr: &str, tokens: &[Token<'_>]) -> Option<usize> {
    if message.starts_with("unexpected end of input") {
        return Some(expr.trim_end().len());
    }
    if message.contains("right parenthesis") {
        return unbalanced(tokens, "(", ")").0;
    }
    if message.contains("unclosed left parenthesis") {
        return unbalanced(tokens, "(", ")").1;
    }
    if message.contains("unknown function") || message.contains("in call to") {
        return call_offset(tokens, quoted(message)?);
    }
    if let Some(rest) = message.strip_prefix("bad number or duration syntax: ") {
        return tokens
            .iter()
            .find(|t| t.text == rest.trim())
            .map(|t| t.start);
    }
    if message.starts_with("unexpected character") {
        let c = quoted(message)?;
        return tokens
            .iter()
            .find(|t| t.kind != Kind::Str && t.text.starts_with(c))
            .map(|t| t.start);
    }
    if let Some(regex) = message.strip_prefix("illegal regex for ") {
        return tokens
            .iter()
            .find(|t| t.kind == Kind::Str && t.text.contains(regex.trim()))
            .map(|t| t.start);
    }
    None
}

/// The first closer without an opener, and the last opener left unclosed.
fn unbalanced(tokens: &[Token<'_>], open: &str, close: &str) -> (Option<usize>, Option<usize>) {
    let mut opened = Vec::new();
    for t in tokens.iter().filter(|t| t.kind == Kind::Op) {
        if t.text == open {
            opened.push(t.start);
        } else if t.text == close && opened.pop().is_none() {
            return (Some(t.start), None);
        }
    }
    (None, opened.last().copied())
}

#[cfg(test)]
mod tests {
    use super::check;

    fn offset(expr: &str) -> (String, Option<usize>) {
        let e = check(expr).expect_err(expr);
        (e.message, e.offset)
    }

    #[test]
    fn valid_in_prometheus_2_42() {
        for e in [
            "up",
            "a + + b",
            "holt_winters(up[5m], 0.5, 0.5)",
            "sum by (smoothed, anchored, fill, limitk) (up)",
            "anchored",
            "up[5m:]",
            "up offset -5m",
            "0x1F + 1",
            "up # comment",
            "rate(x[5m])[10m:1m] @ end()",
        ] {
            assert_eq!(check(e), Ok(()), "{e}");
        }
    }

    #[test]
    fn refused_as_in_prometheus_2_42() {
        assert_eq!(offset("sum(rate(x[5m])))").1, Some(16));
        assert_eq!(offset("sum(rate(x[5m])").1, Some(3));
        assert_eq!(offset("nosuchfunc(up)").1, Some(0));
        assert_eq!(offset("1 + rate(up)").1, Some(4));
        assert_eq!(offset("up{job=\"x\"").1, Some(10));
        // promql-parser's message for some errors names nothing to point at.
        assert_eq!(offset("up =="), ("invalid promql query".into(), None));
        assert_eq!(
            offset("x + limitk(2, up)"),
            ("unknown function with name 'limitk'".into(), Some(4))
        );
        assert_eq!(offset("sort_by_label(up, \"a\")").1, Some(0));
        assert_eq!(offset("up{\"job\"=\"a\"}").1, Some(3));
        assert_eq!(offset("sum by (\"job\") (up)").1, Some(8));
        assert_eq!(offset("rate(up[1])").1, Some(8));
        assert_eq!(offset("up[5m:1]").1, Some(6));
        assert_eq!(offset("up offset 0").1, Some(10));
        assert!(check("up + fill(0) up").is_err());
    }
}
