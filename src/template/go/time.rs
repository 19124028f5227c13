//! Go's `time.Time` and `time.Duration` as templates reach them (values of
//! `toTime`/`toDuration`): their methods, `String()` and `Format` layouts.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::sig::{NONE, ParamType, STR, Sig, str_arg};
use super::value::Val;

pub(super) fn method_sig(recv: &Val, name: &str) -> Option<Sig> {
    let fixed: &'static [ParamType] = match (recv, name) {
        (Val::Time(_), "Format") => STR,
        (
            Val::Time(_),
            "Unix" | "UnixMilli" | "UnixMicro" | "UnixNano" | "Year" | "YearDay" | "Day" | "Hour"
            | "Minute" | "Second" | "Nanosecond" | "UTC" | "Local" | "String" | "IsZero",
        ) => NONE,
        (
            Val::Duration(_),
            "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds" | "Nanoseconds"
            | "String" | "Abs",
        ) => NONE,
        _ => return None,
    };
    Some(Sig {
        fixed,
        variadic: None,
    })
}

pub(super) fn call_method(recv: &Val, name: &str, a: &[Val]) -> Result<Val, String> {
    match recv {
        Val::Time(ns) => {
            let ns = *ns;
            Ok(match name {
                "Format" => Val::Str(go_time_format(ns, str_arg(a.first()))),
                "Unix" => Val::Int(ns.div_euclid(1_000_000_000)),
                "UnixMilli" => Val::Int(ns.div_euclid(1_000_000)),
                "UnixMicro" => Val::Int(ns.div_euclid(1_000)),
                "UnixNano" => Val::Int(ns),
                "UTC" | "Local" => Val::Time(ns),
                "String" => Val::Str(time_string(ns)),
                "IsZero" => Val::Bool(false),
                _ => {
                    let Some(t) = civil(ns) else {
                        return Err("time out of range".into());
                    };
                    Val::Int(match name {
                        "Year" => t.year() as i64,
                        "YearDay" => t.ordinal() as i64,
                        "Day" => t.day() as i64,
                        "Hour" => t.hour() as i64,
                        "Minute" => t.minute() as i64,
                        "Second" => t.second() as i64,
                        _ => t.nanosecond() as i64,
                    })
                }
            })
        }
        Val::Duration(d) => {
            let d = *d;
            Ok(match name {
                "Seconds" => Val::Float(d as f64 / 1e9),
                "Minutes" => Val::Float(d as f64 / 6e10),
                "Hours" => Val::Float(d as f64 / 3.6e12),
                "Milliseconds" => Val::Int(d / 1_000_000),
                "Microseconds" => Val::Int(d / 1_000),
                "Nanoseconds" => Val::Int(d),
                "Abs" => Val::Duration(if d == i64::MIN { i64::MAX } else { d.abs() }),
                _ => Val::Str(duration_string(d)),
            })
        }
        _ => Err(format!("can't call method {name}")),
    }
}

/// Unix nanoseconds as a UTC date and time; `None` out of chrono's range.
fn civil(ns: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// time.Time.String() for a UTC time.
pub(super) fn time_string(ns: i64) -> String {
    go_time_format(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// time.Duration.String().
pub(super) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut s;
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 0),
            1_000..=999_999 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (int, frac) = frac_part(u, prec);
        s = format!("{int}{frac}{unit}");
    } else {
        let (secs, frac) = frac_part(u, 9);
        u = secs;
        s = format!("{}{frac}s", u % 60);
        u /= 60;
        if u > 0 {
            s = format!("{}m{s}", u % 60);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
    }
    if neg {
        s.insert(0, '-');
    }
    s
}

/// Splits v into v / 10^prec and ".fraction" (trailing zeros trimmed).
fn frac_part(v: u64, prec: u32) -> (u64, String) {
    let p = 10u64.pow(prec);
    let (int, frac) = (v / p, v % p);
    if frac == 0 {
        return (int, String::new());
    }
    let digits = format!("{:0width$}", frac, width = prec as usize);
    (int, format!(".{}", digits.trim_end_matches('0')))
}

/// One element of a Go time layout (Go's `std*` constants: `Jan`, `02`, `MST`...).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    Iso(&'static str),
    Num(&'static str),
    Frac { n: usize, trim: bool, sep: char },
}

/// time's nextStdChunk.
fn next_std_chunk(layout: &str) -> Option<(&str, Std, &str)> {
    let b = layout.as_bytes();
    let at = |i: usize, p: &str| b.get(i..).is_some_and(|s| s.starts_with(p.as_bytes()));
    let lower_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_lowercase);
    for i in 0..b.len() {
        let r = |std: Std, len: usize| Some((&layout[..i], std, &layout[i + len..]));
        match b[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return r(Std::LongMonth, 7);
                }
                if !lower_at(i + 3) {
                    return r(Std::Month, 3);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return r(Std::LongWeekDay, 6);
                    }
                    if !lower_at(i + 3) {
                        return r(Std::WeekDay, 3);
                    }
                }
                if at(i, "MST") {
                    return r(Std::TZ, 3);
                }
            }
            b'0' => {
                if let Some(&c) = b.get(i + 1)
                    && (b'1'..=b'6').contains(&c)
                {
                    let std = [
                        Std::ZeroMonth,
                        Std::ZeroDay,
                        Std::ZeroHour12,
                        Std::ZeroMinute,
                        Std::ZeroSecond,
                        Std::Year,
                    ][(c - b'1') as usize];
                    return r(std, 2);
                }
                if at(i + 1, "02") {
                    return r(Std::ZeroYearDay, 3);
                }
            }
            b'1' => {
                if at(i + 1, "5") {
                    return r(Std::Hour, 2);
                }
                return r(Std::NumMonth, 1);
            }
            b'2' => {
                if at(i, "2006") {
                    return r(Std::LongYear, 4);
                }
                return r(Std::Day, 1);
            }
            b'_' => {
                if at(i + 1, "2") {
                    if at(i + 1, "2006") {
                        return Some((&layout[..i + 1], Std::LongYear, &layout[i + 5..]));
                    }
                    return r(Std::UnderDay, 2);
                }
                if at(i + 1, "_2") {
                    return r(Std::UnderYearDay, 3);
                }
            }
            b'3' => return r(Std::Hour12, 1),
            b'4' => return r(Std::Minute, 1),
            b'5' => return r(Std::Second, 1),
            b'P' if at(i + 1, "M") => return r(Std::PM, 2),
            b'p' if at(i + 1, "m") => return r(Std::Pm, 2),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                for p in ["070000", "07:00:00", "0700", "07:00", "07"] {
                    if at(i + 1, p) {
                        let std = if iso { Std::Iso(p) } else { Std::Num(p) };
                        return r(std, p.len() + 1);
                    }
                }
            }
            b'.' | b',' => {
                if let Some(&ch) = b.get(i + 1)
                    && (ch == b'0' || ch == b'9')
                {
                    let mut j = i + 1;
                    while b.get(j) == Some(&ch) {
                        j += 1;
                    }
                    if !b.get(j).is_some_and(u8::is_ascii_digit) {
                        let std = Std::Frac {
                            n: j - (i + 1),
                            trim: ch == b'9',
                            sep: b[i] as char,
                        };
                        return Some((&layout[..i], std, &layout[j..]));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// time.Time.Format for a UTC time given as Unix nanoseconds.
fn go_time_format(ns: i64, layout: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let Some(t) = civil(ns) else {
        return String::new();
    };
    let mut out = String::new();
    let mut layout = layout;
    while let Some((prefix, std, suffix)) = next_std_chunk(layout) {
        out.push_str(prefix);
        layout = suffix;
        let month = t.month0() as usize;
        let wday = t.weekday().num_days_from_sunday() as usize;
        let hour = t.hour();
        let s = match std {
            Std::LongMonth => MONTHS[month].to_string(),
            Std::Month => MONTHS[month][..3].to_string(),
            Std::NumMonth => (month + 1).to_string(),
            Std::ZeroMonth => format!("{:02}", month + 1),
            Std::LongWeekDay => DAYS[wday].to_string(),
            Std::WeekDay => DAYS[wday][..3].to_string(),
            Std::Day => t.day().to_string(),
            Std::UnderDay => format!("{:>2}", t.day()),
            Std::ZeroDay => format!("{:02}", t.day()),
            Std::UnderYearDay => format!("{:>3}", t.ordinal()),
            Std::ZeroYearDay => format!("{:03}", t.ordinal()),
            Std::Hour => format!("{hour:02}"),
            Std::Hour12 => (if hour % 12 == 0 { 12 } else { hour % 12 }).to_string(),
            Std::ZeroHour12 => format!("{:02}", if hour % 12 == 0 { 12 } else { hour % 12 }),
            Std::Minute => t.minute().to_string(),
            Std::ZeroMinute => format!("{:02}", t.minute()),
            Std::Second => t.second().to_string(),
            Std::ZeroSecond => format!("{:02}", t.second()),
            Std::LongYear => {
                let y = t.year();
                if y < 0 {
                    format!("-{:04}", -y)
                } else {
                    format!("{y:04}")
                }
            }
            Std::Year => format!("{:02}", t.year().rem_euclid(100)),
            Std::PM => (if hour >= 12 { "PM" } else { "AM" }).to_string(),
            Std::Pm => (if hour >= 12 { "pm" } else { "am" }).to_string(),
            Std::TZ => "UTC".to_string(),
            Std::Iso(_) => "Z".to_string(),
            Std::Num(p) => match p {
                "070000" => "+000000",
                "07:00:00" => "+00:00:00",
                "0700" => "+0000",
                "07:00" => "+00:00",
                _ => "+00",
            }
            .to_string(),
            Std::Frac { n, trim, sep } => {
                let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
                let mut digits = &nanos[..n.min(9)];
                if trim {
                    digits = digits.trim_end_matches('0');
                    if digits.is_empty() {
                        String::new()
                    } else {
                        format!("{sep}{digits}")
                    }
                } else {
                    format!("{sep}{digits}")
                }
            }
        };
        out.push_str(&s);
    }
    out.push_str(layout);
    out
}
