//! Go's `fmt` as templates reach it: `print`, `println`, `printf` verbs and
//! flags, and the `%v` form every action prints.

use std::rc::Rc;

use super::strconv::{format_float, go_quote, is_print, quote_with};
use super::time::{duration_string, time_string};
use super::value::{Val, type_name};

/// Go's fmt refuses widths/precisions above this (`%!(BADWIDTH)`).
const FMT_MAX_NUM: usize = 1_000_000;

/// The flags, width and precision of one `printf` verb (Go's `fmt.fmtFlags`).
#[derive(Clone, Default, Debug)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// `%v` with default flags.
pub(super) fn fmt_v(v: &Val) -> String {
    let mut out = String::new();
    print_arg(&mut out, &Flags::default(), v, 'v');
    out
}

pub(super) fn sprint(a: &[Val]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in a.iter().enumerate() {
        let is_string = matches!(v, Val::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, &Flags::default(), v, 'v');
        prev_string = is_string;
    }
    out
}

pub(super) fn sprintln(a: &[Val]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, &Flags::default(), v, 'v');
    }
    out.push('\n');
    out
}

/// Parses a decimal number for a width/precision; Go's parsenum.
fn parsenum(b: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end && b[i].is_ascii_digit() {
        if num > FMT_MAX_NUM {
            return (0, false, end);
        }
        num = num * 10 + (b[i] - b'0') as usize;
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

fn int_from_arg(a: &[Val], arg_num: usize) -> (i64, bool, usize) {
    match a.get(arg_num) {
        None => (0, false, arg_num),
        Some(v) => {
            let (n, ok) = match v {
                Val::Int(i) => (*i, true),
                Val::Byte(b) => (*b as i64, true),
                _ => (0, false),
            };
            if n.unsigned_abs() > FMT_MAX_NUM as u64 {
                (0, false, arg_num + 1)
            } else {
                (n, ok, arg_num + 1)
            }
        }
    }
}

/// fmt.Sprintf.
pub(super) fn sprintf(format: &str, a: &[Val]) -> String {
    let b = format.as_bytes();
    let end = b.len();
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0;
    'outer: while i < end {
        let mut good_arg_num = true;
        let lasti = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            out.push_str(format.get(lasti..i).unwrap_or(""));
        }
        if i >= end {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < end {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                c => {
                    if c.is_ascii_lowercase() && arg_num < a.len() {
                        if c == b'v' {
                            f.sharp_v = f.sharp;
                            f.sharp = false;
                            f.plus_v = f.plus;
                            f.plus = false;
                        }
                        print_arg(&mut out, &f, &a[arg_num], c as char);
                        arg_num += 1;
                        i += 1;
                        continue 'outer;
                    }
                    break;
                }
            }
            i += 1;
        }
        let mut after_index;
        (arg_num, i, after_index) =
            arg_number(arg_num, b, i, a.len(), &mut good_arg_num, &mut reordered);
        if i < end && b[i] == b'*' {
            i += 1;
            let (w, ok, na) = int_from_arg(a, arg_num);
            arg_num = na;
            if !ok {
                out.push_str("%!(BADWIDTH)");
            } else if w < 0 {
                f.wid = Some(w.unsigned_abs() as usize);
                f.minus = true;
                f.zero = false;
            } else {
                f.wid = Some(w as usize);
            }
            after_index = false;
        } else {
            let (w, ok, ni) = parsenum(b, i, end);
            i = ni;
            if ok {
                f.wid = Some(w);
                if after_index {
                    good_arg_num = false;
                }
            }
        }
        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) =
                arg_number(arg_num, b, i, a.len(), &mut good_arg_num, &mut reordered);
            if i < end && b[i] == b'*' {
                i += 1;
                let (p, ok, na) = int_from_arg(a, arg_num);
                arg_num = na;
                if ok && p >= 0 {
                    f.prec = Some(p as usize);
                } else {
                    out.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                let (p, ok, ni) = parsenum(b, i, end);
                i = ni;
                f.prec = Some(if ok { p } else { 0 });
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(arg_num, b, i, a.len(), &mut good_arg_num, &mut reordered);
        }
        if i >= end {
            out.push_str("%!(NOVERB)");
            break;
        }
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !good_arg_num {
            out.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if arg_num >= a.len() {
            out.push_str(&format!("%!{verb}(MISSING)"));
        } else {
            if verb == 'v' {
                f.sharp_v = f.sharp;
                f.sharp = false;
                f.plus_v = f.plus;
                f.plus = false;
            }
            print_arg(&mut out, &f, &a[arg_num], verb);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < a.len() {
        out.push_str("%!(EXTRA ");
        for (k, v) in a[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if let Val::Invalid = v {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(v));
                out.push('=');
                print_arg(&mut out, &Flags::default(), v, 'v');
            }
        }
        out.push(')');
    }
    out
}

fn arg_number(
    arg_num: usize,
    b: &[u8],
    i: usize,
    num_args: usize,
    good: &mut bool,
    reordered: &mut bool,
) -> (usize, usize, bool) {
    if b.get(i) != Some(&b'[') {
        return (arg_num, i, false);
    }
    *reordered = true;
    let rest = &b[i..];
    let (index, wid, ok) = 'parse: {
        if rest.len() < 3 {
            break 'parse (0, 1, false);
        }
        for j in 1..rest.len() {
            if rest[j] == b']' {
                let (width, ok, newi) = parsenum(rest, 1, j);
                if !ok || newi != j {
                    break 'parse (0, j + 1, false);
                }
                break 'parse (width as i64 - 1, j + 1, true);
            }
        }
        (0, 1, false)
    };
    if ok && index >= 0 && (index as usize) < num_args {
        return (index as usize, i + wid, true);
    }
    *good = false;
    (arg_num, i + wid, ok)
}

fn write_padding(out: &mut String, f: &Flags, n: usize) {
    let c = if f.zero { '0' } else { ' ' };
    out.extend(std::iter::repeat_n(c, n));
}

/// fmt's pad: honours width and the minus flag.
fn pad(out: &mut String, f: &Flags, s: &str) {
    let Some(w) = f.wid else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= w {
        out.push_str(s);
    } else if f.minus {
        out.push_str(s);
        write_padding(out, f, w - n);
    } else {
        write_padding(out, f, w - n);
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, f: &Flags, v: &Val, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if let Val::Invalid = v {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        print_arg(out, f, v, 'v');
    }
    out.push(')');
}

/// fmt's printArg: one operand formatted with `verb`.
fn print_arg(out: &mut String, f: &Flags, v: &Val, verb: char) {
    if verb == 'T' && !matches!(v, Val::Invalid) {
        fmt_s(out, f, type_name(v));
        return;
    }
    match v {
        Val::Invalid => match verb {
            'T' | 'v' => pad(out, f, "<nil>"),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Bool(b) => match verb {
            't' | 'v' => pad(out, f, if *b { "true" } else { "false" }),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Int(i) => fmt_integer(out, f, v, *i as u64, true, verb),
        Val::Byte(b) => fmt_integer(out, f, v, *b as u64, false, verb),
        Val::Float(x) => match verb {
            'v' => fmt_float(out, f, *x, 'g', -1),
            'g' | 'G' => fmt_float(out, f, *x, verb, -1),
            'f' | 'e' | 'E' => fmt_float(out, f, *x, verb, 6),
            'F' => fmt_float(out, f, *x, 'f', 6),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Str(s) => fmt_string(out, f, v, s, verb),
        Val::Time(ns) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, f, v, &time_string(*ns), verb),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Duration(d) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, f, v, &duration_string(*d), verb),
            _ => bad_verb(out, f, v, verb),
        },
        Val::StrMap(m) => print_map(
            out,
            f,
            m.iter().map(|(k, v)| (k, Val::Str(v.clone()))),
            verb,
        ),
        Val::IfaceMap(m) => print_map(out, f, m.iter().map(|(k, v)| (k, v.clone())), verb),
        Val::Sample(smp) => {
            // A pointer to a struct at top level prints as &{...}.
            out.push_str("&{");
            print_arg(out, f, &Val::StrMap(Rc::new(smp.labels.clone())), verb);
            out.push(' ');
            print_arg(out, f, &Val::Float(smp.value), verb);
            out.push('}');
        }
        Val::QueryResult(q) => {
            // Go prints the elements' addresses here (`[0xc000123456]`),
            // which no port can reproduce; the samples are more useful.
            out.push('[');
            for (i, smp) in q.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, f, &Val::Sample(Rc::clone(smp)), verb);
            }
            out.push(']');
        }
        Val::Data(d) => {
            let fields = [
                ("Labels", Val::StrMap(d.labels.clone())),
                ("ExternalLabels", Val::StrMap(d.external_labels.clone())),
                ("ExternalURL", Val::Str(d.external_url.clone())),
                ("Value", Val::Float(d.value)),
            ];
            out.push('{');
            for (i, (name, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if f.plus_v {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, f, val, verb);
            }
            out.push('}');
        }
    }
}

/// A map as Go prints it: `map[k1:v1 k2:v2]`, keys sorted.
fn print_map<'m>(
    out: &mut String,
    f: &Flags,
    entries: impl Iterator<Item = (&'m String, Val)>,
    verb: char,
) {
    out.push_str("map[");
    for (i, (k, val)) in entries.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(out, f, &Val::Str(k.clone()), verb);
        out.push(':');
        print_arg(out, f, &val, verb);
    }
    out.push(']');
}

fn fmt_string(out: &mut String, f: &Flags, v: &Val, s: &str, verb: char) {
    match verb {
        'v' if f.sharp_v => fmt_q(out, f, s),
        'v' | 's' => fmt_s(out, f, s),
        'x' => fmt_sx(out, f, s, false),
        'X' => fmt_sx(out, f, s, true),
        'q' => fmt_q(out, f, s),
        _ => bad_verb(out, f, v, verb),
    }
}

fn truncate<'s>(f: &Flags, s: &'s str) -> &'s str {
    match f.prec {
        Some(p) => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        None => s,
    }
}

fn fmt_s(out: &mut String, f: &Flags, s: &str) {
    pad(out, f, truncate(f, s));
}

fn fmt_sx(out: &mut String, f: &Flags, s: &str, upper: bool) {
    let digits: &[u8] = if upper {
        b"0123456789ABCDEFX"
    } else {
        b"0123456789abcdefx"
    };
    let b = s.as_bytes();
    let length = f.prec.map_or(b.len(), |p| p.min(b.len()));
    let mut width = 2 * length;
    if width > 0 {
        if f.space {
            if f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if f.sharp {
            width += 2;
        }
    } else {
        if let Some(w) = f.wid {
            write_padding(out, f, w);
        }
        return;
    }
    let wid = f.wid.unwrap_or(0);
    if wid > width && !f.minus {
        write_padding(out, f, wid - width);
    }
    if f.sharp {
        out.push('0');
        out.push(digits[16] as char);
    }
    for (i, &c) in b[..length].iter().enumerate() {
        if f.space && i > 0 {
            out.push(' ');
            if f.sharp {
                out.push('0');
                out.push(digits[16] as char);
            }
        }
        out.push(digits[(c >> 4) as usize] as char);
        out.push(digits[(c & 0xF) as usize] as char);
    }
    if wid > width && f.minus {
        write_padding(out, f, wid - width);
    }
}

fn fmt_q(out: &mut String, f: &Flags, s: &str) {
    let s = truncate(f, s);
    if f.sharp && can_backquote(s) {
        pad(out, f, &format!("`{s}`"));
    } else if f.plus {
        pad(out, f, &quote_with(s, '"', true));
    } else {
        pad(out, f, &go_quote(s));
    }
}

pub(super) fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\u{7F}')))
}

fn fmt_integer(out: &mut String, f: &Flags, v: &Val, u: u64, signed: bool, verb: char) {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(u)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, f, c.encode_utf8(&mut [0; 4]));
            return;
        }
        'q' => {
            let c = u32::try_from(u)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let mut buf = [0u8; 4];
            pad(out, f, &quote_with(c.encode_utf8(&mut buf), '\'', f.plus));
            return;
        }
        'U' => {
            let mut s = format!("U+{:0width$X}", u, width = f.prec.unwrap_or(4));
            if f.sharp
                && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
                && is_print(c)
            {
                s.push_str(&format!(" '{c}'"));
            }
            let mut f2 = f.clone();
            f2.zero = false;
            pad(out, &f2, &s);
            return;
        }
        _ => {
            bad_verb(out, f, v, verb);
            return;
        }
    };
    let negative = signed && (u as i64) < 0;
    let u = if negative { u.wrapping_neg() } else { u };
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
        if prec == 0 && u == 0 {
            let mut f2 = f.clone();
            f2.zero = false;
            write_padding(out, &f2, f.wid.unwrap_or(0));
            return;
        }
    } else if f.zero && f.wid.is_some() {
        prec = f.wid.unwrap_or(0);
        if negative || f.plus || f.space {
            prec = prec.saturating_sub(1);
        }
    }
    let digits = match (base, upper) {
        (2, _) => format!("{u:b}"),
        (8, _) => format!("{u:o}"),
        (16, false) => format!("{u:x}"),
        (16, true) => format!("{u:X}"),
        _ => u.to_string(),
    };
    let mut body = String::new();
    if prec > digits.len() {
        body.extend(std::iter::repeat_n('0', prec - digits.len()));
    }
    body.push_str(&digits);
    let mut prefix = String::new();
    if negative {
        prefix.push('-');
    } else if f.plus {
        prefix.push('+');
    } else if f.space {
        prefix.push(' ');
    }
    if verb == 'O' {
        prefix.push_str("0o");
    }
    if f.sharp {
        match base {
            2 => prefix.push_str("0b"),
            8 if !body.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    let mut f2 = f.clone();
    f2.zero = false;
    pad(out, &f2, &format!("{prefix}{body}"));
}

/// fmt's fmtFloat.
fn fmt_float(out: &mut String, f: &Flags, v: f64, verb: char, default_prec: i32) {
    let prec = f.prec.map_or(default_prec, |p| p as i32);
    let fmt_char = match verb {
        'v' => 'g',
        c => c,
    };
    let s = format_float(v, fmt_char as u8, prec);
    let mut num = if s.starts_with('-') || s.starts_with('+') {
        s
    } else {
        format!("+{s}")
    };
    if f.space && num.starts_with('+') && !f.plus {
        num.replace_range(..1, " ");
    }
    if num[1..].starts_with('I') || num[1..].starts_with('N') {
        let mut f2 = f.clone();
        f2.zero = false;
        if num[1..].starts_with('N') && !f.space && !f.plus {
            num.remove(0);
        }
        pad(out, &f2, &num);
        return;
    }
    if f.sharp && verb != 'b' {
        let mut digits: i64 = match verb {
            'v' | 'g' | 'G' | 'x' => {
                if prec < 0 {
                    6
                } else {
                    prec as i64
                }
            }
            _ => 0,
        };
        let mut tail = String::new();
        let mut has_dot = false;
        let mut saw_nonzero = false;
        let bytes: Vec<u8> = num.bytes().collect();
        let mut cut = bytes.len();
        for (i, &c) in bytes.iter().enumerate().skip(1) {
            match c {
                b'.' => has_dot = true,
                b'p' | b'P' | b'e' | b'E' => {
                    tail = num[i..].to_string();
                    cut = i;
                    break;
                }
                _ => {
                    if c != b'0' {
                        saw_nonzero = true;
                    }
                    if saw_nonzero {
                        digits -= 1;
                    }
                }
            }
        }
        num.truncate(cut);
        if !has_dot {
            if num.len() == 2 && num.ends_with('0') {
                digits -= 1;
            }
            num.push('.');
        }
        while digits > 0 {
            num.push('0');
            digits -= 1;
        }
        num.push_str(&tail);
    }
    if f.plus || !num.starts_with('+') {
        if let Some(w) = f.wid
            && f.zero
            && !f.minus
            && w > num.len()
        {
            out.push_str(&num[..1]);
            write_padding(out, f, w - num.len());
            out.push_str(&num[1..]);
            return;
        }
        pad(out, f, &num);
        return;
    }
    pad(out, f, &num[1..]);
}

pub(super) fn fmt_g4(v: f64) -> String {
    let mut out = String::new();
    let f = Flags {
        prec: Some(4),
        ..Flags::default()
    };
    fmt_float(&mut out, &f, v, 'g', -1);
    out
}
