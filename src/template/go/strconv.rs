//! Go's `strconv` as templates reach it: integer and float parsing, float
//! formatting (`FormatFloat`), quoting and unquoting, and `unicode.IsPrint`.

/// strconv.ParseUint(s, 0, 64).
pub(super) fn go_parse_uint(s: &str) -> Option<u64> {
    let (base, digits) = base_prefix(s)?;
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if cleaned.is_empty() {
        return if s == "0" { Some(0) } else { None };
    }
    u64::from_str_radix(&cleaned, base).ok()
}

/// strconv.ParseInt(s, 0, 64).
pub(super) fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// Splits a base-0 integer literal into (radix, digits).
fn base_prefix(s: &str) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    if b.first() == Some(&b'+') || b.first() == Some(&b'-') {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' {
        return Some(match b[1] {
            b'x' | b'X' => (16, &s[2..]),
            b'o' | b'O' => (8, &s[2..]),
            b'b' | b'B' => (2, &s[2..]),
            _ => (8, &s[1..]),
        });
    }
    Some((10, s))
}

/// strconv's underscoreOK.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(b'+' | b'-') = b.first() {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// strconv.ParseFloat(s, 64), including its error messages.
pub(super) fn parse_go_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )
    };
    let lower = s.to_ascii_lowercase();
    let (sign, unsigned) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    if unsigned == "inf" || unsigned == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let (mut digits, mut dot, mut underscores) = (false, false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'_' => underscores = true,
            b'.' if !dot => dot = true,
            b'0'..=b'9' => digits = true,
            _ => break,
        }
        i += 1;
    }
    if !digits {
        return Err(syntax());
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return Err(syntax());
        }
        while let Some(&c) = b.get(i) {
            if c == b'_' {
                underscores = true;
            } else if !c.is_ascii_digit() {
                break;
            }
            i += 1;
        }
    }
    if i != b.len() || (underscores && !underscore_ok(s)) {
        return Err(syntax());
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let v: f64 = cleaned.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        ));
    }
    Ok(v)
}

/// Decimal digits (without trailing zeros) and decimal point position of |v|.
fn decimal_digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (vec![], 0);
    }
    let s = match sig {
        None => format!("{v:e}"),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), v),
    };
    let (mut digits, mut dp) = split_sci(&s);
    if sig.is_none() {
        // Two shortest candidates can be equally close to the exact value;
        // Go then picks the even one, Rust the upper one.
        let n = digits.len();
        let (quick, _) = split_sci(&format!("{:.*e}", n + 1, v));
        if quick.get(n) == Some(&b'5') {
            let (exact, edp) = split_sci(&format!("{:.*e}", n + 800, v));
            if exact.len() == n + 1 {
                let mut lower = exact[..n].to_vec();
                if lower.last().is_some_and(|d| (d - b'0') % 2 == 1) {
                    // Round the odd candidate up; the carry cannot reach the
                    // front, or a shorter representation would exist.
                    for d in lower.iter_mut().rev() {
                        if *d == b'9' {
                            *d = b'0';
                        } else {
                            *d += 1;
                            break;
                        }
                    }
                }
                digits = lower;
                dp = edp;
            }
        }
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return (vec![], 0);
    }
    (digits, dp)
}

/// Digits (trailing zeros trimmed) and decimal point position of Rust's
/// `{:e}` output.
fn split_sci(s: &str) -> (Vec<u8>, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

/// strconv.FormatFloat(v, fmt, prec, 64) for fmt in e, E, f, g, G.
pub(super) fn format_float(v: f64, fmt: u8, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    let shortest = prec < 0;
    if fmt == b'f' && !shortest {
        out.push_str(&format!("{:.*}", prec as usize, a));
        return out;
    }
    let (d, dp) = if shortest {
        decimal_digits(a, None)
    } else {
        let sig = match fmt {
            b'g' | b'G' => prec.max(1) as usize,
            _ => prec as usize + 1,
        };
        decimal_digits(a, Some(sig))
    };
    let nd = d.len() as i32;
    let mut prec = prec;
    if !shortest && prec == 0 && (fmt == b'g' || fmt == b'G') {
        prec = 1;
    }
    if shortest {
        prec = match fmt {
            b'e' | b'E' => (nd - 1).max(0),
            b'f' => (nd - dp).max(0),
            _ => nd,
        };
    }
    match fmt {
        b'e' | b'E' => fmt_e(&mut out, &d, dp, prec, fmt as char),
        b'f' => fmt_f(&mut out, &d, dp, prec),
        b'g' | b'G' => {
            let mut eprec = prec;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                let p = if prec > nd { nd } else { prec };
                let e = if fmt == b'g' { 'e' } else { 'E' };
                fmt_e(&mut out, &d, dp, p - 1, e);
            } else {
                let p = if prec > dp { nd } else { prec };
                fmt_f(&mut out, &d, dp, (p - dp).max(0));
            }
        }
        _ => {
            out.push('%');
            out.push(fmt as char);
        }
    }
    out
}

fn fmt_e(out: &mut String, d: &[u8], dp: i32, prec: i32, e: char) {
    out.push(d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        let mut i = 1usize;
        let m = d.len().min(prec as usize + 1);
        if i < m {
            out.extend(d[i..m].iter().map(|&c| c as char));
            i = m;
        }
        while i <= prec as usize {
            out.push('0');
            i += 1;
        }
    }
    out.push(e);
    let mut exp = if d.is_empty() { 0 } else { dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(out: &mut String, d: &[u8], dp: i32, prec: i32) {
    if dp > 0 {
        let m = d.len().min(dp as usize);
        out.extend(d[..m].iter().map(|&c| c as char));
        for _ in m..dp as usize {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = dp + i - 1;
            let c = if j >= 0 && (j as usize) < d.len() {
                d[j as usize] as char
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// unicode.IsPrint, approximated with the standard library's tables.
pub(super) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xD800..=0xDFFF | 0xE000..=0xF8FF
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF)
}

/// strconv.Quote.
pub(super) fn go_quote(s: &str) -> String {
    quote_with(s, '"', false)
}

pub(super) fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        if c == q || c == '\\' {
            out.push('\\');
            out.push(c);
            continue;
        }
        if if ascii_only {
            c.is_ascii() && is_print(c)
        } else {
            is_print(c)
        } {
            out.push(c);
            continue;
        }
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{B}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(q);
    out
}

pub(super) enum Unquoted {
    Char(char),
    Byte(u8),
}

/// strconv.UnquoteChar.
pub(super) fn unquote_char(s: &str, quote: u8) -> Result<(Unquoted, &str), ()> {
    let b = s.as_bytes();
    let &c = b.first().ok_or(())?;
    if c == quote && (quote == b'\'' || quote == b'"') {
        return Err(());
    }
    if c >= 0x80 {
        let ch = s.chars().next().ok_or(())?;
        return Ok((Unquoted::Char(ch), &s[ch.len_utf8()..]));
    }
    if c != b'\\' {
        return Ok((Unquoted::Char(c as char), &s[1..]));
    }
    let &e = b.get(1).ok_or(())?;
    if !e.is_ascii() {
        return Err(());
    }
    let rest = &s[2..];
    let simple = |ch: char| Ok((Unquoted::Char(ch), rest));
    match e {
        b'a' => simple('\u{7}'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{C}'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\u{B}'),
        b'\\' => simple('\\'),
        b'\'' | b'"' => {
            if e != quote {
                return Err(());
            }
            simple(e as char)
        }
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = rest.get(..n).ok_or(())?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return Err(());
            }
            let v = u32::from_str_radix(hex, 16).map_err(|_| ())?;
            let tail = &rest[n..];
            if e == b'x' {
                return Ok((Unquoted::Byte(v as u8), tail));
            }
            let ch = char::from_u32(v).ok_or(())?;
            Ok((Unquoted::Char(ch), tail))
        }
        b'0'..=b'7' => {
            let oct = rest.get(..2).ok_or(())?;
            let mut v = (e - b'0') as u32;
            for d in oct.bytes() {
                if !(b'0'..=b'7').contains(&d) {
                    return Err(());
                }
                v = (v << 3) | (d - b'0') as u32;
            }
            if v > 255 {
                return Err(());
            }
            Ok((Unquoted::Byte(v as u8), &rest[2..]))
        }
        _ => Err(()),
    }
}

/// strconv.Unquote; error text is Go's ("invalid syntax").
pub(super) fn go_unquote(s: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_string();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(err());
    }
    let q = b[0];
    if !matches!(q, b'`' | b'"' | b'\'') || q != b[b.len() - 1] {
        return Err(err());
    }
    let inner = s.get(1..s.len() - 1).ok_or_else(err)?;
    match q {
        b'`' => {
            if inner.contains('`') {
                return Err(err());
            }
            Ok(inner.replace('\r', ""))
        }
        b'"' | b'\'' => {
            if inner.contains('\n') {
                return Err(err());
            }
            let mut bytes = Vec::with_capacity(inner.len());
            let mut rest = inner;
            let mut count = 0;
            while !rest.is_empty() {
                let (v, tail) = unquote_char(rest, q).map_err(|_| err())?;
                match v {
                    Unquoted::Char(c) => {
                        bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                    }
                    Unquoted::Byte(x) => bytes.push(x),
                }
                rest = tail;
                count += 1;
                if q == b'\'' && count > 1 {
                    return Err(err());
                }
            }
            if q == b'\'' && count != 1 {
                return Err(err());
            }
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => Err(err()),
    }
}
