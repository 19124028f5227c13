//! Prometheus's own template functions (`template/template.go`): `query`
//! and its helpers, the `humanize*` family, label and URL helpers.

use std::sync::OnceLock;

use super::fmt::{fmt_g4, fmt_v};
use super::strconv::{go_quote, parse_go_float};
use super::value::{Val, go_f64_to_i64, type_name};
use crate::template::query::QueryRunner;

pub(super) struct FuncCtx<'q> {
    pub(super) external_url: String,
    pub(super) now: f64,
    pub(super) query: Option<&'q dyn QueryRunner>,
}

/// Prometheus' convertToFloat (prometheus/common helpers/templates).
pub(super) fn convert_to_float(v: &Val) -> Result<f64, String> {
    match v {
        Val::Float(f) => Ok(*f),
        Val::Str(s) => parse_go_float(s),
        Val::Int(i) => Ok(*i as f64),
        v => Err(format!("can't convert {} to float", type_name(v))),
    }
}

pub(super) fn humanize(mut v: f64) -> Result<String, String> {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return Ok(fmt_g4(v));
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
    Ok(format!("{}{prefix}", fmt_g4(v)))
}

pub(super) fn humanize1024(mut v: f64) -> Result<String, String> {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return Ok(fmt_g4(v));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(format!("{}{prefix}", fmt_g4(v)))
}

pub(super) fn humanize_duration(mut v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(fmt_g4(v));
    }
    if v == 0.0 {
        return Ok(format!("{}s", fmt_g4(v)));
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
            return Ok(format!("{sign}{days}d {hours}h {minutes}m {seconds}s"));
        }
        if hours != 0 {
            return Ok(format!("{sign}{hours}h {minutes}m {seconds}s"));
        }
        if minutes != 0 {
            return Ok(format!("{sign}{minutes}m {seconds}s"));
        }
        return Ok(format!("{sign}{}s", fmt_g4(v)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(format!("{}{prefix}s", fmt_g4(v)))
}

/// floatToTime: a Unix timestamp in seconds, truncated to milliseconds like
/// model.TimeFromUnixNano(..).Time(); returns Unix nanoseconds.
pub(super) fn float_to_time(v: f64) -> Result<i64, String> {
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
pub(super) fn parse_prom_duration(s: &str) -> Result<i64, String> {
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
pub(super) fn title(s: &str) -> String {
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
pub(super) fn go_to_upper(s: &str) -> String {
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
pub(super) fn go_to_lower(s: &str) -> String {
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
pub(super) fn split_host_port(hp: &str) -> Option<(String, String)> {
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

pub(super) fn strip_domain(hp: &str) -> String {
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
pub(super) fn url_path(u: &str) -> String {
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
