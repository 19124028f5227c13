//! A plain vector selector with equality matchers only
//! (`bench_value{instance="i42", job="x"}`), read by a small hand-written
//! parser: the common case of batching, checked without building a syntax
//! tree.

use std::collections::BTreeMap;

/// A plain vector selector with equality matchers only, canonical: matchers
/// sorted by label name, values decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    pub metric: Option<String>,
    pub matchers: BTreeMap<String, String>,
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "atan2",
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
    "inf",
    "nan",
    "start",
    "end",
];

/// Parses `metric`, `metric{l="v", ...}` or `{l="v", ...}` with equality
/// matchers only; anything else (other operators, functions, modifiers,
/// escapes other than `\\ \" \'`, a label twice) is `None`.
pub fn parse_selector(q: &str) -> Option<Selector> {
    let mut p = Parser {
        s: q.as_bytes(),
        i: 0,
    };
    p.ws();
    let metric = p.ident(true);
    if let Some(m) = &metric
        && KEYWORDS.contains(&m.to_ascii_lowercase().as_str())
    {
        return None;
    }
    p.ws();
    let mut matchers = BTreeMap::new();
    if p.eat(b'{') {
        loop {
            p.ws();
            if p.eat(b'}') {
                break;
            }
            let label = p.ident(false)?;
            p.ws();
            if !p.eat(b'=') || p.peek() == Some(b'=') || p.peek() == Some(b'~') {
                return None;
            }
            p.ws();
            let value = p.string()?;
            if matchers.insert(label, value).is_some() {
                return None;
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            p.ws();
            if p.eat(b'}') {
                break;
            }
            return None;
        }
    } else if metric.is_none() {
        return None;
    }
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    // Prometheus refuses a selector that matches every series.
    if metric.is_none() && matchers.values().all(|v| v.is_empty()) {
        return None;
    }
    Some(Selector { metric, matchers })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A metric name (`colon` allowed) or a label name.
    fn ident(&mut self, colon: bool) -> Option<String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == b'_'
                || (colon && c == b':')
                || (self.i > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        if !matches!(quote, b'"' | b'\'' | b'`') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            if c == quote {
                break;
            }
            if c == b'\\' && quote != b'`' {
                let e = self.peek()?;
                self.i += 1;
                match e {
                    b'\\' | b'"' | b'\'' => out.push(e),
                    _ => return None, // other escapes: leave the query alone
                }
            } else if c == b'\n' && quote != b'`' {
                return None;
            } else {
                out.push(c);
            }
        }
        String::from_utf8(out).ok()
    }
}
