//! Prometheus's own template functions (`template/template.go`): `query`
//! and its helpers, the `humanize*` family, label and URL helpers.

use std::rc::Rc;
use std::sync::OnceLock;

use super::escape::query_escape;
use super::fmt::{fmt_g4, fmt_v};
use super::regexp::{compile_go_regex, go_replace_all, regexp_quote};
use super::sig::{ANY, NONE, ParamType, STR, Sig, str_arg};
use super::strconv::{go_quote, parse_go_float};
use super::time::time_string;
use super::value::{NIL_DEREF, Val, go_f64_to_i64, type_name};
use crate::template::query::QueryRunner;

/// What Prometheus's functions see of the render they run in.
pub(super) struct FuncCtx<'q> {
    /// `externalURL` (and `pathPrefix`, its path).
    pub(super) external_url: String,
    /// `now`: Unix seconds when the render started.
    pub(super) now: f64,
    /// Runs `query`; without one, `query` fails.
    pub(super) query: Option<&'q dyn QueryRunner>,
}

/// The signature of Prometheus's function `name` (its `FuncMap`, plus the
/// console-only `tmpl`); `None` for any other name.
pub(super) fn func_sig(name: &str) -> Option<Sig> {
    let (fixed, variadic): (&'static [ParamType], Option<ParamType>) = match name {
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" | "toDuration" => (ANY, None),
        "title" | "toUpper" | "toLower" | "stripPort" | "stripDomain" | "urlQueryEscape"
        | "parseDuration" | "graphLink" | "tableLink" | "safeHtml" => (STR, None),
        "match" => (&[ParamType::Str, ParamType::Str], None),
        "reReplaceAll" => (&[ParamType::Str, ParamType::Str, ParamType::Str], None),
        "now" | "externalURL" | "pathPrefix" => (NONE, None),
        "args" => (NONE, Some(ParamType::Any)),
        "query" => (STR, None),
        "first" => (&[ParamType::Query], None),
        "label" => (&[ParamType::Str, ParamType::Sample], None),
        "value" | "strvalue" => (&[ParamType::Sample], None),
        "sortByLabel" => (&[ParamType::Str, ParamType::Query], None),
        // Console templates only (Prometheus's ExpandHTML): parses, fails when run.
        "tmpl" => (NONE, Some(ParamType::Any)),
        _ => return None,
    };
    Some(Sig { fixed, variadic })
}

/// Calls Prometheus's function `name` with the evaluated arguments `a`.
pub(super) fn call(ctx: &FuncCtx, name: &str, a: &[Val]) -> Result<Val, String> {
    let arg = |i: usize| a.get(i).cloned().unwrap_or(Val::Invalid);
    let s = |i: usize| str_arg(a.get(i));
    let string = |v: String| Ok(Val::Str(v));
    match name {
        "humanize" => string(humanize(convert_to_float(&arg(0))?)),
        "humanize1024" => string(humanize1024(convert_to_float(&arg(0))?)),
        "humanizeDuration" => string(humanize_duration(convert_to_float(&arg(0))?)),
        "humanizePercentage" => string(format!("{}%", fmt_g4(convert_to_float(&arg(0))? * 100.0))),
        "humanizeTimestamp" => {
            let v = convert_to_float(&arg(0))?;
            if v.is_nan() || v.is_infinite() {
                return string(fmt_g4(v));
            }
            float_to_time(v).map(|ns| Val::Str(time_string(ns)))
        }
        "toTime" => float_to_time(convert_to_float(&arg(0))?).map(Val::Time),
        "toDuration" => {
            let v = convert_to_float(&arg(0))?;
            Ok(Val::Duration(go_f64_to_i64(v * 1e9)))
        }
        "now" => Ok(Val::Float(ctx.now)),
        "externalURL" => string(ctx.external_url.clone()),
        "pathPrefix" => string(url_path(&ctx.external_url)),
        "parseDuration" => parse_prom_duration(s(0)).map(|ns| Val::Float(ns as f64 / 1e9)),
        "title" => string(title(s(0))),
        "toUpper" => string(go_to_upper(s(0))),
        "toLower" => string(go_to_lower(s(0))),
        "stripPort" => string(match split_host_port(s(0)) {
            Some((host, _)) => host,
            None => s(0).to_string(),
        }),
        "stripDomain" => string(strip_domain(s(0))),
        "urlQueryEscape" => string(query_escape(s(0))),
        "graphLink" => string(format!("/graph?g0.expr={}&g0.tab=0", query_escape(s(0)))),
        "tableLink" => string(format!("/graph?g0.expr={}&g0.tab=1", query_escape(s(0)))),
        "safeHtml" => string(s(0).to_string()),
        "match" => {
            let re = compile_go_regex(s(0)).map_err(|e| format!("error parsing regexp: {e}"))?;
            Ok(Val::Bool(re.is_match(s(1))))
        }
        "reReplaceAll" => {
            let re = compile_go_regex(s(0)).map_err(|e| {
                format!(
                    "regexp: Compile({}): error parsing regexp: {e}",
                    regexp_quote(s(0))
                )
            })?;
            string(go_replace_all(&re, s(2), s(1)))
        }
        "args" => {
            let m = a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v.clone()))
                .collect();
            Ok(Val::IfaceMap(Rc::new(m)))
        }
        "query" => match ctx.query {
            Some(runner) => {
                let samples = runner.query(s(0))?;
                Ok(Val::query_result(
                    samples.into_iter().map(Rc::new).collect(),
                ))
            }
            None => Err("no Prometheus datasource to run the query on here".into()),
        },
        "first" => match arg(0) {
            Val::QueryResult(q) => match q.borrow().first() {
                Some(smp) => Ok(Val::Sample(Rc::clone(smp))),
                None => Err("first() called on vector with no elements".into()),
            },
            _ => Err("first() called on vector with no elements".into()),
        },
        "label" => match arg(1) {
            Val::Sample(smp) => string(smp.labels.get(s(0)).cloned().unwrap_or_default()),
            _ => Err(NIL_DEREF.into()),
        },
        "value" => match arg(0) {
            Val::Sample(smp) => Ok(Val::Float(smp.value)),
            _ => Err(NIL_DEREF.into()),
        },
        "strvalue" => match arg(0) {
            Val::Sample(smp) => string(smp.labels.get("__value__").cloned().unwrap_or_default()),
            _ => Err(NIL_DEREF.into()),
        },
        "sortByLabel" => match arg(1) {
            Val::QueryResult(q) => {
                let by = s(0);
                // Stable, like sort.Stable; in place, like Go's v[:].
                q.borrow_mut().sort_by(|x, y| {
                    let (a, b) = (x.labels.get(by), y.labels.get(by));
                    a.map_or("", String::as_str)
                        .cmp(b.map_or("", String::as_str))
                });
                Ok(Val::QueryResult(q))
            }
            // sortByLabel of a nil queryResult is a (typed) empty one.
            _ => Ok(Val::query_result(Vec::new())),
        },
        _ => Err(format!("function {name} is not supported by tocsin")),
    }
}

/// Prometheus' convertToFloat (prometheus/common helpers/templates).
fn convert_to_float(v: &Val) -> Result<f64, String> {
    match v {
        Val::Float(f) => Ok(*f),
        Val::Str(s) => parse_go_float(s),
        Val::Int(i) => Ok(*i as f64),
        v => Err(format!("can't convert {} to float", type_name(v))),
    }
}

/// Prometheus's `humanize`: SI prefixes from `y` to `Y` and 4 significant
/// digits, `1234567` → `1.235M`, `0.0012` → `1.2m` (Go's `%.4g`, so `+Inf`
/// and `1e+04Y` beyond the prefixes). tocsin's own `humanize` filter uses it
/// too.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return fmt_g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", fmt_g4(v))
}

/// Prometheus's `humanize1024`: binary prefixes `ki` to `Yi`.
fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return fmt_g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g4(v))
}

/// Prometheus's `humanizeDuration` of seconds: `1d 1h 1m 1s` (every unit
/// below the largest, zeros too), `12.35s` below a minute, `123.5ms` below a
/// second.
fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g4(v);
    }
    if v == 0.0 {
        return format!("{}s", fmt_g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = go_f64_to_i64(v);
        let seconds = d % 60;
        let minutes = (d / 60) % 60;
        let hours = (d / 60 / 60) % 24;
        let days = d / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", fmt_g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g4(v))
}

/// floatToTime: a Unix timestamp in seconds, truncated to milliseconds like
/// model.TimeFromUnixNano(..).Time(); returns Unix nanoseconds.
fn float_to_time(v: f64) -> Result<i64, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ts = v * 1e9;
    if !(-9_223_372_036_854_775_808.0..=9_223_372_036_854_775_807.0).contains(&ts) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            fmt_v(&Val::Float(v))
        ));
    }
    let ms = go_f64_to_i64(ts) / 1_000_000;
    Ok(ms * 1_000_000)
}

/// model.ParseDuration of prometheus/common v0.39 (Prometheus 2.42; negative
/// durations are accepted since 2.49), returning nanoseconds.
fn parse_prom_duration(s: &str) -> Result<i64, String> {
    static DURATION_RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let re = DURATION_RE.get_or_init(|| {
        regex::Regex::new(
            "^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$",
        )
        .ok()
    });
    let Some(caps) = re.as_ref().and_then(|re| re.captures(s)) else {
        return Err(format!("not a valid duration string: {}", go_quote(s)));
    };
    const MS: i64 = 1_000_000;
    let mut dur: i64 = 0;
    let mut overflow = false;
    // (capture group, unit in milliseconds)
    for (pos, mult) in [
        (2, 1000 * 60 * 60 * 24 * 365),
        (4, 1000 * 60 * 60 * 24 * 7),
        (6, 1000 * 60 * 60 * 24),
        (8, 1000 * 60 * 60),
        (10, 1000 * 60),
        (12, 1000),
        (14, 1),
    ] {
        let Some(digits) = caps.get(pos) else {
            continue;
        };
        // strconv.Atoi gives MaxInt64 for what does not fit.
        let n: i64 = digits.as_str().parse().unwrap_or(i64::MAX);
        if n > i64::MAX / mult / MS {
            overflow = true;
        }
        dur = dur.wrapping_add(n.wrapping_mul(MS).wrapping_mul(mult));
        if dur < 0 {
            overflow = true;
        }
    }
    if overflow {
        return Err("duration out of range".into());
    }
    Ok(dur)
}

/// strings.Title (Prometheus 2.42; since 2.49 Prometheus uses
/// cases.Title, which does not start a word after `'` or `.`): maps the
/// first rune after a separator to title case. ASCII letters, digits and
/// `_` are not separators, other ASCII is; beyond ASCII only spaces are.
fn title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        c.is_whitespace()
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { to_title(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// unicode.ToTitle: the simple (one rune) title-case mapping.
fn to_title(c: char) -> char {
    match c {
        'ǆ' | 'ǅ' | 'Ǆ' => 'ǅ',
        'ǉ' | 'ǈ' | 'Ǉ' => 'ǈ',
        'ǌ' | 'ǋ' | 'Ǌ' => 'ǋ',
        'ǳ' | 'ǲ' | 'Ǳ' => 'ǲ',
        // Georgian Mkhedruli has upper case letters but no title case.
        '\u{10D0}'..='\u{10FA}' | '\u{10FD}'..='\u{10FF}' => c,
        // Greek with ypogegrammeni: title case is the prosgegrammeni form.
        '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
            char::from_u32(c as u32 + 8).unwrap_or(c)
        }
        '\u{1FB3}' => '\u{1FBC}',
        '\u{1FC3}' => '\u{1FCC}',
        '\u{1FF3}' => '\u{1FFC}',
        '\u{1F88}'..='\u{1F8F}' | '\u{1F98}'..='\u{1F9F}' | '\u{1FA8}'..='\u{1FAF}' => c,
        '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}' => c,
        _ => {
            let mut it = c.to_uppercase();
            match (it.next(), it.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// strings.ToUpper: simple (one rune to one rune) case mapping.
fn go_to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut it = c.to_uppercase();
            match (it.next(), it.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// strings.ToLower: simple (one rune to one rune) case mapping.
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut it = c.to_lowercase();
            match (it.next(), it.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// net.SplitHostPort; None on error.
fn split_host_port(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        host = hp.get(1..end)?;
        j = 1;
        k = end + 1;
    } else {
        host = hp.get(..i)?;
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp.get(j..)?.contains('[') || hp.get(k..)?.contains(']') {
        return None;
    }
    Some((host.to_string(), hp.get(i + 1..)?.to_string()))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or_else(|| (hp.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        return host.to_string();
    }
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The (unescaped) path component of a URL, like url.URL.Path.
fn url_path(u: &str) -> String {
    let rest = match u.find("://") {
        Some(i) => {
            let after = &u[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => u,
    };
    let path = match rest.find(['?', '#']) {
        Some(j) => &rest[..j],
        None => rest,
    };
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(path.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
